"""A run's checkpoint: saved when a run is stopped (SIGTERM, or SIGUSR2 before a SLURM time limit or
preemption) at the end of an optimizer step, and resumed from by the next attempt at the same run.

It holds everything the rest of the run depends on: the model's weights, the optimizer's state, where
training stands (stage, epoch, batch), the data-order generator's state at the start of that epoch, the
dropout RNG states, the loss accumulated since the last loss point and the evaluations so far. Resumed,
the run gives the record an uninterrupted run would have given (tests/test_checkpoint.py compares them).
It lives beside the record (``checkpoint.pt``) and is deleted when the run completes; it is only used for
a run of the same identity.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .records import atomic_write

CHECKPOINT_FILE = "checkpoint.pt"
log = logging.getLogger("stability_bench")


@dataclass
class Position:
    """Where a stopped run stands: ``batches`` batches of ``epoch`` of stage ``stage`` are done."""
    stage: int
    epoch: int
    batches: int
    global_step: int
    epoch_generator_state: torch.Tensor  # the data-order generator at the start of that epoch
    torch_rng: torch.Tensor
    cuda_rng: list = field(default_factory=list)
    loss_sum: float = 0.0  # loss accumulated since the last loss-curve point
    loss_n: int = 0
    best_value: float = float("-inf")
    train_time_s: float = 0.0  # seconds of training before the stop, all earlier attempts included


@dataclass
class Checkpointing:
    """What the training loop needs to stop with a checkpoint and to resume from one."""
    path: Path
    identity: dict
    held: object  # interrupts.Deferred: the signal held until the end of the step
    resume: dict | None = None  # a loaded checkpoint of this run


def save(path: Path, identity: dict, model, optimizer, position: Position, result) -> None:
    state = {"identity": identity, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "position": position.__dict__, "result": {k: getattr(result, k) for k in
                                                       ("evals", "stages", "loss_curve", "steps", "chosen", "predictions",
                                                        "last_predictions")}}
    atomic_write(path, lambda f: torch.save(state, f), binary=True)


def load(path: Path, identity: dict) -> dict | None:
    """The checkpoint at ``path`` if it is one of this run; None (and the file removed) otherwise."""
    if not path.exists():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
        if state.get("identity") == identity:
            state["position"] = Position(**state["position"])
            return state
        log.warning("%s is a checkpoint of other settings: starting the run from the beginning", path)
    except Exception as e:  # a truncated file: never trusted
        log.warning("%s cannot be read (%s): starting the run from the beginning", path, e)
    path.unlink(missing_ok=True)
    return None
