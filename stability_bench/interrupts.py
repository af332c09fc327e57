"""Ctrl-C and SIGTERM (what SLURM and timeout(1) send): stop, keep every record, say so in one line.

``install()`` turns SIGTERM into ``Interrupted`` (a BaseException, like KeyboardInterrupt, so no ``except
Exception`` swallows it). The run being trained records ``interrupted``; the command prints
``interrupted: N completed; re-run the same command to resume`` and exits 130 (SIGINT) or 143 (SIGTERM).
"""

from __future__ import annotations

import signal
import sys

completed = 0  # runs this process (or its packed job's workers) completed; for the closing line


class Interrupted(BaseException):
    """SIGTERM arrived."""


def raise_interrupted(signum, frame):
    raise Interrupted()


def install() -> None:
    signal.signal(signal.SIGTERM, raise_interrupted)


def exit_code(e: BaseException) -> int:
    return 143 if isinstance(e, Interrupted) else 130


def report_and_exit(e: BaseException) -> None:
    if sys.stderr.isatty():
        print(file=sys.stderr)  # below a progress bar's unfinished line
    print(f"interrupted: {completed} completed; re-run the same command to resume", file=sys.stderr, flush=True)
    sys.exit(exit_code(e))
