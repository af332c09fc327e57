"""Maximal Margin Regularizer (Fu, So & Collier 2023): push apart the encoded features of the classes.

Our formulation (the paper's exact form is not in our copy; its analysis bounds head-tuning
stability by the feature margin): with f the classifier's input features of a batch, L2-normalised,
and c_k the mean of those with label k, the margin d is the mean distance between the centroids of
the classes present, and

    loss = cross-entropy + weight * max(0, target - d)

a hinge that asks the class centroids to be at least ``target`` apart on the unit sphere (so the
regulariser is bounded and cannot be lowered by inflating the features).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ConfigError
from .base import Method, register


def centroid_margin(features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
    """Mean pairwise distance between class centroids of L2-normalised features; None if < 2 classes."""
    f = F.normalize(features.float(), dim=-1)
    classes = labels.unique()
    if len(classes) < 2:
        return None
    centroids = torch.stack([f[labels == c].mean(0) for c in classes])
    d = torch.cdist(centroids, centroids)
    n = len(classes)
    return d.sum() / (n * (n - 1))


@dataclass
class Params:
    weight: float = 0.1  # weight of the margin hinge
    target: float = 1.0  # desired distance between class centroids on the unit sphere (max 2)


@register("mmr", "MMR")
class MaxMargin(Method):
    Params = Params

    @staticmethod
    def check(params: Params) -> None:
        if params.weight < 0:
            raise ConfigError(f"method.weight={params.weight} is invalid: it must be >= 0")
        if not 0 < params.target <= 2:
            raise ConfigError(f"method.target={params.target} is invalid: it must be in (0, 2]")

    def needs(self) -> set[str]:
        return {"classifier"}

    def prepare_model(self, model: nn.Module) -> nn.Module:
        def keep_features(module, args):
            self._features = args[0]
        self.family(model).classifier_module(model).register_forward_pre_hook(keep_features)
        return model

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        out = model(**batch)
        features = self._features
        if features.dim() == 3:  # heads that read the whole sequence (RoBERTa): use the first token
            features = features[:, 0]
        margin = centroid_margin(features, batch["labels"])
        if margin is None:
            return out.loss
        return out.loss + self.params.weight * torch.clamp(self.params.target - margin, min=0)
