"""A sweep's cells, their records' statuses, and the ``sweep.json`` that declares them.

``sweep.json`` in an experiment directory lists every cell ever launched into it (its Hydra
overrides, task, method and run directory), so that status and analysis can report missing
runs against what was declared, not only what exists on disk.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from .records import atomic_write, live_status, method_dirname, method_params, read_record, record_path

SWEEP_FILE = "sweep.json"
STATUS_ORDER = ("completed", "crashed", "diverged", "running", "interrupted", "missing")
TO_RUN = ("crashed", "diverged", "interrupted", "missing")  # what a re-run launches


@dataclass
class Cell:
    overrides: list[str]
    experiment_dir: str
    run_dir: str  # relative to experiment_dir
    task: str
    method: str  # the method directory name: recipe and params
    model: str
    seed: int

    @classmethod
    def from_config(cls, overrides, cfg) -> "Cell":
        path = record_path(cfg)
        exp = path.parents[3]
        return cls(list(overrides), str(exp), str(path.parent.relative_to(exp)), cfg.task.name,
                   method_dirname(cfg.method.name, method_params(cfg.method)), cfg.model.name, int(cfg.seed))

    def status(self) -> str:
        try:
            rec = read_record(Path(self.experiment_dir) / self.run_dir / "record.json")
        except (OSError, ValueError):
            return "crashed"  # unreadable record: run again
        return live_status(rec)


def register_cells(cells: list[Cell]) -> None:
    """Add the cells to each experiment's sweep.json (union with earlier sweeps, keyed by run dir)."""
    by_exp: dict[str, list[Cell]] = {}
    for c in cells:
        by_exp.setdefault(c.experiment_dir, []).append(c)
    for exp, group in by_exp.items():
        path = Path(exp) / SWEEP_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        known = {c["run_dir"]: c for c in load_cells(Path(exp))}
        for c in group:
            known[c.run_dir] = {k: v for k, v in asdict(c).items() if k != "experiment_dir"}
        cells_out = {"cells": sorted(known.values(), key=lambda c: c["run_dir"])}
        atomic_write(path, lambda f: json.dump(cells_out, f, indent=1))


def load_cells(experiment_dir: Path) -> list[dict]:
    path = Path(experiment_dir) / SWEEP_FILE
    if not path.exists():
        return []
    return json.loads(path.read_text())["cells"]


def count_line(cells: list[Cell]) -> str:
    counts = Counter(c.status() for c in cells)
    return ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s])


def problems(cells: list[Cell]) -> Counter:
    """Why launched cells did not complete (crashed with which error, diverged, interrupted, or never
    started): each reason with the number of cells it covers."""
    reasons: Counter = Counter()
    for c in cells:
        try:
            rec = read_record(Path(c.experiment_dir) / c.run_dir / "record.json")
            status = live_status(rec)
        except (OSError, ValueError):
            rec, status = None, "crashed"
        if status in ("completed", "running"):
            continue
        error = rec.get("error") if isinstance(rec, dict) else None
        reasons[{"missing": "did not start (see the error above)", "diverged": "diverged (NaN or infinite loss)",
                 "interrupted": "interrupted"}.get(status) or f"crashed: {error or 'unreadable record'}"] += 1
    return reasons
