"""Benchmark (for the GPU; runs on a CPU too): what the two ways around a launch-bound step would give.

A MiniLM step on an H100 takes 13-18 ms whatever its tokens (BENCHMARKS.md 6.1): the host issues hundreds of
small kernels (counted first: the step's dispatched operations, and on CUDA the kernels the profiler sees) and the
GPU waits for them. Two levers would remove that cost, and both change how the loop runs, so this measures them
before any is built into it. Each variant is the loop's step (forward with dropout, backward, our
AdamW on torch's fused kernel, zero_grad) on random batches of 16 x L tokens, half of the examples padded at L/2,
rotating among four batches:

  eager      the step as the training loop takes it (a 2-D attention mask, which transformers checks on the host:
             one host-device sync per forward)
  eager-4d   the same with the 4-D boolean mask built beforehand: no sync (same logits as with the 2-D mask: checked)
  graph      eager-4d captured once in a CUDA graph and replayed, inputs copied into its buffers (CUDA only; a
             graph per padded length)
  vmap-K     K seeds' models stacked and trained in one step (torch.func.vmap, dropout drawn per seed): each kernel
             does K runs' work; gradients checked against K separate models (dropout off) first

Prints ms per step and seed-steps per second (a vmap-K step advances K runs); ``--json`` writes the rows.

    python bench/launch_levers.py --model minilm_l6 --length 125 76 21 --k 8 25
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from stability_bench.optim import AdamW  # noqa: E402

BATCH = 16


def load(name: str, seed: int, device, attention: str):
    from cwgnc_overhead import make_model  # bench/ is this script's folder
    model = make_model(name, seed)
    model.set_attn_implementation(attention)
    return model.to(device).train()


def batches(vocab: int, length: int, n: int, device, attention: str, k: int | None = None) -> list[dict]:
    """``n`` random batches (with a leading seed axis of size ``k`` when given), with the 2-D mask and the 4-D
    one that transformers makes of it for ``attention`` (sdpa: True where attended; eager: 0 or the float minimum
    added to the scores)."""
    shape = (BATCH,) if k is None else (k, BATCH)
    out = []
    for _ in range(n):
        mask = torch.ones(*shape, length, dtype=torch.long)
        mask[..., BATCH // 2:, length // 2:] = 0
        mask4 = mask.bool()[..., :, None, None, :].expand(*shape, 1, length, length)
        if attention == "eager":
            mask4 = torch.zeros(mask4.shape).masked_fill(~mask4, torch.finfo(torch.float32).min)
        out.append({"input_ids": torch.randint(min(1000, vocab // 2), vocab, (*shape, length)).to(device),
                    "token_type_ids": torch.zeros(*shape, length, dtype=torch.long, device=device),
                    "attention_mask": mask.to(device), "mask4": mask4.to(device),
                    "labels": torch.randint(0, 2, shape).to(device)})
    return out


def inputs(b: dict, four_d: bool) -> dict:
    return {"input_ids": b["input_ids"], "token_type_ids": b["token_type_ids"], "labels": b["labels"],
            "attention_mask": b["mask4"] if four_d else b["attention_mask"]}


def timed(step, bs: list[dict], warmup: int, steps: int, device) -> float:
    """Seconds per step over ``steps`` steps after ``warmup``, the device drained before and after."""
    for i in range(warmup):
        step(bs[i % len(bs)])
    sync(device)
    t = time.perf_counter()
    for i in range(steps):
        step(bs[i % len(bs)])
    sync(device)
    return (time.perf_counter() - t) / steps


def sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def launches(step, b: dict, device) -> tuple[int, int | None]:
    """One step's dispatched operations that compute (views excluded: they launch nothing), and on CUDA the
    kernels the profiler saw launched."""
    from torch.profiler import ProfilerActivity, profile
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        n = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            Count.n += not func.is_view
            return func(*args, **(kwargs or {}))

    with Count():
        step(b)
    if device.type != "cuda":
        return Count.n, None
    sync(device)
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        step(b)
        sync(device)
    return Count.n, sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)


def eager_step(model, four_d: bool):
    opt = AdamW(list(model.parameters()), lr=2e-5, eps=1e-6, weight_decay=0.01)

    def step(b):
        model(**inputs(b, four_d)).loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step


def relative_difference(grads: list, reference: list) -> float:
    """||grads - reference|| / ||reference||, all tensors as one vector: some gradients are zero but for rounding
    (a key bias leaves softmax unchanged), so tensor by tensor would compare noise."""
    diff = sum((g - r).square().sum() for g, r in zip(grads, reference))
    return (diff / sum(r.square().sum() for r in reference)).sqrt().item()


def capture(model, bs: list[dict], opt=None):
    """The eager-4d step (without ``opt``: forward and backward only) captured in a CUDA graph, the recipe of
    torch.cuda.graphs' whole-network capture; returns the step, which copies a batch in and replays."""
    static = {k: v.clone() for k, v in inputs(bs[0], True).items()}
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # the optimizer's state and the allocator's pools are made outside the capture
        for _ in range(3):
            model(**static).loss.backward()
            if opt is not None:
                opt.step()
            model.zero_grad(set_to_none=True)
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        model(**static).loss.backward()
        if opt is not None:
            opt.step()

    def step(b):
        for k, v in inputs(b, True).items():
            static[k].copy_(v)
        graph.replay()
    return step


