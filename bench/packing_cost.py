"""Benchmark: the per-run fixed cost that packed jobs remove, on the CPU.

The same N runs (MiniLM, a small training subset, one epoch) executed twice through the real command line:
as N single-run jobs (N processes one after another, as an unpacked SLURM array runs them, each paying the
imports, tokenizer and model loading) and as one packed job (``hydra/launcher=local``, one worker). Prints
both wall times against the sum of the runs' training time (each record's ``train_time_s``: training and
dev evaluation), and checks that both ways give every run the same metric and dev predictions.

    STABILITY_BENCH_GLUE_DIR=../shared/data/glue python bench/packing_cost.py --runs 16
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from stability_bench.packing import usable_cores  # noqa: E402


def records(results: Path) -> dict[int, dict]:
    return {r["seed"]: r for r in (json.loads(p.read_text()) for p in results.glob("*/*/*/seed*/record.json"))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--task", default="rte")
    ap.add_argument("--runs", type=int, default=16)
    ap.add_argument("--train-samples", type=int, default=128)
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    threads = usable_cores()
    base = [sys.executable, "-m", "stability_bench", f"task={args.task}", f"model={args.model}", "train.epochs=1",
            f"data.max_train_samples={args.train_samples}", "data.max_eval_samples=128", f"train.threads={threads}"]
    with tempfile.TemporaryDirectory() as tmp:
        cache = f"data.cache_dir={tmp}/cache"
        subprocess.run(base + [f"results_dir={tmp}/warm", cache, "seed=999"], env=env, check=True, capture_output=True)
        t0 = time.time()
        for seed in range(args.runs):
            subprocess.run(base + [f"results_dir={tmp}/single", cache, f"seed={seed}"], env=env, check=True,
                           capture_output=True)
        single_wall = time.time() - t0
        t0 = time.time()
        subprocess.run(base + [f"results_dir={tmp}/packed", cache, f"seed=range(0,{args.runs})", "hydra/launcher=local",
                               "hydra.launcher.runs_per_job=all", "hydra.launcher.workers_per_job=1", "-m"],
                       env=env, check=True, capture_output=True)
        packed_wall = time.time() - t0
        single, packed = records(Path(tmp) / "single"), records(Path(tmp) / "packed")
    same = all(single[s]["metric"] == packed[s]["metric"] and single[s]["dev_predictions"] == packed[s]["dev_predictions"]
               for s in range(args.runs))
    for name, recs, wall in (("single-run jobs", single, single_wall), ("one packed job", packed, packed_wall)):
        train = sum(r["train_time_s"] for r in recs.values())
        print(f"packing_cost: {args.model} {args.task}, {args.runs} runs as {name}: wall {wall:.1f}s, "
              f"sum of training time {train:.1f}s, wall / training = {wall / train:.2f}")
    print(f"packing_cost: packed job {single_wall / packed_wall:.2f}x faster; same metrics and predictions: {same}")
    if not same:
        raise SystemExit("a packed run differs from the same run alone")


if __name__ == "__main__":
    main()
