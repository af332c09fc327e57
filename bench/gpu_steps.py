"""Benchmark (GPU): training-step time of the real loop against the FLOP bound, per task and precision.

For each task and precision (fp32; fp32 with TF32 matmuls; bf16 autocast) it runs the real command path
(``run.execute``: bias_correction, one epoch of ``--steps`` batches, no intermediate evaluation) twice in one
process and reads the second, warm run's record: step time = (training time - the final dev pass) / steps.
The bound is 6 x non-embedding parameters x padded training tokens / the measured matrix-product rate of that
precision (an 8192^3 product on this GPU); attention's own products and the embedding lookups are left out of
the count, so the bound is a floor. Prints one table; ``--json`` writes the rows.

    STABILITY_BENCH_GLUE_DIR=../shared/data/glue python bench/gpu_steps.py --model minilm_l6 --task rte mrpc cola
    python bench/gpu_steps.py --model bert_large_shape --task rte --precision bf16 tf32
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# A bert-large-shaped random BERT (the character vocabulary keeps the embeddings small; 302M encoder weights).
BERT_LARGE_SHAPE = ["model=tiny_random", "model.name=bert_large_shape", "model.random_init.hidden_size=1024",
                    "model.random_init.num_hidden_layers=24", "model.random_init.num_attention_heads=16",
                    "model.random_init.intermediate_size=4096"]
PRECISIONS = {"fp32": ["train.precision=fp32", "train.tf32=false"],
              "tf32": ["train.precision=fp32", "train.tf32=true"],
              "bf16": ["train.precision=bf16", "train.tf32=false"]}


def compose(overrides: list[str]):
    from hydra import compose as hydra_compose, initialize_config_dir
    from stability_bench import CONF_DIR
    from stability_bench.config import register_configs
    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=overrides)


def matmul_rate(precision: str, n: int = 8192, reps: int = 10) -> float:
    """Measured FLOP/s of an n^3 product in this precision (random data, CUDA events, after warm-up)."""
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    a, b = (torch.randn(n, n, device="cuda", dtype=dtype) for _ in range(2))
    for _ in range(3):
        a @ b
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        a @ b
    end.record()
    torch.cuda.synchronize()
    torch.backends.cuda.matmul.allow_tf32 = False
    return 2 * n ** 3 * reps / (start.elapsed_time(end) / 1e3)


def padded_tokens(cfg, seed: int, steps: int) -> int:
    """Tokens the loop computes on (batch size x each batch's longest example), same batches as the run."""
    from stability_bench.data import load_encoded, select_subsets, train_batches
    from stability_bench.models import load_tokenizer
    tok = load_tokenizer(cfg.model)
    splits, _ = load_encoded(cfg.task, cfg.data, tok, Path(cfg.results_dir) / ".cache")
    train = select_subsets(splits, cfg.data)["train"]
    gen = torch.Generator().manual_seed(seed)
    return sum(b["input_ids"].numel() for _, b in zip(range(steps), train_batches(train, cfg.train.batch_size, gen)))


def non_embedding_parameters(cfg) -> int:
    from stability_bench.models import load_model
    model = load_model(cfg.model, len(cfg.task.label_names), 0)
    return sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--task", nargs="+", default=["rte", "mrpc", "cola"])
    ap.add_argument("--precision", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    ap.add_argument("--steps", type=int, default=150, help="training steps per measured run")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    from stability_bench.run import execute

    model = BERT_LARGE_SHAPE if args.model == "bert_large_shape" else [f"model={args.model}"]
    rates = {p: matmul_rate(p) for p in args.precision}
    print("measured 8192^3 matrix-product rate: " + ", ".join(f"{p} {r / 1e12:.0f} TFLOP/s" for p, r in rates.items()))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.task:
            for prec in args.precision:
                over = model + [f"task={task}", f"results_dir={tmp}", f"experiment=steps-{prec}", "method=bias_correction",
                                "train.epochs=1", "train.evals_per_epoch=0", "data.max_eval_samples=64",
                                f"data.max_train_samples={args.steps * 16}", "train.device=cuda"] + PRECISIONS[prec]
                for seed in (0, 1):  # seed 0 warms up (cuBLAS handles, allocator, kernels)
                    rec = execute(compose(over + [f"seed={seed}"]))
                cfg = compose(over + ["seed=1"])
                train_s = rec["train_time_s"] - sum(e["seconds"] for e in rec["evals"])
                step_ms = 1e3 * train_s / rec["steps"]
                tokens = padded_tokens(cfg, 1, rec["steps"])
                n_params = non_embedding_parameters(cfg)
                flops = 6 * n_params * tokens / rec["steps"]
                bound_ms = 1e3 * flops / rates[prec]
                rows.append(dict(model=args.model, task=task, precision=prec, steps=rec["steps"], step_ms=round(step_ms, 3),
                                 tokens_per_step=round(tokens / rec["steps"], 1), non_embedding_params=n_params,
                                 bound_ms=round(bound_ms, 4), fraction_of_bound=round(bound_ms / step_ms, 4),
                                 achieved_tflops=round(flops / (step_ms / 1e3) / 1e12, 2),
                                 device=torch.cuda.get_device_name(), torch=torch.__version__))
                print(f"gpu_steps: {args.model} {task} {prec}: {step_ms:.2f} ms/step ({tokens / rec['steps']:.0f} padded "
                      f"tokens/step), bound {bound_ms:.3f} ms -> {100 * bound_ms / step_ms:.1f}% of the bound "
                      f"({rows[-1]['achieved_tflops']} TFLOP/s)", flush=True)
    print("| model | task | precision | ms/step | padded tokens/step | FLOP bound ms | % of bound | TFLOP/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['task']} | {r['precision']} | {r['step_ms']:.2f} | {r['tokens_per_step']:.0f} | "
              f"{r['bound_ms']:.3f} | {100 * r['fraction_of_bound']:.1f} | {r['achieved_tflops']} |")
    if args.json:
        Path(args.json).write_text(json.dumps({"rates": rates, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
