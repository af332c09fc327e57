"""Packed jobs: many runs in one job, executed by a few long-lived worker processes.

A job is a list of fully resolved run configs. ``run_job`` starts ``workers`` processes; each pays the
imports once and then takes the job's runs one at a time from a shared queue (longest first: most optimizer
steps, so the job ends with short runs and its workers finish together), calling the same ``run.execute`` as
a run started on its own. A run's record, log and result are therefore the ones it would have alone; only ``owner``
(host, pid, worker, SLURM job) names the worker. Workers on one GPU share it; with several visible GPUs worker w
uses GPU (w mod count). CPU threads are divided among the workers unless ``train.threads`` is set.

A stopped job (SIGTERM, Ctrl-C) leaves its finished records intact and its unfinished runs ``interrupted``; a
killed one (kill -9) leaves them ``running``, which the liveness check turns into ``interrupted``. Either way a
re-run of the sweep launches only those. A drained job (SIGUSR1 to the sweep) starts no new run and ends once
the runs in flight have finished: nothing is cut, and the re-run launches the runs it never started.
"""

from __future__ import annotations

import logging
import math
import multiprocessing as mp
import os
import queue
import signal
import sys
import time
from typing import Any

from .records import method_dirname, method_params

log = logging.getLogger("stability_bench")

# Group runs by everything but their seed: runs_per_job=seeds makes "the 25-seed job" of a sweep cell.
SEED_KEYS = ("seed", "init_seed", "data_seed")


