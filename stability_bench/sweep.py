"""A sweep's cells, their records' statuses, and the ``sweep.json`` that declares them.

``sweep.json`` in an experiment directory lists every cell ever launched into it (its Hydra
overrides, task, method and run directory), so that status and analysis can report missing
runs against what was declared, not only what exists on disk.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import UserError
from .liveness import Liveness
from .records import (FINAL, RECORD_FILE, atomic_write, experiment_of, identity, identity_diff, method_dirname, method_params,
                      read_record_checked, record_path)

SWEEP_FILE = "sweep.json"
STATUS_ORDER = ("completed", "crashed", "diverged", "running", "interrupted", "corrupt", "missing")
TO_RUN = ("crashed", "interrupted", "corrupt", "missing")  # what a re-run launches (records.FINAL are kept)


@dataclass
class Cell:
    overrides: list[str]
    experiment_dir: str
    run_dir: str  # relative to experiment_dir
    task: str
    method: str  # the method directory name: recipe and params
    model: str
    seed: int
    sweep: str | None = None  # the +sweep= preset that declared it

    @classmethod
    def from_config(cls, overrides, cfg) -> "Cell":
        path = record_path(cfg)
        exp = experiment_of(path)
        return cls(list(overrides), str(exp), str(path.parent.relative_to(exp)), cfg.task.name,
                   method_dirname(cfg.method.name, method_params(cfg.method)), cfg.model.name, int(cfg.seed),
                   (cfg.sweep or {}).get("name"))

    @property
    def record_path(self) -> Path:
        return Path(self.experiment_dir) / self.run_dir / RECORD_FILE

    def status(self, liveness: Liveness | None = None) -> str:
        return (liveness or Liveness()).path_status(self.record_path)


def _key_value(override: str) -> tuple[str, str]:
    key, _, value = override.partition("=")
    return key.lstrip("+~"), value


def separate_experiments(grid: list[list[str]], configs: list) -> list[list[str]]:
    """Give each value of a swept setting that the run directory does not name an experiment of its own.

    A run directory names the task, the recipe and its params and the seed; sweeping anything else beside them
    (``train.lr=1e-5,3e-5``, ``data.max_train_samples=...``, ``model=`` with a fixed ``experiment=``) would put
    two cells in one directory, where the second would either be refused or, on a re-run, taken for completed.
    The settings that tell such cells apart join the experiment's name instead
    (``table1-minilm_l6,train.lr=1e-05``): each value gets its own experiment, so the analysis never pools them,
    and the same command names them the same way when it resumes. Returns the cells' overrides with an
    ``experiment=`` override where one was needed, and sets ``experiment`` in ``configs`` alike. A cell
    declared twice is a ``UserError``."""
    paths: dict[Path, list[int]] = {}
    for i, cfg in enumerate(configs):
        paths.setdefault(record_path(cfg), []).append(i)
    keys: list[str] = []
    for group in (g for g in paths.values() if len(g) > 1):
        values = [dict(_key_value(o) for o in grid[i]) for i in group]
        differ = [k for k in values[0] if len({v.get(k) for v in values}) > 1]
        if not differ:
            raise UserError(f"the sweep declares the cell '{' '.join(grid[group[0]])}' {len(group)} times: "
                            "a swept key lists a value twice")
        keys += [k for k in differ if k not in keys]
    if not keys:
        return grid
    out = []
    for cell, cfg in zip(grid, configs):
        values = dict(_key_value(o) for o in cell)
        suffix = ",".join(f"{k}={values[k]}" for k in keys if k in values)
        # a path's "/" would nest directories; Hydra's quoting needs no escapes for what remains
        name = re.sub(r"[^A-Za-z0-9._=,+-]", "_", f"{cfg.experiment},{suffix}")
        cfg.experiment = name
        out.append([o for o in cell if _key_value(o)[0] != "experiment"] + [f"experiment='{name}'"])
    if len({record_path(cfg) for cfg in configs}) < len(configs):  # values that differ only in replaced characters
        raise UserError(f"the swept values of {', '.join(keys)} give two cells the same experiment name; "
                        "give them names with experiment=")
    return out


def other_settings(cells: list[Cell], configs: list, states: list[str]) -> list[tuple[Cell, str, list[str]]]:
    """The completed (or diverged) cells whose record holds a run with other settings than the sweep's (a setting
    changed since they ran, ``train.lr=1e-3`` added to the same command): a re-run would take them for done and the
    analysis would show their settings under the new ones. Each with its state and what differs (``records.identity_diff``);
    cells with ``force=true`` are trained again anyway."""
    from .packing import as_container

    out = []
    for cell, cfg, state in zip(cells, configs, states):
        if state not in FINAL or cfg.force:
            continue
        rec, _ = read_record_checked(cell.record_path)
        diff = identity_diff((rec or {}).get("identity") or {}, identity(as_container(cfg))) if rec else []
        if diff:
            out.append((cell, state, diff))
    return out


def register_cells(cells: list[Cell]) -> None:
    """Add the cells to each experiment's sweep.json (union with earlier sweeps, keyed by run dir)."""
    by_exp: dict[str, list[Cell]] = {}
    for c in cells:
        by_exp.setdefault(c.experiment_dir, []).append(c)
    for exp, group in by_exp.items():
        path = Path(exp) / SWEEP_FILE
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UserError(f"results_dir: the experiment folder {exp} cannot be created ({e.strerror or e})") from None
        known = {c["run_dir"]: c for c in load_cells(Path(exp), strict=False)}  # unreadable: rebuilt from these
        for c in group:
            known[c.run_dir] = {k: v for k, v in asdict(c).items() if k != "experiment_dir"}
        cells_out = {"cells": sorted(known.values(), key=lambda c: c["run_dir"])}
        atomic_write(path, lambda f: json.dump(cells_out, f, indent=1))


