"""``python -m stability_bench.status <experiment or results dir>``: per task x method, how many
runs are completed, crashed, diverged, running, interrupted (a ``running`` record whose process
or SLURM job is gone) and missing.

Missing is counted against the cells declared in each experiment's ``sweep.json``; records on
disk that no sweep declared (single runs) are counted too.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from .records import RECORD_FILE, live_status
from .sweep import STATUS_ORDER, SWEEP_FILE, load_cells


def experiment_dirs(root: Path) -> list[Path]:
    if (root / SWEEP_FILE).exists():
        return [root]
    found = {p.parent for p in root.glob(f"*/{SWEEP_FILE}")}
    found |= {p.parents[3] for p in root.glob(f"**/{RECORD_FILE}")}
    return sorted(found)


def _status(path: Path) -> str:
    try:
        return live_status(json.loads(path.read_text()))
    except FileNotFoundError:
        return "missing"
    except (OSError, ValueError):
        return "crashed"


def collect(root: Path) -> dict[tuple[str, str, str], Counter]:
    """(experiment, task, method dir) -> Counter of statuses."""
    table: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    for exp in experiment_dirs(root):
        seen = set()
        for cell in load_cells(exp):
            seen.add(cell["run_dir"])
            table[(exp.name, cell["task"], cell["method"])][_status(exp / cell["run_dir"] / RECORD_FILE)] += 1
        for rec in exp.glob(f"*/*/*/{RECORD_FILE}"):
            rel = str(rec.parent.relative_to(exp))
            if rel not in seen:
                task, method, _ = rel.split("/")
                table[(exp.name, task, method)][_status(rec)] += 1
    return table


def render(table) -> str:
    rows = [("experiment", "task", "method", *STATUS_ORDER)]
    for key in sorted(table):
        rows.append((*key, *(str(table[key][s]) for s in STATUS_ORDER)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stability_bench.status", description=__doc__.splitlines()[0])
    ap.add_argument("path", type=Path, help="an experiment directory, or a results_dir holding several")
    args = ap.parse_args(argv)
    if not args.path.is_dir():
        print(f"error: {args.path} is not a directory", file=sys.stderr)
        return 2
    table = collect(args.path)
    if not table:
        print(f"error: no sweep.json or record.json under {args.path}", file=sys.stderr)
        return 2
    print(render(table))
    total = sum(table.values(), Counter())
    print("total: " + ", ".join(f"{total[s]} {s}" for s in STATUS_ORDER))
    return 0


if __name__ == "__main__":
    sys.exit(main())
