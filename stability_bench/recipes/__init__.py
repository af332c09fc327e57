"""Fine-tuning recipes by name. ``conf/method/<name>.yaml`` selects one and sets its params.

devlin, bias_correction and mosbach are plain fine-tuning (``base.Method``) with different
``train.*`` settings; cwgnc (and cwgnc_script, the authors' run-script settings), mixout, gu and
gu_restart, reinit and llrd (Zhang et al. 2021), mhloss, mmr and surt (Fu et al. 2023) add their own hooks.
"""

from __future__ import annotations

import dataclasses

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from ..config import ConfigError
from ..records import method_params
from .base import Method, Stage
from .cwgnc import CWGNC
from .mixout import Mixout
from .mmr import MaxMargin
from .multihead import MultiHeadLoss
from .reinit import Reinit
from .surt import SURT
from .unfreezing import GradualUnfreezing

RECIPES: dict[str, type[Method]] = {
    "devlin": Method,
    "bias_correction": Method,
    "mosbach": Method,
    "cwgnc": CWGNC,
    "cwgnc_script": CWGNC,
    "mixout": Mixout,
    "gu": GradualUnfreezing,
    "gu_restart": GradualUnfreezing,
    "reinit": Reinit,
    "llrd": Reinit,
    "mhloss": MultiHeadLoss,
    "mmr": MaxMargin,
    "surt": SURT,
}


def build_method(method_cfg, train_cfg) -> Method:
    name = method_cfg.get("name")
    if name not in RECIPES:
        raise ConfigError(f"method.name={name} is unknown: choose one of {', '.join(RECIPES)}")
    cls = RECIPES[name]
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
        raise ConfigError(f"method.{key}: {str(e).splitlines()[0]}") from None
    check = getattr(cls, "check", None)
    if check is not None:
        check(params)
    return cls(params, train_cfg)


__all__ = ["RECIPES", "Method", "Stage", "build_method", "method_params"]
