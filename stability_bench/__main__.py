"""``python -m stability_bench [overrides] [-m]``: one run, or a Hydra sweep of runs."""

from __future__ import annotations

import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

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
    except Exception:
        # The crashed record (with traceback) is in the run directory. A sweep goes on with
        # its other runs; a single run exits non-zero.
        if multirun:
            return "crashed"
        sys.exit(1)
    return record["status"]


if __name__ == "__main__":
    main()