def graph_step(model, bs: list[dict]):
    """The timed graph, and the relative difference between the gradients of a replayed forward and backward and
    the eager ones on a batch it was not captured with (a copy, dropout off)."""
    check = copy.deepcopy(model).eval()
    replay = capture(check, bs)
    replay(bs[1])
    graphed = [p.grad.clone() for p in check.parameters()]
    check.zero_grad(set_to_none=True)
    check(**inputs(bs[1], True)).loss.backward()
    worst = relative_difference(graphed, [p.grad for p in check.parameters()])
    del check, replay
    return capture(model, bs, AdamW(list(model.parameters()), lr=2e-5, eps=1e-6, weight_decay=0.01)), worst


def vmap_step(models: list, check: list[dict] | None = None):
    """One step for all ``models`` at once; with ``check``, first compare its gradients (dropout off) with each
    model's own. Returns the step and the largest relative difference of a model's gradients."""
    from torch.func import functional_call, grad_and_value, stack_module_state, vmap
    params, buffers = stack_module_state(models)
    params = {k: v.detach() for k, v in params.items()}
    base = copy.deepcopy(models[0]).to("meta")

    def loss(p, b, batch):
        return functional_call(base, (p, b), (), batch).loss

    grad_fn = vmap(grad_and_value(loss), randomness="different")
    worst = None
    if check is not None:
        base.eval()
        grads, _ = grad_fn(params, buffers, inputs(check[0], True))  # vmap maps positional arguments only
        worst = 0.0
        for i, m in enumerate(models):
            m.eval()
            m(**{k: v[i] for k, v in inputs(check[0], True).items()}).loss.backward()
            worst = max(worst, relative_difference([grads[n][i] for n, _ in m.named_parameters()],
                                                   [p.grad for p in m.parameters()]))
            m.zero_grad(set_to_none=True)
            m.train()
        base.train()
    opt = AdamW(list(params.values()), lr=2e-5, eps=1e-6, weight_decay=0.01)

    def step(b):
        grads, _ = grad_fn(params, buffers, inputs(b, True))
        for name, p in params.items():
            p.grad = grads[name]
        opt.step()
        opt.zero_grad(set_to_none=True)
    return step, worst


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm_l6")
    ap.add_argument("--length", type=int, nargs="+", default=[125, 76, 21],
                    help="padded lengths (default: RTE's, MRPC's and CoLA's mean padded length per batch of 16)")
    ap.add_argument("--k", type=int, nargs="*", default=[8, 25], help="seeds per vmapped step")
    ap.add_argument("--attention", nargs="+", default=["sdpa", "eager"], choices=["sdpa", "eager"],
                    help="transformers' attention implementation (sdpa: the default; eager: plain products, which vmap "
                         "batches where it may lack a rule for the fused attention kernels)")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"launch_levers: {args.model}, batch {BATCH}, fp32, {where}, torch {torch.__version__}", flush=True)
    rows, counts = [], []  # timings; launches counted per step

    def add(attention, length, variant, seconds, runs=1, note=""):
        rows.append({"attention": attention, "length": length, "variant": variant, "ms_per_step": round(seconds * 1e3, 3),
                     "seed_steps_per_s": round(runs / seconds, 1), "note": note})
        print(f"  {attention} L={length} {variant}: {seconds * 1e3:.2f} ms/step, {runs / seconds:.1f} seed-steps/s {note}",
              flush=True)

    def failed(attention, length, variant, e):  # reported, and the other variants' numbers still count
        rows.append({"attention": attention, "length": length, "variant": variant, "error": f"{type(e).__name__}: {e}"})
        print(f"  {attention} L={length} {variant}: failed: {type(e).__name__}: {str(e)[:300]}", flush=True)

    for attention in args.attention:
        torch.manual_seed(0)
        models = [load(args.model, s, device, attention) for s in range(max(args.k, default=1))]
        model, vocab = models[0], models[0].config.vocab_size
        # The 4-D mask is the one transformers builds from the 2-D mask: the same logits.
        b = batches(vocab, args.length[0], 1, device, attention)[0]
        model.eval()
        with torch.no_grad():
            diff = (model(**inputs(b, False)).logits - model(**inputs(b, True)).logits).abs().max().item()
        model.train()
        print(f"{attention}: same logits with the 4-D mask: {diff == 0.0} (largest difference {diff:.2e})", flush=True)
        for length in args.length:
            bs = batches(vocab, length, 4, device, attention)
            if length == args.length[0]:
                for four_d in (False, True):
                    step = eager_step(model, four_d)
                    step(bs[0])  # the optimizer's state exists before counting
                    ops, kernels = launches(step, bs[1], device)
                    name = "eager-4d" if four_d else "eager"
                    counts.append({"attention": attention, "length": length, "variant": name, "ops_per_step": ops,
                                   "cuda_kernels_per_step": kernels})
                    print(f"  {attention} L={length} {name}: {ops} operations per step (dispatched, not views)"
                          + (f", {kernels} CUDA kernels" if kernels is not None else ""), flush=True)
            add(attention, length, "eager", timed(eager_step(model, False), bs, args.warmup, args.steps, device))
            add(attention, length, "eager-4d", timed(eager_step(model, True), bs, args.warmup, args.steps, device))
            if device.type == "cuda":
                try:
                    step, worst = graph_step(model, bs)
                    add(attention, length, "graph", timed(step, bs, args.warmup, args.steps, device),
                        note=f"(gradients vs eager: {worst:.1e})")
                except Exception as e:
                    failed(attention, length, "graph", e)
            for k in args.k:
                try:
                    step, worst = vmap_step(models[:k], check=batches(vocab, length, 1, device, attention, k))
                    add(attention, length, f"vmap-{k}", timed(step, batches(vocab, length, 4, device, attention, k),
                                                              args.warmup, args.steps, device),
                        runs=k, note=f"(gradients vs separate models: {worst:.1e})")
                except Exception as e:
                    failed(attention, length, f"vmap-{k}", e)
                if device.type == "cuda":
                    torch.cuda.empty_cache()
        del models, model

    eager = {(r["attention"], r["length"]): r["seed_steps_per_s"] for r in rows if r["variant"] == "eager"}
    print("| attention | padded length | variant | ms/step | seed-steps/s | over eager |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        if "error" in r:
            print(f"| {r['attention']} | {r['length']} | {r['variant']} | failed | | |")
        else:
            print(f"| {r['attention']} | {r['length']} | {r['variant']} | {r['ms_per_step']:.2f} | "
                  f"{r['seed_steps_per_s']:.1f} | {r['seed_steps_per_s'] / eager[r['attention'], r['length']]:.2f}x |")
    if args.json:
        Path(args.json).write_text(json.dumps({"device": where, "torch": torch.__version__, "rows": rows,
                                               "launches": counts}, indent=1))


if __name__ == "__main__":
    main()
