"""The aggregation stage: run records -> runs.csv -> summary, Tables 1 and 2, statistics, figures.

Everything downstream of ``runs.csv`` is a function of that one file, so every number can be
regenerated from it (``python -m analysis --from-runs runs.csv --out DIR``).
"""
