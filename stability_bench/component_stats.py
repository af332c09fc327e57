"""Per-component statistics every N steps: gradient norm before and after clipping, parameter
norm, and root-mean-square difference from the starting (pretrained) weights.

Kept on the device as stacked tensors and written once, compactly, as ``component_stats.npz``
in the run directory (one row per logged step, one column per parameter tensor). Off unless
``train.component_stats_every`` > 0, since it keeps a copy of the starting weights. Each tensor's
transformer layer comes from the model's family (``layers``), for per-layer figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .families import family_of

NAN = float("nan")


class ComponentStats:
    def __init__(self, model: nn.Module, every: int):
        self.every = every
        self.names, self.params = zip(*model.named_parameters())
        family = family_of(model)  # each tensor's transformer layer (-1 embeddings, L the head); unknown: -2
        index = family.layer_index(model) if family is not None and family.layers is not None else {}
        self.layers = [index.get(n, -2) for n in self.names]
        self.start = [p.detach().clone() for p in self.params]
        self.numel_sqrt = torch.tensor([p.numel() ** 0.5 for p in self.params], device=self.params[0].device)
        self.rows: dict[str, list[torch.Tensor]] = {k: [] for k in ("grad_norm", "grad_norm_after", "param_norm", "rms_diff")}
        self.steps: list[int] = []
        self._pending = False

    def _grad_norms(self) -> torch.Tensor:
        out = torch.full((len(self.params),), NAN, device=self.numel_sqrt.device)
        idx = [i for i, p in enumerate(self.params) if p.grad is not None]
        if idx:
            norms = torch._foreach_norm([self.params[i].grad for i in idx])
            out[torch.tensor(idx, device=out.device)] = torch.stack(norms).float()
        return out

    def before_clip(self, step: int) -> None:
        self._pending = step % self.every == 0
        if self._pending:
            self.steps.append(step)
            self.rows["grad_norm"].append(self._grad_norms())

    @torch.no_grad()
    def after_clip(self) -> None:
        if not self._pending:
            return
        self.rows["grad_norm_after"].append(self._grad_norms())
        params = [p.detach() for p in self.params]
        self.rows["param_norm"].append(torch.stack(torch._foreach_norm(params)).float())
        diff = torch._foreach_sub(params, self.start)
        self.rows["rms_diff"].append(torch.stack(torch._foreach_norm(diff)).float() / self.numel_sqrt)

    def save(self, path: Path) -> None:
        arrays = {k: (torch.stack(v).cpu().numpy() if v else np.zeros((0, len(self.names)), np.float32))
                  for k, v in self.rows.items()}
        np.savez_compressed(path, names=np.array(self.names), layers=np.array(self.layers, dtype=np.int64), steps=np.array(self.steps, dtype=np.int64), **arrays)
