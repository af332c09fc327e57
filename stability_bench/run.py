"""One run, start to record: check the config, skip finished work, load the data, claim the run (a live
claim elsewhere: skip it), load the model, train, and write ``record.json`` (``running`` first, then
``completed``, ``diverged`` or ``crashed``). A completed or diverged run is a result: the same command skips it.

Everything that can be a user mistake (config values, data files, model names) is checked
before the run directory is created, so a bad command leaves ``results_dir`` untouched.
"""

from __future__ import annotations

import functools
import logging
import os
import time
import traceback
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from omegaconf import OmegaConf

from . import checkpoint, families, interrupts, metrics
from .claims import claim
from .component_stats import ComponentStats
from .config import ConfigError, validate
from .interrupts import Interrupted
from .data import load_encoded, select_subsets
from .models import load_config, load_model, load_tokenizer, max_input_length
from .liveness import Liveness
from .records import (FINAL, Record, environment, finite_or_none, identity, identity_diff, is_self, method_params,
                      move_aside, owner, read_record_checked, record_path, remove_stale_tmp, write_record)
from .recipes import build_method, label_of, recipe_of
from .train import fit

log = logging.getLogger("stability_bench")


def pick_device(name: str, job_num: int | None = None) -> torch.device:
    """auto: the CPU, the GPU, or with several visible GPUs in a sweep, GPU (job number mod count),
    so that a batch of concurrent local jobs spreads over all of them."""
    if name == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        n = torch.cuda.device_count()
        return torch.device(f"cuda:{job_num % n}" if job_num is not None and n > 1 else "cuda")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"train.device={name} is invalid: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"train.device={name} is invalid: no CUDA device is visible (use auto or cpu)")
    return device


def set_deterministic(on: bool) -> None:
    """train.deterministic: deterministic kernels (an op without one raises instead of varying) and cuBLAS's
    fixed workspace, which it reads when its first handle is made; a packed worker runs both kinds of run."""
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(on)
    torch.backends.cudnn.benchmark = False if on else torch.backends.cudnn.benchmark


def process_start_time() -> float | None:
    """When this process started (Linux /proc), to measure a run's fixed cost from the very start."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def run_log(path: Path):
    """Send this run's log lines (including per-step lines) to its own run.log."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    loggers = [logging.getLogger("stability_bench"), logging.getLogger("stability_bench.steps")]
    logging.getLogger("stability_bench.steps").propagate = False
    for lg in loggers:
        lg.setLevel(logging.INFO)
        lg.addHandler(handler)
    try:
        yield
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        handler.close()


def check_config(cfg):
    """Every check a config can fail without loading anything (keys, values, the recipe's params); the sweep
    runs it on every cell before it declares or launches any. Returns the recipe."""
    validate(cfg)
    return build_method(cfg.method, cfg.train)


@functools.lru_cache(maxsize=64)
def _model_config(model_yaml: str):
    return load_config(OmegaConf.create(model_yaml))


def check_model(cfg, method) -> None:
    """The model can be found (its config, not its weights), its family has the parts the recipe needs and
    works in ``train.precision``, and its position embeddings hold ``data.max_length`` tokens: one line
    otherwise, before anything is written."""
    config = _model_config(OmegaConf.to_yaml(cfg.model, resolve=True))
    families.require(config, method.needs(), f"method={cfg.method.name} (recipe {recipe_of(cfg.method)})")
    families.check_precision(config, cfg.train.precision, cfg.model.name)
    limit = max_input_length(config)
    if limit is not None and cfg.data.max_length > limit:
        raise ConfigError(f"data.max_length={cfg.data.max_length} is invalid: model '{cfg.model.name}' reads at most "
                          f"{limit} tokens (its position embeddings); use at most {limit}")


