"""Benchmark: one full dev evaluation with batches in dev-file order vs longest-first (what a run does).

Loads the model and the task's dev split as a run does, then alternates the two orders --repeats times and
compares median seconds per evaluation; the predictions of both orders must agree.

    STABILITY_BENCH_GLUE_DIR=../shared/data/glue python bench/eval_order.py --model minilm_l6 --task rte mrpc cola
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from hydra import compose, initialize_config_dir  # noqa: E402

from stability_bench import train  # noqa: E402
from stability_bench import CONF_DIR  # noqa: E402
from stability_bench.config import register_configs  # noqa: E402
from stability_bench.data import eval_order, load_encoded  # noqa: E402
from stability_bench.models import load_model, load_tokenizer  # noqa: E402


def evaluate(model, dev, batch_size, order) -> tuple[float, np.ndarray]:
    t = time.perf_counter()
    preds = train.predict(model, dev, batch_size, torch.device("cpu"), nullcontext, order)
    return time.perf_counter() - t, preds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--task", nargs="+", default=["rte", "mrpc", "cola"])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    register_configs()
    for task in args.task:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"task={task}", f"model={args.model}"])
        tokenizer = load_tokenizer(cfg.model)
        with tempfile.TemporaryDirectory() as tmp:
            dev = load_encoded(cfg.task, cfg.data, tokenizer, Path(tmp))[0]["dev"]
        model = load_model(cfg.model, len(cfg.task.label_names), 0)
        orders = {"file order": list(range(len(dev))), "longest first": eval_order(dev)}
        times = {k: [] for k in orders}
        preds = {}
        for _ in range(args.repeats):
            for name, order in orders.items():
                seconds, preds[name] = evaluate(model, dev, cfg.train.eval_batch_size, order)
                times[name].append(seconds)
        assert (preds["file order"] == preds["longest first"]).all(), "orders disagree"
        a, b = (statistics.median(times[k]) for k in orders)
        print(f"eval_order: {args.model} {task} ({len(dev)} dev examples, batch {cfg.train.eval_batch_size}): "
              f"file order {a:.2f}s, longest first {b:.2f}s, speed-up {a / b:.2f}x, same predictions")


if __name__ == "__main__":
    main()
