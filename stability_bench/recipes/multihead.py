"""Multi-Head Loss (Fu, So & Collier 2023, "A Stability Analysis of Fine-Tuning a Pre-Trained Model").

The classifier is replaced by ``heads`` independently initialised copies of itself reading the same
features; training minimises the sum of the heads' cross-entropy losses, and predictions use the
average of their logits. Our formulation from the paper's description (its exact weights are not in
our copy): sum of per-head losses, mean of logits; the first head keeps the model's own
initialisation, the others are drawn the way the model's family initialises a head, from the init
seed's stream.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from .base import Method, register


class MultiHead(nn.Module):
    def __init__(self, head: nn.Module, n: int, init):
        super().__init__()
        copies = [head]
        for _ in range(n - 1):
            c = copy.deepcopy(head)
            init(c)
            copies.append(c)
        self.heads = nn.ModuleList(copies)
        self.last_logits: torch.Tensor | None = None  # (heads, batch, labels) of the latest forward

    def forward(self, *args, **kwargs) -> torch.Tensor:
        self.last_logits = torch.stack([h(*args, **kwargs) for h in self.heads])
        return self.last_logits.mean(0)


@dataclass
class Params:
    heads: int = 5  # number of classifier heads


@register("mhloss", "MHLoss")
class MultiHeadLoss(Method):
    Params = Params

    @staticmethod
    def check(params: Params) -> None:
        if params.heads < 1:
            raise ConfigError(f"method.heads={params.heads} is invalid: use at least 1 head")

    def needs(self) -> set[str]:
        return {"classifier"}

    def prepare_model(self, model: nn.Module) -> nn.Module:
        family = self.family(model)
        self.heads = MultiHead(family.classifier_module(model), self.params.heads,
                               lambda head: family.init(head, model.config, "classifier"))
        family.set_classifier(model, self.heads)
        return model

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        labels = batch["labels"]
        model(**{k: v for k, v in batch.items() if k != "labels"})
        logits = self.heads.last_logits
        return sum(F.cross_entropy(h, labels) for h in logits)
