"""Benchmark: a run's fixed cost, from process start to its first optimizer step, for the first run of
a sweep (empty tokenization cache) and for later runs (cache hit); and the model load time.

Runs the real command line twice (seeds 0 and 1) into a fresh results directory and reads the timings
that each record carries (process_start_to_first_step_s, data_load_s, model_load_s).

    STABILITY_BENCH_GLUE_DIR=../shared/data/glue python bench/fixed_cost.py --model minilm_l6 --task cola
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--task", default="cola")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.runs):
            cmd = [sys.executable, "-m", "stability_bench", f"task={args.task}", f"model={args.model}", f"seed={seed}",
                   f"results_dir={tmp}", "data.max_train_samples=64", "train.epochs=1"]
            subprocess.run(cmd, env=env, check=True, capture_output=True)
            rec = json.loads(next(Path(tmp).glob(f"*/{args.task}/*/seed{seed}/record.json")).read_text())
            rows.append(rec)
    for i, r in enumerate(rows):
        kind = "first run (cache miss)" if not r["tokenization_cache_hit"] else "later run (cache hit)"
        print(f"fixed_cost: {args.model} {args.task} run {i} {kind}: process start -> first step "
              f"{r['process_start_to_first_step_s']:.2f}s (data {r['data_load_s']:.2f}s, model load {r['model_load_s']:.2f}s)")


if __name__ == "__main__":
    main()
