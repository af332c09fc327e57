"""Benchmark: one seed-run of CWGNC with stability_bench against a reference that trains the way the
authors' code does: transformers' Trainer, every example padded to 128 tokens, fp32, and component
clipping as a per-parameter Python loop with a host sync (``.item()``) per tensor at every step.

Same task, model, seed, epochs, batch size, learning rate, warmup, weight decay, Adam eps and
threshold on both sides; data order and head initialisation come from each side's own seeding, so
the two dev metrics agree only up to seed noise. Prints wall time (training + dev evaluation, model
load excluded) and the dev metric of each, and their ratio.

    STABILITY_BENCH_GLUE_DIR=../shared/data/glue python bench/reference_pipeline.py --task rte --epochs 1
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose, initialize_config_dir
    from stability_bench import CONF_DIR
    from stability_bench.config import register_configs
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


def reference_run(cfg, model_dir: str, threshold: float) -> tuple[float, float]:
    """The authors' way, on transformers' Trainer. Returns (seconds, dev metric)."""
    from datasets import Dataset
    from transformers import (AutoModelForSequenceClassification, AutoTokenizer, Trainer, TrainerCallback,
                              TrainingArguments)

    from stability_bench import metrics, tasks

    tok = AutoTokenizer.from_pretrained(model_dir)
    raw = {s: tasks.load_split(cfg.task, cfg.data.glue_dir, s) for s in ("train", "dev")}

    def encode(split):
        enc = tok(*zip(*split.texts), truncation=True, max_length=128, padding="max_length")
        return Dataset.from_dict({**{k: enc[k] for k in enc}, "labels": split.labels})

    train = encode(raw["train"])
    if cfg.data.max_train_samples:  # the same fixed subset as the harness draws
        keep = np.sort(np.random.RandomState(cfg.data.subset_seed).permutation(len(train))[:cfg.data.max_train_samples])
        train = train.select(keep.tolist())
    dev = encode(raw["dev"])
    torch.manual_seed(cfg.seed)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2)

    class ComponentClip(TrainerCallback):
        def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
            for _, p in model.named_parameters():
                if p.grad is not None:
                    norm = p.grad.norm().item()  # host sync, as the authors' code (it logs every norm)
                    if norm > threshold:
                        p.grad.mul_(threshold / (norm + 1e-6))

    steps = -(-len(train) // cfg.train.batch_size) * cfg.train.epochs
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(output_dir=out, per_device_train_batch_size=cfg.train.batch_size,
                                 per_device_eval_batch_size=cfg.train.eval_batch_size, num_train_epochs=cfg.train.epochs,
                                 learning_rate=cfg.train.lr, weight_decay=cfg.train.weight_decay,
                                 adam_epsilon=cfg.train.adam_eps, warmup_steps=int(cfg.train.warmup_ratio * steps),
                                 max_grad_norm=0.0, seed=cfg.seed, save_strategy="no", eval_strategy="no",
                                 logging_strategy="no", report_to=[], disable_tqdm=True,
                                 use_cpu=not torch.cuda.is_available())
        trainer = Trainer(model=model, args=args, train_dataset=train, callbacks=[ComponentClip()])
        t0 = time.perf_counter()
        trainer.train()
        preds = trainer.predict(dev).predictions.argmax(-1)
        elapsed = time.perf_counter() - t0
    return elapsed, metrics.compute(cfg.task.metric, raw["dev"].labels, preds)


def harness_run(cfg) -> tuple[float, float]:
    from stability_bench.run import execute
    rec = execute(cfg)
    return rec["train_time_s"], rec["metric"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--task", default="rte")
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-train-samples", type=int, default=None)
    ap.add_argument("--group-by-length", action="store_true", help="stability_bench side batches by length")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from stability_bench.models import load_model, load_tokenizer, weights_location
    with tempfile.TemporaryDirectory() as results:
        overrides = [f"task={args.task}", f"model={args.model}", "method=cwgnc", f"seed={args.seed}",
                     f"train.epochs={args.epochs}", f"results_dir={results}"]
        if args.max_train_samples:
            overrides.append(f"data.max_train_samples={args.max_train_samples}")
        if args.group_by_length:
            overrides.append("data.group_by_length=true")
        cfg = compose(overrides)
        ours_s, ours_m = harness_run(cfg)
        if cfg.model.random_init is not None:  # the tiny test model: hand the reference the same weights on disk
            model_dir = str(Path(results) / "random_model")
            load_model(cfg.model, 2, cfg.seed).save_pretrained(model_dir)
            load_tokenizer(cfg.model).save_pretrained(model_dir)
        else:
            model_dir = weights_location(cfg.model)
        ref_s, ref_m = reference_run(cfg, model_dir, cfg.method.threshold)
    grouping = ", length-grouped batches" if args.group_by_length else ""
    print(f"reference_pipeline: {args.model} {args.task} cwgnc seed {args.seed}, {args.epochs} epoch(s){grouping}, "
          f"{torch.get_num_threads()} threads on {platform.machine()}: stability_bench {ours_s:.1f}s "
          f"({cfg.task.metric} {ours_m:.4f}), reference {ref_s:.1f}s ({cfg.task.metric} {ref_m:.4f}), "
          f"speed-up {ref_s / ours_s:.2f}x")


if __name__ == "__main__":
    main()
