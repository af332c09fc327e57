"""Benchmark: building one training batch on the host (``Encoded.collate``), per task, against the per-example
construction it replaced (a tensor from a Python list for every example, as before commit "collate from ragged
arrays"), which stays here as the baseline.

On a GPU a step's host time is what the GPU waits on (BENCHMARKS.md §6.1: a MiniLM step is host-bound), so
microseconds here are throughput there. Both ways must build the same tensors (checked here, and pinned by
``tests/test_run.py::test_a_batch_is_its_examples_padded_to_the_longest_exactly_as_built_by_hand``).

    STABILITY_BENCH_GLUE_DIR=../shared/data/glue python bench/collate.py --model minilm_l6 --task rte mrpc cola
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from hydra import compose, initialize_config_dir  # noqa: E402

from stability_bench import CONF_DIR  # noqa: E402
from stability_bench.config import register_configs  # noqa: E402
from stability_bench.data import load_encoded  # noqa: E402
from stability_bench.models import load_tokenizer  # noqa: E402


def per_example(data, indices) -> dict[str, torch.Tensor]:
    """The former collate: pad into zero tensors, one example at a time."""
    ids = [data.features["input_ids"][i] for i in indices]
    width = max(len(x) for x in ids)
    batch = {"input_ids": torch.full((len(ids), width), data.pad_id, dtype=torch.long),
             "attention_mask": torch.zeros((len(ids), width), dtype=torch.long)}
    types = data.features.get("token_type_ids")
    if types is not None:
        batch["token_type_ids"] = torch.zeros((len(ids), width), dtype=torch.long)
    for row, i in enumerate(indices):
        n = len(ids[row])
        batch["input_ids"][row, :n] = torch.tensor(ids[row])
        batch["attention_mask"][row, :n] = 1
        if types is not None:
            batch["token_type_ids"][row, :n] = torch.tensor(types[i])
    batch["labels"] = torch.tensor([data.labels[i] for i in indices], dtype=torch.long)
    return batch


def time_per_batch(build, data, batches) -> float:
    t = time.perf_counter()
    for b in batches:
        build(data, b)
    return (time.perf_counter() - t) / len(batches)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--task", nargs="+", default=["rte", "mrpc", "cola"])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    register_configs()
    print("| task | per-example (ms/batch) | collate (ms/batch) | speed-up |\n|---|---|---|---|")
    for task in args.task:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            cfg = compose(config_name="config", overrides=[f"task={task}", f"model={args.model}"])
        with tempfile.TemporaryDirectory() as tmp:
            train = load_encoded(cfg.task, cfg.data, load_tokenizer(cfg.model), Path(tmp))[0]["train"]
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(0)).tolist()
        batches = [order[s:s + args.batch_size] for s in range(0, len(order), args.batch_size)]
        for b in batches:
            new, old = train.collate(b), per_example(train, b)
            assert list(new) == list(old) and all(torch.equal(new[k], old[k]) for k in old), "the two ways disagree"
        times = {"old": [], "new": []}
        for _ in range(args.repeats):  # alternated, medians
            times["old"].append(time_per_batch(per_example, train, batches))
            times["new"].append(time_per_batch(type(train).collate, train, batches))
        old, new = (statistics.median(times[k]) * 1e3 for k in ("old", "new"))
        print(f"| {task} ({len(batches)} batches of {args.batch_size}) | {old:.3f} | {new:.3f} | {old / new:.1f}x |")


if __name__ == "__main__":
    main()
