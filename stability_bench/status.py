"""``python -m stability_bench.status <experiment or results dir>``: per task x method, how many
runs are completed, crashed, diverged, running, interrupted (a ``running`` record whose process
or SLURM job is gone), corrupt (listed by path) and missing.

Missing is counted against the cells declared in each experiment's ``sweep.json``; records on
disk that no sweep declared (single runs) are counted too. With ``--running``, each live run is listed
with where it runs and how far it is, from the last progress line of its ``run.log``.

A ``left:`` line estimates what remains: each cell still to run takes the median wall time of the completed
runs of its experiment, task and method, and each running run its logged ETA. A run's wall time already
includes the slowdown of the runs it shared a GPU or CPU with, so dividing by the number running now gives
the time left while the sweep keeps that many in flight, as it did for the completed ones (but never less than
the longest single run left).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from statistics import median as _median
from typing import NamedTuple

from .liveness import Liveness
from .records import RECORD_FILE, experiment_of, read_record_checked
from .sweep import STATUS_ORDER, SWEEP_FILE, TO_RUN, SweepFileError, load_cells


def experiment_dirs(root: Path) -> list[Path]:
    if (root / SWEEP_FILE).exists():
        return [root]
    found = {p.parent for p in root.glob(f"*/{SWEEP_FILE}")}
    found |= {experiment_of(p) for p in root.glob(f"**/{RECORD_FILE}")}
    return sorted(found)


class Live(NamedTuple):
    """A live running run: its record (and where), its (experiment, task, method dir), and its log's last
    progress line (``last_progress``), read once for both the --running list and the estimate of what is left."""
    path: Path
    record: dict
    key: tuple[str, str, str]
    progress: dict | None


def collect(root: Path, notes: list[str] | None = None, running: list[Live] | None = None,
            walls: dict[tuple[str, str, str], list[float]] | None = None) -> dict[tuple[str, str, str], Counter]:
    """(experiment, task, method dir) -> Counter of statuses. ``notes`` gets a line per corrupt record (by
    path) and per unreadable sweep.json; ``running`` each live running run; ``walls`` the wall times of the
    completed runs of each (experiment, task, method dir)."""
    notes = [] if notes is None else notes
    table: dict[tuple[str, str, str], Counter] = defaultdict(Counter)
    live = Liveness()

    def status(path: Path, key: tuple[str, str, str]) -> str:
        rec, problem = read_record_checked(path)
        if problem:
            notes.append(f"corrupt: {path}: {problem} (a re-run of the sweep moves it aside and runs the cell again)")
            return "corrupt"
        state = live.status(rec)
        if state == "running" and running is not None:
            running.append(Live(path, rec, key, last_progress(path.parent / "run.log")))
        if state == "completed" and walls is not None and rec.get("wall_time_s"):
            walls.setdefault(key, []).append(float(rec["wall_time_s"]))
        return state

    for exp in experiment_dirs(root):
        seen = set()
        try:
            cells = load_cells(exp)
        except SweepFileError as e:
            notes.append(f"warning: {e}; counting the records on disk only")
            cells = []
        for cell in cells:
            seen.add(cell["run_dir"])
            key = (exp.name, cell.get("task", "?"), cell.get("method", "?"))
            table[key][status(exp / cell["run_dir"] / RECORD_FILE, key)] += 1
        for rec in exp.glob(f"*/*/*/{RECORD_FILE}"):
            rel = str(rec.parent.relative_to(exp))
            if rel not in seen:
                task, method, _ = rel.split("/")
                key = (exp.name, task, method)
                table[key][status(rec, key)] += 1
    return table


# a run's progress line in its run.log (stability_bench.train): "<time> INFO <stage> step 120/3120 ... eta 171s"
PROGRESS = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d+ INFO (\S+) step (\d+)/(\d+) .* eta (\d+)s$")


def last_progress(log: Path) -> dict | None:
    """The last progress line of a run.log (its stage, step, steps, ETA and how old it is); None before the
    first one."""
    try:
        with log.open("rb") as f:
            f.seek(max(0, f.seek(0, 2) - 16384))  # the end is enough: a line every 10 steps or 30 s
            lines = f.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        m = PROGRESS.match(line)
        if m:
            when, stage, step, total, eta = m.groups()
            age = time.time() - datetime.strptime(when, "%Y-%m-%d %H:%M:%S").timestamp()
            return {"stage": stage, "step": int(step), "total": int(total), "eta_s": int(eta), "age_s": max(0, round(age))}
    return None


def running_lines(running: list[Live], root: Path) -> list[str]:
    """One line per live run: where it is, how far, its ETA as of its last progress line, and where it runs."""
    out = []
    for path, rec, _, p in sorted(running, key=lambda r: str(r.path)):
        where = path.parent.relative_to(root) if path.parent.is_relative_to(root) else path.parent
        stage = "" if not p or p["stage"] == "all" else f"{p['stage']} "  # a recipe of several stages (gu) names it
        how_far = (f"{stage}step {p['step']}/{p['total']} ({100 * p['step'] / p['total']:.0f}%), "
                   f"eta {p['eta_s']}s as of {p['age_s']}s ago") if p else "no training step logged yet"
        o = rec.get("owner") or {}
        who = ", ".join(f"{k} {o[k]}" for k in ("host", "slurm_job", "pid", "worker") if o.get(k) is not None)
        out.append(f"  {where}  {how_far}  ({who})")
    return out


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def left_lines(table, walls, running: list[Live]) -> list[str]:
    """What remains and how long it should take (the module's docstring says how it is estimated)."""
    median = {key: _median(v) for key, v in walls.items()}
    to_run = {key: sum(c[s] for s in TO_RUN) for key, c in table.items()}
    times = [median[key] for key, n in to_run.items() if key in median for _ in range(n)]  # one per run
    unknown = sum(n for key, n in to_run.items() if key not in median)
    for _, _, key, p in running:
        if p:
            times.append(max(0, p["eta_s"] - p["age_s"]))
        elif key in median:  # nothing logged yet: a whole run
            times.append(median[key])
        else:
            unknown += 1
    cells = sum(to_run.values())
    if not cells and not running:
        return []
    what = f"left: {cells} cell{'s' * (cells != 1)} to run" + (f", {len(running)} running" if running else "")
    if not times:
        return [f"{what}; no completed run of their task and method yet to estimate their time from"]
    line = f"{what}: about {_duration(sum(times))} of run time in all"
    # k at a time take at least the total over k, and at least the longest single run
    line += (f"; {len(running)} at a time, as now: about {_duration(max(sum(times) / len(running), max(times)))}"
             if running else " (none is running now)")
    out = [line]
    if unknown:
        out.append(f"  not counted: {unknown} with no completed run of their task and method yet")
    return out


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
    ap.add_argument("--running", action="store_true",
                    help="also list each live run: its step, ETA and where it runs (host, SLURM job, pid, worker)")
    args = ap.parse_args(argv)
    if not args.path.is_dir():
        print(f"error: {args.path} is not a directory", file=sys.stderr)
        return 2
    notes: list[str] = []
    running: list[Live] = []
    walls: dict[tuple[str, str, str], list[float]] = {}
    table = collect(args.path, notes, running, walls)
    for line in notes:
        print(line, file=sys.stderr)
    if not table:
        print(f"error: no sweep.json or record.json under {args.path}", file=sys.stderr)
        return 2
    print(render(table))
    total = sum(table.values(), Counter())
    print("total: " + ", ".join(f"{total[s]} {s}" for s in STATUS_ORDER))
    if running and args.running:
        print("running:\n" + "\n".join(running_lines(running, args.path)))
    elif running:
        print(f"(--running lists the {len(running)} running runs with their progress)")
    for line in left_lines(table, walls, running):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
