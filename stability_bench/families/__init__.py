"""Model families: where a family keeps its transformer layers, embeddings, pooler, classification head and
feed-forward input projections, and how it initialises fresh weights.

Layer-aware recipes (gradual unfreezing, re-initialisation, layer-wise learning rates, Mixout's intermediate
rule, multi-head and margin heads, CWGNC's per-layer grouping) and the component statistics read a model only
through its ``Family``; none of them names an attribute of one architecture. A family is one small module in
this package that calls ``register(Family(...))``; every module here is imported, so adding the file is all
it takes. The family of a model is found by its ``config.model_type``.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import nn

from ..config import ConfigError


def _is_layer_norm(m: nn.Module) -> bool:  # nn.LayerNorm and the families' own (DeBERTa v1's DebertaLayerNorm)
    return isinstance(m, nn.LayerNorm) or type(m).__name__.endswith("LayerNorm")


@torch.no_grad()
def normal_init(module: nn.Module, config, role: str) -> None:
    """BERT's initialisation (and RoBERTa's, ALBERT's, ELECTRA's, DeBERTa's, DistilBERT's): Linear and
    Embedding weights ~ N(0, initializer_range), biases 0, LayerNorm weight 1 and bias 0. ``role`` (layer,
    pooler or classifier) does not matter to these families."""
    std = config.initializer_range
    for m in module.modules():
        if isinstance(m, nn.Linear):
            m.weight.normal_(0.0, std)
            if m.bias is not None:
                m.bias.zero_()
        elif isinstance(m, nn.Embedding):
            m.weight.normal_(0.0, std)
        elif _is_layer_norm(m):
            if getattr(m, "weight", None) is not None:
                m.weight.fill_(1.0)
            if getattr(m, "bias", None) is not None:
                m.bias.zero_()


@torch.no_grad()
def truncated_normal_(weight: torch.Tensor, std: float, cutoff: float) -> None:
    nn.init.trunc_normal_(weight, mean=0.0, std=std, a=-cutoff * std, b=cutoff * std)


def _resolve(root: nn.Module, path: str) -> Optional[nn.Module]:
    node = root
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


@dataclass(frozen=True)
class Family:
    """The layout of one architecture. Paths are attribute paths: ``layers`` and ``embeddings`` from the
    model's ``base_model`` (the encoder), ``pooler`` and ``classifier`` from the sequence-classification
    model itself. What is neither embeddings nor a layer (the pooler, the head, a final norm) is "the head":
    trained in every gradual-unfreezing iteration, at the top depth of layer-wise learning rates."""
    name: str
    model_types: tuple[str, ...]  # config.model_type values of this family
    layers: Optional[str]  # the ModuleList of transformer layers, bottom to top; None: one layer shared by all (ALBERT)
    embeddings: tuple[str, ...] = ("embeddings",)  # depth 0; unfrozen with the bottom layer (missing paths skipped)
    pooler: Optional[str] = None  # the pretrained pooler that Zhang et al.'s re-initialisation resets too
    classifier: str = "classifier"  # the new classification head (its input: the features the margin is measured on)
    intermediate: tuple[str, ...] = ("intermediate.dense",)  # name endings of the feed-forward input Linears
    init: Callable[[nn.Module, object, str], None] = normal_init  # fresh weights the family's way: (module, config, role)
    # how token positions are looked up, which bounds data.max_length: "absolute" (a table of
    # max_position_embeddings rows), "after_padding" (RoBERTa's table, whose ids start after pad_token_id) or
    # "rotary" (computed, no table to run out of)
    positions: str = "absolute"
    # model types whose transformers code fails under bf16 autocast, and why: refused before a run starts
    # (tests/test_families.py checks the failure against the installed transformers, so a fix upstream shows)
    no_bf16: tuple[str, ...] = ()
    no_bf16_why: str = ""

    # -- the parts, as modules -------------------------------------------------------------------------------
    def layer_list(self, model: nn.Module) -> nn.ModuleList:
        layers = _resolve(model.base_model, self.layers) if self.layers else None
        if not isinstance(layers, nn.ModuleList):
            raise ConfigError(f"model type {model.config.model_type!r}: no list of transformer layers at "
                              f"base_model.{self.layers} (family {self.name})")
        return layers

    def embedding_modules(self, model: nn.Module) -> list[nn.Module]:
        return [m for m in (_resolve(model.base_model, p) for p in self.embeddings) if m is not None]

    def pooler_module(self, model: nn.Module) -> Optional[nn.Module]:
        return _resolve(model, self.pooler) if self.pooler else None

    def classifier_module(self, model: nn.Module) -> nn.Module:
        head = _resolve(model, self.classifier)
        if head is None:
            raise ConfigError(f"model type {model.config.model_type!r}: no classification head at {self.classifier} "
                              f"(family {self.name})")
        return head

    def set_classifier(self, model: nn.Module, head: nn.Module) -> None:
        parent, _, attr = self.classifier.rpartition(".")
        setattr(_resolve(model, parent) if parent else model, attr, head)

    def is_intermediate(self, module_name: str) -> bool:
        return any(module_name == s or module_name.endswith("." + s) for s in self.intermediate)

    # -- per parameter ---------------------------------------------------------------------------------------
    def layer_index(self, model: nn.Module) -> dict[str, int]:
        """Parameter name -> index of its transformer layer (0 = bottom); embeddings -1; the head L.
        Without a layer list (ALBERT) every body parameter is layer 0."""
        ids: dict[int, int] = {}
        n = 1
        if self.layers is not None:
            stack = self.layer_list(model)
            n = len(stack)
            for i, layer in enumerate(stack):
                ids.update({id(p): i for p in layer.parameters()})
        else:
            ids.update({id(p): 0 for p in model.base_model.parameters()})
        for m in self.embedding_modules(model):
            ids.update({id(p): -1 for p in m.parameters()})
        return {name: ids.get(id(p), n) for name, p in model.named_parameters()}


FAMILIES: dict[str, Family] = {}  # config.model_type -> family


POSITIONS = ("absolute", "after_padding", "rotary")


def register(family: Family) -> Family:
    if family.positions not in POSITIONS:
        raise ValueError(f"family {family.name}: positions={family.positions!r}; choose one of {', '.join(POSITIONS)}")
    for t in family.model_types:
        if t in FAMILIES:
            raise ValueError(f"model type {t!r} is declared by families {FAMILIES[t].name} and {family.name}")
        FAMILIES[t] = family
    return family


def family_of(model_or_config) -> Optional[Family]:
    config = getattr(model_or_config, "config", model_or_config)
    return FAMILIES.get(getattr(config, "model_type", None))


def require(model_or_config, needs: set[str], who: str) -> Optional[Family]:
    """The model's family, or a one-line ConfigError when ``who`` (a recipe) needs parts nobody declared."""
    if not needs:
        return family_of(model_or_config)
    config = getattr(model_or_config, "config", model_or_config)
    model_type = getattr(config, "model_type", None)
    family = FAMILIES.get(model_type)
    if family is None:
        raise ConfigError(f"{who} needs to know the layers of model type {model_type!r}, and stability_bench has no "
                          f"adapter for it (families: {', '.join(sorted(FAMILIES))}); add one in "
                          "stability_bench/families/ (README: adding a model family), or choose a recipe that is not layer-aware")
    if "layers" in needs and family.layers is None:
        raise ConfigError(f"{who} needs separate transformer layers, and {family.name} shares one layer across "
                          f"its depth (model type {model_type!r}): choose another recipe for this model")
    return family


def check_precision(config, precision: str, model_name: str) -> None:
    """A one-line ConfigError where the model's family declares that its transformers code fails in ``precision``."""
    model_type = getattr(config, "model_type", None)
    family = FAMILIES.get(model_type)
    if precision == "bf16" and family is not None and model_type in family.no_bf16:
        raise ConfigError(f"train.precision=bf16 does not work with model '{model_name}' (model type {model_type!r}): "
                          f"{family.no_bf16_why}; use train.precision=fp32")


for _info in pkgutil.iter_modules(__path__):  # every module in this package declares a family
    importlib.import_module(f"{__name__}.{_info.name}")

__all__ = ["FAMILIES", "Family", "check_precision", "family_of", "normal_init", "register", "require", "truncated_normal_"]
