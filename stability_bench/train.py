"""The training loop: stages of epochs of steps, with dev evaluations, and nothing recipe-specific.

Per step: forward (autocast when bf16) -> loss -> backward -> method.before_step (e.g. CWGNC)
-> global gradient-norm clipping (train.max_grad_norm) -> optimizer step -> zero_grad.
The learning rate follows ``optim.linear_schedule``. The loss is read back to the host only
every ``train.log_every`` steps (and at evaluations), which is also when divergence (a NaN or
infinite loss) is detected.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from dataclasses import dataclass, field

import numpy as np
import torch
from tqdm.auto import tqdm

from . import checkpoint, metrics
from .component_stats import ComponentStats
from .data import Encoded, eval_batches, eval_order, train_batches
from .optim import linear_schedule

log = logging.getLogger("stability_bench")
steplog = logging.getLogger("stability_bench.steps")  # per-step lines: run.log only
PROGRESS_EVERY_S = 30.0  # progress lines on a non-terminal output
SHOW_BAR: bool | None = None  # None: a bar when stderr is a terminal; packed workers turn it off


@dataclass
class FitResult:
    evals: list[dict] = field(default_factory=list)  # every dev evaluation, in order
    stages: list[dict] = field(default_factory=list)  # per stage: its info and its last evaluation
    loss_curve: list[list[float]] = field(default_factory=list)  # [global step, mean loss since last point]
    steps: int = 0
    chosen: dict | None = None  # the evaluation reported as the run's metric
    predictions: list[int] | None = None  # dev predictions of the chosen evaluation
    last_predictions: list[int] | None = None  # dev predictions of the latest evaluation
    diverged_at: int | None = None  # the step whose logged loss was NaN or infinite
    first_step_at: float | None = None  # time.time() when the first optimizer step finished
    resumed_from_step: int | None = None  # the checkpoint's step, when continued from one
    train_time_before_s: float = 0.0  # training seconds of earlier attempts (resumed runs)


def to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device, non_blocking=True) for k, v in batch.items()}


@torch.no_grad()
def predict(model, dev: Encoded, batch_size: int, device, autocast, order: list[int]) -> np.ndarray:
    """Predicted labels in dev-file order, computed in batches taken in ``order``."""
    model.eval()
    out = []
    for batch in eval_batches(dev, batch_size, order):
        batch.pop("labels")
        with autocast():
            logits = model(**to_device(batch, device)).logits
        out.append(logits.argmax(-1))
    model.train()
    preds = np.empty(len(order), dtype=np.int64)
    preds[order] = torch.cat(out).cpu().numpy()
    return preds


def eval_steps(steps_per_epoch: int, evals_per_epoch: int, final_epoch: bool) -> set[int]:
    """1-based steps within an epoch after which to evaluate; the epoch's last step always.
    evals_per_epoch=0 evaluates only at the end of a stage's final epoch: with select=last the
    result is the same (evaluation draws no random numbers), without the intermediate evaluations."""
    if evals_per_epoch == 0:
        return {steps_per_epoch} if final_epoch else set()
    k = min(evals_per_epoch, steps_per_epoch)
    return {math.ceil(steps_per_epoch * (j + 1) / k) for j in range(k)}


def fit(model, method, data: dict[str, Encoded], task, train_cfg, device: torch.device,
        data_seed: int, stats: ComponentStats | None = None, desc: str = "",
        group_by_length: bool = False, ckpt: checkpoint.Checkpointing | None = None) -> FitResult:
    """Train and evaluate. With ``ckpt``: a held stop signal saves a checkpoint at the end of the step (then
    takes its course), and a loaded checkpoint (``ckpt.resume``) is continued from where it stood."""
    t = train_cfg
    train, dev, heldout = data["train"], data["dev"], data.get("heldout")
    dev_order = eval_order(dev)
    heldout_order = eval_order(heldout) if heldout is not None else None
    bf16 = t.precision == "bf16"

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16)

    generator = torch.Generator().manual_seed(data_seed)
    torch.manual_seed(data_seed)  # dropout (and mixout masks) follow the data seed
    if device.type == "cuda":
        torch.cuda.manual_seed_all(data_seed)
    steps_per_epoch = math.ceil(len(train) / t.batch_size)
    result = FitResult()
    best_value = -math.inf
    global_step = 0
    resume = ckpt.resume if ckpt else None
    pos = resume["position"] if resume else None
    if resume:
        for key, value in resume["result"].items():
            setattr(result, key, value)
        best_value, global_step = pos.best_value, pos.global_step
        result.resumed_from_step, result.train_time_before_s = pos.global_step, pos.train_time_s
    t_fit = time.time()
    model.train()

    def evaluate(stage_name: str, epoch: float) -> dict:
        nonlocal best_value
        started = time.time()
        preds = predict(model, dev, t.eval_batch_size, device, autocast, dev_order)
        values = metrics.all_metrics(dev.labels, preds)
        entry = {"stage": stage_name, "epoch": round(epoch, 4), "step": global_step,
                 "metric": values[task.metric], "metrics": values}
        score = values[task.metric]  # what train.select=best selects on
        if heldout is not None:
            held = metrics.all_metrics(heldout.labels, predict(model, heldout, t.eval_batch_size, device, autocast, heldout_order))
            entry.update(heldout_metric=held[task.metric], heldout_metrics=held)
            score = held[task.metric]
        entry["seconds"] = round(time.time() - started, 3)
        result.evals.append(entry)
        result.last_predictions = preds.tolist()
        if t.select == "last" or score > best_value:
            best_value = score
            result.chosen, result.predictions = entry, result.last_predictions
        log.info("%s eval %s epoch %.2f: %s %.4f%s", desc, stage_name, epoch, task.metric, values[task.metric],
                 f" (held out {score:.4f})" if heldout is not None else "")
        return entry

    for stage_index, stage in enumerate(method.stages(model, t.epochs)):
        resuming = pos is not None and stage_index == pos.stage
        if pos is not None and stage_index < pos.stage:
            continue  # done before the checkpoint (the stage's own setup has run: the weights come next)
        if resuming:
            model.load_state_dict(resume["model"])
        optimizer = method.optimizer(method.param_groups(model))
        peak = [g["lr"] for g in optimizer.param_groups]
        if resuming:
            optimizer.load_state_dict(resume["optimizer"])  # its groups' lr: the schedule's value at the stop
        params = [p for g in optimizer.param_groups for p in g["params"]]
        total = steps_per_epoch * stage.epochs
        warmup = int(t.warmup_ratio * total)
        # A bar on a terminal; redirected to a file, a plain progress line every PROGRESS_EVERY_S instead
        # (carriage-return updates would glue onto the next log line there).
        bar = tqdm(total=total, desc=f"{desc} {stage.name}".strip(), unit="step", dynamic_ncols=True,
                   mininterval=1.0, leave=False, disable=not (sys.stderr.isatty() if SHOW_BAR is None else SHOW_BAR))
        loss_sum, loss_n, t0 = torch.zeros((), device=device), 0, time.time()
        shown = t0
        last = None
        if resuming:
            loss_sum.fill_(pos.loss_sum)
            loss_n = pos.loss_n
            last = next((e for e in reversed(result.evals) if e["stage"] == stage.name), None)
            bar.update(global_step - result.steps)
        for epoch in range(stage.epochs):
            skip = 0
            if resuming and epoch < pos.epoch:
                continue
            if resuming and epoch == pos.epoch:
                generator.set_state(pos.epoch_generator_state)  # the same batches in the same order
                torch.set_rng_state(pos.torch_rng)  # the same dropout from here on
                if pos.cuda_rng:
                    torch.cuda.set_rng_state_all(pos.cuda_rng)
                skip, resuming, pos = pos.batches, False, None
            epoch_generator_state = generator.get_state()
            evals_at = eval_steps(steps_per_epoch, t.evals_per_epoch, final_epoch=epoch == stage.epochs - 1)
            for i, batch in enumerate(train_batches(train, t.batch_size, generator, group_by_length), start=1):
                if i <= skip:
                    continue  # trained before the checkpoint
                step = global_step - result.steps  # within this stage
                scale = linear_schedule(step, warmup, total)
                for g, lr in zip(optimizer.param_groups, peak):
                    g["lr"] = lr * scale
                with autocast():
                    loss = method.loss(model, to_device(batch, device))
                loss.backward()
                if stats is not None:
                    stats.before_clip(global_step)
                method.before_step(model)
                if t.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_(params, t.max_grad_norm)
                if stats is not None:
                    stats.after_clip()
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                if result.first_step_at is None:
                    result.first_step_at = time.time()
                loss_sum += loss.detach().float()
                loss_n += 1
                global_step += 1
                bar.update(1)
                if global_step % t.log_every == 0 or i == steps_per_epoch:
                    mean_loss = loss_sum.item() / loss_n
                    loss_sum.zero_()
                    loss_n = 0
                    result.loss_curve.append([global_step, mean_loss])
                    lr_now = optimizer.param_groups[0]["lr"]
                    bar.set_postfix(loss=f"{mean_loss:.4f}", lr=f"{lr_now:.2e}", refresh=False)
                    done = global_step - result.steps
                    elapsed = time.time() - t0
                    line = (f"{stage.name} step {done}/{total} epoch {epoch + i / steps_per_epoch:.2f} loss {mean_loss:.4f} "
                            f"lr {lr_now:.3e} elapsed {elapsed:.0f}s eta {elapsed / done * (total - done):.0f}s")
                    steplog.info(line)
                    if bar.disable and time.time() - shown >= PROGRESS_EVERY_S:
                        shown = time.time()
                        log.info("%s %s", desc, line)
                    if not math.isfinite(mean_loss):
                        bar.close()
                        log.warning("%s diverged: loss %s at step %d", desc, mean_loss, global_step)
                        result.diverged_at = result.steps = global_step
                        return result
                if i in evals_at:
                    last = evaluate(stage.name, epoch + i / steps_per_epoch)
                if ckpt is not None and ckpt.held.signum is not None:
                    bar.close()
                    checkpoint.save(ckpt.path, ckpt.identity, model, optimizer, checkpoint.Position(
                        stage_index, epoch, i, global_step, epoch_generator_state, torch.get_rng_state(),
                        torch.cuda.get_rng_state_all() if device.type == "cuda" else [], loss_sum.item(), loss_n,
                        best_value, result.train_time_before_s + time.time() - t_fit), result)
                    log.warning("%s stopped at step %d: checkpoint saved, a re-run resumes from it", desc, global_step)
                    ckpt.held.deliver()
        bar.close()
        result.steps = global_step
        result.stages.append({"name": stage.name, **(stage.info or {}), "metric": last["metric"] if last else None,
                              "metrics": last["metrics"] if last else None})
    return result
