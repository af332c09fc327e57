"""A run's claim: an exclusive lock that one process holds for as long as it runs that run.

Two sweeps started together, a SLURM job resubmitted while the first is still queued, or two workers given
the same run: whoever takes the claim first runs it, the others skip it. The claim is an ``flock`` on a small
file under ``<results_dir>/.claims/``, so the kernel releases it when its holder dies (``kill -9`` too): a
dead claim is taken over with nothing to clean up. The file holds the holder's owner (host, pid, worker,
SLURM job) for people; the lock itself is what counts. On a shared file system this relies on its locking
(NFSv4 and Lustre support flock across clients).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
from contextlib import contextmanager
from pathlib import Path

from .records import owner

CLAIMS_DIR = ".claims"


@contextmanager
def claim(results_dir: Path, run_dir: Path):
    """Hold the claim of ``run_dir`` for the block: yields True, or False when a live process holds it."""
    folder = Path(results_dir) / CLAIMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    name = str(Path(run_dir).relative_to(results_dir))
    path = folder / (hashlib.sha1(name.encode()).hexdigest()[:24] + ".lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            yield False
            return
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"run_dir": name, **owner()}).encode())
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