class SweepFileError(ValueError):
    """sweep.json cannot be read (truncated, edited); the sweep command rebuilds it."""


def load_cells(experiment_dir: Path, strict: bool = True) -> list[dict]:
    """The cells declared in ``sweep.json`` ([] when there is none). An unreadable file raises
    ``SweepFileError`` (``strict``) or counts as empty (a sweep rebuilds it from its command)."""
    path = Path(experiment_dir) / SWEEP_FILE
    try:
        cells = json.loads(path.read_text())["cells"]
        if not isinstance(cells, list) or not all(isinstance(c, dict) and "run_dir" in c for c in cells):
            raise TypeError("cells is not a list of cells")
        return cells
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as e:
        if strict:
            raise SweepFileError(f"{path} cannot be read ({type(e).__name__}: {' '.join(str(e).split())[:120]}); "
                                 "re-run the sweep command to rebuild it") from None
        return []


def statuses(cells: list[Cell]) -> list[str]:
    live = Liveness()  # one SLURM query for all of them
    return [c.status(live) for c in cells]


def count_line(cells: list[Cell]) -> str:
    counts = Counter(statuses(cells))
    return ", ".join(f"{counts[s]} {s}" for s in STATUS_ORDER if counts[s])


def record_stamps(cells: list[Cell]) -> list[int | None]:
    """Each cell's record as it is now (its modification time; None: no record), to tell later which ran."""
    return [c.record_path.stat().st_mtime_ns if c.record_path.exists() else None for c in cells]


def not_started(cells: list[Cell], stamps: list[int | None]) -> list[Cell]:
    """The cells whose record is as it was at ``stamps`` (a drained sweep left them for its re-run): a run that
    starts writes its record (``running``) before anything else."""
    return [c for c, before, now in zip(cells, stamps, record_stamps(cells)) if now == before]


def problems(cells: list[Cell], states: list[str] | None = None) -> Counter:
    """Why launched cells have no result (crashed with which error, interrupted, or never started): each reason
    with the number of cells it covers. A diverged run is a result (``records.FINAL``), told apart by the sweep.
    ``states``: the cells' statuses, when the caller has them."""
    reasons: Counter = Counter()
    for c, status in zip(cells, states or statuses(cells)):
        if status in (*FINAL, "running"):
            continue
        rec, problem = read_record_checked(c.record_path)  # the error, or what makes it corrupt
        error = rec.get("error") if rec else None
        reasons[{"missing": "did not start (see the error above)", "interrupted": "interrupted",
                 "corrupt": f"have a corrupt record ({problem})"}.get(status)
                or f"crashed: {error or 'no error recorded'}"] += 1
    return reasons
