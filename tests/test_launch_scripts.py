"""The scripts that run sweeps on a lent GPU machine (launch/gpu_session.sh, launch/gpu_slice.sh), rehearsed on
a CPU with a tiny model: GPU minutes are too rare to find a broken script there. A session starts two sweeps in
the background, saves the records while they run, is stopped mid-sweep (runs in flight end `interrupted`), and
another host resumes from the saved tarball with the one-command slice and completes exactly what is missing."""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def host(tmp_path: Path, name: str) -> Path:
    """A checkout's launch/ folder on a fresh 'machine' (the scripts work in the folder above theirs)."""
    root = tmp_path / name
    shutil.copytree(ROOT / "launch", root / "launch")
    return root


def script(root: Path, name: str, *args, out: Path, state: Path, timeout: int = 240, **env: str) -> str:
    env = {**os.environ, "OUT": str(out), "GPU_SESSION_STATE": str(state), "SKIP_SETUP": "1",
           "PY": sys.executable, "MODEL": "tiny_random", **env}
    done = subprocess.run(["bash", str(root / "launch" / name), *args], env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def statuses(results: Path) -> dict[str, str]:
    return {str(p.parent.relative_to(results)): json.loads(p.read_text())["status"] for p in results.rglob("record.json")}


def packed(glue_dir: Path) -> str:
    """The rehearsals' settings: the fixture's GLUE files, small batches, no evaluations but the last, 2 workers."""
    return f"data.glue_dir={glue_dir} train.batch_size=4 train.evals_per_epoch=0 hydra.launcher.workers_per_job=2"


def when(condition, seconds: int, then):
    """Poll ``condition`` every 0.2 s (`wait` takes at least 10 s a call: it could miss the moment), then run
    ``then`` and return its output — also when the condition never came, so that no sweep outlives the test."""
    deadline = time.time() + seconds
    try:
        while not condition():
            assert time.time() < deadline, f"the sweep did not get under way in {seconds} s"
            time.sleep(0.2)
    finally:
        out = then()
    return out


@pytest.mark.slow
def test_a_gpu_session_stopped_mid_sweep_resumes_elsewhere_from_its_saved_records(tmp_path, glue_dir):
    # Table 2's runs are 1,000 steps (4-10 s each on a 2-core CPU), so that the stop below finds some completed and
    # some in flight. `start` ran the same watch-and-save loop as `wait` while the sweeps ran.
    common = packed(glue_dir)
    sweeps = [f"+sweep=table1 method=devlin task=rte seed=range(1,3) train.epochs=40 {common}",
              f"+sweep=table2 seed=range(1,3) train.epochs=100 {common}"]
    a, state, out_a = host(tmp_path, "a"), tmp_path / "state", tmp_path / "out_a"
    print(script(a, "gpu_session.sh", "start", "5", str(tmp_path / "none.tar.gz"), *sweeps, out=out_a, state=state))
    table2 = a / "results" / "table2-tiny_random"
    stopped = when(lambda: {"completed", "running"} <= set(statuses(table2).values()), 360,  # the second sweep under way
                   lambda: script(a, "gpu_session.sh", "stop", out=out_a, state=state))
    assert "sweeps ended" in stopped
    before = statuses(table2)
    assert set(before.values()) <= {"completed", "interrupted"} and "interrupted" in before.values(), before
    assert all(s == "completed" for s in statuses(a / "results" / "table1-tiny_random").values())

    # The tarball in $OUT holds every record as it was at the stop, without checkpoints or claims.
    with tarfile.open(out_a / "records.tar.gz") as tar:
        names = tar.getnames()
    assert not any(n.endswith("checkpoint.pt") or "/.claims" in n for n in names)
    saved = {str(Path(n).parent.relative_to("results/table2-tiny_random")) for n in names
             if n.endswith("record.json") and n.startswith("results/table2-tiny_random/")}
    assert saved == set(before)

    # Another machine resumes from it with the one-command slice: only the interrupted and missing runs train.
    b, out_b = host(tmp_path, "b"), tmp_path / "out_b"
    print(script(b, "gpu_slice.sh", "200", str(out_a / "records.tar.gz"), *sweeps[1].split(), out=out_b, state=state))
    after = statuses(b / "results" / "table2-tiny_random")
    assert len(after) == 14 and set(after.values()) == {"completed"}
    for run, status in before.items():
        old = json.loads((table2 / run / "record.json").read_text())
        new = json.loads((b / "results" / "table2-tiny_random" / run / "record.json").read_text())
        if status == "completed":
            assert new == old  # not trained again
        else:
            assert old["error"] and new["started_at"] > old["started_at"]  # trained again, from the start
    log = (out_b / "sweep.log").read_text()
    assert f"{sum(s == 'completed' for s in before.values())} completed, {14 - sum(s == 'completed' for s in before.values())} to run" in log


@pytest.mark.slow
def test_a_drained_gpu_session_finishes_its_runs_in_flight_and_starts_no_other(tmp_path, glue_dir):
    """`drain` (the last command of a session): the runs in flight complete instead of being cut, no run starts
    after it, the next sweep never starts, and the saved tarball holds exactly what ran."""
    common = packed(glue_dir)
    sweeps = [f"+sweep=table2 seed=range(1,3) train.epochs=100 {common}",
              f"+sweep=table1 method=devlin task=rte seed=range(1,3) {common}"]
    a, state, out = host(tmp_path, "a"), tmp_path / "state", tmp_path / "out"
    print(script(a, "gpu_session.sh", "start", "1", str(tmp_path / "none.tar.gz"), *sweeps, out=out, state=state))
    table2 = a / "results" / "table2-tiny_random"
    drained = when(lambda: "running" in statuses(table2).values(), 240,
                   lambda: script(a, "gpu_session.sh", "drain", "120", out=out, state=state))
    assert "sweeps ended" in drained and "sweeps still running" not in drained, drained
    ran = statuses(table2)
    assert ran and set(ran.values()) == {"completed"} and len(ran) < 14, ran  # finished, not cut; the rest not started
    assert not (a / "results" / "table1-tiny_random").exists()  # the next sweep never started
    assert f"drained: {len(ran)} of 14 launched cells ran, {14 - len(ran)} were not started" in (out / "sweeps.log").read_text()
    with tarfile.open(out / "records.tar.gz") as tar:
        assert sum(n.endswith("record.json") for n in tar.getnames()) == len(ran)


@pytest.mark.slow
def test_a_gpu_slice_cut_at_its_end_resumes_and_a_draining_slice_lets_its_runs_finish(tmp_path, glue_dir):
    """The one-command form: a slice whose time runs out stops its runs in flight (`interrupted`, exit 0); the
    next, with DRAIN, resumes from the tarball, lets the runs in flight finish and starts no other after it."""
    # 4,800-step runs (15-25 s each on a 2-core CPU): the first slice's end and the second's drain both
    # come while runs are in flight
    args = ["+sweep=table2", "seed=range(1,3)", "train.epochs=1200", *packed(glue_dir).split()]
    a, out_a, state = host(tmp_path, "a"), tmp_path / "out_a", tmp_path / "state"
    cut = script(a, "gpu_slice.sh", "25", str(tmp_path / "none.tar.gz"), *args, out=out_a, state=state)
    assert "stopped at the slice's end" in cut, cut
    first = statuses(a / "results" / "table2-tiny_random")
    assert "interrupted" in first.values() and set(first.values()) <= {"completed", "interrupted"}, first  # none lost

    b, out_b = host(tmp_path, "b"), tmp_path / "out_b"
    t0 = time.time()  # DRAIN: no run starts after the slice's 30th second
    drained = script(b, "gpu_slice.sh", "210", str(out_a / "records.tar.gz"), *args, out=out_b, state=state, DRAIN="180")
    assert time.time() - t0 < 200 and "draining after" in drained and "stopped at" not in drained, drained
    second = statuses(b / "results" / "table2-tiny_random")
    assert second and set(second.values()) == {"completed"} and set(first) <= set(second), second
    assert len(second) < 14 and f"drained: {len(second)} of 14 launched cells ran" in (out_b / "sweep.log").read_text()
    with tarfile.open(out_b / "records.tar.gz") as tar:
        assert sum(n.endswith("record.json") for n in tar.getnames()) == len(second)


@pytest.mark.parametrize("name,args,usage", [
    ("gpu_session.sh", [], "usage: gpu_session.sh start SECONDS RECORDS 'SWEEP ARGS'... | wait SECONDS"),
    ("gpu_session.sh", ["start", "60"], "usage: gpu_session.sh start SECONDS RECORDS 'SWEEP ARGS'..."),
    ("gpu_session.sh", ["wait"], "usage: gpu_session.sh start SECONDS RECORDS 'SWEEP ARGS'... | wait SECONDS"),
    ("gpu_slice.sh", ["60"], "usage: [DRAIN=D] bash launch/gpu_slice.sh SECONDS RECORDS.tar.gz SWEEP_ARGS..."),
    ("save_records.sh", [], "usage: bash launch/save_records.sh DIR (an existing folder)"),
])
def test_a_launch_script_missing_its_arguments_says_its_usage(tmp_path, name, args, usage):
    root = host(tmp_path, "a")
    done = subprocess.run(["bash", str(root / "launch" / name), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "OUT": str(tmp_path / "out"), "GPU_SESSION_STATE": str(tmp_path / "s")})
    assert done.returncode == 2 and done.stderr.startswith(usage) and done.stderr.count("\n") == 1, done.stderr
    assert not (root / "results").exists() and not (tmp_path / "out").exists()  # nothing written
