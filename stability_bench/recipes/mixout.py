"""Mixout (Lee et al., ICLR 2020): stochastically mix each weight with its pretrained value.

In training, each input unit (a column of a Linear's weight W) keeps its current value with
probability 1 - p and is replaced by the target u (the weight at the start of fine-tuning:
pretrained, or the head's initial value) with probability p; the result is rescaled so that
its expectation is W:

    mixout(W) = ((1 - M) * u + M * W - p * u) / (1 - p),   M ~ Bernoulli(1 - p) per column

as in the reference implementation (bloodwass/mixout). Biases are not mixed; in evaluation the
layer is the plain Linear. Dropout is set to 0 where mixout replaces it (the reference demo).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from .base import Method, register


def mixout(weight: torch.Tensor, target: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    if not training or p == 0:
        return weight
    mask = torch.empty((1, weight.shape[1]), device=weight.device, dtype=weight.dtype).bernoulli_(1 - p)
    return ((1 - mask) * target + mask * weight - p * target) / (1 - p)


class MixLinear(nn.Module):
    """A Linear whose weight goes through mixout towards a frozen copy of its starting value."""

    def __init__(self, linear: nn.Linear, p: float):
        super().__init__()
        self.in_features, self.out_features, self.p = linear.in_features, linear.out_features, p
        self.weight, self.bias = linear.weight, linear.bias
        self.register_buffer("target", linear.weight.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, mixout(self.weight, self.target, self.p, self.training), self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, p={self.p}"


@dataclass
class Params:
    p: float = 0.9  # mixing probability: Lee et al.'s reference demo uses 0.9 (Zhang et al. 2021: 0.1)
    skip_intermediate: bool = True  # leave the FFN intermediate Linear unmixed (Lee et al., per the maintainer)
    disable_dropout: bool = True  # mixout replaces dropout (reference demo sets every Dropout to p=0)


def apply_mixout(model: nn.Module, p: float, skip: Callable[[str], bool] = lambda name: False) -> list[str]:
    """Replace Linear layers by MixLinear in place, except those whose name ``skip`` accepts; return the names
    replaced."""
    replaced = []
    for name, module in list(model.named_modules()):
        for child_name, child in list(module.named_children()):
            full = f"{name}.{child_name}" if name else child_name
            if not isinstance(child, nn.Linear) or skip(full):
                continue
            setattr(module, child_name, MixLinear(child, p))
            replaced.append(full)
    return replaced


@register("mixout", "Mixout")
class Mixout(Method):
    Params = Params

    @staticmethod
    def check(params: Params) -> None:
        if not 0.0 <= params.p < 1.0:
            raise ConfigError(f"method.p={params.p} is invalid: it must be in [0, 1)")

    def needs(self) -> set[str]:
        return {"intermediate"} if self.params.skip_intermediate else set()

    def prepare_model(self, model: nn.Module) -> nn.Module:
        family = self.family(model)
        apply_mixout(model, self.params.p, family.is_intermediate if self.params.skip_intermediate else lambda name: False)
        if self.params.disable_dropout:
            for m in model.modules():
                if isinstance(m, nn.Dropout):
                    m.p = 0.0
        return model
