"""Benchmark (GPU): training throughput of one GPU shared by K concurrent runs, with and without MPS.

For each K it starts K processes at once, each an in-process sweep (the real command line) of ``--runs``
seed-runs of bias_correction on MRPC (``--epochs`` epochs of the full training set, one dev pass of 64
examples at the end), and reads the records: each process's middle run is measured (warm, and overlapped by
the other processes' runs), aggregate throughput = the sum of their steps/s. A MiniLM seed-run of the
Table 1 mix (five recipes x RTE/MRPC/CoLA, full training sets) averages 2,088 steps, so seed-runs per hour
of that mix = 3600 x steps/s / 2088 (training steps only; evaluations excluded).

    STABILITY_BENCH_GLUE_DIR=../shared/data/glue python bench/gpu_concurrency.py --k 1 4 8 12 --mps-k 8 12
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TABLE1_MEAN_STEPS = 2088  # (156 + 230 + 535 steps per epoch) x (3+3+3+20+5 epochs) / 15 recipe-task cells


def launch(k: int, results: Path, args, env) -> float:
    procs = []
    t0 = time.time()
    for i in range(k):
        cmd = [sys.executable, "-m", "stability_bench", "task=mrpc", f"model={args.model}", "method=bias_correction",
               f"train.epochs={args.epochs}", "train.evals_per_epoch=0", "data.max_eval_samples=64",
               f"results_dir={results}", f"experiment=k{k}-p{i}", f"seed=range({100 * i},{100 * i + args.runs})",
               f"train.threads={max(1, (os.cpu_count() or 1) // k)}", "-m"]
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    try:
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise SystemExit(f"a process failed: {err[-2000:]}")
    finally:  # stopped (a command's time limit) or failed: no run is left on the GPU
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return time.time() - t0


def measure(k: int, results: Path, args) -> float:
    total = 0.0
    for i in range(k):
        recs = sorted((json.loads(p.read_text()) for p in results.glob(f"k{k}-p{i}/mrpc/*/seed*/record.json")),
                      key=lambda r: r["seed"])
        mid = recs[len(recs) // 2]
        total += mid["steps"] / (mid["train_time_s"] - sum(e["seconds"] for e in mid["evals"]))
    return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--k", type=int, nargs="+", default=[1, 4, 8, 12])
    ap.add_argument("--mps-k", type=int, nargs="*", default=[8, 12], help="K values measured again under MPS")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--json")
    args = ap.parse_args()
    # SIGTERM (timeout's) unwinds like an exception: the runs are killed, MPS stopped, the temporary results removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    from stability_bench.mps import mps_daemon

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        results = Path(tmp)
        # fill the tokenization cache once, so that no process pays for it
        subprocess.run([sys.executable, "-m", "stability_bench", "task=mrpc", f"model={args.model}", "train.epochs=1",
                        "data.max_train_samples=16", "data.max_eval_samples=16", f"results_dir={results}",
                        "experiment=warm"], cwd=ROOT, env=env, check=True, capture_output=True)
        plan = [(k, False) for k in args.k] + [(k, True) for k in args.mps_k]
        for k, mps in plan:
            with mps_daemon(mps) as mps_env:
                if mps and not mps_env:
                    print(f"gpu_concurrency: K={k} with MPS: not available, skipped")
                    continue
                sub = results / ("mps" if mps else "plain")
                wall = launch(k, sub, args, {**env, **mps_env})
            steps_s = measure(k, sub, args)
            rows.append(dict(k=k, mps=mps, steps_per_s=round(steps_s, 1), wall_s=round(wall, 1),
                             table1_seed_runs_per_hour=round(3600 * steps_s / TABLE1_MEAN_STEPS, 1)))
            print(f"gpu_concurrency: K={k} mps={mps}: {steps_s:.0f} steps/s aggregate, "
                  f"{rows[-1]['table1_seed_runs_per_hour']} Table-1-mix seed-runs/hour (wall {wall:.0f}s)", flush=True)
            if args.json:  # after every K: a command cut at its time limit still returns what it measured
                Path(args.json).write_text(json.dumps(rows, indent=1))
    print("| concurrent runs | MPS | steps/s (all runs) | Table 1 seed-runs/hour | speed-up over 1 |")
    print("|---|---|---|---|---|")
    one = next((r["steps_per_s"] for r in rows if r["k"] == 1 and not r["mps"]), None)
    for r in rows:
        up = f"{r['steps_per_s'] / one:.2f}x" if one else "-"
        print(f"| {r['k']} | {'yes' if r['mps'] else 'no'} | {r['steps_per_s']:.0f} | {r['table1_seed_runs_per_hour']:.0f} | {up} |")


if __name__ == "__main__":
    main()
