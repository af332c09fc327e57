"""The hooks a fine-tuning recipe may override, and the plain recipe they default to.

``run.py`` calls ``prepare_model`` and then ``pretrain`` once (unsupervised work on the training
texts before fine-tuning). The training loop (``train.py``) calls, for each
``Stage`` from ``stages``: ``param_groups`` and ``optimizer``; and every step ``loss`` and,
after backward and before global clipping and the optimizer, ``before_step``. A recipe that
overrides none of them is plain fine-tuning with the settings under ``train.*``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import torch
from torch import nn

from .. import families
from ..optim import AdamW

@dataclass
class Stage:
    """A phase of training with its own optimizer and schedule (gradual unfreezing has several)."""
    name: str
    epochs: int
    info: Optional[dict] = None  # recorded with the stage's dev metrics

@dataclass
class NoParams:
    pass

def no_decay(module: nn.Module, param_name: str) -> bool:
    """Biases and LayerNorm weights are not decayed (Devlin et al.; transformers' run_glue)."""
    return param_name == "bias" or isinstance(module, nn.LayerNorm)

REGISTRY: dict[str, type] = {}  # recipe name -> class, filled by @register


def register(name: str, label: str):
    """Make a recipe class selectable as ``method.recipe: <name>``, shown as ``label`` where a preset gives none."""
    def add(cls):
        if name in REGISTRY:
            raise ValueError(f"recipe {name} is registered twice ({REGISTRY[name].__name__}, {cls.__name__})")
        cls.recipe_name, cls.label = name, label
        REGISTRY[name] = cls
        return cls
    return add


@register("plain", "Fine-tuning")
class Method:
    """Plain fine-tuning: AdamW (bias correction per ``train.correct_bias``), one stage."""

    Params = NoParams

    def __init__(self, params, train_cfg):
        self.params = params
        self.train_cfg = train_cfg

    def needs(self) -> set[str]:
        """The parts of the model's family this recipe reads (layers, embeddings, pooler, classifier,
        intermediate): a model whose family is not declared runs only recipes that need none."""
        return set()

    def family(self, model) -> "families.Family | None":
        """The model's family, or a one-line error when the recipe needs parts it does not declare."""
        return families.require(model, self.needs(), f"method.recipe={self.recipe_name}")

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model

    def pretrain(self, model: nn.Module, train, tokenizer, device: torch.device) -> None:
        """Before fine-tuning, with the training split (``data.Encoded``) and the tokenizer."""

    def stages(self, model: nn.Module, epochs: int) -> Iterator[Stage]:
        yield Stage("all", epochs)

    def param_groups(self, model: nn.Module) -> list[dict]:
        decay, plain = [], []
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if p.requires_grad:
                    (plain if no_decay(module, name) else decay).append(p)
        wd = self.train_cfg.weight_decay
        return [g for g in ({"params": decay, "weight_decay": wd}, {"params": plain, "weight_decay": 0.0}) if g["params"]]

    def optimizer(self, groups: list[dict]) -> torch.optim.Optimizer:
        t = self.train_cfg
        return AdamW(groups, lr=t.lr, betas=(t.adam_beta1, t.adam_beta2), eps=t.adam_eps,
                     correct_bias=t.correct_bias)

    def loss(self, model: nn.Module, batch: dict) -> torch.Tensor:
        return model(**batch).loss

    def before_step(self, model: nn.Module) -> None:
        """After backward, before global clipping and the optimizer step."""
