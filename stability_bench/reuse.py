"""Reusing a finished run of another experiment instead of training it again (``hydra.sweeper.reuse=true``).

Two runs with the same ``identity`` (task, model, recipe and its params, seeds, data and training settings)
are the same run: Table 2's default threshold on CoLA is Table 1's CWGNC cell on CoLA. A sweep that reuses
copies such a completed (or diverged: ``records.FINAL``) run's record (and its log) from a sibling experiment of
the same ``results_dir`` into its own cell, so each experiment stays complete on its own for the analysis. The
copy names its new experiment and sweep, and ``reused_from`` names the run that trained it; its ``config`` and
``environment`` stay those of that run. Opt-in: the identity leaves out the code's version, so a sweep meant to
train again after a change to the code must not reuse.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .claims import claim
from .packing import as_container
from .records import FINAL, RECORD_FILE, identity, identity_diff, read_record_checked, write_record

COPIED = ("run.log",)  # beside the record; a component-statistics file is copied when the record names one


def source(cell, cfg) -> Path | None:
    """The record of a completed or diverged run with the settings of ``cell`` (composed as ``cfg``) in another
    experiment beside the cell's, or None: the same run directory (task, recipe and params, seeds) under each sibling
    experiment, in name order."""
    own = Path(cell.experiment_dir)
    if not own.parent.is_dir():
        return None
    ident = None
    for exp in sorted(p for p in own.parent.iterdir() if p.is_dir() and p != own and not p.name.startswith(".")):
        path = exp / cell.run_dir / RECORD_FILE
        rec, _ = read_record_checked(path)  # a corrupt record is no source
        if not rec or rec["status"] not in FINAL:
            continue
        ident = ident or identity(as_container(cfg))  # what the cell's run would record
        if not identity_diff(rec.get("identity") or {}, ident):
            return path
    return None


def adopt(cell, src: Path) -> str | None:
    """Copy the run at ``src`` into ``cell`` (under the cell's claim, while it still has no record); its status if
    copied, else None. The record is written last, so a copy cut half-way leaves the cell missing, to be done
    again."""
    results_dir = Path(cell.experiment_dir).parent
    target = Path(cell.record_path)
    rec, _ = read_record_checked(src)
    if rec is None or rec["status"] not in FINAL:
        return None
    with claim(results_dir, target.parent) as held:
        if not held or target.exists():  # a live run, or one that started meanwhile, has it
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        for name in COPIED + ((rec["component_stats"],) if rec.get("component_stats") else ()):
            if (src.parent / name).exists():
                shutil.copy2(src.parent / name, target.parent / name)
        origin = rec.get("reused_from") or str(src.parent.relative_to(results_dir))  # the run that trained it
        write_record(target, {**rec, "experiment": Path(cell.experiment_dir).name, "sweep": cell.sweep,
                              "reused_from": origin})
    return rec["status"]
