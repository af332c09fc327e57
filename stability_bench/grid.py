"""A sweep's cells composed as Hydra composes them, without composing each one from its files.

Hydra builds every cell's config from scratch, reading and merging the YAML files (~0.12 s a cell here), and a
sweep needs the configs twice: to check and declare its cells, and to hand the launcher the runs. Cells that
differ only in plain values (seeds, a threshold) share everything else, and Hydra sets such values only after
composing (``OmegaConf.update(cfg, key, value, merge=True)``, in the cell's order). So the config of the cell's
other overrides is composed once by Hydra, and each cell is a copy of it with its values set that way and Hydra's
node told of its overrides (the task list and the override dirname). Anything else (config groups, ``+``/``~``
overrides, dict or list values, ``hydra.*`` keys, a value Hydra would refuse) is composed by Hydra.
tests/test_sweep.py checks that every cell equals Hydra's own config; BENCHMARKS.md 5d: a Table 1 sweep's first
run started after 26 s instead of 127 s.
"""

from __future__ import annotations

import copy

from hydra._internal.config_loader_impl import get_overrides_dirname
from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

PLAIN = (str, int, float, bool, type(None))


def expand(loader, params, arguments: list[str]) -> list[list[str]]:
    """The sweep's cells as Hydra's basic sweeper expands them: the sweeper's declared ``params`` (a sweep
    preset's axes) first, then the command line's overrides, each cell a list of overrides."""
    declared = [f"{k}={v}" for k, v in (params or {}).items()]
    overrides = OverridesParser.create(config_loader=loader).parse_overrides(declared + list(arguments))
    return BasicSweeper.split_arguments(overrides, None)[0]


def _overlap(a: str, b: str) -> bool:
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _shape(loader, parser, cell: list[str]):
    """(the overrides that shape the cell's composition, its plain-value overrides, all of them), or None when
    Hydra must compose the cell itself."""
    overrides = parser.parse_overrides(list(cell))
    fixed, values, edits = [], [], []
    for o in overrides:
        group = loader.repository.group_exists(o.key_or_group)
        if (not (o.is_add() or o.is_delete() or o.is_force_add() or o.is_sweep_override())
                and o.package is None and isinstance(o.value(), PLAIN)
                and not o.key_or_group.startswith("hydra") and not group):
            values.append(o)
        else:
            fixed.append(o.input_line)
            if not group:
                edits.append(o.key_or_group)
    # Hydra sets all non-group overrides after composing, in the cell's order; here the plain values come
    # after the others, which is the same unless they touch the same keys
    if not values or any(_overlap(o.key_or_group, e) for o in values for e in edits):
        return None
    return tuple(fixed), values, overrides


def compose_cells(loader, master: DictConfig, grid: list[list[str]]) -> list[DictConfig]:
    """Each cell's config, equal to ``loader.load_sweep_config(master, cell)``: the config composed from the
    cell's other overrides, with its plain values set as Hydra sets them after composing."""
    parser = OverridesParser.create(config_loader=loader)
    item = master.hydra.job.config.override_dirname
    bases: dict = {}
    out = []
    for cell in grid:
        shape = _shape(loader, parser, cell)
        cfg = None
        if shape is not None:
            fixed, values, overrides = shape
            if fixed not in bases:
                bases[fixed] = loader.load_sweep_config(master, list(fixed))
            cfg = copy.deepcopy(bases[fixed])
            try:
                for o in values:
                    OmegaConf.update(cfg, o.key_or_group, o.value(), merge=True)
            except OmegaConfBaseException:
                cfg = None  # Hydra composes it, and words the error
            else:
                task = [o for o in overrides if not o.is_hydra_override()]
                cfg.hydra.overrides.task = [o.input_line for o in task]
                cfg.hydra.job.override_dirname = get_overrides_dirname(
                    overrides=task, kv_sep=item.kv_sep, item_sep=item.item_sep, exclude_keys=item.exclude_keys)
                OmegaConf.copy_cache(from_config=master, to_config=cfg)
        out.append(cfg if cfg is not None else loader.load_sweep_config(master, list(cell)))
    return out
