"""Fine-tuning recipes. A recipe is a ``Method`` subclass in its own module, registered with
``@register(name, label)``; a preset ``conf/method/<preset>.yaml`` selects one with ``method.recipe`` (default: the
preset's name) and sets its params, its ``train.*`` settings and its display ``label``. Presets and recipes are
separate: ``devlin``, ``bias_correction`` and ``mosbach`` are presets of the ``plain`` recipe, ``cwgnc_script``
one of ``cwgnc``, ``gu_restart`` one of ``gu``, ``llrd`` one of ``reinit``.
"""

from __future__ import annotations

import dataclasses
import difflib

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .. import CONF_DIR
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
            raise ConfigError(f"method.{key} is not a setting of method={method_cfg.get('name')} (recipe {name}, "
                              f"whose settings are: {valid}){elsewhere(str(key))}")
    try:
        params = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(cls.Params), given))
    except OmegaConfBaseException as e:
        key = getattr(e, "full_key", None) or ""
        raise ConfigError(f"method.{key}={given.get(key)} is invalid: {str(e).splitlines()[0]}") from None
    check = getattr(cls, "check", None)
    if check is not None:
        check(params)
    return cls(params, train_cfg)


PRESETS = CONF_DIR / "method"


def _preset_recipe(preset: str) -> str | None:
    """The recipe a shipped preset trains: its ``method.recipe``, else its parent's (``defaults``), else its name."""
    node = OmegaConf.load(PRESETS / f"{preset}.yaml")
    method = node.get("method") or {}
    if method.get("recipe"):
        return method.recipe
    parents = [d for d in node.get("defaults") or [] if isinstance(d, str) and d != "_self_"]
    return _preset_recipe(parents[0]) if parents else method.get("name")


def elsewhere(key: str) -> str:
    """Where a ``method.<key>`` that the chosen preset lacks is a setting (the usual slip: the preset not chosen,
    ``method.threshold=0.1`` without ``method=cwgnc``), or the closest setting of any recipe."""
    having: dict[str, list[str]] = {}  # setting -> presets whose recipe has it
    for path in sorted(PRESETS.glob("*.yaml")):
        recipe = _preset_recipe(path.stem)
        for f in dataclasses.fields(REGISTRY[recipe].Params) if recipe in REGISTRY else ():
            having.setdefault(f.name, []).append(path.stem)
    if key in having:
        return f"; it is a setting of {', '.join(f'method={p}' for p in having[key])}"
    close = difflib.get_close_matches(key, list(having), n=1)
    if close:
        return f"; did you mean method.{close[0]} (a setting of {', '.join(f'method={p}' for p in having[close[0]])})?"
    return ""


__all__ = ["REGISTRY", "Method", "Stage", "build_method", "elsewhere", "label_of", "method_params", "recipe_of", "register"]