def execute(cfg, job_num: int | None = None) -> dict:
    """Run one configured fine-tuning run and return its record (``job_num``: its index in a sweep)."""
    method = check_config(cfg)
    check_model(cfg, method)
    device = pick_device(cfg.train.device, job_num)
    if cfg.train.precision == "bf16" and device.type != "cuda":
        raise ConfigError("train.precision=bf16 is for GPUs: use fp32 on the CPU")
    container = OmegaConf.to_container(cfg, resolve=True)
    ident = identity(container)
    results_dir = Path(cfg.results_dir).expanduser().resolve()
    params = method_params(cfg.method)
    path = record_path(cfg)
    rdir = path.parent
    desc = f"{cfg.task.name} {cfg.method.name} {rdir.name}"

    existing, _ = read_record_checked(path)  # a corrupt record is moved aside below, under the claim
    skip = _already_done(cfg, existing, ident, path, desc)
    if skip is not None:
        return skip
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = cfg.train.tf32
    set_deterministic(cfg.train.deterministic)
    t_start = time.time()
    tokenizer = load_tokenizer(cfg.model)
    cache_dir = Path(cfg.data.cache_dir).expanduser() if cfg.data.cache_dir else results_dir / ".cache"
    splits, cache_hit = load_encoded(cfg.task, cfg.data, tokenizer, cache_dir)
    data = select_subsets(splits, cfg.data)
    data_load_s = round(time.time() - t_start, 3)
    # Claimed once the data is loaded (a bad data file is an error that leaves results_dir without runs),
    # before the model is loaded or anything is written into the run directory.
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"results_dir={results_dir} cannot be created: {e.strerror or e}") from None
    with claim(results_dir, rdir) as held:
        if not held:
            log.info("%s: claimed by another live process, skipping", desc)
            return existing if existing is not None else {"status": "running"}
        # re-read under the claim: the process that held it may have completed this run meanwhile
        existing, problem = read_record_checked(path)
        if problem:
            log.warning("%s: corrupt record (%s) moved to %s; running the cell again", desc, problem, move_aside(path))
        skip = _already_done(cfg, existing, ident, path, desc)
        if skip is not None:
            return skip
        return _run(cfg, method, device, container, ident, params, path, desc, tokenizer, data, cache_hit,
                    t_start, data_load_s)


def crash_reason(e: Exception) -> str:
    """The record's one-line error. CUDA's out-of-memory message names this run's sizes and processes, so runs
    that all ran out would each give another line in the sweep's summary: theirs is one line saying what to
    change (the full message stays in the record's traceback)."""
    if isinstance(e, torch.cuda.OutOfMemoryError):
        return ("OutOfMemoryError: the GPU ran out of memory (details in the record's traceback); run fewer runs "
                "at once on it (hydra.launcher.workers_per_job) or use a GPU with more memory")
    return f"{type(e).__name__}: {e}"


def _already_done(cfg, existing: dict | None, ident: dict, path: Path, desc: str) -> dict | None:
    """The existing record when this run must not start: its result (completed or diverged, same settings), or
    alive elsewhere."""
    status = (existing or {}).get("status")
    if status in FINAL and not cfg.force:
        diff = identity_diff(existing.get("identity", {}), ident)
        if diff:
            raise ConfigError(f"{path} holds a {status} run with other settings ({'; '.join(diff[:3])}): "
                              "choose another experiment= or pass force=true to replace it")
        if status == "completed":
            log.info("%s: already completed (%s %.4f), skipping; force=true re-runs it", desc,
                     existing.get("metric_name"), existing.get("metric") or float("nan"))
        else:
            log.info("%s: diverged at step %s before, a result of its recipe and seed: kept, skipping; force=true "
                     "re-runs it", desc, existing.get("diverged_at_step"))
        return existing
    if existing is not None and not cfg.force and not is_self(existing.get("owner")) \
            and Liveness().status(existing) == "running":
        log.info("%s: already running (%s), skipping", desc, existing.get("owner"))
        return existing
    return None


