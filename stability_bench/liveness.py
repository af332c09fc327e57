"""Is the process or SLURM job that wrote a ``running`` record still alive?

A ``running`` record whose writer is gone is ``interrupted`` (the sweep re-runs it). A ``Liveness`` is made
once per sweep step or status call and asks SLURM at most once (one ``squeue`` listing every job, array
elements one per line), however many records it is asked about. The analysis never asks: it reports a record's
status as written.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

from .records import boot_id, pid_exists, read_record_checked


class Liveness:
    def __init__(self) -> None:
        self._slurm: set[str] | None | bool = False  # False: not asked yet; None: SLURM could not answer

    def _slurm_jobs(self) -> set[str] | None:
        if self._slurm is False:
            try:
                q = subprocess.run(["squeue", "-h", "-r", "-o", "%i %A"], capture_output=True, text=True, timeout=60)
                self._slurm = {j for line in q.stdout.splitlines() for j in line.split()} if q.returncode == 0 else None
            except FileNotFoundError:
                self._slurm = set()  # no SLURM on this machine: no job of ours is alive here
            except (OSError, subprocess.SubprocessError):
                self._slurm = None
        return self._slurm  # type: ignore[return-value]

    def alive(self, owner: dict | None) -> bool:
        if not owner:
            return False
        if owner.get("slurm_job"):
            jobs = self._slurm_jobs()
            if jobs is None:
                return True  # SLURM did not answer: never re-run a job that may still be running
            if owner["slurm_job"] in jobs:
                return True
        if owner.get("host") == socket.gethostname() and owner.get("pid") \
                and owner.get("boot_id", boot_id()) == boot_id():
            return pid_exists(owner["pid"]) and not _zombie(owner["pid"])
        return False

    def status(self, record: dict | None) -> str:
        """A record's status, with ``running`` split into live ``running`` and dead ``interrupted``."""
        if record is None:
            return "missing"
        status = record.get("status", "crashed")
        if status == "running" and not self.alive(record.get("owner")):
            return "interrupted"
        return status

    def path_status(self, path: Path) -> str:
        """The status of the record at ``path``: missing, corrupt, or the record's live status."""
        record, problem = read_record_checked(path)
        return "corrupt" if problem else self.status(record)


def _zombie(pid: int) -> bool:
    """A killed process whose parent died too stays a zombie where nothing reaps orphans (containers)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False
