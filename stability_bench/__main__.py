"""``python -m stability_bench [overrides] [-m]``: one run, or a Hydra sweep of runs."""

from __future__ import annotations

import os
import re
import sys

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode

from . import CONF_DIR, interrupts
from .config import UserError, register_configs

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="config")
def main(cfg) -> str | None:
    from .run import execute  # heavy imports after Hydra has parsed the command line

    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    if not multirun and hydra_cfg.sweeper.get("dry_run"):  # without -m the sweeper never runs: this would train
        print("error: hydra.sweeper.dry_run=true tells what a sweep would run: add -m (nothing was run)", file=sys.stderr)
        sys.exit(2)
    if not multirun and cfg.get("sweep"):  # forgetting -m would train one run of the preset's defaults, silently
        print(f"error: +sweep={cfg.sweep.get('name', '...')} declares a sweep: add -m to run its cells (without -m it "
              "would be one run of its defaults; nothing was run)", file=sys.stderr)
        sys.exit(2)
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


def hydra_error_line(e: BaseException) -> str:
    """Hydra's multi-line composition and parse errors as one line naming the key and what would be valid."""
    import yaml
    from hydra.errors import ConfigCompositionException, MissingConfigException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError

    from .config import unknown_key_message

    if isinstance(e, yaml.MarkedYAMLError):  # a config file that is not YAML (a preset or task of one's own)
        return yaml_error_line(e)
    if isinstance(e, MissingConfigException) and e.missing_cfg_file and e.options is not None:
        group, _, name = e.missing_cfg_file.rpartition("/")
        return f"{group}={name} is not an option; choose one of {', '.join(e.options)}"
    cause = e.__cause__
    if isinstance(cause, (ConfigKeyError, ConfigAttributeError)) and getattr(cause, "full_key", None):
        if str(cause.full_key).startswith("hydra.") and cause.parent_node is not None:
            return hydra_key_message(str(cause.full_key), list(cause.parent_node.keys()))
        return unknown_key_message(str(cause.full_key))
    context = e.__context__
    if isinstance(e, ConfigCompositionException) and isinstance(context, ConfigKeyError) and context.full_key:
        # a key the schema lacks, in a config file of one's own (Hydra names it: "In 'task/mytask': ...")
        where = re.match(r"In '([^']+)':", str(e))
        return unknown_key_message(str(context.full_key)) + (f" (in {where.group(1)}.yaml)" if where else "")
    if str(e).startswith("Error merging override ") and cause is not None:
        return f"{str(e).splitlines()[0][len('Error merging override '):]} is invalid: {str(cause).splitlines()[0]}"
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if cause is not None:
        lines += [ln.strip() for ln in str(cause).splitlines()[:1] if ln.strip()]
    keep = [ln for ln in lines if not ln.startswith(("full_key:", "object_type=", "reference_type=", "See https://",
                                                         "Set the environment variable", "To append to"))]
    return "; ".join(dict.fromkeys(keep)) or type(e).__name__


def yaml_error_line(e) -> str:
    """A YAML parser's error as one line: the file, line and column, what is wrong there, and where the
    construct it was reading began."""
    mark, began = e.problem_mark, e.context_mark
    where = f"{mark.name}:{mark.line + 1}:{mark.column + 1}" if mark else "a config file"
    context = f" ({e.context} that begins at line {began.line + 1})" if e.context and began and began.line != mark.line else ""
    return f"{where}: not valid YAML: {e.problem}{context}"


def hydra_key_message(full_key: str, known: list[str]) -> str:
    """A ``hydra.*`` key the chosen node lacks, told as our own keys are (``config.unknown_setting``); for a
    launcher setting, also the launchers that have it (``hydra.launcher.workers_per_job=8`` without
    ``hydra/launcher=local`` is the usual slip)."""
    from omegaconf import OmegaConf

    from .config import unknown_setting

    parent, _, key = full_key.rpartition(".")
    line = unknown_setting(parent, key, [k for k in map(str, known) if not k.startswith("_")])
    if parent == "hydra.launcher":  # a setting of another launcher than the chosen one
        shipped = CONF_DIR / "hydra" / "launcher"
        having = [p.stem for p in sorted(shipped.glob("*.yaml")) if key in OmegaConf.load(p)]
        if having:
            line += f"; it is a setting of {' and '.join(f'hydra/launcher={h}' for h in having)}"
    return line


def multirun_flag_first(argv: list[str]) -> list[str]:
    """``-m`` moved before the overrides: Hydra's argparse takes the overrides as one positional list, so an
    override after ``-m`` (``+sweep=table1 -m seed=1``, the way one adds to a command) would be refused whole."""
    flags = [a for a in argv[1:] if a in ("-m", "--multirun")]
    return argv[:1] + flags + [a for a in argv[1:] if a not in ("-m", "--multirun")]


def _from_hydra(e: BaseException) -> bool:
    """Raised by Hydra or OmegaConf (composing the config, parsing overrides), not by our code."""
    import traceback

    import yaml
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if isinstance(e, (HydraException, OmegaConfBaseException, yaml.YAMLError)):  # YAML: a config file Hydra read
        return True
    frames = traceback.extract_tb(e.__traceback__)
    return bool(frames) and any(f"{os.sep}{lib}{os.sep}" in frames[-1].filename for lib in ("hydra", "omegaconf"))


if __name__ == "__main__":
    interrupts.install()
    interrupts.install_drain()
    full = bool(os.environ.get("HYDRA_FULL_ERROR"))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises instead of printing its multi-line report
    sys.argv = multirun_flag_first(sys.argv)
    try:
        main()
    except (KeyboardInterrupt, interrupts.Interrupted) as e:
        interrupts.report_and_exit(e)
    except Exception as e:
        if full or not _from_hydra(e):
            raise  # a bug of ours: the traceback is what a report needs
        print(f"error: {hydra_error_line(e)} (HYDRA_FULL_ERROR=1 shows Hydra's full report)", file=sys.stderr)
        sys.exit(2)
