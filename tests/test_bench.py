"""Each benchmark runs on a tiny setting (their figures come from full runs, see BENCHMARKS.md)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each runs a benchmark script end to end

ROOT = Path(__file__).resolve().parent.parent


def bench(*args, env=None):
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})})
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def test_analysis_speed_benchmark():
    assert "records/s" in bench("bench/analysis_speed.py", "--records", "150", "--resamples", "50", "--no-aso")


def test_cwgnc_overhead_benchmark():
    out = bench("bench/cwgnc_overhead.py", "--model", "tiny_random", "--steps", "2", "--block", "1")
    assert "ratio" in out and out.count("| cwgnc") == 2, out
    # the GPU candidate rescales as the recipe does, to the bit, on gradients of which some are clipped and some not
    same = re.search(r"bit for bit: yes \((\d+) of (\d+) tensors clipped\)", out)
    assert same, out
    clipped, n = map(int, same.groups())
    assert 0 < clipped < n


def test_fixed_cost_benchmark(glue_dir):
    out = bench("bench/fixed_cost.py", "--model", "tiny_random", "--task", "rte", "--runs", "2",
                env={"STABILITY_BENCH_GLUE_DIR": str(glue_dir)})
    assert "cache miss" in out and "cache hit" in out


def test_collate_benchmark(glue_dir):
    out = bench("bench/collate.py", "--model", "tiny_random", "--task", "rte", "cola", "--repeats", "1",
                env={"STABILITY_BENCH_GLUE_DIR": str(glue_dir)})
    assert out.count("x |") == 2


def test_reference_pipeline_benchmark(glue_dir):
    pytest.importorskip("accelerate")
    out = bench("bench/reference_pipeline.py", "--model", "tiny_random", "--task", "rte", "--epochs", "1",
                env={"STABILITY_BENCH_GLUE_DIR": str(glue_dir)})
    assert "speed-up" in out


def test_eval_order_benchmark(glue_dir):
    out = bench("bench/eval_order.py", "--model", "tiny_random", "--task", "mrpc", "--repeats", "1",
                env={"STABILITY_BENCH_GLUE_DIR": str(glue_dir)})
    assert "same predictions" in out


def test_packing_cost_benchmark(glue_dir):
    out = bench("bench/packing_cost.py", "--model", "tiny_random", "--task", "rte", "--runs", "2", "--train-samples", "16",
                env={"STABILITY_BENCH_GLUE_DIR": str(glue_dir)})
    assert "one packed job" in out and "same metrics and predictions: True" in out


def test_concurrency_benchmark_runs_on_the_cpu_too(glue_dir):
    out = bench("bench/gpu_concurrency.py", "--model", "tiny_random", "--k", "1", "2", "--mps-k", "--runs", "2",
                "--epochs", "1", env={"STABILITY_BENCH_GLUE_DIR": str(glue_dir)})
    assert "| 2 | no |" in out


def test_concurrency_benchmark_stopped_by_a_time_limit_leaves_no_run_behind(glue_dir, tmp_path):
    """A GPU command's `timeout` SIGTERMs the benchmark: its K runs must not go on training on the GPU (they would
    slow every later command of the slice); what it measured before is already in its JSON."""
    import json
    import signal
    import time

    out = tmp_path / "rows.json"
    proc = subprocess.Popen([sys.executable, "bench/gpu_concurrency.py", "--model", "tiny_random", "--k", "1", "2",
                             "--mps-k", "--runs", "1", "--epochs", "1", "--json", str(out)], cwd=ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "STABILITY_BENCH_GLUE_DIR": str(glue_dir)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        runs = []
        deadline = time.time() + 300
        while time.time() < deadline and len(runs) < 2:  # K = 1 measured and written, both K = 2 runs started
            time.sleep(0.5)
            runs = subprocess.run(["pgrep", "-f", "experiment=k2-p"], capture_output=True, text=True).stdout.split()
        assert len(runs) == 2 and json.loads(out.read_text())[0]["k"] == 1
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 143
        time.sleep(1)
        assert subprocess.run(["pgrep", "-f", "experiment=k2-p"], capture_output=True).returncode == 1  # none left
    finally:
        proc.kill()
        subprocess.run(["pkill", "-f", "experiment=k2-p"])


def test_throughput_from_records(glue_dir, tmp_path):
    from conftest import make_cfg
    from stability_bench.run import execute
    for seed in (1, 2):
        execute(make_cfg([f"seed={seed}", "experiment=exp"], glue_dir, tmp_path))
    out = bench("bench/throughput.py", str(tmp_path / "exp"))
    assert "steps/s" in out and "rte bias_correction: 2 runs" in out


def test_launch_levers_benchmark_checks_what_it_times():
    """The levers it times compute what the loop computes: transformers' mask prebuilt (same logits) and K seeds'
    gradients in one vmapped step (equal to K separate models' up to rounding), for both attention kernels."""
    import re
    out = bench("bench/launch_levers.py", "--model", "tiny_random", "--length", "12", "--k", "2", "--steps", "1",
                "--warmup", "1", "--device", "cpu")
    assert out.count("same logits with the 4-D mask: True") == 2
    diffs = [float(d) for d in re.findall(r"gradients vs separate models: ([0-9.e+-]+)", out)]
    assert len(diffs) == 2 and max(diffs) < 1e-5, out
    assert out.count("x |") == 6 and "failed" not in out and out.count("operations per step") == 4


def test_sweep_start_benchmark(glue_dir):
    out = bench("bench/sweep_start.py", "--sweep", "+sweep=smoke", "seed=1", "--repeats", "1",
                env={"STABILITY_BENCH_GLUE_DIR": str(glue_dir)})
    assert "(4 cells: 0 completed, 4 to run)" in out and "first run started after" in out
