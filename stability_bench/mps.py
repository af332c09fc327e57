"""NVIDIA's Multi-Process Service for the duration of a job: several processes' kernels then share the GPU
at once instead of taking turns in time slices.

Opt-in (``hydra.launcher.mps=true`` in a packed job; ``--mps-k`` in bench/gpu_concurrency.py). The daemon
gets its own pipe and log directories, so it never touches another user's MPS, and it is stopped when the
job ends. Without ``nvidia-cuda-mps-control`` on the PATH the job says so in one line and runs without it.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager

log = logging.getLogger("stability_bench")


@contextmanager
def mps_daemon(enabled: bool = True):
    """Yield the environment variables a client needs to reach the daemon ({} when MPS is off or missing)."""
    if not enabled:
        yield {}
        return
    binary = shutil.which("nvidia-cuda-mps-control")
    if binary is None:
        log.warning("MPS requested but nvidia-cuda-mps-control is not on the PATH: the workers share the GPU without it")
        yield {}
        return
    state = tempfile.mkdtemp(prefix="sb-mps-")
    env = {"CUDA_MPS_PIPE_DIRECTORY": os.path.join(state, "pipe"), "CUDA_MPS_LOG_DIRECTORY": os.path.join(state, "log")}
    for d in env.values():
        os.makedirs(d)
    full = {**os.environ, **env}
    started = subprocess.run([binary, "-d"], env=full, capture_output=True, text=True, timeout=30)
    if started.returncode != 0:
        log.warning("MPS did not start (%s): the workers share the GPU without it",
                    (started.stderr or started.stdout).strip().splitlines()[:1])
        shutil.rmtree(state, ignore_errors=True)
        yield {}
        return
    try:
        yield env
    finally:
        subprocess.run([binary], input="quit\n", env=full, capture_output=True, text=True, timeout=60)
        shutil.rmtree(state, ignore_errors=True)
