"""ModernBERT (Warner et al. 2024): layers under ``layers``, gated feed-forward input ``mlp.Wi``, the
prediction head (dense + norm) as pooler, and its own initialisation: truncated normals cut at
``initializer_cutoff_factor`` standard deviations, output projections (``Wo``, the head's dense) at
initializer_range / sqrt(2 L), the classifier at hidden_size^-0.5 (transformers' ModernBertPreTrainedModel).
Rotary positions: no table bounds the input length."""
import math

import torch
from torch import nn

from . import Family, normal_init, register, truncated_normal_


@torch.no_grad()
def modernbert_init(module: nn.Module, config, role: str) -> None:
    normal_init(module, config, role)  # LayerNorms to 1 and 0, biases to 0; the Linear weights follow
    cutoff = config.initializer_cutoff_factor if config.initializer_cutoff_factor is not None else 3
    std_in = config.initializer_range
    std_out = std_in / math.sqrt(2.0 * config.num_hidden_layers)
    for name, m in module.named_modules():
        if isinstance(m, nn.Linear):
            std = (config.hidden_size ** -0.5 if role == "classifier" else
                   std_out if role == "pooler" or name.rsplit(".", 1)[-1] == "Wo" else std_in)
            truncated_normal_(m.weight, std, cutoff)
        elif isinstance(m, nn.Embedding):
            truncated_normal_(m.weight, std_in, cutoff)


register(Family("modernbert", ("modernbert",), layers="layers", pooler="head", intermediate=("mlp.Wi",),
                init=modernbert_init, positions="rotary"))
