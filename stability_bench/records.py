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
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
RECORD_FILE = "record.json"


WORKER: int | None = None  # set in a packed job's worker process (stability_bench.packing)


def _boot_id() -> str | None:
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
    return {"host": socket.gethostname(), "boot_id": _boot_id(), "pid": os.getpid(), "worker": WORKER,
            "slurm_job": job}


def is_self(other: dict | None) -> bool:
    """A requeued SLURM job keeps its job id: its own earlier record is not another live run."""
    me = owner()
    if not other:
        return False
    if me["slurm_job"] and other.get("slurm_job") == me["slurm_job"]:
        return True
    return (other.get("host"), other.get("pid")) == (me["host"], me["pid"])


def owner_alive(other: dict | None) -> bool:
    """Is the process or SLURM job that wrote a ``running`` record still alive?"""
    if not other:
        return False
    if other.get("slurm_job"):
        try:
            q = subprocess.run(["squeue", "-h", "-j", other["slurm_job"], "-o", "%T"], capture_output=True,
                               text=True, timeout=30)
            return q.returncode == 0 and q.stdout.strip() in ("RUNNING", "PENDING", "CONFIGURING", "COMPLETING",
                                                               "REQUEUED", "RESIZING", "SUSPENDED")
        except (OSError, subprocess.SubprocessError):
            pass
    if other.get("host") == socket.gethostname() and other.get("pid") \
            and other.get("boot_id", _boot_id()) == _boot_id():
        try:
            os.kill(other["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return not _zombie(other["pid"])
    return False


def _zombie(pid: int) -> bool:
    """A killed process whose parent died too stays a zombie where nothing reaps orphans (containers)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def live_status(record: dict | None) -> str:
    """A record's status, with ``running`` split into live ``running`` and dead ``interrupted``."""
    if record is None:
        return "missing"
    status = record.get("status", "crashed")
    if status == "running" and not owner_alive(record.get("owner")):
        return "interrupted"
    return status


def _fmt(value: Any) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def method_dirname(name: str, params: dict) -> str:
    """``cwgnc,grouping=tensor,threshold=0.05``: the recipe and every one of its params."""
    return ",".join([name] + [f"{k}={_fmt(v)}" for k, v in sorted(params.items())])


def run_dir(results_dir: Path, experiment: str, task: str, method_name: str, params: dict, seed_label: str) -> Path:
    return results_dir / experiment / task / method_dirname(method_name, params) / seed_label


def method_params(method_cfg) -> dict:
    """The recipe's own params as a plain dict (the method node without its name)."""
    from omegaconf import OmegaConf

    d = OmegaConf.to_container(method_cfg, resolve=True) if OmegaConf.is_config(method_cfg) else dict(method_cfg)
    d.pop("name", None)
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
    train = {k: v for k, v in cfg["train"].items()
             if k not in ("device", "threads", "log_every", "eval_batch_size", "component_stats_every")}
    data = {k: cfg["data"][k] for k in ("max_train_samples", "max_eval_samples", "subset_seed", "max_length",
                                        "group_by_length")}
    model = {k: cfg["model"][k] for k in ("name", "pretrained", "package", "random_init")}
    return {"task": cfg["task"]["name"], "model": model, "method": cfg["method"], "seed": cfg["seed"],
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def write_record(path: Path, record: dict) -> None:
    atomic_write(path, lambda f: json.dump(record, f, indent=1, allow_nan=False))


def read_record(path: Path) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def _git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
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
