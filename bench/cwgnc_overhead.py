"""Benchmark: step time of CWGNC relative to plain fine-tuning (bias_correction), same model and batch.

A step is what the training loop does: forward, backward, the recipe's before_step (CWGNC's clipping),
global clipping when the recipe has it, AdamW step, zero_grad. Blocks of steps of the variants alternate so
that drift of the machine hits all alike; the median step time of each is compared (on CUDA each step is
timed between two device syncs, so that it is the step's time and not only its launches').

A third variant is a candidate for the GPU, measured before anything is built into the recipe: CWGNC's
rescale as it is (``clip_components``) multiplies each gradient by its 0-dim scale tensor, and torch's
foreach kernels only fuse tensor lists of equal shapes, so on CUDA that is one kernel per parameter tensor
(105 for MiniLM) in a step that is bound by its launches (BENCHMARKS.md 6.1). ``cwgnc-host-scales`` reads the
scales back to the host (one sync per step) and applies them as a list of numbers, which one multi-tensor
kernel does. On the same gradients the two give the same bits (float32 scales read back exactly); this is
checked and printed first. On CUDA the kernels each variant's step launches are counted with the profiler.

    python bench/cwgnc_overhead.py --model minilm_l6 --steps 40
    python bench/cwgnc_overhead.py --model bert_large_shape --steps 4 --block 2    # random bert-large, 393 tensors
    python bench/cwgnc_overhead.py --model minilm_l6 --length 21 --steps 100 --device cuda   # CoLA's mean length
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

from stability_bench import CONF_DIR  # noqa: E402
from stability_bench.config import ModelConfig, TrainConfig  # noqa: E402
from stability_bench.recipes import build_method  # noqa: E402
from stability_bench.recipes.cwgnc import CWGNC, clip_components  # noqa: E402
from launch_levers import launches, sync  # noqa: E402  (bench/ is this script's folder)


def make_model(name: str, seed: int = 0):
    """A model by its conf/model name (its new head initialised by ``seed``), or a random bert-large shape."""
    from transformers import BertConfig, BertForSequenceClassification
    if name == "bert_large_shape":
        return BertForSequenceClassification(BertConfig(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16,
                                                        intermediate_size=4096, num_labels=2))
    from stability_bench.models import load_model
    cfg = OmegaConf.load(CONF_DIR / "model" / f"{name}.yaml")
    cfg.pop("defaults", None)
    return load_model(OmegaConf.merge(OmegaConf.structured(ModelConfig), cfg), 2, seed)


def host_scales(grads: list[torch.Tensor], threshold: float) -> None:
    """CWGNC's per-tensor rescale with the scales read back to the host: one sync, one multi-tensor kernel."""
    norms = torch.stack(torch._foreach_norm(grads)).float()
    torch._foreach_mul_(grads, (threshold / (norms + 1e-6)).clamp(max=1.0).tolist())


class HostScalesCWGNC(CWGNC):
    def before_step(self, model) -> None:
        host_scales([p.grad for p in model.parameters() if p.grad is not None], self.params.threshold)


def same_bits(model, batch, threshold: float) -> tuple[bool, int, int]:
    """Whether the recipe's rescale and ``host_scales`` turn the same gradients into the same bits, and how many
    of the tensors the threshold clipped (the check means something only when some are and some are not)."""
    model.zero_grad(set_to_none=True)
    model(**batch).loss.backward()
    grads = [p.grad for p in model.parameters()]
    before = [g.clone() for g in grads]
    ours = [g.clone() for g in grads]
    clip_components(ours, torch.arange(len(ours), device=ours[0].device), len(ours), threshold)
    host_scales(grads, threshold)
    equal = all(torch.equal(g, o) for g, o in zip(grads, ours))
    clipped = sum(not torch.equal(g, b) for g, b in zip(grads, before))
    model.zero_grad(set_to_none=True)
    return equal, clipped, len(grads)


def step_times(model, method, batch, n, max_grad_norm, device):
    opt = method.optimizer(method.param_groups(model))
    params = [p for g in opt.param_groups for p in g["params"]]

    def step():
        method.loss(model, batch).backward()
        method.before_step(model)
        if max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        opt.zero_grad(set_to_none=True)

    times = []
    for _ in range(n):
        sync(device)
        t = time.perf_counter()
        step()
        sync(device)
        times.append(time.perf_counter() - t)
    return times, step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--steps", type=int, default=40, help="measured steps per variant")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--length", type=int, default=64)
    ap.add_argument("--block", type=int, default=5, help="steps per alternating block")
    ap.add_argument("--device", default="auto", help="auto (cuda when available), cpu or cuda")
    args = ap.parse_args()
    device = torch.device(("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device)
    torch.manual_seed(0)
    train = OmegaConf.structured(TrainConfig)
    cwgnc = OmegaConf.create({"name": "cwgnc", "threshold": 0.05, "grouping": "tensor"})
    variants = {"bias_correction": (build_method(OmegaConf.create({"name": "bias_correction", "recipe": "plain"}), train), 1.0),
                "cwgnc": (build_method(cwgnc, train), None),
                "cwgnc-host-scales": (HostScalesCWGNC(HostScalesCWGNC.Params(threshold=0.05), train), None)}
    model = make_model(args.model).to(device)
    model.train()
    n_tensors = sum(1 for _ in model.parameters())
    vocab = model.config.vocab_size
    batch = {"input_ids": torch.randint(min(1000, vocab // 2), vocab, (args.batch, args.length)),
             "attention_mask": torch.ones(args.batch, args.length, dtype=torch.long),
             "labels": torch.randint(0, 2, (args.batch,))}
    batch = {k: v.to(device) for k, v in batch.items()}
    equal, clipped, n = same_bits(model, batch, 0.05)
    print(f"cwgnc_overhead: cwgnc-host-scales gives the recipe's clipped gradients bit for bit: {'yes' if equal else 'NO'} "
          f"({clipped} of {n} tensors clipped)")
    steps = {}
    for name, (method, clip) in variants.items():  # warm-up
        steps[name] = step_times(model, method, batch, 2, clip, device)[1]
    counts = {name: launches(lambda _, step=step: step(), None, device)[1] for name, step in steps.items()}  # CUDA only
    times = {k: [] for k in variants}
    while min(len(v) for v in times.values()) < args.steps:
        for name, (method, clip) in variants.items():
            times[name] += step_times(model, method, batch, min(args.block, args.steps), clip, device)[0]
    med = {k: statistics.median(v[:args.steps]) for k, v in times.items()}
    base = med["bias_correction"]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"{torch.get_num_threads()} threads on {platform.machine()}"
    print(f"cwgnc_overhead: {args.model} ({n_tensors} tensors), batch {args.batch}x{args.length}, {where}: median step "
          f"bias_correction {base * 1e3:.1f} ms, cwgnc {med['cwgnc'] * 1e3:.1f} ms, ratio {med['cwgnc'] / base:.3f}")
    print("| variant | median step (ms) | over bias_correction | kernels per step |")
    print("|---|---|---|---|")
    for name, value in med.items():
        print(f"| {name} | {value * 1e3:.2f} | {value / base:.3f} | {counts[name] if counts[name] is not None else '-'} |")


if __name__ == "__main__":
    main()
