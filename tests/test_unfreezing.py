import torch
from omegaconf import OmegaConf
from transformers import BertConfig, BertForSequenceClassification

from stability_bench.recipes import build_method


def tiny_model(layers=3):
    torch.manual_seed(0)
    return BertForSequenceClassification(BertConfig(vocab_size=40, hidden_size=8, num_hidden_layers=layers,
                                                    num_attention_heads=2, intermediate_size=16))


def gu(restart=False, max_iterations=None):
    train = OmegaConf.create({"weight_decay": 0.01, "lr": 1e-2, "adam_beta1": 0.9, "adam_beta2": 0.999,
                              "adam_eps": 1e-6, "correct_bias": True})
    return build_method(OmegaConf.create({"name": "gu_restart" if restart else "gu", "recipe": "gu", "restart": restart,
                                          "max_iterations": max_iterations}), train)


def train_one_step(model, method):
    opt = method.optimizer(method.param_groups(model))
    batch = {"input_ids": torch.randint(5, 40, (4, 6)), "labels": torch.tensor([0, 1, 0, 1])}
    method.loss(model, batch).backward()
    opt.step()
    opt.zero_grad()


def test_iteration_k_trains_exactly_the_top_k_plus_one_layers_and_the_head():
    model, method = tiny_model(), gu()
    stages = method.stages(model, epochs=1)
    stage = next(stages)
    assert stage.info["trainable_layers"] == ["layer.2"]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_one_step(model, method)
    for name, p in model.named_parameters():
        trained = ".layer.2." in name or name.startswith(("bert.pooler", "classifier"))
        assert torch.equal(p, before[name]) != trained, name  # frozen: bit-identical; trained: moved
    assert next(stages).info["trainable_layers"] == ["layer.1", "layer.2"]
    last = next(stages)
    assert last.info["iteration"] == 2 and all(p.requires_grad for p in model.parameters())


def test_gu_keeps_and_gu_restart_resets_earlier_trained_layers():
    for restart in (False, True):
        model, method = tiny_model(), gu(restart=restart)
        start = {n: p.detach().clone() for n, p in model.named_parameters()}
        stages = method.stages(model, epochs=1)
        next(stages)
        train_one_step(model, method)
        moved = model.bert.encoder.layer[2].output.dense.weight.detach().clone()
        next(stages)
        now = model.bert.encoder.layer[2].output.dense.weight
        if restart:
            assert torch.equal(now, start["bert.encoder.layer.2.output.dense.weight"])
            assert torch.equal(model.classifier.weight, start["classifier.weight"])
        else:
            assert torch.equal(now, moved)


def test_max_iterations_limits_the_stages():
    model = tiny_model()
    assert len(list(gu(max_iterations=2).stages(model, 1))) == 2