def usable_cores() -> int:
    """The cores this process may run on (a SLURM allocation's, not the node's)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def cell_key(run: dict) -> str:
    """The sweep cell a run belongs to (task, model, method and all settings), ignoring its seeds."""
    import json
    return json.dumps({k: v for k, v in run.items() if k not in SEED_KEYS and k != "force"}, sort_keys=True, default=str)


def group_runs(runs: list[dict], runs_per_job) -> list[list[int]]:
    """Indices of ``runs`` per job. ``runs_per_job``: a positive int (consecutive runs), ``seeds`` (one job per
    cell: all seeds of one task x recipe x params), or ``all`` (one job)."""
    n = len(runs)
    if runs_per_job == "all":
        return [list(range(n))] if n else []
    if runs_per_job == "seeds":
        jobs: dict[str, list[int]] = {}
        for i, run in enumerate(runs):
            jobs.setdefault(cell_key(run), []).append(i)
        return list(jobs.values())
    size = int(runs_per_job)
    return [list(range(s, min(s + size, n))) for s in range(0, n, size)]


def check_packing(runs_per_job, workers_per_job) -> None:
    from .config import ConfigError
    if not (runs_per_job in ("seeds", "all") or (isinstance(runs_per_job, int) and runs_per_job > 0)):
        raise ConfigError(f"hydra.launcher.runs_per_job={runs_per_job} is invalid: use a positive number, seeds "
                          "(one job per task x recipe x params cell) or all")
    if not isinstance(workers_per_job, int) or workers_per_job < 1:
        raise ConfigError(f"hydra.launcher.workers_per_job={workers_per_job} is invalid: use a positive number")


def cost(run: dict, sizes: dict) -> float:
    """Relative length of a run: its optimizer steps, the training examples counted from its file as the dry run
    counts them (``sizes`` caches each file's count), or its ``data.max_train_samples``; a run of unknown size
    (hub data, uncapped) counts as longer than any other."""
    from omegaconf import OmegaConf

    from .tasks import train_size

    train, cap = run.get("train", {}), run.get("data", {}).get("max_train_samples")
    try:
        n = train_size(OmegaConf.create(run), sizes)
    except Exception:  # only the order is at stake: a run whose data cannot be read says why in its own record
        n = None
    n = n if n is not None else cap
    steps_per_epoch = math.ceil(n / int(train.get("batch_size") or 1)) if n is not None else 1e9
    return float(train.get("epochs", 1)) * steps_per_epoch


def longest_first(runs: list[dict]) -> list[int]:
    """The order a job hands its runs out in: longest first (by ``cost``), so that it ends with short runs and
    its workers finish together rather than one worker finishing a long run alone (e.g. CoLA's 20-epoch runs,
    3.4 times RTE's steps, after RTE's)."""
    sizes: dict = {}
    known: dict[str, float] = {}  # per sweep cell: a run's length does not depend on its seed
    costs = []
    for run in runs:
        key = cell_key(run)
        if key not in known:
            known[key] = cost(run, sizes)
        costs.append(known[key])
    return sorted(range(len(runs)), key=lambda i: -costs[i])


def _label(run: dict) -> str:
    """The run as its directory names it under results_dir (a packed job may hold several experiments)."""
    method = run.get("method", {})
    return (f"{run.get('experiment')}/{run.get('task', {}).get('name')}/"
            f"{method_dirname(method.get('name'), method_params(method))}/seed{run.get('seed')}")


def _worker(wid: int, tasks, results, draining, env: dict[str, str], threads: int | None) -> None:
    """A worker process: imports once, then runs the job's configs until it takes the stop marker."""
    os.environ.update(env)
    import torch
    from omegaconf import OmegaConf

    from . import interrupts, records, train
    from .config import UserError
    from .run import execute

    records.WORKER = wid
    train.SHOW_BAR = False  # many workers share one terminal: progress goes to each run.log and the job's lines
    interrupts.install()  # terminated by the job: the run in hand records "interrupted"
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)  # a drain is the job's to carry out (a signal sent to the group)
    n_gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    while True:
        try:
            item = tasks.get()
        except (KeyboardInterrupt, interrupts.Interrupted):
            return
        if item is None:  # the job is done: a terminate() while this process exits needs no record
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            return
        idx, container = item
        if draining.is_set():  # the job is draining: hand the run back unstarted, then take the next item
            results.put(("skip", wid, idx, None, None))
            continue
        results.put(("start", wid, idx, None, None))
        try:
            cfg = OmegaConf.create(container)
            if cfg.train.threads:
                torch.set_num_threads(cfg.train.threads)
            elif threads:
                torch.set_num_threads(threads)
            record = execute(cfg, job_num=wid if n_gpus > 1 else None)
            mine = (record.get("owner") or {}).get("pid") == os.getpid()
            # a requeued job meets the runs it finished before: skipped by their records, not run twice
            skipped = "alive elsewhere, skipped" if record["status"] == "running" else "before, skipped"
            results.put(("done", wid, idx, record["status"], record.get("metric") if mine else skipped))
        except (KeyboardInterrupt, interrupts.Interrupted):
            return  # the job is stopping; the record says interrupted
        except UserError as e:
            if getattr(e, "recorded_in", None):  # found once the model was built: recorded as crashed, the job goes on
                results.put(("done", wid, idx, "crashed", f"error: {e}"))
            else:  # found before anything was written (data, model or cache out of reach): the job's other runs
                draining.set()  # would meet it too, so the job stops; set here, before this worker takes another
                results.put(("done", wid, idx, "refused", str(e)))
        except Exception as e:  # the crashed record holds the traceback
            results.put(("done", wid, idx, "crashed", f"{type(e).__name__}: {e}"))


def _say(msg: str) -> None:
    print(f"[job] {msg}", file=sys.stderr, flush=True)


