"""On a CUDA GPU: every recipe trains on MiniLM in fp32 and bf16, the layer-aware recipes on every model family,
the optimizer and CWGNC equal their CPU reference, ``train.device=auto`` picks the GPU, a run out of GPU memory is
recorded as crashed in one line, and a packed job's workers share the GPU.

Marked ``gpu``: skipped where no CUDA device is visible, and never part of CI's test command.
"""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir

from stability_bench import families
from stability_bench.config import ConfigError
from stability_bench.optim import AdamW
from stability_bench.recipes import PRESETS
from stability_bench.recipes.cwgnc import clip_components
from stability_bench.run import execute

from conftest import CONF_DIR, make_cfg
from test_families import SHARED_LAYERS, TINY, tiny

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
ROOT = Path(__file__).resolve().parent.parent


def minilm_cfg(overrides, glue_dir, results):
    base = [f"data.glue_dir={glue_dir}", f"results_dir={results}", "model=minilm_l6", "data.max_train_samples=32",
            "data.max_eval_samples=48", "train.epochs=1", "train.device=cuda"]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        return compose(config_name="config", overrides=base + overrides)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("recipe", sorted(p.stem for p in PRESETS.glob("*.yaml")))
def test_every_recipe_trains_minilm_on_the_gpu(recipe, precision, real_glue_dir, tmp_path):
    cfg = minilm_cfg([f"method={recipe}", f"train.precision={precision}", "task=mrpc", "train.epochs=1"],
                     real_glue_dir, tmp_path)
    rec = execute(cfg)
    assert rec["status"] == "completed", rec.get("error")
    assert rec["environment"]["device"].startswith("cuda") and rec["environment"]["device_name"]
    assert rec["config"]["train"]["precision"] == precision
    assert math.isfinite(rec["metric"]) and len(rec["dev_predictions"]) == 48
    assert all(v is not None and math.isfinite(v) for _, v in rec["loss_curve"])
    assert rec["steps"] >= 2


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
@pytest.mark.parametrize("model_type", sorted(TINY))
def test_every_model_family_trains_on_the_gpu(model_type, precision, glue_dir, tmp_path):
    """The recipes that read a model through its family (layers, heads, feed-forward inputs, the family's own
    initialisation) on a tiny random model of each family, on CUDA: each family's attention under CUDA kernels and
    bf16 autocast runs here and nowhere else (the CPU tests run fp32 only)."""
    for method in ("cwgnc", "reinit", "mixout", "llrd", "mhloss"):
        if model_type == "albert" and method in SHARED_LAYERS:
            continue  # refused on any device (tests/test_families.py)
        cfg = make_cfg([f"method={method}", "task=rte", "data.max_train_samples=16", "train.batch_size=8",
                        "train.device=cuda", f"train.precision={precision}", *tiny(model_type)], glue_dir, tmp_path / "r")
        if precision == "bf16" and model_type in families.FAMILIES[model_type].no_bf16:
            with pytest.raises(ConfigError, match="^train.precision=bf16 does not work with model"):
                execute(cfg)  # transformers' DeBERTa v1 under bf16 autocast (tests/test_families.py)
            continue
        rec = execute(cfg)
        assert rec["status"] == "completed", (method, rec.get("error"))
        assert rec["environment"]["device"].startswith("cuda") and rec["steps"] >= 2
        assert all(v is not None and math.isfinite(v) for _, v in rec["loss_curve"]), method


@pytest.mark.parametrize("correct_bias", [True, False])
def test_fused_adamw_on_cuda_equals_the_cpu_reference(correct_bias):
    g = torch.Generator().manual_seed(0)
    shapes = [(384, 384), (1536,), (2, 384)]
    init = [torch.randn(s, generator=g) for s in shapes]
    grads = [[torch.randn(s, generator=g) * 0.01 for s in shapes] for _ in range(5)]

    def train(device, dtype, fused):
        ps = [torch.nn.Parameter(x.to(device, dtype)) for x in init]
        opt = AdamW([{"params": ps[:2], "weight_decay": 0.01}, {"params": ps[2:], "weight_decay": 0.0}], lr=1e-3,
                    eps=1e-6, correct_bias=correct_bias, fused=fused)
        for step in grads:
            for p, gr in zip(ps, step):
                p.grad = gr.to(device, dtype)
            opt.step()
        return [p.detach().double().cpu() for p in ps]

    ref = train("cpu", torch.float64, fused=False)
    for fused in (True, False):
        out = train("cuda", torch.float32, fused=fused)
        for a, b in zip(out, ref):
            assert ((a - b).norm() / b.norm()).item() < 1e-6, (fused, correct_bias)


