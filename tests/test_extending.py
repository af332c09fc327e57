"""README's extending checklists, as a user follows them: a new preset is a few YAML lines, a new recipe is one
class and a short YAML — no edit anywhere else."""

import json
import os
import subprocess
import sys
from pathlib import Path

from hydra import compose, initialize_config_dir

from conftest import CONF_DIR
from stability_bench.recipes import Method, register
from stability_bench.run import execute

ROOT = Path(__file__).resolve().parent.parent


def test_a_new_preset_is_a_yaml_file(glue_dir, tmp_path):
    (tmp_path / "method").mkdir()
    (tmp_path / "method" / "cwgnc_layer.yaml").write_text(
        "# @package _global_\ndefaults:\n  - cwgnc\n  - _self_\nmethod:\n  name: cwgnc_layer\n"
        "  label: CWGNC per layer\n  grouping: layer\n")
    out = subprocess.run([sys.executable, "-m", "stability_bench", "method=cwgnc_layer", f"hydra.searchpath=[file://{tmp_path}]",
                          "model=tiny_random", "task=rte", "train.epochs=1", "data.max_train_samples=16",
                          f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}"], cwd=tmp_path,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rec = json.loads(next((tmp_path / "r").glob("**/record.json")).read_text())
    assert rec["status"] == "completed" and rec["method"] == {
        "name": "cwgnc_layer", "params": {"grouping": "layer", "threshold": 0.05}, "recipe": "cwgnc",
        "label": "CWGNC per layer"}
    assert rec["config"]["train"]["epochs"] == 1 and rec["config"]["train"]["max_grad_norm"] is None  # cwgnc's


@register("sign_sgd_test", "Sign of the gradient (test recipe)")
class SignGrad(Method):
    """A recipe of a test: every gradient replaced by its sign before the optimizer (a before_step hook)."""

    def before_step(self, model):
        for p in model.parameters():
            if p.grad is not None:
                p.grad.sign_()


def test_a_new_recipe_is_one_class_and_a_yaml_file(glue_dir, tmp_path):
    (tmp_path / "method").mkdir()
    (tmp_path / "method" / "sign.yaml").write_text(
        "# @package _global_\ndefaults:\n  - bias_correction\n  - _self_\nmethod:\n  name: sign\n  recipe: sign_sgd_test\n"
        "  label: Sign SGD\n")
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        cfg = compose(config_name="config", overrides=[
            f"hydra.searchpath=[file://{tmp_path}]", "method=sign", "model=tiny_random", "task=rte",
            "train.epochs=1", "data.max_train_samples=16", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}"])
    rec = execute(cfg)
    assert rec["status"] == "completed" and rec["method"]["recipe"] == "sign_sgd_test"
    assert rec["method"]["label"] == "Sign SGD"  # a preset states its label (else it inherits its parent's)
    assert json.loads((tmp_path / "r" / "tiny_random" / "rte" / "sign" / "seed0" / "record.json").read_text())[
        "loss_curve"]


def test_a_new_model_family_is_one_declaration(glue_dir, tmp_path):
    """README's family checklist on a family the tool does not ship (MPNet): without an adapter a layer-aware
    recipe refuses in one line; with one, it trains (and the plain recipes ran all along)."""
    import pytest

    from conftest import make_cfg
    from stability_bench import families
    from stability_bench.config import ConfigError

    base = ["task=rte", "data.max_train_samples=16", "train.epochs=1", "model.random_init.num_hidden_layers=3",
            "+model.random_init.model_type=mpnet"]
    assert "mpnet" not in families.FAMILIES
    with pytest.raises(ConfigError, match="needs to know the layers of model type 'mpnet'"):
        execute(make_cfg(["method=reinit", *base], glue_dir, tmp_path / "r"))
    assert execute(make_cfg(["method=bias_correction", *base], glue_dir, tmp_path / "r"))["status"] == "completed"
    families.register(families.Family("mpnet", ("mpnet",), layers="encoder.layer"))  # what families/mpnet.py would hold
    try:
        for method in ("reinit", "gu", "mixout", "mhloss"):
            rec = execute(make_cfg([f"method={method}", *base], glue_dir, tmp_path / "r"))
            assert rec["status"] == "completed", (method, rec.get("error"))
    finally:
        families.FAMILIES.pop("mpnet")
