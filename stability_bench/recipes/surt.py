"""Self Unsupervised Re-Training (Fu, So & Collier 2023): before fine-tuning, continue masked-language-
model training of the encoder on the task's own training text, so fine-tuning starts closer to where
it ends.

Our formulation: an MLM head of the model's architecture (``AutoModelForMaskedLM.from_config``, its
decoder tied to the encoder's word embeddings, its transform freshly initialised) is put on the very
encoder that is then fine-tuned; BERT's masking (15% of the non-special tokens; of those 80% [MASK],
10% a random token, 10% kept); AdamW with bias correction, constant ``lr``, ``epochs`` passes over the
training texts in batches of ``train.batch_size``, order and masks from the data seed. The MLM head
is then dropped; the classifier head is untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn

from ..config import ConfigError
from ..optim import AdamW
from .base import Method, register

log = logging.getLogger("stability_bench")


def mask_tokens(input_ids: torch.Tensor, attention: torch.Tensor, special: torch.Tensor, mask_id: int,
                vocab_size: int, prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking; returns (inputs, labels) with labels -100 where nothing is predicted."""
    labels = input_ids.clone()
    candidates = attention.bool() & ~special
    chosen = (torch.rand(input_ids.shape) < prob) & candidates
    labels[~chosen] = -100
    inputs = input_ids.clone()
    r = torch.rand(input_ids.shape)
    inputs[chosen & (r < 0.8)] = mask_id
    random_tok = chosen & (r >= 0.8) & (r < 0.9)
    inputs[random_tok] = torch.randint(vocab_size, input_ids.shape)[random_tok]
    return inputs, labels


@dataclass
class Params:
    epochs: int = 1  # MLM passes over the training texts
    lr: float = 5.0e-5  # MLM learning rate (constant)
    mask_prob: float = 0.15


@register("surt", "SURT")
class SURT(Method):
    Params = Params

    @staticmethod
    def check(params: Params) -> None:
        if params.epochs < 1 or params.lr <= 0 or not 0 < params.mask_prob < 1:
            raise ConfigError(f"method.epochs={params.epochs}, method.lr={params.lr}, method.mask_prob={params.mask_prob}: "
                              "need epochs >= 1, lr > 0 and mask_prob in (0, 1)")

    def pretrain(self, model: nn.Module, train, tokenizer, device: torch.device) -> None:
        from transformers import AutoModelForMaskedLM

        from ..data import train_batches

        mlm = AutoModelForMaskedLM.from_config(model.config)
        setattr(mlm, mlm.base_model_prefix, model.base_model)  # train the encoder that is fine-tuned next
        mlm.tie_weights()
        mlm.to(device).train()
        special = set(tokenizer.all_special_ids)
        opt = AdamW([p for p in mlm.parameters() if p.requires_grad], lr=self.params.lr,
                    eps=self.train_cfg.adam_eps, weight_decay=0.0, correct_bias=True)
        generator = torch.Generator().manual_seed(torch.initial_seed())
        steps = 0
        for _ in range(self.params.epochs):
            for batch in train_batches(train, self.train_cfg.batch_size, generator):
                ids = batch["input_ids"]
                is_special = torch.isin(ids, torch.tensor(sorted(special)))
                inputs, labels = mask_tokens(ids, batch["attention_mask"], is_special, tokenizer.mask_token_id,
                                             mlm.config.vocab_size, self.params.mask_prob)
                extra = {k: v.to(device) for k, v in batch.items() if k == "token_type_ids"}
                loss = mlm(input_ids=inputs.to(device), attention_mask=batch["attention_mask"].to(device),
                           labels=labels.to(device), **extra).loss
                loss.backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                steps += 1
        log.info("SURT: %d masked-LM steps on the training texts (last loss %.4f)", steps, loss.item())
