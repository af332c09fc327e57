"""Hydra launcher plugin behind ``hydra/launcher=slurm``: submitit's SLURM launcher, plus packed jobs.

With ``runs_per_job=1`` and ``workers_per_job=1`` (the preset's defaults) every run is its own array task,
exactly as hydra-submitit-launcher does it. Otherwise the pending runs are grouped into jobs
(``runs_per_job``: a number, ``seeds`` for one job per task x recipe x params cell, or ``all``), each job is
one array task, and inside it ``workers_per_job`` worker processes execute its runs
(``stability_bench.packing``): the imports are paid once per worker, and the workers share the job's GPU.
A job that SLURM requeues (preemption, time limit: ``max_num_timeout``) runs its pack again, and every run
that completed before is skipped by its record. While the sweep waits, ``stability_bench.slurm_queue`` reports
the queue and cancels jobs that SLURM would never start.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf, SlurmQueueConf
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher

from .common import job_returns, raise_refusal, resolved_runs

PACKING_KEYS = ("runs_per_job", "workers_per_job", "mps")
# the least each resource setting may ask; below it sbatch refuses the job, or silently ignores the setting
# (array_parallelism) or gives no time limit (a negative timeout_min): one line before anything is submitted
LEAST = {"timeout_min": (0, "0 (no time limit) or more minutes"), "mem_gb": (0, "0 (all of a node's memory) or more"),
         "gpus_per_node": (0, "0 or more"), "cpus_per_task": (1, "a positive number"),
         "array_parallelism": (1, "a positive number"), "nodes": (1, "a positive number"),
         "tasks_per_node": (1, "a positive number")}


@dataclass
class PackedSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.stability_bench_launcher.slurm_launcher.PackedSlurmLauncher"
    runs_per_job: Any = 1  # a number, seeds (one job per task x recipe x params cell) or all
    workers_per_job: int = 1  # runs executed at once inside a job, each in its own process
    mps: bool = False  # start NVIDIA MPS inside each job (several workers on one GPU)


ConfigStore.instance().store(group="hydra/launcher", name="packed_slurm", node=PackedSlurmConf, provider="stability_bench")


def user_mistake(report: str) -> str | None:
    """The line a run printed when a user mistake stopped it before it wrote anything (``error: ...``, exit 2:
    ``stability_bench.__main__``), found in submitit's report of the failed array task (its error stream)."""
    if "exit code 2" not in report:
        return None
    said = [line.strip()[len("error: "):] for line in report.splitlines() if line.strip().startswith("error: ")]
    return said[-1] if said else None


class PackedJob:
    """What one array task runs: a pack of resolved run configs (picklable; submitit requeues it as is)."""

    def __init__(self, workers: int, mps: bool) -> None:
        self.workers, self.mps = workers, mps

    def __call__(self, runs: list) -> list:
        from stability_bench.packing import run_job
        return run_job(runs, self.workers, self.mps)

    def checkpoint(self, runs: list):
        """On preemption or time limit: requeue the same pack; its completed runs are skipped by their records."""
        import submitit
        return submitit.helpers.DelayedSubmission(PackedJob(self.workers, self.mps), runs)


class PackedSlurmLauncher(SlurmLauncher):
    def __init__(self, **params: Any) -> None:
        self.packing = {k: params.pop(k) for k in PACKING_KEYS if k in params}
        super().__init__(**params)

    def check(self) -> None:
        """Called by the sweeper before it declares anything: bad packing or resource settings are a one-line
        error."""
        from stability_bench.config import ConfigError
        from stability_bench.packing import check_packing

        check_packing(self.packing.get("runs_per_job", 1), self.packing.get("workers_per_job", 1))
        for key, (least, valid) in LEAST.items():
            value = self.params.get(key)
            if value is not None and value < least:
                raise ConfigError(f"hydra.launcher.{key}={value} is invalid: use {valid}")

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from stability_bench.config import UserError
        from stability_bench.slurm_queue import QueueWatch

        self.check()
        # the sweeper sets `progress` (its run counts) before it launches
        watch = QueueWatch(str(self.params["submitit_folder"]), dict(self.params), getattr(self, "progress", None))
        watch.start()
        try:
            return self._launch(job_overrides, initial_job_idx)
        except Exception as e:
            if watch.refusal:  # the jobs were cancelled by the watch: say why, not submitit's "no output"
                raise UserError(watch.refusal) from None
            said = user_mistake(str(e))
            if said:  # a run's one line, not submitit's report of the failed job around it
                raise UserError(said) from None
            raise
        finally:
            watch.stop()

    def _launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from stability_bench.packing import group_runs

        per_job, workers = self.packing.get("runs_per_job", 1), self.packing.get("workers_per_job", 1)
        if per_job == 1 and workers == 1:
            return super().launch(job_overrides, initial_job_idx)  # one run per array task, as before
        import submitit

        runs = resolved_runs(self, job_overrides)
        groups = group_runs(runs, per_job)
        params = dict(self.params)
        executor = submitit.AutoExecutor(cluster="slurm", folder=params.pop("submitit_folder"),
                                         slurm_max_num_timeout=params.pop("max_num_timeout"))
        generic = set(BaseQueueConf.__dataclass_fields__)  # as submitit's launcher: the rest are slurm_ options
        executor.update_parameters(**{k if k in generic else f"slurm_{k}": v for k, v in params.items()})
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        jobs = executor.map_array(PackedJob(workers, bool(self.packing.get("mps", False))), [[runs[i] for i in g] for g in groups])
        print(f"[sweep] submitted {len(runs)} runs as {len(jobs)} packed job(s): "
              f"{', '.join(j.job_id for j in jobs[:5])}{' ...' if len(jobs) > 5 else ''}", file=sys.stderr, flush=True)
        statuses: list = [None] * len(runs)
        for group, job in zip(groups, jobs):
            for i, status in zip(group, job.results()[0]):
                statuses[i] = status
        raise_refusal(statuses)  # else the mistake would be said only in the job's log
        return job_returns(job_overrides, statuses)
