"""Tables as declarations: ``analysis/declared_tables/<name>.yaml`` (and any ``--tables DIR``) says which
experiments a table shows, what its rows are (recipes, or the values of one recipe parameter), and the
published numbers to print beside ours. ``tables.render`` turns any declaration into Markdown, LaTeX and CSV.

Keys: ``title``, ``caption`` and ``tex_comment`` (with ``{experiment}``, ``{model}``, ``{rule}``, ``{std}``);
``rows`` (``recipe`` or ``param.<key>``); ``row_header``; ``experiments`` (a glob of experiment names, default
``*``); ``sweep`` (only experiments whose records name this sweep); ``where`` (column = value filters, e.g.
``{method: cwgnc, task: cola}``); ``leave_to`` (tables whose experiments this one leaves out); ``value_notes``
(``[{at_least: x, note: " (…)"}]`` after a parameter value); ``axis_label``, ``log_axis`` (its figure);
``paper`` (``source`` and, per recipe, the ``params`` its row is for and ``<task>: [Std, Mean, Max]``);
``baseline`` (the cell the statistics compare its experiments' recipes against, ``RECIPE[,KEY=VALUE...]``:
analysis/baselines.py).
A parameter table shows an experiment only where that parameter takes several values.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from .baselines import parse as parse_baseline
from .load import AnalysisError

BUILT_IN = Path(__file__).resolve().parent / "declared_tables"
KEYS = {"title", "caption", "tex_comment", "rows", "row_header", "experiments", "sweep", "where", "leave_to",
        "value_notes", "axis_label", "log_axis", "paper", "baseline"}


class TableError(ValueError):
    """A declaration that cannot be used; one line naming the file and key."""


@dataclass
class TableSpec:
    name: str
    title: str
    caption: str = ""
    tex_comment: str = ""
    rows: str = "recipe"
    row_header: str = "Recipe"
    experiments: str = "*"
    sweep: str | None = None
    where: dict = field(default_factory=dict)
    leave_to: list = field(default_factory=list)
    value_notes: list = field(default_factory=list)
    axis_label: str | None = None
    log_axis: bool = False
    paper: dict = field(default_factory=dict)
    baseline: str | None = None

    @property
    def param(self) -> str | None:
        """The parameter column whose values are the rows (``param.threshold``), or None for recipe rows."""
        return self.rows if self.rows.startswith("param.") else None

    def paper_row(self, method: str, params: str, task: str):
        entry = (self.paper.get("recipes") or {}).get(method)
        if not entry or str(entry.get("params", "")) != params or task not in entry:
            return None
        return tuple(float(x) for x in entry[task])


def load_specs(extra: Path | None = None) -> list[TableSpec]:
    """The built-in declarations, then those in ``extra`` (a file of the same name replaces a built-in one)."""
    files = {p.stem: p for p in sorted(BUILT_IN.glob("*.yaml"))}
    if extra is not None:
        if not Path(extra).is_dir():
            raise TableError(f"--tables {extra} is not a directory of table declarations (<name>.yaml)")
        files.update({p.stem: p for p in sorted(Path(extra).glob("*.yaml"))})
    specs = []
    for name, path in files.items():
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as e:
            raise TableError(f"{path}: not valid YAML ({' '.join(str(e).split())[:150]})") from None
        unknown = sorted(set(data) - KEYS)
        if unknown:
            raise TableError(f"{path}: {unknown[0]} is not a table key; the keys: {', '.join(sorted(KEYS))}")
        if "title" not in data:
            raise TableError(f"{path}: title is missing")
        rows = data.get("rows", "recipe")
        if rows != "recipe" and not str(rows).startswith("param."):
            raise TableError(f"{path}: rows={rows} is invalid: use recipe or param.<key>")
        baseline = data.get("baseline")
        if baseline is not None:
            try:
                parse_baseline(baseline if isinstance(baseline, str) else "", f"{path}: baseline")
            except AnalysisError as e:
                raise TableError(str(e)) from None
        specs.append(TableSpec(name=name, **data))
    return specs


def _own(summary: pd.DataFrame, spec: TableSpec) -> pd.DataFrame:
    s = summary[summary["experiment"].map(lambda e: fnmatch.fnmatchcase(str(e), spec.experiments))]
    if spec.sweep is not None:
        s = s[s["sweep"] == spec.sweep] if "sweep" in s else s.iloc[0:0]
    for key, value in spec.where.items():
        s = s[s[key].astype(str) == str(value)] if key in s else s.iloc[0:0]
    if spec.param:
        if spec.param not in s:
            return s.iloc[0:0]
        s = s[s[spec.param].notna()]
        s = s[s.groupby("experiment")[spec.param].transform("nunique") > 1]
    return s


def select(summary: pd.DataFrame, spec: TableSpec, specs: list[TableSpec]) -> pd.DataFrame:
    """The summary rows a table shows: its own, minus the experiments of the tables it leaves them to."""
    s = _own(summary, spec)
    others = [o for o in specs if o.name in spec.leave_to]
    taken = {e for o in others for e in _own(summary, o)["experiment"]}
    return s[~s["experiment"].isin(taken)]


def baselines_by_experiment(summary: pd.DataFrame, specs: list[TableSpec]) -> dict[str, list[str]]:
    """Per experiment, the baselines that the declared tables showing it name, in the tables' order."""
    out: dict[str, list[str]] = {}
    for spec in specs:
        if spec.baseline:
            for exp in dict.fromkeys(select(summary, spec, specs)["experiment"]):
                out.setdefault(exp, []).append(spec.baseline)
    return out
