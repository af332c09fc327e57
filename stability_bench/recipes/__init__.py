"""Fine-tuning recipes. A recipe is a ``Method`` subclass in its own module, registered with
``@register(name, label)``; a preset ``conf/method/<preset>.yaml`` selects one with ``method.recipe`` (default: the
preset's name) and sets its params, its ``train.*`` settings and its display ``label``. Presets and recipes are
separate: ``devlin``, ``bias_correction`` and ``mosbach`` are presets of the ``plain`` recipe, ``cwgnc_script``
one of ``cwgnc``, ``gu_restart`` one of ``gu``, ``llrd`` one of ``reinit``.
"""

from __future__ import annotations

import dataclasses

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config import ConfigError
from ..records import method_params
from .base import REGISTRY, Method, Stage, register
from . import cwgnc, mixout, mmr, multihead, reinit, surt, unfreezing  # noqa: F401  (importing registers each recipe)


def recipe_of(method_cfg) -> str:
    return method_cfg.get("recipe") or method_cfg.get("name")


def label_of(method_cfg) -> str:
    """The preset's display label, else its recipe's."""
    cls = REGISTRY.get(recipe_of(method_cfg))
    return method_cfg.get("label") or (cls.label if cls else str(method_cfg.get("name")))


def build_method(method_cfg, train_cfg) -> Method:
    name = recipe_of(method_cfg)
    if name not in REGISTRY:
        raise ConfigError(f"method.recipe={name} is unknown: choose one of {', '.join(sorted(REGISTRY))}")
    cls = REGISTRY[name]
    given = method_params(method_cfg)
    known = {f.name for f in dataclasses.fields(cls.Params)}
    for key in given:
        if key not in known:
            valid = ", ".join(sorted(known)) or "none"
            raise ConfigError(f"method.{key} is not a setting of recipe '{name}' (its settings: {valid})")
    try:
        params = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.Params), given))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or ""
        raise ConfigError(f"method.{key}={given.get(key)} is invalid: {str(e).splitlines()[0]}") from None
    check = getattr(cls, "check", None)
    if check is not None:
        check(params)
    return cls(params, train_cfg)


__all__ = ["REGISTRY", "Method", "Stage", "build_method", "label_of", "method_params", "recipe_of", "register"]
