"""Benchmark: step time of CWGNC relative to plain fine-tuning (bias_correction), same model and batch.

A step is what the training loop does: forward, backward, the recipe's before_step (CWGNC's clipping),
global clipping when the recipe has it, AdamW step, zero_grad. Blocks of steps of the two recipes
alternate so that drift of the machine hits both alike; the median step time of each is compared.

    python bench/cwgnc_overhead.py --model minilm_l6 --steps 40
    python bench/cwgnc_overhead.py --model bert_large_shape --steps 4    # random bert-large, 390 tensors
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from omegaconf import OmegaConf  # noqa: E402

from stability_bench.config import ModelConfig, TrainConfig  # noqa: E402
from stability_bench.recipes import build_method  # noqa: E402


def make_model(name: str, seed: int = 0):
    """A model by its conf/model name (its new head initialised by ``seed``), or a random bert-large shape."""
    from transformers import BertConfig, BertForSequenceClassification
    if name == "bert_large_shape":
        return BertForSequenceClassification(BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                                        intermediate_size=4096, num_labels=2))
    from stability_bench.models import load_model
    cfg = OmegaConf.load(ROOT / "conf" / "model" / f"{name}.yaml")
    cfg.pop("defaults", None)
    return load_model(OmegaConf.merge(OmegaConf.structured(ModelConfig), cfg), 2, seed)


def step_times(model, method, batch, n, max_grad_norm):
    opt = method.optimizer(method.param_groups(model))
    params = [p for g in opt.param_groups for p in g["params"]]
    times = []
    for _ in range(n):
        t = time.perf_counter()
        method.loss(model, batch).backward()
        method.before_step(model)
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--steps", type=int, default=40, help="measured steps per recipe")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--block", type=int, default=5, help="steps per alternating block")
    args = ap.parse_args()
    torch.manual_seed(0)
    train = OmegaConf.structured(TrainConfig)
    recipes = {"bias_correction": (build_method(OmegaConf.create({"name": "bias_correction", "recipe": "plain"}), train), 1.0),
               "cwgnc": (build_method(OmegaConf.create({"name": "cwgnc", "threshold": 0.05, "grouping": "tensor"}), train), None)}
    model = make_model(args.model)
    model.train()
    n_tensors = sum(1 for _ in model.parameters())
    vocab = model.config.vocab_size
    batch = {"input_ids": torch.randint(min(1000, vocab // 2), vocab, (args.batch, args.length)),
             "attention_mask": torch.ones(args.batch, args.length, dtype=torch.long),
             "labels": torch.randint(0, 2, (args.batch,))}
    for method, clip in recipes.values():  # warm-up
        step_times(model, method, batch, 2, clip)
    times = {k: [] for k in recipes}
    while min(len(v) for v in times.values()) < args.steps:
        for name, (method, clip) in recipes.items():
            times[name] += step_times(model, method, batch, min(args.block, args.steps), clip)
    med = {k: statistics.median(v[:args.steps]) for k, v in times.items()}
    print(f"cwgnc_overhead: {args.model} ({n_tensors} tensors), batch {args.batch}x{args.length}, "
          f"{torch.get_num_threads()} threads on {platform.machine()}: median step bias_correction "
          f"{med['bias_correction'] * 1e3:.1f} ms, cwgnc {med['cwgnc'] * 1e3:.1f} ms, ratio {med['cwgnc'] / med['bias_correction']:.3f}")


if __name__ == "__main__":
    main()
