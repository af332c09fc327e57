"""``python -m stability_bench [overrides] [-m]``: one run, or a Hydra sweep of runs."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from . import interrupts
from .config import UserError, register_configs

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg) -> str | None:
    from .run import execute  # heavy imports after Hydra has parsed the command line

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    try:
        record = execute(cfg, job_num=hydra_cfg.job.num if multirun else None)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        if multirun and getattr(e, "recorded_in", None):
            return "crashed"  # found only once the model was built: recorded as crashed, the sweep goes on
        sys.exit(2)
    except Exception as e:
        # A crashed record (with the traceback) is in the run directory when the run got that far;
        # otherwise this line is all there is. A sweep goes on with its other runs.
        where = getattr(e, "recorded_in", None)
        detail = " ".join(str(e).split())[:300]
        print(f"error: {type(e).__name__}: {detail}" + (f" (traceback in {where})" if where else ""), file=sys.stderr)
        if multirun:
            return "crashed"
        sys.exit(1)
    return record["status"]


if __name__ == "__main__":
    interrupts.install()
    try:
        main()
    except (KeyboardInterrupt, interrupts.Interrupted) as e:
        interrupts.report_and_exit(e)
