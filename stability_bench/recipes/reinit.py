"""Re-initialising the top layers (and pooler) and layer-wise learning-rate decay (Zhang et al. 2021,
"Revisiting Few-sample BERT Fine-tuning", Sections 5 and 6).

``layers`` top transformer layers, and the pooler when ``reinit_pooler``, get fresh weights drawn the
way their family initialises them (BERT: Linear and Embedding weights ~ N(0, initializer_range), biases
0, LayerNorm weight 1 and bias 0) from the init seed's random stream. With ``lr_decay`` < 1 the
learning rate of depth d (embeddings 0, layer i at i+1, head at L+1) is lr * lr_decay^(L+1-d).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError
from ..families import Family
from .base import Method, no_decay, register


@torch.no_grad()
def reinit_top(model: nn.Module, family: Family, layers: int, pooler: bool) -> list[str]:
    """Re-initialise the top ``layers`` transformer layers (and the pooler); return what was reset."""
    stack = family.layer_list(model)
    done = []
    for i in range(len(stack) - layers, len(stack)):
        family.init(stack[i], model.config, "layer")
        done.append(f"layer.{i}")
    pool = family.pooler_module(model)
    if pooler and pool is not None:
        family.init(pool, model.config, "pooler")
        done.append("pooler")
    return done


def depth_of(model: nn.Module, family: Family) -> dict[int, int]:
    """id(parameter) -> depth: embeddings 0, layer i -> i+1, everything else (the head) L+1."""
    index = family.layer_index(model)
    return {id(p): index[name] + 1 for name, p in model.named_parameters()}


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

    def needs(self) -> set[str]:
        return {"layers"}

    def prepare_model(self, model: nn.Module) -> nn.Module:
        family = self.family(model)
        n = len(family.layer_list(model))
        if self.params.layers > n:
            raise ConfigError(f"method.layers={self.params.layers} is invalid: the model has {n} layers")
        reinit_top(model, family, self.params.layers, self.params.reinit_pooler)
        return model

    def param_groups(self, model: nn.Module) -> list[dict]:
        if self.params.lr_decay == 1.0:
            return super().param_groups(model)
        depth = depth_of(model, self.family(model))
        top = max(depth.values())
        groups: dict[tuple[int, bool], list] = {}
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if p.requires_grad:
                    groups.setdefault((depth[id(p)], no_decay(module, name)), []).append(p)
        lr, wd = self.train_cfg.lr, self.train_cfg.weight_decay
        return [{"params": ps, "lr": lr * self.params.lr_decay ** (top - d), "weight_decay": 0.0 if nd else wd}
                for (d, nd), ps in sorted(groups.items())]
