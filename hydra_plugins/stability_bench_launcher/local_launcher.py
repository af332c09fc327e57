"""Hydra launcher plugin ``hydra/launcher=local``: a sweep's runs as packed jobs on this machine.

The pending cells are grouped into jobs (``runs_per_job``: a number, ``seeds`` or ``all``); each job runs
in ``workers_per_job`` long-lived worker processes (``stability_bench.packing``), so imports are paid once
per worker and, on a GPU, several runs share it (optionally under NVIDIA MPS: ``mps=true``). Jobs run one
after another. Every run writes the record it would have written alone.
"""

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

from hydra.core.config_store import ConfigStore
from hydra.core.utils import JobReturn
from hydra.plugins.launcher import Launcher

from .common import job_returns, raise_refusal, resolved_runs


@dataclass
class LocalLauncherConf:
    _target_: str = "hydra_plugins.stability_bench_launcher.local_launcher.LocalLauncher"
    runs_per_job: Any = "all"  # a number, seeds (one job per task x recipe x params cell) or all
    workers_per_job: int = 1  # runs executed at once inside a job, each in its own process
    mps: bool = False  # start NVIDIA MPS for each job (several workers on one GPU run kernels concurrently)


ConfigStore.instance().store(group="hydra/launcher", name="local_packed", node=LocalLauncherConf, provider="stability_bench")


class LocalLauncher(Launcher):
    def __init__(self, runs_per_job: Any = "all", workers_per_job: int = 1, mps: bool = False) -> None:
        self.runs_per_job, self.workers_per_job, self.mps = runs_per_job, workers_per_job, mps
        self.config = self.hydra_context = self.task_function = None

    def setup(self, *, hydra_context, task_function, config) -> None:
        self.config, self.hydra_context, self.task_function = config, hydra_context, task_function

    def check(self) -> None:
        """Called by the sweeper before it declares anything: bad packing settings are a one-line error."""
        from stability_bench.packing import check_packing

        check_packing(self.runs_per_job, self.workers_per_job)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from stability_bench.packing import group_runs, run_job

        self.check()
        Path(str(self.config.hydra.sweep.dir)).mkdir(parents=True, exist_ok=True)
        runs = resolved_runs(self, job_overrides)
        statuses: list[Optional[str]] = [None] * len(runs)
        jobs = group_runs(runs, self.runs_per_job)
        for j, members in enumerate(jobs):
            if len(jobs) > 1:
                print(f"[job] job {j + 1}/{len(jobs)}: {len(members)} runs", file=sys.stderr, flush=True)
            job = run_job([runs[i] for i in members], self.workers_per_job, self.mps)
            raise_refusal(job)  # later jobs would meet the same mistake
            for i, status in zip(members, job):
                statuses[i] = status
        return job_returns(job_overrides, statuses)
