"""Benchmark: how fast does the analysis stage aggregate run records?

Writes N synthetic records (recipes x tasks x seeds, metrics drawn at random, a few crashed) plus a
sweep.json, then times loading them into the runs table and producing every table and statistic
(figures off; ``--no-aso`` as in ``python -m analysis``). Prints one line; BENCHMARKS.md records the result.

    python bench/analysis_speed.py --records 10000 [--no-aso]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from analysis.__main__ import analyse  # noqa: E402
from analysis.load import load_runs  # noqa: E402

METHODS = ["devlin", "bias_correction", "mixout", "mosbach", "cwgnc"]
TASKS = {"rte": ("accuracy", 146 / 277), "mrpc": ("f1", 0.8122), "cola": ("mcc", 0.0)}


def write_records(root: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    exp = root / "bench-exp"
    per_cell = max(1, n // (len(METHODS) * len(TASKS)))
    written = 0
    for method in METHODS:
        for task, (metric, base) in TASKS.items():
            for seed in range(per_cell):
                if written >= n:
                    return
                d = exp / task / method / f"seed{seed}"
                d.mkdir(parents=True)
                status = "crashed" if rng.random() < 0.01 else "completed"
                value = float(np.clip(rng.normal(0.6, 0.1), 0, 1)) if status == "completed" else None
                rec = {"schema_version": 1, "status": status, "task": task, "model": "bench",
                       "method": {"name": method, "params": {}}, "seed": seed, "init_seed": seed, "data_seed": seed,
                       "metric_name": metric, "metric": value, "majority_baseline": base,
                       "dev_predictions": rng.integers(0, 2, 500).tolist()}
                (d / "record.json").write_text(json.dumps(rec))
                written += 1


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=10000)
    ap.add_argument("--resamples", type=int, default=10000)
    ap.add_argument("--no-aso", action="store_true", help="as python -m analysis --no-aso")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_records(root, args.records)
        t0 = time.perf_counter()
        runs, skipped = load_runs(root)
        t1 = time.perf_counter()
        analyse(runs, root / "out", "majority", 0, None, root, make_figures=False,
                n_resamples=args.resamples, aso=not args.no_aso)
        t2 = time.perf_counter()
    total = t2 - t0
    print(f"analysis_speed{' (no ASO)' if args.no_aso else ''}: {len(runs)} records on {platform.processor() or platform.machine()}: "
          f"load {t1 - t0:.2f}s, tables+stats {t2 - t1:.2f}s, total {total:.2f}s = {len(runs) / total:.0f} records/s")


if __name__ == "__main__":
    main()
