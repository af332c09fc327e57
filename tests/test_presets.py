"""The presets in conf/ as data: method presets inherit and state only what differs; every sweep composes and
expands; the Table 1 recipes compose to the settings of RECIPES.md."""

from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from conftest import CONF_DIR

CONF = Path(CONF_DIR)
METHODS = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))
SWEEPS = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))


def composed(*overrides):
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides), return_hydra_config=False)


@pytest.mark.parametrize("method", METHODS)
def test_a_method_preset_states_only_what_differs_from_its_parent(method):
    own = yaml.safe_load((CONF / "method" / f"{method}.yaml").read_text())
    parents = [d for d in own.get("defaults", []) if d != "_self_"]
    if method == "bias_correction":
        assert not parents  # the base: the shared train settings live here, once
        return
    assert len(parents) == 1, "inherit from one preset: defaults: [<parent>, _self_]"
    parent = OmegaConf.to_container(composed(f"method={parents[0]}").train)
    for key, value in (own.get("train") or {}).items():
        assert parent[key] != value, f"train.{key}={value} repeats {parents[0]}'s value"


TABLE1 = {  # RECIPES.md, per recipe: epochs, bias correction, global clip, evaluations per epoch, selection
    "devlin": (3, False, 1.0, 1, "last"), "bias_correction": (3, True, 1.0, 1, "last"),
    "mixout": (3, True, 1.0, 1, "last"), "mosbach": (20, True, 1.0, 3, "best"), "cwgnc": (5, True, None, 1, "last"),
}


@pytest.mark.parametrize("method", sorted(TABLE1))
def test_table1_presets_compose_to_the_published_settings(method):
    t = composed(f"method={method}").train
    assert (t.epochs, t.correct_bias, t.max_grad_norm, t.evals_per_epoch, t.select) == TABLE1[method]
    assert (t.lr, t.batch_size, t.warmup_ratio, t.weight_decay, t.adam_eps) == (2e-5, 16, 0.1, 0.01, 1e-6)


@pytest.mark.parametrize("sweep", SWEEPS)  # a new sweep is tested the moment its file exists
def test_every_sweep_composes_and_expands(sweep):
    from stability_bench.grid import expand

    cfg = composed(f"+sweep={sweep}", "model=tiny_random")
    params = yaml.safe_load((CONF / "sweep" / f"{sweep}.yaml").read_text())["hydra"]["sweeper"]["params"]
    grid = expand(None, params, [])
    assert len(grid) >= 2 and cfg.sweep.name == sweep
    for overrides in grid[:3] + grid[-3:]:  # the first and last cells compose into valid configs
        from stability_bench.run import check_config
        cell = composed(f"+sweep={sweep}", "model=tiny_random", *overrides)
        check_config(cell)
