"""What the ``local`` and ``slurm`` launchers share: the sweep's resolved run configs, and Hydra's job returns."""

from typing import Sequence

from hydra.core.utils import JobReturn, JobStatus


def resolved_runs(launcher, job_overrides: Sequence[Sequence[str]]) -> list[dict]:
    """Each job's run config as a worker needs it (Hydra's node dropped, interpolations resolved)."""
    from stability_bench.grid import compose_cells
    from stability_bench.packing import as_container

    loader = launcher.hydra_context.config_loader
    return [as_container(cfg) for cfg in compose_cells(loader, launcher.config, [list(o) for o in job_overrides])]


def job_returns(job_overrides: Sequence[Sequence[str]], statuses: Sequence) -> list[JobReturn]:
    """One return per run, its value the run's status (completed, diverged, crashed, interrupted), as the
    sweeper counts them."""
    out = []
    for overrides, status in zip(job_overrides, statuses):
        ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        ret.return_value = status
        out.append(ret)
    return out
