"""``python -m stability_bench.status <experiment or results dir>``: per task x method, how many
runs are completed, crashed, diverged, running, interrupted (a ``running`` record whose process
or SLURM job is gone), corrupt (listed by path) and missing.

Missing is counted against the cells declared in each experiment's ``sweep.json``; records on
disk that no sweep declared (single runs) are counted too.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from pathlib import Path

from .liveness import Liveness
from .records import RECORD_FILE, experiment_of, read_record_checked
from .sweep import STATUS_ORDER, SWEEP_FILE, SweepFileError, load_cells


def experiment_dirs(root: Path) -> list[Path]:
    if (root / SWEEP_FILE).exists():
        return [root]
    found = {p.parent for p in root.glob(f"*/{SWEEP_FILE}")}
    found |= {experiment_of(p) for p in root.glob(f"**/{RECORD_FILE}")}
    return sorted(found)


def collect(root: Path, notes: list[str] | None = None) -> dict[tuple[str, str, str], Counter]:
    """(experiment, task, method dir) -> Counter of statuses. ``notes`` gets a line per corrupt record (by
    path) and per unreadable sweep.json."""
    notes = [] if notes is None else notes
    table: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    live = Liveness()

    def status(path: Path) -> str:
        rec, problem = read_record_checked(path)
        if problem:
            notes.append(f"corrupt: {path}: {problem} (a re-run of the sweep moves it aside and runs the cell again)")
            return "corrupt"
        return live.status(rec)

    for exp in experiment_dirs(root):
        seen = set()
        try:
            cells = load_cells(exp)
        except SweepFileError as e:
            notes.append(f"warning: {e}; counting the records on disk only")
            cells = []
        for cell in cells:
            seen.add(cell["run_dir"])
            table[(exp.name, cell.get("task", "?"), cell.get("method", "?"))][status(exp / cell["run_dir"] / RECORD_FILE)] += 1
        for rec in exp.glob(f"*/*/*/{RECORD_FILE}"):
            rel = str(rec.parent.relative_to(exp))
            if rel not in seen:
                task, method, _ = rel.split("/")
                table[(exp.name, task, method)][status(rec)] += 1
    return table


def render(table) -> str:
    rows = [("experiment", "task", "method", *STATUS_ORDER)]
    for key in sorted(table):
        rows.append((*key, *(str(table[key][s]) for s in STATUS_ORDER)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in rows)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stability_bench.status",
                                 description=" ".join(__doc__.split("\n\n")[0].split()))  # the first paragraph, whole
    ap.add_argument("path", type=Path, help="an experiment directory, or a results_dir holding several")
    args = ap.parse_args(argv)
    if not args.path.is_dir():
        print(f"error: {args.path} is not a directory", file=sys.stderr)
        return 2
    notes: list[str] = []
    table = collect(args.path, notes)
    for line in notes:
        print(line, file=sys.stderr)
    if not table:
        print(f"error: no sweep.json or record.json under {args.path}", file=sys.stderr)
        return 2
    print(render(table))
    total = sum(table.values(), Counter())
    print("total: " + ", ".join(f"{total[s]} {s}" for s in STATUS_ORDER))
    return 0


if __name__ == "__main__":
    sys.exit(main())