@pytest.mark.parametrize("n_groups", [None, 2])
def test_cwgnc_clipping_on_cuda_equals_the_cpu_reference(n_groups):
    g = torch.Generator().manual_seed(1)
    grads = [torch.randn(s, generator=g) * k for s, k in (((384, 384), 1.0), ((384,), 0.01), ((30, 384), 3.0))]
    n = n_groups or len(grads)
    index = torch.tensor([0, 1, 1] if n_groups else [0, 1, 2])
    cpu = [x.double().clone() for x in grads]
    cuda = [x.cuda() for x in grads]
    norms_cpu = clip_components(cpu, index, n, 0.05)
    norms_cuda = clip_components(cuda, index.cuda(), n, 0.05)
    assert torch.allclose(norms_cuda.double().cpu(), norms_cpu, rtol=1e-5)
    for a, b in zip(cuda, cpu):
        assert ((a.double().cpu() - b).norm() / b.norm()).item() < 1e-6


def test_device_auto_picks_the_gpu(real_glue_dir, tmp_path):
    rec = execute(minilm_cfg(["train.device=auto", "method=cwgnc"], real_glue_dir, tmp_path))
    assert rec["status"] == "completed" and rec["environment"]["device"].startswith("cuda")
    assert rec["config"]["train"]["device"] == "auto"


def test_deterministic_runs_repeat_bit_for_bit_on_the_gpu(real_glue_dir, tmp_path):
    recs = [execute(minilm_cfg(["train.deterministic=true", "method=mixout", "task=rte", "seed=3"], real_glue_dir,
                               tmp_path / str(i))) for i in range(2)]
    assert recs[0]["status"] == "completed" and recs[0]["environment"]["device"].startswith("cuda")
    assert recs[0]["loss_curve"] == recs[1]["loss_curve"] and recs[0]["dev_predictions"] == recs[1]["dev_predictions"]


def test_a_run_out_of_gpu_memory_is_crashed_with_one_line_saying_what_to_change(real_glue_dir, tmp_path):
    torch.cuda.empty_cache()  # what earlier tests left in this process's cache would serve the run: free it first
    free, _ = torch.cuda.mem_get_info()
    hog = torch.empty(free - (64 << 20), dtype=torch.uint8, device="cuda")  # 64 MiB left: less than MiniLM needs
    try:
        assert torch.cuda.memory_reserved() - torch.cuda.memory_allocated() < 64 << 20  # nor is more cached here
        with pytest.raises(torch.cuda.OutOfMemoryError):
            execute(minilm_cfg(["method=cwgnc"], real_glue_dir, tmp_path))
    finally:
        del hog
        torch.cuda.empty_cache()
    rec = json.loads(next(tmp_path.glob("**/record.json")).read_text())
    assert rec["status"] == "crashed" and "workers_per_job" in rec["error"]
    assert "CUDA out of memory" in rec["traceback"]


def sweep(tmp_path, *launcher):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "stability_bench", "task=rte", "model=minilm_l6", "data.max_train_samples=32",
           "data.max_eval_samples=48", "train.epochs=1", f"results_dir={tmp_path}", "seed=range(1,5)", *launcher, "-m"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    recs = [json.loads(p.read_text()) for p in sorted(tmp_path.glob("minilm_l6/rte/*/seed*/record.json"))]
    assert len(recs) == 4 and all(r["status"] == "completed" for r in recs)
    assert all(r["environment"]["device"].startswith("cuda") for r in recs)
    return recs


@pytest.mark.parametrize("mps", ["false", "true"])
def test_a_packed_job_runs_several_workers_on_the_gpu(tmp_path, mps):
    recs = sweep(tmp_path, "hydra/launcher=local", "hydra.launcher.workers_per_job=3", f"hydra.launcher.mps={mps}")
    assert all(r["owner"]["worker"] in (0, 1, 2) for r in recs)  # each ran in a worker of the packed job


def test_step_time_benchmark_on_the_gpu(real_glue_dir):
    out = subprocess.run([sys.executable, "bench/gpu_steps.py", "--model", "minilm_l6", "--task", "cola", "--precision",
                          "fp32", "--steps", "10"], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "STABILITY_BENCH_GLUE_DIR": str(real_glue_dir)})
    assert out.returncode == 0 and "% of bound" in out.stdout, out.stderr[-2000:]


def test_cwgnc_overhead_benchmark_on_the_gpu():
    """CWGNC's step against bias_correction's on CUDA, with the kernels of each step counted, and the candidate
    rescale (scales read back, one multi-tensor kernel) giving the recipe's bits on the GPU's kernels too."""
    out = subprocess.run([sys.executable, "bench/cwgnc_overhead.py", "--model", "minilm_l6", "--length", "21",
                          "--steps", "3", "--block", "1", "--device", "cuda"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert "bit for bit: yes" in out.stdout, out.stdout
    rows = [line.split("|") for line in out.stdout.splitlines() if line.startswith("| bias_correction")
            or line.startswith("| cwgnc")]
    assert len(rows) == 3 and all(int(row[4]) > 0 for row in rows), out.stdout  # kernels per step, counted
