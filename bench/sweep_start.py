"""Benchmark: how long a sweep takes to start — from the command to its cells declared, and to its first run.

Starts ``python -m stability_bench <sweep> -m`` with the packed local launcher in an empty results directory,
reads the time of the sweep's "[sweep] N cells" line (every cell composed, checked and declared) and of the first
"[job] worker ... started" line (the launcher has the runs: composed again, resolved), then stops the sweep
(SIGTERM; its run in flight records ``interrupted``). Median of ``--repeats``.

    python bench/sweep_start.py --sweep +sweep=table1 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_times(sweep: list[str], model: str) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "stability_bench", *sweep, f"model={model}", f"results_dir={tmp}",
               "hydra/launcher=local", f"hydra.sweep.dir={tmp}/multirun", "-m"]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"})
        declared = first = None
        line = ""
        for line in proc.stderr:
            if declared is None and line.startswith("[sweep]") and " cells: " in line:
                declared, cells = time.perf_counter() - t0, line.split("]", 1)[1].strip()
            if line.startswith("[job] worker") and " started " in line:
                first = time.perf_counter() - t0
                break
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=120)
        if declared is None or first is None:
            raise SystemExit(f"the sweep did not start a run (exit {proc.returncode}): {line.strip()}")
        return declared, first, cells


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", nargs="+", default=["+sweep=table1"], help="the sweep's overrides")
    ap.add_argument("--model", default="tiny_random")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    runs = [start_times(args.sweep, args.model) for _ in range(args.repeats)]
    declared = statistics.median(r[0] for r in runs)
    first = statistics.median(r[1] for r in runs)
    print(f"sweep_start: {' '.join(args.sweep)} model={args.model} ({runs[0][2]}), median of {args.repeats}: "
          f"cells declared after {declared:.1f} s, first run started after {first:.1f} s")


if __name__ == "__main__":
    main()