def _run(cfg, method, device, container, ident, params, path, desc, tokenizer, data, cache_hit, t_start,
         data_load_s) -> dict:
    """Load the model, train and record, holding the run's claim."""
    rdir = path.parent
    seed = cfg.seed
    init_seed = seed if cfg.init_seed is None else cfg.init_seed
    data_seed = seed if cfg.data_seed is None else cfg.data_seed
    dev_labels = data["dev"].labels
    num_labels = len(cfg.task.label_names)
    record = Record(
        experiment=cfg.experiment, sweep=(cfg.sweep or {}).get("name"), task=cfg.task.name, model=cfg.model.name,
        method={"name": cfg.method.name, "params": params, "recipe": recipe_of(cfg.method), "label": label_of(cfg.method)},
        seed=seed, init_seed=init_seed, data_seed=data_seed,
        metric_name=cfg.task.metric, majority_baseline=metrics.majority_baseline(cfg.task.metric, dev_labels),
        label_names=list(cfg.task.label_names), n_train=len(data["train"]), n_dev=len(dev_labels),
        n_heldout=len(data["heldout"]) if "heldout" in data else None,
        dev_labels=[int(v) for v in dev_labels],
        tokenization_cache_hit=cache_hit, data_load_s=data_load_s, identity=ident, config=container,
        started_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"), owner=owner(),
    )
    rdir.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(rdir)  # a record write killed half-way
    ckpt_path = rdir / checkpoint.CHECKPOINT_FILE
    # stop signals wait for the end of a step, to save a checkpoint first; component statistics accumulate
    # in memory, so such a run stops at once and restarts instead of resuming
    deferral = nullcontext() if cfg.train.component_stats_every else interrupts.deferred()
    with run_log(rdir / "run.log"), deferral as held:
        try:  # from the first write on, whatever ends the run rewrites its record (a stop right after: interrupted)
            write_record(path, record)
            record.environment = environment(device)
            resume = checkpoint.load(ckpt_path, ident) if held else None
            t_model = time.time()
            model = load_model(cfg.model, num_labels, init_seed)
            model = method.prepare_model(model).to(device)
            record.model_load_s = round(time.time() - t_model, 3)
            torch.manual_seed(data_seed)
            if resume is None:
                method.pretrain(model, data["train"], tokenizer, device)  # resumed: its weights are in the checkpoint
            record.n_parameters = sum(p.numel() for p in model.parameters())
            stats = ComponentStats(model, cfg.train.component_stats_every) if cfg.train.component_stats_every else None
            log.info("%s: %s (%d train / %d dev examples%s, device %s)", desc,
                     f"resumed at step {resume['position'].global_step}" if resume else "start",
                     len(data["train"]), len(dev_labels),
                     f" / {len(data['heldout'])} held out to select on" if "heldout" in data else "", device)
            t_train = time.time()
            ckpt = checkpoint.Checkpointing(ckpt_path, ident, held, resume) if held else None
            result = fit(model, method, data, cfg.task, cfg.train, device, data_seed, stats, desc,
                         cfg.data.group_by_length, ckpt)
            record.train_time_s = round(result.train_time_before_s + time.time() - t_train, 3)
            record.resumed_from_step = result.resumed_from_step
            started = process_start_time()
            if started is not None and result.first_step_at is not None:
                record.process_start_to_first_step_s = round(result.first_step_at - started, 3)
            if stats is not None:
                stats.save(rdir / "component_stats.npz")
                record.component_stats = "component_stats.npz"
            record.steps, record.evals, record.stages = result.steps, result.evals, result.stages
            record.loss_curve = [[s, finite_or_none(v)] for s, v in result.loss_curve]
            if result.diverged_at is not None:
                record.status, record.diverged_at_step = "diverged", result.diverged_at
            else:
                chosen = result.chosen
                record.status, record.metric, record.metrics = "completed", chosen["metric"], chosen["metrics"]
                record.selected_eval = {"stage": chosen["stage"], "epoch": chosen["epoch"], "step": chosen["step"]}
                record.dev_predictions = result.predictions
                if chosen != result.evals[-1]:  # --evaluation last in the analysis scores the run with these
                    record.last_dev_predictions = result.last_predictions
                record.failed = bool(chosen["metric"] <= record.majority_baseline)
            ckpt_path.unlink(missing_ok=True)
        except (KeyboardInterrupt, Interrupted, SystemExit):  # SystemExit: submitit's exit after a requeue
            record.status, record.error = "interrupted", "interrupted by Ctrl-C, SIGTERM or a SLURM requeue"
            record.checkpoint = ckpt_path.name if ckpt_path.exists() else None
            log.warning("%s: interrupted%s", desc, "; a re-run resumes from its checkpoint" if record.checkpoint else "")
            raise
        except Exception as e:
            record.status, record.error = "crashed", crash_reason(e)
            record.traceback = traceback.format_exc()
            log.error("%s: crashed: %s", desc, record.error)
            e.recorded_in = str(path)  # a setting only the model could reject: recorded, not silent
            raise
        finally:
            record.wall_time_s = round(time.time() - t_start, 3)
            record.finished_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
            # a second stop signal (SLURM signals every process of a packed job, and the job then stops its
            # workers) waits for the record to be written, then takes its course
            with interrupts.deferred():
                write_record(path, record)
    if record.status == "completed":
        interrupts.completed += 1
        log.info("%s: %s %.4f (majority %.4f%s) in %.0fs -> %s", desc, cfg.task.metric, record.metric,
                 record.majority_baseline, "; failed: not above the majority classifier" if record.failed else "",
                 record.wall_time_s, rdir)
    return record.to_dict()