def run_job(runs: list[dict], workers: int = 1, mps: bool = False, env: dict[str, str] | None = None) -> list[str]:
    """Execute ``runs`` (resolved run configs) with ``workers`` worker processes; return each run's status
    (``error: <message>`` for a run stopped by a user mistake before it wrote anything: then no further run starts;
    the launchers' ``raise_refusal`` turns it into the sweep's one-line error).

    A worker that dies (killed, out of memory) is replaced; the run it held stays ``running`` in its record,
    ``interrupted`` once its pid is gone, and is reported here as ``interrupted``."""
    from . import interrupts
    from .mps import mps_daemon

    order = longest_first(runs)
    workers = max(1, min(workers, len(runs)))
    threads = max(1, usable_cores() // workers)
    ctx = mp.get_context("spawn")  # CUDA cannot be used in forked children
    tasks, results, draining = ctx.Queue(), ctx.Queue(), ctx.Event()
    for q in (tasks, results):  # a job stopped early must not wait to flush runs no worker will take
        q.cancel_join_thread()
    for i in order:
        tasks.put((i, runs[i]))
    statuses: list[str] = ["missing"] * len(runs)
    holding: dict[int, int | None] = {}
    started = time.time()
    done = 0
    with mps_daemon(mps) as mps_env:
        wenv = {**(env or {}), **mps_env}

        def spawn(wid: int):
            p = ctx.Process(target=_worker, args=(wid, tasks, results, draining, wenv, threads), daemon=True)
            p.start()
            holding[wid] = None
            return p

        procs = {w: spawn(w) for w in range(workers)}
        for _ in range(workers):
            tasks.put(None)
        _say(f"{len(runs)} runs on {workers} worker(s), {threads} CPU thread(s) each" + (", MPS on" if mps_env else ""))

        # SLURM's time limit, timeout(1), kill: stop the workers (finally below), keep every record
        previous = signal.signal(signal.SIGTERM, interrupts.raise_interrupted)
        try:
            while done < len(runs):
                if interrupts.drain_requested and not draining.is_set():  # SIGUSR1 (interrupts.install_drain)
                    draining.set()
                    in_flight = sum(v is not None for v in holding.values())
                    _say(f"draining: the {in_flight} run(s) in flight finish, the {len(runs) - done - in_flight} "
                         "not started are left for the next run of the command")
                try:
                    kind, wid, idx, status, extra = results.get(timeout=2.0)
                except queue.Empty:
                    for w, p in list(procs.items()):
                        if not p.is_alive() and (holding.get(w) is not None or p.exitcode not in (0, None)):
                            lost = holding.pop(w, None)
                            if lost is not None:
                                statuses[lost] = "interrupted"
                                done += 1
                                _say(f"worker {w} died (exit {p.exitcode}) during {_label(runs[lost])}: interrupted")
                            if done < len(runs):
                                procs[w] = spawn(w)
                                tasks.put(None)
                    continue
                if kind == "start":
                    holding[wid] = idx
                    _say(f"worker {wid}: {_label(runs[idx])} started ({done}/{len(runs)} done)")
                    continue
                if kind == "skip":  # drained: no record is written, the sweep's re-run launches it
                    statuses[idx] = "missing"
                    done += 1
                    continue
                if status == "refused":  # a user mistake: no run starts after it, as in an in-process sweep
                    first = not any(s.startswith("error: ") for s in statuses)
                    holding[wid], statuses[idx] = None, f"error: {extra}"
                    done += 1
                    if first:
                        in_flight = sum(v is not None for v in holding.values())
                        _say(f"worker {wid}: {_label(runs[idx])} did not start: error: {extra}; no further run starts"
                             + (f" (the {in_flight} in flight finish)" if in_flight else ""))
                    continue
                holding[wid] = None
                statuses[idx] = status
                done += 1
                if status == "completed" and not isinstance(extra, str):
                    interrupts.completed += 1
                elapsed = time.time() - started
                what = f"{extra:.4f}" if isinstance(extra, float) else (extra or "")
                _say(f"worker {wid}: {_label(runs[idx])} {status} {what} ({done}/{len(runs)} done, "
                     f"{elapsed:.0f}s, eta {elapsed / done * (len(runs) - done):.0f}s)")
        finally:
            signal.signal(signal.SIGTERM, previous)
            if done == len(runs):  # the workers have their stop markers and are exiting
                for p in procs.values():
                    p.join(timeout=10)
            for p in procs.values():
                if p.is_alive():
                    p.terminate()
            for p in procs.values():
                p.join(timeout=30)
    return statuses


def as_container(cfg) -> dict[str, Any]:
    """A run config without Hydra's own node, interpolations resolved: what a worker needs."""
    from omegaconf import OmegaConf, open_dict
    cfg = cfg.copy()
    with open_dict(cfg):
        cfg.pop("hydra", None)
    return OmegaConf.to_container(cfg, resolve=True)
