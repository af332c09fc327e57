"""Hydra sweeper plugin (``hydra/sweeper=resumable``, the default in conf/config.yaml).

It expands the grid exactly as Hydra's basic sweeper does, then looks up each cell's record
before launching anything: completed and diverged cells (a NaN loss is a result of the recipe and
seed, not the machine's) are skipped, and so are cells whose run is alive in another process or
SLURM job, so re-running a sweep (locally or on SLURM) launches only crashed, interrupted and
missing cells. It records the grid in
``<experiment>/sweep.json`` for ``python -m stability_bench.status`` and the analysis, and prints
sweep-level counts as cells finish. Hydra only loads sweepers from the ``hydra_plugins`` package.
"""


import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from omegaconf import OmegaConf, open_dict


@dataclass
class ResumableSweeperConf:
    _target_: str = "hydra_plugins.stability_bench_sweeper.resumable_sweeper.ResumableSweeper"
    max_batch_size: Optional[int] = None  # jobs handed to the launcher at once (None: all)
    dry_run: bool = False  # tell what would run (cells, steps, recorded times); launch and write nothing
    reuse: bool = False  # copy a missing cell's completed twin from another experiment (stability_bench.reuse)
    params: Optional[Dict[str, str]] = None


ConfigStore.instance().store(group="hydra/sweeper", name="resumable", node=ResumableSweeperConf, provider="stability_bench")


def _say(msg: str) -> None:
    print(f"[sweep] {msg}", file=sys.stderr, flush=True)


def _refuse(reason: str) -> None:
    """A user mistake found before any cell is declared or launched: one line, exit 2."""
    print(f"error: {reason}; nothing was launched", file=sys.stderr)
    sys.exit(2)


def _check_cells(grid, configs) -> list:
    """Each cell's recipe, once every cell's config has passed its checks."""
    from stability_bench.config import UserError
    from stability_bench.run import check_config, check_model

    methods = []
    for overrides, cfg in zip(grid, configs):
        cfg = cfg.copy()
        with open_dict(cfg):
            cfg.pop("hydra", None)  # what the job sees
        try:
            methods.append(check_config(cfg))
            check_model(cfg, methods[-1])
        except UserError as e:
            _refuse(f"{e} (in the cell {' '.join(o for o in overrides if not o.startswith('hydra'))})")
    return methods


def _check_launcher(launcher) -> None:
    from stability_bench.config import UserError

    try:
        if hasattr(launcher, "check"):
            launcher.check()
    except UserError as e:
        _refuse(str(e))


