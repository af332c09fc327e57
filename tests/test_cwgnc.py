import pytest
import torch
from torch import nn

from stability_bench.config import ConfigError
from stability_bench.optim import AdamW
from stability_bench.recipes import build_method
from stability_bench.recipes.cwgnc import clip_components, component_names

THR = 0.05


def layer_with_grads():
    layer = nn.Linear(2, 2).double()
    layer.weight.grad = torch.tensor([[0.6, 0.0], [0.0, 0.8]], dtype=torch.float64)  # norm 1.0
    layer.bias.grad = torch.tensor([0.01, -0.02], dtype=torch.float64)  # norm 0.0224 < THR
    return layer


def method(**params):
    from omegaconf import OmegaConf
    train = OmegaConf.create({"weight_decay": 0.0, "lr": 0.1, "adam_beta1": 0.9, "adam_beta2": 0.999,
                              "adam_eps": 1e-6, "correct_bias": True})
    return build_method(OmegaConf.create({"name": "cwgnc", **params}), train)


def test_component_above_threshold_is_scaled_to_it_and_one_below_is_untouched():
    layer = layer_with_grads()
    bias_before = layer.bias.grad.clone()
    method(threshold=THR).before_step(layer)
    assert layer.weight.grad.norm().item() == pytest.approx(THR, rel=1e-5)
    torch.testing.assert_close(layer.weight.grad, torch.tensor([[0.6, 0.0], [0.0, 0.8]], dtype=torch.float64) * THR / (1.0 + 1e-6))
    assert torch.equal(layer.bias.grad, bias_before)


def test_the_following_adam_update_uses_the_clipped_gradient():
    layer = layer_with_grads()
    w0 = layer.weight.detach().clone()
    m = method(threshold=THR)
    m.before_step(layer)
    clipped = torch.tensor([[0.6, 0.0], [0.0, 0.8]], dtype=torch.float64) * THR / (1.0 + 1e-6)
    AdamW([layer.weight, layer.bias], lr=0.1, eps=1e-6, correct_bias=True).step()
    mom, var = 0.1 * clipped, 0.001 * clipped ** 2
    expected = w0 - 0.1 * (0.001 ** 0.5) / 0.1 * mom / (var.sqrt() + 1e-6)
    torch.testing.assert_close(layer.weight.detach(), expected, rtol=1e-10, atol=0)


def test_group_of_tensors_is_clipped_by_its_joint_norm():
    grads = [torch.tensor([3.0]), torch.tensor([4.0]), torch.tensor([0.01])]
    norms = clip_components(grads, torch.tensor([0, 0, 1]), 2, threshold=1.0)
    assert norms.tolist() == pytest.approx([5.0, 0.01])
    assert grads[0].item() == pytest.approx(3.0 / (5.0 + 1e-6)) and grads[1].item() == pytest.approx(4.0 / (5.0 + 1e-6))
    assert grads[2].item() == pytest.approx(0.01)


def test_component_groupings():
    names = ["bert.encoder.layer.3.attention.self.query.weight", "bert.encoder.layer.3.attention.self.query.bias",
             "bert.encoder.layer.3.output.dense.weight", "classifier.weight"]
    assert component_names(names, "tensor") == names
    assert component_names(names, "module") == ["bert.encoder.layer.3.attention.self.query"] * 2 + [
        "bert.encoder.layer.3.output.dense", "classifier"]
    layer_of = {names[0]: 3, names[1]: 3, names[2]: 3, names[3]: 12}  # a 12-layer model: the head is index 12
    assert component_names(names, "layer", layer_of) == ["layer.3"] * 3 + ["classifier"]


@pytest.mark.parametrize("params,key", [({"threshold": 0.0}, "method.threshold"), ({"threshold": -1.0}, "method.threshold"),
                                        ({"grouping": "row"}, "method.grouping"), ({"thresh": 1.0}, "method.thresh")])
def test_bad_settings_name_the_key(params, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        method(**params)
