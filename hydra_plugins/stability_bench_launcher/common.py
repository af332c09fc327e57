"""What the ``local`` and ``slurm`` launchers share: the sweep's resolved run configs, and Hydra's job returns."""

from typing import Sequence

from hydra.core.utils import JobReturn, JobStatus


def resolved_runs(launcher, job_overrides: Sequence[Sequence[str]]) -> list[dict]:
    """Each job's run config as a worker needs it (Hydra's node dropped, interpolations resolved)."""
    from stability_bench.grid import compose_cells
    from stability_bench.packing import as_container

    loader = launcher.hydra_context.config_loader
    return [as_container(cfg) for cfg in compose_cells(loader, launcher.config, [list(o) for o in job_overrides])]


def raise_refusal(statuses: Sequence) -> None:
    """A user mistake that stopped a packed job (``packing.run_job``'s ``error: ...`` status): the sweep stops
    with its one line, as an in-process sweep does, instead of launching more runs that would meet it too."""
    from stability_bench.config import UserError

    refused = next((s for s in statuses if isinstance(s, str) and s.startswith("error: ")), None)
    if refused is not None:
        raise UserError(refused[len("error: "):])


def job_returns(job_overrides: Sequence[Sequence[str]], statuses: Sequence) -> list[JobReturn]:
    """One return per run, its value the run's status (completed, diverged, crashed, interrupted), as the
    sweeper counts them."""
    out = []
    for overrides, status in zip(job_overrides, statuses):
        ret = JobReturn(overrides=list(overrides), status=JobStatus.COMPLETED)
        ret.return_value = status
        out.append(ret)
    return out