class ResumableSweeper(BasicSweeper):
    def __init__(self, max_batch_size: Optional[int], params: Optional[Dict[str, str]] = None, dry_run: bool = False,
                 reuse: bool = False):
        super().__init__(max_batch_size, params)
        self.dry_run, self.reuse = dry_run, reuse

    def sweep(self, arguments: List[str]) -> Any:
        from stability_bench import interrupts
        from stability_bench import sweep as plan
        from stability_bench.config import UserError
        from stability_bench.grid import compose_cells, expand
        from stability_bench.records import FINAL, experiment_of
        from stability_bench.tasks import check_files

        if self.max_batch_size is not None and self.max_batch_size <= 0:  # range() would launch nothing, silently
            _refuse(f"hydra.sweeper.max_batch_size={self.max_batch_size} is invalid: use a positive number of jobs "
                    "per launch, or null (all at once)")
        grid = expand(self.hydra_context.config_loader, self.params, arguments)
        if not grid:
            print("error: the sweep has no cells: a swept key has an empty list of values (e.g. seed)", file=sys.stderr)
            sys.exit(2)
        _check_launcher(self.launcher)  # first: it reads no model config (a bad packing setting is told at once)
        configs = compose_cells(self.hydra_context.config_loader, self.config, grid)
        methods = _check_cells(grid, configs)  # a bad value in any cell: nothing is declared or launched
        try:
            grid = plan.separate_experiments(grid, configs)  # two cells never share a run directory
        except UserError as e:
            _refuse(str(e))
        cells = [plan.Cell.from_config(o, cfg) for o, cfg in zip(grid, configs)]
        statuses = plan.statuses(cells)
        clash = plan.other_settings(cells, configs, statuses)
        if clash:  # else they would count as done, and the tables would show their settings under these
            cell, _, diff = clash[0]
            held = {state for _, state, _ in clash}
            kinds = " or ".join(s for s in FINAL if s in held)
            _refuse(f"{len(clash)} of the sweep's {len(cells)} cells hold {kinds} runs with other settings "
                    f"({'; '.join(diff[:3])}; e.g. {Path(cell.experiment_dir).name}/{cell.run_dir}): give these "
                    "settings their own experiment=, or pass force=true to train those cells again with them")
        twins = {}  # cell index -> the record of a finished run with its settings in another experiment
        if self.reuse:
            from stability_bench import reuse
            twins = {i: src for i, (cfg, s) in enumerate(zip(configs, statuses))
                     if s == "missing" and not cfg.force and (src := reuse.source(cells[i], cfg))}
        to_run = [i for i, (cfg, s) in enumerate(zip(configs, statuses))
                  if (cfg.force or s in plan.TO_RUN) and i not in twins]
        pending = [cells[i] for i in to_run]
        done_or_live = ", ".join(f"{statuses.count(s)} {s}" for s in (*FINAL, "running") if statuses.count(s))
        if twins:
            sources = sorted({experiment_of(src).name for src in twins.values()})
            done_or_live += (f"{', ' if done_or_live else ''}{len(twins)} {'to reuse' if self.dry_run else 'reused'} "
                             f"from {', '.join(sources)} (same settings)")
        _say(f"{len(cells)} cells: {done_or_live or '0 completed'}, {len(pending)} to run")
        try:  # a data file out of reach would stop every run of its task
            check_files([configs[i] for i in to_run])
        except UserError as e:
            _refuse(str(e))
        if self.dry_run:
            if pending:
                from stability_bench.dry_run import report
                try:  # it reads the training files, where a run would find a missing or malformed one
                    print(report(pending, [configs[i] for i in to_run], [methods[i] for i in to_run]), flush=True)
                except UserError as e:
                    _refuse(str(e))
            _say("dry run: nothing was launched or written")
            return []
        try:
            plan.register_cells(cells)
        except UserError as e:
            _refuse(str(e))
        for i, src in twins.items():
            # copied, or a process that started the cell meanwhile has it: either way not launched here
            statuses[i] = reuse.adopt(cells[i], src) or statuses[i]
        if not pending:
            if all(s in FINAL for s in statuses):
                diverged = statuses.count("diverged")
                _say("all cells are complete" + (f" ({diverged} diverged: kept as results)" if diverged else "")
                     + "; nothing to do (force=true re-runs them)")
            else:
                _say("nothing to launch: the cells not completed are running in other processes or jobs")
            return []

        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        # In-process runs go one at a time so that progress is reported per cell; other
        # launchers (submitit) get whole batches (one SLURM job array per batch).
        in_process = type(self.launcher).__name__ == "BasicLauncher"
        size = 1 if in_process else (self.max_batch_size or len(pending))
        returns, start, done = [], time.time(), 0
        stamps = plan.record_stamps(pending)  # which of them ran, should the sweep be drained
        self.launcher.progress = lambda: plan.count_line(cells)  # for a launcher that reports while it waits
        for i in range(0, len(pending), size):
            if interrupts.drain_requested:  # SIGUSR1: launch nothing more; what ran keeps its records
                break
            batch = pending[i:i + size]
            try:
                results = self.launcher.launch([c.overrides for c in batch], initial_job_idx=i)
                for r in results:
                    _ = r.return_value  # surfaces an exception the job raised
            except UserError as e:  # e.g. jobs that SLURM would never start, cancelled
                print(f"error: the sweep stopped: {e}", file=sys.stderr)
                _say(f"now: {plan.count_line(cells)}. Run the same command again, with the setting changed")
                sys.exit(2)
            except Exception as e:
                # sbatch refusing the job (its reason is in the message), or a job that was
                # cancelled or killed. Records already written stay; a re-run does the rest.
                reason = " ".join(str(e).split())[:500] or type(e).__name__
                print(f"error: the sweep stopped: {type(e).__name__}: {reason}", file=sys.stderr)
                _say(f"now: {plan.count_line(cells)}; jobs already started go on. Run the same command again "
                     "to launch what is not completed or running")
                sys.exit(1)
            returns.append(results)
            done += len(batch)
            eta = (time.time() - start) / done * (len(pending) - done)
            _say(f"{done}/{len(pending)} launched cells done; {plan.count_line(cells)}; eta {eta:.0f}s")
        left = plan.not_started(pending, stamps) if interrupts.drain_requested else []
        if left:
            _say(f"drained: {len(pending) - len(left)} of {len(pending)} launched cells ran, {len(left)} were not "
                 "started; run the same command again to launch them")
            pending = [c for c in pending if c not in left]
        _say(f"finished: {plan.count_line(cells)}")
        exps = sorted({c.experiment_dir for c in cells})
        # several experiments (a model or another setting swept): their results_dir holds them all
        exp = Path(exps[0]) if len(exps) == 1 else Path(exps[0]).parent
        what = f"{exp}" if len(exps) == 1 else f"{exp} ({len(exps)} experiments: {', '.join(Path(e).name for e in exps)})"
        _say(f"results: {what}; progress: python -m stability_bench.status {exp}; "
             f"tables: python -m analysis {exp} --out {exp}/tables")
        states = plan.statuses(pending)
        diverged = states.count("diverged")
        if diverged:  # a result, not a fault: the tables list them apart (never as failed)
            _say(f"{diverged} cell{'s' if diverged > 1 else ''} diverged (NaN or infinite loss): kept as the result of "
                 "their recipe and seed, so the same command does not train them again (force=true does)")
        trouble = plan.problems(pending, states)
        if trouble:
            for why, n in trouble.most_common():
                _say(f"{n} cell{'s' if n > 1 else ''} {why}")
            print(f"error: {sum(trouble.values())} of {len(pending)} launched cells did not complete; "
                  "run the same command again to retry them", file=sys.stderr)
            sys.exit(1)
        return returns
