"""Gradual unfreezing (Howard & Ruder 2018) as studied in Yang & Ma 2022, Section 2 / Algorithm 1.

Iteration k = 0 .. T-1 trains the top k+1 transformer layers and the head (pooler and
classifier) for ``train.epochs`` epochs with a fresh optimizer and schedule; every other
parameter is frozen. The embeddings are unfrozen with the bottom layer, so the last iteration
trains the whole model. ``restart`` (GU restart) copies the pretrained weights back into the
layers trained in earlier iterations, and the head back to its initial value, at the start of
each iteration, so that its last iteration is exactly full fine-tuning. Each iteration's dev
metric is recorded (Figure 1).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import nn

from ..config import ConfigError
from ..families import Family
from .base import Method, Stage, register


def set_trainable(model: nn.Module, family: Family, k: int) -> list[str]:
    """Freeze everything but the top k+1 layers and the head; return the trainable layer names."""
    layers = family.layer_list(model)
    n = len(layers)
    embeddings = family.embedding_modules(model)
    in_body = {id(p) for p in layers.parameters()} | {id(p) for m in embeddings for p in m.parameters()}
    for p in model.parameters():
        p.requires_grad_(id(p) not in in_body)  # the head: pooler, classifier (anything above the layers)
    for i in range(n - k - 1, n):
        layers[i].requires_grad_(True)
    if k == n - 1:
        for m in embeddings:
            m.requires_grad_(True)
    return [f"layer.{i}" for i in range(n - k - 1, n)]


@dataclass
class Params:
    restart: bool = False  # GU restart: reset earlier-trained layers to the pretrained weights
    max_iterations: Optional[int] = None  # T of Algorithm 1; null = one per layer


@register("gu", "Gradual unfreezing")
class GradualUnfreezing(Method):
    Params = Params

    @staticmethod
    def check(params: Params) -> None:
        if params.max_iterations is not None and params.max_iterations <= 0:
            raise ConfigError(f"method.max_iterations={params.max_iterations} is invalid: use null (all layers) or a positive count")

    def needs(self) -> set[str]:
        return {"layers"}

    def stages(self, model: nn.Module, epochs: int) -> Iterator[Stage]:
        family = self.family(model)
        n = len(family.layer_list(model))
        iterations = min(n, self.params.max_iterations or n)
        start = copy.deepcopy(model.state_dict()) if self.params.restart else None
        for k in range(iterations):
            if start is not None and k > 0:
                with torch.no_grad():
                    model.load_state_dict(start)
            trainable = set_trainable(model, family, k)
            yield Stage(f"iteration{k}", epochs, {"iteration": k, "trainable_layers": trainable})
        for p in model.parameters():
            p.requires_grad_(True)
