"""Beyond the paper: Zhang et al.'s re-initialisation and layer-wise lr decay, Fu et al.'s multi-head loss
and max-margin regulariser, and the recipes on RoBERTa and ALBERT parameter layouts."""

import math

import pytest
import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from transformers import (AlbertConfig, AlbertForSequenceClassification, BertConfig, BertForSequenceClassification,
                          RobertaConfig, RobertaForSequenceClassification)

from stability_bench.config import ConfigError
from stability_bench.recipes import build_method
from stability_bench.recipes.mixout import MixLinear
from stability_bench.recipes.mmr import centroid_margin

TRAIN = OmegaConf.create({"weight_decay": 0.01, "lr": 1e-3, "adam_beta1": 0.9, "adam_beta2": 0.999,
                          "adam_eps": 1e-6, "correct_bias": True})
SMALL = dict(vocab_size=60, hidden_size=8, num_hidden_layers=3, num_attention_heads=2, intermediate_size=16)


def bert():
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(**SMALL))


def method(name, **params):
    return build_method(OmegaConf.create({"name": name, "recipe": {"llrd": "reinit"}.get(name, name), **params}), TRAIN)


def batch(n=6):
    return {"input_ids": torch.randint(5, 60, (n, 7)), "labels": torch.tensor([0, 1] * (n // 2))}


def test_reinit_resets_exactly_the_top_layers_and_the_pooler():
    model = bert()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    method("reinit", layers=2, reinit_pooler=True).prepare_model(model)
    for name, p in model.named_parameters():
        reset = ".layer.1." in name or ".layer.2." in name or "pooler" in name
        if reset and name.endswith("LayerNorm.weight"):
            assert torch.equal(p, torch.ones_like(p))
        elif reset and name.endswith("bias"):
            assert torch.equal(p, torch.zeros_like(p))
        elif reset:
            assert not torch.equal(p, before[name]), name
        else:
            assert torch.equal(p, before[name]), name


def test_layerwise_lr_decay_by_depth():
    model = bert()
    m = method("llrd", layers=0, reinit_pooler=False, lr_decay=0.5)
    lr_of = {}
    for g in m.param_groups(model):
        for p in g["params"]:
            lr_of[id(p)] = g["lr"]
    assert lr_of[id(model.classifier.weight)] == pytest.approx(1e-3)
    assert lr_of[id(model.bert.encoder.layer[2].output.dense.weight)] == pytest.approx(1e-3 * 0.5)
    assert lr_of[id(model.bert.encoder.layer[0].output.dense.weight)] == pytest.approx(1e-3 * 0.5 ** 3)
    assert lr_of[id(model.bert.embeddings.word_embeddings.weight)] == pytest.approx(1e-3 * 0.5 ** 4)
    assert len(lr_of) == sum(1 for _ in model.parameters())


def test_multihead_loss_is_the_sum_of_head_losses_and_predicts_the_mean():
    model = bert()
    m = method("mhloss", heads=3)
    m.prepare_model(model)
    model.eval()  # no dropout: the features are the same for every call
    b = batch()
    loss = m.loss(model, b)
    heads = model.classifier.heads
    pooled = model.bert(input_ids=b["input_ids"]).pooler_output
    per_head = [h(pooled) for h in heads]
    assert loss.item() == pytest.approx(sum(F.cross_entropy(z, b["labels"]) for z in per_head).item(), rel=1e-5)
    logits = model(input_ids=b["input_ids"]).logits
    torch.testing.assert_close(logits, torch.stack(per_head).mean(0))
    assert not torch.equal(heads[0].weight, heads[1].weight)


def test_centroid_margin_by_hand():
    f = torch.tensor([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])
    assert centroid_margin(f, y).item() == pytest.approx(math.sqrt(2.0))  # centroids (1,0) and (0,1)
    assert centroid_margin(f, torch.zeros(4, dtype=torch.long)) is None


def test_mmr_adds_the_margin_hinge_to_cross_entropy():
    model = bert()
    m = method("mmr", weight=0.5, target=2.0)
    m.prepare_model(model)
    model.eval()
    b = batch()
    total = m.loss(model, b)
    out = model(**b)
    margin = centroid_margin(model.bert(input_ids=b["input_ids"]).pooler_output, b["labels"])
    assert total.item() == pytest.approx(out.loss.item() + 0.5 * (2.0 - margin.item()), rel=1e-5)


@pytest.mark.parametrize("name,params,key", [("reinit", {"layers": -1}, "method.layers"),
                                             ("llrd", {"lr_decay": 1.5}, "method.lr_decay"),
                                             ("mhloss", {"heads": 0}, "method.heads"),
                                             ("mmr", {"target": 3.0}, "method.target")])
def test_bad_settings_name_the_key(name, params, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        method(name, **params)


def roberta():
    torch.manual_seed(0)
    return RobertaForSequenceClassification(RobertaConfig(**SMALL, max_position_embeddings=40, pad_token_id=1))


def albert():
    torch.manual_seed(0)
    return AlbertForSequenceClassification(AlbertConfig(**SMALL, embedding_size=8))


@pytest.mark.parametrize("make", [roberta, albert])
def test_cwgnc_and_mixout_follow_other_architectures(make):
    model = make()
    m = method("cwgnc", threshold=0.01, grouping="tensor")
    b = batch()
    m.loss(model, b).backward()
    m.before_step(model)
    assert all(p.grad.norm() <= 0.01 * (1 + 1e-5) for p in model.parameters() if p.grad is not None)
    mixed = make()
    method("mixout", p=0.5).prepare_model(mixed)
    names = [n for n, mod in mixed.named_modules() if isinstance(mod, MixLinear)]
    assert any("attention" in n for n in names) and not any(n.endswith(("intermediate.dense", ".ffn")) for n in names)
    mixed.train()
    assert torch.isfinite(mixed(**b).loss)


def test_layer_recipes_refuse_albert_shared_layers_with_a_clear_error():
    with pytest.raises(ConfigError, match="needs separate transformer layers, and albert shares one layer"):
        method("reinit", layers=1).prepare_model(albert())


@pytest.mark.parametrize("make", [bert, roberta])
def test_reinit_and_multihead_run_on_bert_and_roberta(make):
    for name, params in (("reinit", {"layers": 1}), ("mhloss", {"heads": 2}), ("mmr", {})):
        model = make()
        m = method(name, **params)
        m.prepare_model(model)
        opt = m.optimizer(m.param_groups(model))
        m.loss(model, batch()).backward()
        opt.step()


def test_bert_masking_never_touches_special_or_padding_tokens():
    torch.manual_seed(0)
    ids = torch.randint(10, 60, (64, 20))
    ids[:, 0], ids[:, -1] = 2, 3  # [CLS], [SEP]
    attention = torch.ones_like(ids)
    attention[:, 15:] = 0
    special = (ids == 2) | (ids == 3)
    from stability_bench.recipes.surt import mask_tokens
    inputs, labels = mask_tokens(ids, attention, special, mask_id=4, vocab_size=60)
    chosen = labels != -100
    assert not chosen[special].any() and not chosen[attention == 0].any()
    assert torch.equal(labels[chosen], ids[chosen])
    rate = chosen.sum().item() / (attention.bool() & ~special).sum().item()
    assert 0.12 < rate < 0.18
    assert 0.75 < (inputs[chosen] == 4).float().mean().item() < 0.85
    assert torch.equal(inputs[~chosen], ids[~chosen])


def test_surt_retrains_the_encoder_and_leaves_the_head(glue_dir, tmp_path):
    from conftest import make_cfg
    from stability_bench.data import load_encoded
    from stability_bench.models import load_model, load_tokenizer
    cfg = make_cfg(["method=surt"], glue_dir, tmp_path)
    tok = load_tokenizer(cfg.model)
    splits, _ = load_encoded(cfg.task, cfg.data, tok, tmp_path / "cache")
    model = load_model(cfg.model, 2, 0)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    m = build_method(cfg.method, cfg.train)
    torch.manual_seed(0)
    m.pretrain(model, splits["train"], tok, torch.device("cpu"))
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "bert.encoder.layer.1.output.dense.weight" in changed
    assert "bert.embeddings.word_embeddings.weight" in changed
    assert not {n for n in changed if n.startswith(("classifier", "bert.pooler"))}
