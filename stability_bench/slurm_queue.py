"""What SLURM's queue says of a sweep's jobs while the sweep waits for them.

A SLURM sweep blocks until its array ends: hours in which the submitting shell would otherwise print nothing.
``QueueWatch`` asks ``squeue`` every ``poll_s`` seconds and prints one line when the picture changes (at most
every ``report_s``): the jobs running and pending, with SLURM's reasons, and the sweep's run counts. A job that
SLURM keeps pending for a reason that no wait will change (more CPUs or memory than the partition's nodes have,
a time limit above the partition's, an account or QOS that is not the user's) would hold the sweep forever; the
watch cancels the sweep's pending jobs (none of them has started, so no record is touched) and says which
launcher setting to change. The sweep's jobs are found by their log folder (submitit's, under the sweep's
directory), so this needs no job ids: hydra-submitit's one-run arrays and packed jobs are watched alike.
"""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Callable, Optional

# SLURM's pending reasons that waiting does not cure, each with the launcher settings that cause it.
NEVER_STARTS = {
    "PartitionConfig": ("more than the partition's nodes offer", ("partition", "cpus_per_task", "mem_gb",
                                                                   "gpus_per_node", "nodes", "tasks_per_node")),
    "PartitionNodeLimit": ("more nodes than the partition allows", ("partition", "nodes")),
    "PartitionTimeLimit": ("a time limit above the partition's", ("partition", "timeout_min")),
    "QOSMaxWallDurationPerJobLimit": ("a time limit above the QOS's", ("qos", "timeout_min")),
    "AssocMaxWallDurationPerJobLimit": ("a time limit above the account's", ("account", "timeout_min")),
    "InvalidAccount": ("an account that is not yours", ("account",)),
    "InvalidQOS": ("a QOS that is not yours", ("qos",)),
    "BadConstraints": ("node features that no node has", ("additional_parameters",)),
}


def queue(folder: str, user: Optional[str] = None) -> Optional[list[tuple[str, str, str]]]:
    """(job id, state, reason) of the user's jobs whose log lies under ``folder``; None if squeue fails."""
    try:
        out = subprocess.run(["squeue", "-h", "-r", "--user", user or getpass.getuser(),
                              "-O", "JobArrayID:|,State:|,Reason:|,STDOUT:"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode:
        return None
    rows = []
    for line in out.stdout.splitlines():
        parts = line.split("|", 3)
        if len(parts) == 4 and parts[3].strip().startswith(folder):
            rows.append((parts[0].strip(), parts[1].strip(), parts[2].strip()))
    return rows


def summary(rows: list[tuple[str, str, str]]) -> str:
    """``2 running, 5 pending (Priority 4, Resources 1)``, counting array tasks one by one."""
    states = Counter(state.lower() for _, state, _ in rows)
    parts = []
    for state in sorted(states, key=lambda s: (s != "running", s != "pending", s)):
        n = states[state]
        reasons = Counter(r for _, s, r in rows if s.lower() == state and r not in ("None", ""))
        why = f" ({', '.join(f'{r} {k}' if len(reasons) > 1 else r for r, k in reasons.most_common())})" if reasons else ""
        parts.append(f"{n} {state}{why}")
    return ", ".join(parts) or "no jobs in the queue"


def never_starts(rows, params: dict) -> Optional[str]:
    """Why the first job that cannot start never will, naming the settings to change; None if all can."""
    for job, state, reason in rows:
        if state == "PENDING" and reason in NEVER_STARTS:
            what, keys = NEVER_STARTS[reason]
            settings = ", ".join(f"hydra.launcher.{k}={params[k]}" for k in keys if params.get(k) is not None)
            return (f"job {job} can never start: SLURM holds it as {reason}, i.e. it asks for {what} ({settings}; "
                    "`scontrol show partition` and `sacctmgr show assoc user=$USER` list what may be asked)")
    return None


class QueueWatch(threading.Thread):
    """Watches the sweep's jobs until ``stop()``; ``refusal`` holds the reason if it cancelled them."""

    def __init__(self, folder: str, params: dict, progress: Optional[Callable[[], str]] = None,
                 poll_s: float = 15.0, report_s: float = 60.0) -> None:
        super().__init__(daemon=True)
        # submitit's folder has %j in it; the logs lie under what precedes it (absolute, as squeue shows them)
        self.folder = os.path.join(str(Path(folder.split("%")[0]).expanduser().absolute()), "")
        self.params, self.progress, self.poll_s, self.report_s = params, progress, poll_s, report_s
        self.refusal: Optional[str] = None
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)

    def run(self) -> None:
        said, said_at, suspect = None, 0.0, None
        wait = 3.0  # the first look soon after submission
        while not self._halt.wait(min(wait, self.poll_s)):
            rows = queue(self.folder)
            if rows is None:
                continue
            why = never_starts(rows, self.params)
            if why and why == suspect:  # seen on two polls: SLURM has settled on it
                pending = [job for job, state, _ in rows if state == "PENDING"]
                subprocess.run(["scancel", *pending], capture_output=True, timeout=60)
                self.refusal = f"{why}; cancelled its pending jobs ({' '.join(pending)}), none had started"
                return
            suspect, wait = why, (5.0 if why else self.poll_s)  # a suspect reason is confirmed soon
            line = summary(rows) + self._runs()
            if line != said and time.time() - said_at >= (self.report_s if said else 0):
                print(f"[sweep] slurm: {line}", file=sys.stderr, flush=True)
                said, said_at = line, time.time()

    def _runs(self) -> str:
        try:
            return f"; runs: {self.progress()}" if self.progress else ""
        except Exception:  # a record being replaced as it is read: the queue's line is still worth printing
            return ""
