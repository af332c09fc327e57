"""Run records: where each run lives, what identifies it, and writing ``record.json`` atomically.

A record is self-describing (schema version, status, task, model, method, seeds, metric and the
dev predictions it came from, environment, resolved config). It never holds environment
variables, tokens or credentials: the environment part is limited to library versions, the git
commit of this package, the host name, the device name, torch's thread count and, under SLURM,
the job and array task ids.
"""

from __future__ import annotations

import json
import math
import os
import platform
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import __version__

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"


WORKER: int | None = None  # set in a packed job's worker process (stability_bench.packing)


def boot_id() -> str | None:
    """This boot of this host: a pid seen on another boot (a fresh cloud VM of the same name) is not alive."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return None


def owner() -> dict:
    """Who is running a run: host (and boot), process, packed-job worker and (under SLURM) job, to tell live
    runs from dead ones."""
    job = os.environ.get("SLURM_JOB_ID")
    if os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID"):
        job = f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return {"host": socket.gethostname(), "boot_id": boot_id(), "pid": os.getpid(), "worker": WORKER,
            "slurm_job": job}


def is_self(other: dict | None) -> bool:
    """A requeued SLURM job keeps its job id: its own earlier record is not another live run."""
    me = owner()
    if not other:
        return False
    if me["slurm_job"] and other.get("slurm_job") == me["slurm_job"]:
        return True
    return (other.get("host"), other.get("pid")) == (me["host"], me["pid"])


@dataclass
class Record:
    """What ``record.json`` holds, in this order (schema version 1). Written ``running`` when training starts
    and again at the end; the fields from ``environment`` on are written once known (absent until then, and
    absent when they do not apply: ``error`` for crashed and interrupted runs only, and so on)."""

    schema_version: int = SCHEMA_VERSION
    status: str = "running"  # running | completed | diverged | crashed | interrupted
    experiment: str = ""
    sweep: str | None = None  # the +sweep= preset that declared this run (null: a single run)
    task: str = ""
    model: str = ""  # the model config's name
    method: dict = field(default_factory=dict)  # {"name": preset, "params": its parameters, "recipe", "label"}
    seed: int = 0  # the run's seed (its directory name)
    init_seed: int = 0  # seed of the classifier's initialisation (= seed unless set)
    data_seed: int = 0  # seed of the data order and dropout (= seed unless set)
    metric_name: str = ""  # accuracy | f1 | mcc: the task's table metric
    metric: float | None = None  # the selected evaluation's metric (completed runs)
    majority_baseline: float | None = None  # the metric of the majority classifier on the dev set
    failed: bool | None = None  # metric <= majority baseline (completed runs)
    label_names: list = field(default_factory=list)
    n_train: int = 0  # training examples used
    n_dev: int = 0  # dev examples evaluated
    dev_labels: list = field(default_factory=list)  # their label ids in dev-file order (example-level statistics)
    tokenization_cache_hit: bool = False
    data_load_s: float = 0.0  # tokenizer load + tokenization (or cache read)
    identity: dict = field(default_factory=dict)  # the settings that make two runs the same run (identity())
    config: dict = field(default_factory=dict)  # the whole resolved config
    started_at: str = ""
    owner: dict = field(default_factory=dict)  # host, boot, pid, packed-job worker, SLURM job (owner())
    environment: dict | None = None  # library versions, git commit, device (environment())
    model_load_s: float | None = None
    n_parameters: int | None = None
    train_time_s: float | None = None
    process_start_to_first_step_s: float | None = None  # a run's fixed cost, from its process's start
    component_stats: str | None = None  # file of per-component statistics (train.component_stats_every)
    steps: int | None = None  # optimizer steps taken
    resumed_from_step: int | None = None  # continued from a checkpoint saved at this step (stopped before)
    checkpoint: str | None = None  # interrupted with a checkpoint (file in the run directory) to resume from
    evals: list | None = None  # every dev evaluation: stage, epoch, step, metric, metrics, seconds
    stages: list | None = None  # per training stage (multi-stage recipes): its last evaluation
    loss_curve: list | None = None  # [step, training loss] every train.log_every steps
    metrics: dict | None = None  # accuracy, f1 and mcc of the selected evaluation
    selected_eval: dict | None = None  # which evaluation gave the metric (train.select)
    n_heldout: int | None = None  # training examples held out, on which train.select=best selected (data.heldout_fraction)
    dev_predictions: list | None = None  # the selected evaluation's predicted label of each dev example
    last_dev_predictions: list | None = None  # the last evaluation's, where another one is selected (train.select=best)
    diverged_at_step: int | None = None
    error: str | None = None  # crashed or interrupted: why
    traceback: str | None = None  # crashed: where
    wall_time_s: float | None = None  # from the start of data loading to the record's last write
    finished_at: str | None = None
    reused_from: str | None = None  # this record is a copy (hydra.sweeper.reuse): <experiment>/<run dir> of the run that trained it

    def to_dict(self) -> dict:
        d = asdict(self)
        return {k: v for k, v in d.items() if not (v is None and k in _WRITTEN_ONCE_KNOWN)}


_WRITTEN_ONCE_KNOWN = {f.name for f in fields(Record)[[f.name for f in fields(Record)].index("environment"):]}


def _fmt(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def method_dirname(name: str, params: dict) -> str:
    """``cwgnc,grouping=tensor,threshold=0.05``: the recipe and every one of its params."""
    return ",".join([name] + [f"{k}={_fmt(v)}" for k, v in sorted(params.items())])


def run_dir(results_dir: Path, experiment: str, task: str, method_name: str, params: dict, seed_label: str) -> Path:
    return results_dir / experiment / task / method_dirname(method_name, params) / seed_label


def experiment_of(record: Path) -> Path:
    """The experiment directory holding a ``record.json`` (the inverse of ``run_dir``'s layout)."""
    return Path(record).parents[3]


def method_params(method_cfg) -> dict:
    """The recipe's own params as a plain dict (the method node without its name)."""
    from omegaconf import OmegaConf

    d = OmegaConf.to_container(method_cfg, resolve=True) if OmegaConf.is_config(method_cfg) else dict(method_cfg)
    for key in ("name", "recipe", "label"):  # which preset, which recipe class, how it is shown: not params
        d.pop(key, None)
    return d


def record_path(cfg) -> Path:
    """Where the record of the run that ``cfg`` describes lives (the config need not be valid yet)."""
    results_dir = Path(cfg.results_dir).expanduser().resolve()
    label = seed_label(cfg.seed, cfg.init_seed, cfg.data_seed)
    return run_dir(results_dir, cfg.experiment, cfg.task.name, cfg.method.name, method_params(cfg.method), label) / RECORD_FILE


def seed_label(seed: int, init_seed: int | None, data_seed: int | None) -> str:
    label = f"seed{seed}"
    if init_seed is not None:
        label += f"-init{init_seed}"
    if data_seed is not None:
        label += f"-data{data_seed}"
    return label


def identity(cfg: dict) -> dict:
    """The settings that make two runs the same run (paths, device and logging excluded)."""
    # deterministic makes a run repeatable, not another run: records made before it existed stay the same run
    train = {k: v for k, v in cfg["train"].items()
             if k not in ("device", "threads", "log_every", "eval_batch_size", "component_stats_every", "deterministic")}
    data = {k: cfg["data"][k] for k in ("max_train_samples", "max_eval_samples", "subset_seed", "max_length",
                                        "group_by_length")}
    if cfg["data"].get("heldout_fraction") is not None:  # absent when off: records made before it stay the same run
        data["heldout_fraction"] = cfg["data"]["heldout_fraction"]
    model = {k: cfg["model"][k] for k in ("name", "pretrained", "package", "random_init")}
    method = {k: v for k, v in cfg["method"].items() if k not in ("recipe", "label")}  # both follow from the preset
    return {"task": cfg["task"]["name"], "model": model, "method": method, "seed": cfg["seed"],
            "init_seed": cfg["init_seed"], "data_seed": cfg["data_seed"], "data": data, "train": train}


def identity_diff(a: dict, b: dict, prefix: str = "") -> list[str]:
    keys = sorted(set(a) | set(b))
    out = []
    for k in keys:
        va, vb = a.get(k), b.get(k)
        if isinstance(va, dict) and isinstance(vb, dict):
            out += identity_diff(va, vb, f"{prefix}{k}.")
        elif va != vb:
            out.append(f"{prefix}{k}: {va} -> {vb}")
    return out


def finite_or_none(x):
    return x if isinstance(x, (int, float)) and math.isfinite(x) else None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: Path, write, binary: bool = False) -> None:
    """Write a file through a temporary file in the same directory and a rename, so that a reader never sees
    half of it; the file gets the process umask's permissions (a shared results directory stays readable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}~{socket.gethostname()}~{os.getpid()}~",
                               suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def remove_stale_tmp(folder: Path, max_age_s: float = 86400.0) -> list[Path]:
    """Remove the temporary files of ``atomic_write`` calls whose process was killed: those of a dead process
    of this host, and any older than ``max_age_s`` (another host's, on a shared file system)."""
    removed = []
    for tmp in Path(folder).glob(".*.tmp"):
        parts = tmp.name.split("~")  # .<name>~<host>~<pid>~<random>.tmp
        host, pid = (parts[1], parts[2]) if len(parts) == 4 else ("", "")
        try:
            dead = host == socket.gethostname() and pid.isdigit() and not pid_exists(int(pid))
            if dead or time.time() - tmp.stat().st_mtime > max_age_s:
                tmp.unlink()
                removed.append(tmp)
        except OSError:
            pass  # gone meanwhile
    return removed


def pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def write_record(path: Path, record: "Record | dict") -> None:
    data = record.to_dict() if isinstance(record, Record) else record
    atomic_write(path, lambda f: json.dump(data, f, indent=1, allow_nan=False))


def read_record(path: Path) -> dict | None:
    """The record at ``path`` (None when there is none); raises on an unreadable file."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


REQUIRED = ("status", "task", "model", "method", "seed", "metric_name")
STATUSES = ("running", "completed", "diverged", "crashed", "interrupted")
# What training gave, kept by a re-run as a result (force=true trains again). A diverged run (NaN or infinite
# loss) is its recipe and seed's outcome: training it again until it does not diverge (GPU kernels need not repeat
# bit for bit) would hide the instability the study measures. Crashed and interrupted runs are the machine's.
FINAL = ("completed", "diverged")


def read_record_checked(path: Path) -> tuple[dict | None, str | None]:
    """(record, None); (None, None) when there is none; (None, why) for a corrupt one: unreadable, not a JSON
    object, of another schema, without the fields every record has, or ``completed`` without a finite metric.
    A corrupt record is never trusted (the sweep moves it aside and re-runs the cell)."""
    try:
        rec = read_record(path)
    except (OSError, UnicodeDecodeError) as e:
        return None, f"unreadable: {e}"
    except json.JSONDecodeError as e:
        return None, f"not valid JSON (truncated or corrupt): {e.msg} at char {e.pos}"
    if rec is None:
        return None, None
    if not isinstance(rec, dict):
        return None, "not a JSON object"
    if rec.get("schema_version") != SCHEMA_VERSION:
        return None, f"schema_version {rec.get('schema_version')!r} is not {SCHEMA_VERSION}"
    missing = [k for k in REQUIRED if k not in rec]
    if missing:
        return None, f"missing fields: {', '.join(missing)}"
    if rec["status"] not in STATUSES:
        return None, f"status {rec['status']!r} is not one of {', '.join(STATUSES)}"
    if not isinstance(rec["method"], dict) or "name" not in rec["method"]:
        return None, "field 'method' has no name"
    if rec["status"] == "completed" and finite_or_none(rec.get("metric")) is None:
        return None, f"completed without a finite metric ({rec.get('metric')!r})"
    return rec, None


def move_aside(path: Path) -> Path:
    """Keep a corrupt record for inspection (``record.json.corrupt-<time>``) and free its place."""
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    os.replace(path, target)
    return target


def _git_commit() -> str | None:
    """The commit of the checkout this code runs from; None for an installed copy, which may sit inside some
    other repository (a project's ignored .venv) whose commit says nothing about this code."""
    here = Path(__file__).resolve().parent
    try:
        tracked = subprocess.run(["git", "-C", str(here), "ls-files", "--error-unmatch", Path(__file__).name],
                                 capture_output=True, text=True, timeout=5)
        if tracked.returncode != 0:
            return None
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def _version(package: str) -> str | None:
    """A package's installed version, read from its metadata (importing it just for that is slow)."""
    from importlib import metadata

    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def environment(device) -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "stability_bench": __version__,
        "torch": torch.__version__,  # imported already; the metadata can lag a site-built torch
        "transformers": _version("transformers"),
        "datasets": _version("datasets"),
        "hydra": _version("hydra-core"),
        "cuda": torch.version.cuda,
        "git_commit": _git_commit(),
        "host": socket.gethostname(),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch_threads": torch.get_num_threads(),
        "slurm_job_id": os.environ.get("SLURM_JOB_ID"),  # the one variable read: which job ran this
        "slurm_array_task_id": os.environ.get("SLURM_ARRAY_TASK_ID"),
    }
