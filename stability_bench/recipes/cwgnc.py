"""Component-wise gradient norm clipping (Yang & Ma, EMNLP 2022).

After backward and before the optimizer, each component's gradient is rescaled so that its L2
norm is at most ``threshold``: g <- g * min(1, threshold / (||g|| + 1e-6)), as torch's
``clip_grad_norm_`` does when the authors' code calls it on one parameter at a time. Adam's
moments and bias correction therefore see the clipped gradient. A component is one parameter
tensor by default (the authors' code); ``grouping`` offers coarser ones. Global clipping is off
in this recipe's config, as in the authors' script. All norms and scales are computed with
multi-tensor ops and stay on the device: no host sync per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError
from .base import Method, register

GROUPINGS = ("tensor", "module", "layer")


def component_names(param_names: list[str], grouping: str, layer_of: dict[str, int] | None = None) -> list[str]:
    """The component each parameter belongs to.

    tensor: the parameter itself; module: its owning module (a Linear's weight and bias
    together); layer: its transformer layer (``layer_of``: the family's layer index of each
    parameter), other parameters by module.
    """
    if grouping == "tensor":
        return list(param_names)
    modules = [n.rsplit(".", 1)[0] if "." in n else n for n in param_names]
    if grouping == "module":
        return modules
    top = max(layer_of.values())  # the head's index; embeddings are -1
    return [f"layer.{layer_of[n]}" if 0 <= layer_of[n] < top else module for n, module in zip(param_names, modules)]


def clip_components(grads: list[torch.Tensor], group_index: torch.Tensor, n_groups: int,
                    threshold: float) -> torch.Tensor:
    """Clip each component's gradient norm to ``threshold`` in place; return the per-group
    norms before clipping. ``group_index[i]`` is the component of ``grads[i]``."""
    norms = torch.stack(torch._foreach_norm(grads))
    if norms.dtype != torch.float64:
        norms = norms.float()  # half-precision norms of large tensors lose too much
    if n_groups == len(grads):
        group_norms = norms
    else:
        group_norms = torch.zeros(n_groups, device=norms.device, dtype=norms.dtype).index_add_(0, group_index, norms.square()).sqrt()
    scale = (threshold / (group_norms + 1e-6)).clamp(max=1.0)
    per_tensor = scale if n_groups == len(grads) else scale[group_index]
    torch._foreach_mul_(grads, list(per_tensor.to(grads[0].dtype).unbind()))
    return group_norms


@dataclass
class Params:
    threshold: float = 0.05  # max L2 norm of each component's gradient (paper App. B)
    grouping: str = "tensor"  # tensor | module | layer


@register("cwgnc", "CWGNC")
class CWGNC(Method):
    Params = Params

    @staticmethod
    def check(params: Params) -> None:
        if not params.threshold > 0:
            raise ConfigError(f"method.threshold={params.threshold} is invalid: it must be a positive number")
        if params.grouping not in GROUPINGS:
            raise ConfigError(f"method.grouping={params.grouping} is invalid: choose one of {', '.join(GROUPINGS)}")

    def needs(self) -> set[str]:
        return {"layers"} if self.params.grouping == "layer" else set()

    def before_step(self, model: nn.Module) -> None:
        named = [(n, p) for n, p in model.named_parameters() if p.grad is not None]
        if not named:
            return
        key = tuple(n for n, _ in named)
        if getattr(self, "_key", None) != key:  # the trainable set changes only between stages
            layer_of = self.family(model).layer_index(model) if self.params.grouping == "layer" else None
            comps = component_names(list(key), self.params.grouping, layer_of)
            ids = {c: i for i, c in enumerate(dict.fromkeys(comps))}
            self._key, self._n_groups = key, len(ids)
            self._index = torch.tensor([ids[c] for c in comps], device=named[0][1].device)
        clip_components([p.grad for _, p in named], self._index, self._n_groups, self.params.threshold)
