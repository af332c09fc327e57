import pytest
import torch
from omegaconf import OmegaConf
from torch import nn

from stability_bench.config import ConfigError
from stability_bench.recipes import build_method
from stability_bench.families import family_of
from stability_bench.recipes.mixout import MixLinear, apply_mixout, mixout


def test_p_zero_is_the_plain_layer():
    torch.manual_seed(0)
    linear = nn.Linear(6, 4)
    mixed = MixLinear(linear, p=0.0)
    x = torch.randn(3, 6)
    with torch.no_grad():
        linear.weight.add_(1.0)  # trained away from the target: still the plain layer at p=0
    assert torch.equal(mixed(x), nn.functional.linear(x, linear.weight, linear.bias))


def test_each_column_is_either_the_target_or_the_rescaled_weight():
    torch.manual_seed(0)
    w, u, p = torch.randn(5, 8), torch.randn(5, 8), 0.4
    out = mixout(w, u, p)
    for j in range(8):
        dropped = torch.allclose(out[:, j], u[:, j])
        kept = torch.allclose(out[:, j], (w[:, j] - p * u[:, j]) / (1 - p))
        assert dropped != kept


def test_expectation_is_the_current_weight():
    torch.manual_seed(0)
    w, u, p = torch.randn(3, 4), torch.randn(3, 4), 0.7
    mean = torch.stack([mixout(w, u, p) for _ in range(20000)]).mean(0)
    torch.testing.assert_close(mean, w, atol=0.06, rtol=0)


def test_mixing_targets_the_pretrained_not_the_current_weights():
    torch.manual_seed(0)
    linear = nn.Linear(8, 3)
    pretrained = linear.weight.detach().clone()
    mixed = MixLinear(linear, p=0.5)
    with torch.no_grad():
        linear.weight.mul_(5.0).add_(3.0)  # fine-tuning moved the weights
    w = mixout(mixed.weight, mixed.target, mixed.p)
    dropped = [j for j in range(8) if torch.allclose(w[:, j], pretrained[:, j])]
    assert 0 < len(dropped) < 8
    for j in range(8):
        if j not in dropped:
            torch.testing.assert_close(w[:, j], (linear.weight[:, j] - 0.5 * pretrained[:, j]) / 0.5)
    mixed.eval()
    x = torch.randn(2, 8)
    assert torch.equal(mixed(x), nn.functional.linear(x, linear.weight, linear.bias))


def test_apply_mixout_skips_the_ffn_intermediate_layer():
    from transformers import BertConfig, BertForSequenceClassification
    model = BertForSequenceClassification(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                                                     num_attention_heads=2, intermediate_size=16))
    replaced = apply_mixout(model, 0.9, family_of(model).is_intermediate)
    assert "bert.encoder.layer.0.attention.self.query" in replaced and "classifier" in replaced
    assert not any(name.endswith("intermediate.dense") for name in replaced)
    assert isinstance(model.bert.encoder.layer[0].intermediate.dense, nn.Linear)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_p_outside_unit_interval_is_rejected(p):
    with pytest.raises(ConfigError, match=r"method\.p="):
        build_method(OmegaConf.create({"name": "mixout", "p": p}), OmegaConf.create({}))
