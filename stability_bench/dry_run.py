"""What a sweep would launch, told without launching or writing anything (``hydra.sweeper.dry_run=true``).

For the cells a sweep would run, one row per experiment x task x recipe: how many, which seeds (and, for a
split-seed sweep, which initialisation and data-order seeds: ``0;init=1-5;data=1-5``), one run's
optimizer steps and dev evaluations (from the training set's size, when its files are local; else, or for a
recipe whose stages depend on the model, from a completed run of the row), their sum over the row's runs, and
how long the completed runs of the same row took (their records' ``wall_time_s``, median; runs that shared a GPU
each took longer than one alone). What a GPU allocation needs is read off before it is asked for.
"""

from __future__ import annotations

import math
import statistics
from pathlib import Path

from . import tasks
from .recipes import Method
from .records import RECORD_FILE, read_record_checked
from .train import eval_steps


def run_size(cfg, method: Method, sizes: dict) -> tuple[int | None, int | None]:
    """(optimizer steps, dev evaluations) of one run of ``cfg``; None for what cannot be known without the model
    (a recipe whose stages depend on its layers) or the data (hub data not downloaded)."""
    n = tasks.train_size(cfg, sizes)
    if n is None or type(method).stages is not Method.stages:
        return None, None
    t = cfg.train
    per_epoch = math.ceil(n / t.batch_size)
    evals = sum(len(eval_steps(per_epoch, t.evals_per_epoch, final_epoch=e == t.epochs - 1)) for e in range(t.epochs))
    return per_epoch * t.epochs, evals


def recorded(method_dir: Path) -> tuple[float | None, int, tuple[int | None, int | None]]:
    """The completed runs under a method directory (the same settings but the seed): their median wall time,
    their number, and the (steps, evaluations) of one of them."""
    times, size = [], (None, None)
    for path in method_dir.glob(f"*/{RECORD_FILE}"):
        rec, _ = read_record_checked(path)
        if rec and rec.get("status") == "completed" and isinstance(rec.get("wall_time_s"), (int, float)):
            times.append(float(rec["wall_time_s"]))
            size = (rec.get("steps"), len(rec.get("evals") or []))
    return (statistics.median(times) if times else None), len(times), size


def seed_ranges(seeds: list[int]) -> str:
    """1-3,7,9-25"""
    out, run = [], []
    for s in sorted(set(seeds)):
        if run and s != run[-1] + 1:
            out.append(run)
            run = []
        run.append(s)
    out.append(run)
    return ",".join(f"{r[0]}-{r[-1]}" if len(r) > 2 else ",".join(map(str, r)) for r in out if r)


def report(cells, configs, methods) -> str:
    """The table of the cells a sweep would run (``cells``, with their configs and recipes), as text."""
    rows: dict[tuple, dict] = {}
    sizes: dict = {}
    for cell, cfg, method in zip(cells, configs, methods):
        key = (Path(cell.experiment_dir).name, cell.task, cell.method)
        row = rows.setdefault(key, {"seeds": [], "init": [], "data": [], "size": run_size(cfg, method, sizes),
                                    "method_dir": cell.record_path.parent.parent})
        row["seeds"].append(cell.seed)
        for which in ("init", "data"):  # Dodge et al.'s split seeds (+sweep=seed_split): they tell the runs apart
            if cfg.get(f"{which}_seed") is not None:
                row[which].append(cfg[f"{which}_seed"])
    header = ["experiment", "task", "method", "runs", "seeds", "steps/run", "evals/run", "steps", "recorded s/run"]
    table = [header]
    total_steps, unknown = 0, 0
    for (exp, task, method), row in rows.items():
        median, n, done_size = recorded(row["method_dir"])
        steps, evals = row["size"] if row["size"][0] is not None else done_size
        runs = len(row["seeds"])
        total_steps += (steps or 0) * runs
        unknown += runs if steps is None else 0
        seeds = ";".join([seed_ranges(row["seeds"])] + [f"{w}={seed_ranges(row[w])}" for w in ("init", "data") if row[w]])
        table.append([exp, task, method, str(runs), seeds, _n(steps), _n(evals),
                      _n(steps * runs if steps is not None else None),
                      f"{median:.0f} ({n} run{'s' if n > 1 else ''})" if median is not None else "-"])
    total = f"{total_steps:,}" + (f" + {unknown} runs of unknown size" if unknown else "")
    table.append(["total", "", "", str(len(cells)), "", "", "", total, ""])
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in table)


def _n(v: int | None) -> str:
    return "?" if v is None else f"{v:,}"
