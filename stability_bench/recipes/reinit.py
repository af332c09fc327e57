"""Re-initialising the top layers (and pooler) and layer-wise learning-rate decay (Zhang et al. 2021,
"Revisiting Few-sample BERT Fine-tuning", Sections 5 and 6).

``layers`` top transformer layers, and the pooler when ``reinit_pooler``, get fresh weights drawn
like BERT's initialisation (Linear and Embedding weights ~ N(0, initializer_range), biases 0,
LayerNorm weight 1 and bias 0) from the init seed's random stream. With ``lr_decay`` < 1 the
learning rate of depth d (embeddings 0, layer i at i+1, head at L+1) is lr * lr_decay^(L+1-d).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError
from .base import Method, no_decay, register
from .unfreezing import encoder_layers


@torch.no_grad()
def bert_init_(module: nn.Module, std: float) -> None:
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight.normal_(0.0, std)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.Embedding):
            m.weight.normal_(0.0, std)
        elif isinstance(m, nn.LayerNorm):
            m.weight.fill_(1.0)
            m.bias.zero_()


def reinit_top(model: nn.Module, layers: int, pooler: bool) -> list[str]:
    """Re-initialise the top ``layers`` encoder layers (and the pooler); return what was reset."""
    std = model.config.initializer_range
    stack = encoder_layers(model)
    done = []
    for i in range(len(stack) - layers, len(stack)):
        bert_init_(stack[i], std)
        done.append(f"layer.{i}")
    pool = getattr(model.base_model, "pooler", None)
    if pooler and pool is not None:
        bert_init_(pool, std)
        done.append("pooler")
    return done


def depth_of(model: nn.Module) -> dict[int, int]:
    """id(parameter) -> depth: embeddings 0, encoder layer i -> i+1, everything else (head) L+1."""
    stack = encoder_layers(model)
    depth = {id(p): len(stack) + 1 for p in model.parameters()}
    for p in model.base_model.embeddings.parameters():
        depth[id(p)] = 0
    for i, layer in enumerate(stack):
        for p in layer.parameters():
            depth[id(p)] = i + 1
    return depth


@dataclass
class Params:
    layers: int = 3  # top layers to re-initialise (Zhang et al. tune 1-6 per task)
    reinit_pooler: bool = True  # re-initialise the pooler too (Zhang et al.; Mosbach et al.'s "pooler" configs)
    lr_decay: float = 1.0  # layer-wise learning-rate decay factor; 1 = off (Zhang et al. use 0.9-0.95)


@register("reinit", "Re-init / layer-wise LR decay")
class Reinit(Method):
    Params = Params

    @staticmethod
    def check(params: Params) -> None:
        if params.layers < 0:
            raise ConfigError(f"method.layers={params.layers} is invalid: use 0 or more layers")
        if not 0 < params.lr_decay <= 1:
            raise ConfigError(f"method.lr_decay={params.lr_decay} is invalid: it must be in (0, 1]")

    def prepare_model(self, model: nn.Module) -> nn.Module:
        n = len(encoder_layers(model))
        if self.params.layers > n:
            raise ConfigError(f"method.layers={self.params.layers} is invalid: the model has {n} layers")
        reinit_top(model, self.params.layers, self.params.reinit_pooler)
        return model

    def param_groups(self, model: nn.Module) -> list[dict]:
        if self.params.lr_decay == 1.0:
            return super().param_groups(model)
        depth = depth_of(model)
        top = max(depth.values())
        groups: dict[tuple[int, bool], list] = {}
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if p.requires_grad:
                    groups.setdefault((depth[id(p)], no_decay(module, name)), []).append(p)
        lr, wd = self.train_cfg.lr, self.train_cfg.weight_decay
        return [{"params": ps, "lr": lr * self.params.lr_decay ** (top - d), "weight_decay": 0.0 if nd else wd}
                for (d, nd), ps in sorted(groups.items())]
