"""Ctrl-C and SIGTERM (what SLURM and timeout(1) send): stop, keep every record, say so in one line.

SIGUSR1 drains instead (``install_drain()``): no new run starts, the runs in flight finish.

``install()`` turns SIGTERM into ``Interrupted`` (a BaseException, like KeyboardInterrupt, so no ``except
Exception`` swallows it). The run being trained records ``interrupted``; the command prints
``interrupted: N completed; re-run the same command to resume`` and exits 130 (SIGINT) or 143 (SIGTERM).

While a run trains, ``deferred()`` holds SIGTERM (and SIGUSR2, submitit's time-limit and preemption signal)
until the end of the current optimizer step, so the run can save a checkpoint of a consistent state first;
then the signal takes its ordinary course (``Interrupted``, or submitit's requeue).
"""

from __future__ import annotations

import signal
import sys
from contextlib import contextmanager

completed = 0  # runs this process (or its packed job's workers) completed; for the closing line
drain_requested = False  # SIGUSR1 arrived: start no new run; the runs in flight finish and keep their records


class Interrupted(BaseException):
    """SIGTERM arrived."""


def raise_interrupted(signum, frame):
    raise Interrupted()


def install() -> None:
    signal.signal(signal.SIGTERM, raise_interrupted)


def _request_drain(signum, frame) -> None:
    global drain_requested
    drain_requested = True


def install_drain() -> None:
    """SIGUSR1 drains a sweep (``kill -USR1 <pid>``, ``launch/gpu_session.sh drain``): the sweep and its packed
    jobs start no new run, and end once the runs in flight have finished; a re-run launches the rest."""
    signal.signal(signal.SIGUSR1, _request_drain)


def exit_code(e: BaseException) -> int:
    return 143 if isinstance(e, Interrupted) else 130


def report_and_exit(e: BaseException) -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)  # below a progress bar's unfinished line
    print(f"interrupted: {completed} completed; re-run the same command to resume", file=sys.stderr, flush=True)
    sys.exit(exit_code(e))


HELD = (signal.SIGTERM, signal.SIGUSR2)


class Deferred:
    """The signal that arrived while a run was training (None: none yet)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, object] = {}

    def _hold(self, signum, frame) -> None:
        self.signum = self.signum or signum

    def deliver(self) -> None:
        """Give the held signal its ordinary course now (the caller has saved what it needs): the handler that
        was there before (submitit's requeue, ``Interrupted``), or ``Interrupted`` where that was the default
        action (terminate: a packed worker's SIGUSR2)."""
        signum, self.signum = self.signum, None
        handler = self.previous.get(signum)
        self.restore()
        if signum is None or handler == signal.SIG_IGN:
            return
        if callable(handler):
            handler(signum, None)
        raise Interrupted()

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


@contextmanager
def deferred():
    """Hold SIGTERM and SIGUSR2 for the block (in the main thread; elsewhere, nothing is held)."""
    held = Deferred()
    try:
        for signum in HELD:
            held.previous[signum] = signal.getsignal(signum)
            signal.signal(signum, held._hold)
    except ValueError:  # not the main thread
        held.restore()
    try:
        yield held
    finally:
        held.deliver()  # a signal held after the last step takes its course once the block is left
