"""Sweeps submitted to a real single-node SLURM cluster (slurmctld, slurmd, slurmdbd) on localhost.

The cluster is started by launch/local_slurm.sh for this module and stopped by PID at the end.
Without SLURM's binaries the tests skip, unless STABILITY_BENCH_REQUIRE_SLURM=1 (CI) makes that
a failure.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slurm
ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ["hydra/launcher=slurm", "hydra.launcher.gpus_per_node=null", "hydra.launcher.mem_gb=null",
            "hydra.launcher.cpus_per_task=1", "hydra.launcher.timeout_min=20"]


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    if not all(shutil.which(b) for b in ("slurmctld", "slurmd", "slurmdbd", "sbatch", "mysqld")):
        if os.environ.get("STABILITY_BENCH_REQUIRE_SLURM") == "1":
            pytest.fail("SLURM is required here but slurmctld/slurmd/slurmdbd/mysqld are not installed")
        pytest.skip("SLURM daemons not installed (see launch/local_slurm.sh)")
    state = tmp_path_factory.mktemp("slurm")
    script = ROOT / "launch" / "local_slurm.sh"
    out = subprocess.run(["bash", str(script), "start", str(state)], capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stdout + out.stderr
    env = {**os.environ, "SLURM_CONF": str(state / "slurm.conf"), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    yield env
    subprocess.run(["bash", str(script), "stop", str(state)], capture_output=True, timeout=60)


def sweep_cmd(glue_dir, results, *extra):
    # train.threads=1: the array's jobs share this machine's cores; OpenMP pools of several threads each spin
    # against one another (a 10x slowdown measured on 2 cores)
    return [sys.executable, "-m", "stability_bench", "+sweep=smoke", "model=tiny_random", "task=rte",
            f"data.glue_dir={glue_dir}", f"results_dir={results}", "seed=range(1,3)", "train.threads=1", *LAUNCHER,
            *extra, "-m"]


def records(results):
    return sorted(results.glob("**/record.json"))


def test_sweep_runs_as_a_slurm_job_array(slurm, glue_dir, tmp_path):
    out = subprocess.run(sweep_cmd(glue_dir, tmp_path / "r", "data.max_train_samples=32"), env=slurm, cwd=tmp_path,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    recs = [json.loads(p.read_text()) for p in records(tmp_path / "r")]
    assert len(recs) == 4 and all(r["status"] == "completed" for r in recs)
    job_ids = {r["environment"]["slurm_job_id"] for r in recs}
    assert None not in job_ids and len(job_ids) == 4  # each run was its own SLURM (array) job
    for _ in range(60):  # accounting lags a few seconds behind the jobs' ends
        acct = subprocess.run(["sacct", "-n", "-X", "-o", "JobID,State", "-j", ",".join(sorted(job_ids))], env=slurm,
                              capture_output=True, text=True, timeout=60)
        if acct.stdout.count("COMPLETED") == 4:
            break
        time.sleep(1)
    assert acct.stdout.count("COMPLETED") == 4, acct.stdout


def test_cancelled_job_is_completed_by_a_rerun_without_duplicates(slurm, tmp_path):
    from conftest import write_glue
    # Long enough to be cancelled while it trains: 400 examples, batches of 4, 25 epochs = 2,500 steps, ~5 s at
    # 2 ms a step on an idle core (200 steps, 0.4 s, once let a run finish between its record saying running
    # and the scancel on a loaded machine: nothing was left to cancel).
    glue = write_glue(tmp_path / "glue", n_train=400)
    cmd = sweep_cmd(glue, tmp_path / "r", "train.epochs=25", "train.batch_size=4")
    proc = subprocess.Popen(cmd, env=slurm, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.time() + 300
    while victim is None and time.time() < deadline:  # a job whose run is training (its record says so)
        for p in records(tmp_path / "r"):
            try:
                rec = json.loads(p.read_text())
            except ValueError:
                continue
            if rec["status"] == "running" and rec["owner"].get("slurm_job"):
                victim = rec["owner"]["slurm_job"]
        time.sleep(0.2)
    assert victim, "no run started training"
    subprocess.run(["scancel", victim], env=slurm, check=True)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "error: the sweep stopped" in err, err[-3000:]
    # the queue, while it waited: its first look comes 3 s after submission, when SLURM may not have started any
    # job yet on a loaded machine ("4 pending"), and the next a minute later, after this sweep has stopped
    assert re.search(r"\[sweep\] slurm: \d+ (running|pending).*; runs: ", err), err[-3000:]
    victim_record = next(p for p in records(tmp_path / "r")
                         if json.loads(p.read_text())["owner"]["slurm_job"] == victim)
    stopped = json.loads(victim_record.read_text())
    # scancel's SIGTERM: the run saves a checkpoint and records "interrupted" (or, SIGKILLed first, stays
    # "running" with a dead owner); never "failed", never completed
    assert stopped["status"] in ("interrupted", "running")

    rerun = subprocess.run(cmd, env=slurm, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert "to run" in rerun.stderr and "0 to run" not in rerun.stderr
    redone = json.loads(victim_record.read_text())
    assert redone["status"] == "completed" and redone["owner"]["slurm_job"] != victim
    recs = records(tmp_path / "r")
    assert len(recs) == 4 and all(json.loads(p.read_text())["status"] == "completed" for p in recs)
    assert not list((tmp_path / "r").glob("**/.record.*.tmp"))
    final = subprocess.run(cmd, env=slurm, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert final.returncode == 0 and "all cells are complete" in final.stderr


def test_partition_that_does_not_exist_reports_slurms_reason(slurm, glue_dir, tmp_path):
    out = subprocess.run(sweep_cmd(glue_dir, tmp_path / "r", "hydra.launcher.partition=nosuch"), env=slurm,
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    assert "invalid partition" in out.stderr.lower() and "Traceback" not in out.stderr
    assert not records(tmp_path / "r")


@pytest.mark.parametrize("packed", [False, True], ids=["one-run-per-task", "packed"])
def test_jobs_slurm_would_never_start_are_cancelled_with_the_setting_to_change(slurm, glue_dir, tmp_path, packed):
    # more CPUs than this one-node cluster has: sbatch accepts the job, which then waits as PartitionConfig forever
    extra = ["hydra.launcher.cpus_per_task=64"] + (["hydra.launcher.runs_per_job=2"] if packed else [])
    out = subprocess.run(sweep_cmd(glue_dir, tmp_path / "r", *extra), env=slurm, cwd=tmp_path,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    assert "[sweep] slurm: " in out.stderr and "pending (PartitionConfig)" in out.stderr  # the progress line
    error = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert len(error) == 1 and "can never start" in error[0] and "hydra.launcher.cpus_per_task=64" in error[0], error
    assert "Traceback" not in out.stderr
    assert not subprocess.run(["squeue", "-h"], env=slurm, capture_output=True, text=True).stdout.strip()
    assert not records(tmp_path / "r")


@pytest.mark.parametrize("packed", [False, True], ids=["one-run-per-task", "packed"])
def test_a_user_mistake_that_stops_a_run_in_its_job_is_the_sweeps_one_line(slurm, tmp_path, packed):
    """Data from the hub, offline, with nothing cached: each run stops before it writes anything, with one line
    (exit 2) in its job's error stream; the sweep says that line, not submitit's report around it, and exits 2.
    A packed job starts no run after it (its second run does not try the hub)."""
    env = {**slurm, "HF_HOME": str(tmp_path / "hf")}
    extra = ["hydra.launcher.runs_per_job=all"] if packed else []
    out = subprocess.run(sweep_cmd("null", tmp_path / "r", *extra), env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-3000:]
    error = [ln for ln in out.stderr.splitlines() if ln.startswith("error:")]
    assert error == ["error: the sweep stopped: cannot load nyu-mll/glue/rte (train) from the datasets hub (Couldn't "
                     "reach 'nyu-mll/glue' on the Hub (OfflineModeIsEnabled)); offline, set data.glue_dir (or "
                     "STABILITY_BENCH_GLUE_DIR) to a folder holding RTE/"], out.stderr[-3000:]
    assert "Traceback" not in out.stderr and not records(tmp_path / "r")
    if packed:
        log = next((tmp_path / "r").glob("**/.submitit/*/*_log.err")).read_text()
        assert log.count("did not start: error: cannot load") == 1 and log.count(" started (") == 1, log[-3000:]
    wait_until_idle(slurm)


def packed_cmd(glue_dir, results, *extra, epochs=4):
    return [sys.executable, "-m", "stability_bench", "model=tiny_random", "task=rte", f"data.glue_dir={glue_dir}",
            f"results_dir={results}", "seed=range(1,9)", f"train.epochs={epochs}", "train.batch_size=4", *LAUNCHER,
            "hydra.launcher.runs_per_job=4", "hydra.launcher.workers_per_job=2", *extra, "-m"]


def by_seed(results):
    return {json.loads(p.read_text())["seed"]: json.loads(p.read_text()) for p in records(results)}


def step_of(results, seed):
    """The last step the run of ``seed`` logged to its run.log (0 before its first logged step)."""
    for rec in records(results):
        if json.loads(rec.read_text())["seed"] == seed and (rec.parent / "run.log").exists():
            steps = re.findall(r" step (\d+)/\d+ ", (rec.parent / "run.log").read_text())
            return int(steps[-1]) if steps else 0
    return 0


def wait_until_idle(env, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not subprocess.run(["squeue", "-h", "-o", "%i"], env=env, capture_output=True, text=True).stdout.strip():
            return
        time.sleep(1)
    raise AssertionError("jobs still queued")


def release_when_requeued(env, job, timeout=120):
    """SLURM holds a requeued job for two minutes (its begin time, reason ``BeginTime``) before it may start again.
    What the tests check is what the requeued job does, not that wait: release it as an operator would
    (``scontrol update StartTime=now``), which saves CI those two minutes."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = subprocess.run(["squeue", "-h", "-j", job, "-o", "%T %r"], env=env, capture_output=True,
                               text=True).stdout.split()
        if state == ["PENDING", "BeginTime"]:
            subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], env=env, check=True)
            return
        time.sleep(0.5)
    raise AssertionError(f"job {job} was not requeued (squeue: {state})")


def test_packed_jobs_cancelled_midway_resume_without_running_anything_twice(slurm, tmp_path):
    from conftest import write_glue
    glue = write_glue(tmp_path / "glue", n_train=400)
    # 1,200 steps a run (~2.5 s on an idle core): the victim's other runs are still to do when scancel arrives
    cmd = packed_cmd(glue, tmp_path / "r", epochs=12)
    proc = subprocess.Popen(cmd, env=slurm, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim, deadline = None, time.time() + 300
    while victim is None and time.time() < deadline:  # a job with a completed run and runs still to do
        recs = by_seed(tmp_path / "r").values()
        jobs = {r["owner"]["slurm_job"] for r in recs if r["status"] == "completed"}
        for job in jobs:
            mine = [r for r in recs if r["owner"]["slurm_job"] == job]
            if len([r for r in mine if r["status"] == "completed"]) < 4:
                victim = job
        time.sleep(0.2)
    assert victim, "no packed job got halfway"
    subprocess.run(["scancel", victim], env=slurm, check=True)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 1 and "error: the sweep stopped" in err, err[-3000:]
    assert "submitted 8 runs as 2 packed job(s)" in err
    wait_until_idle(slurm)
    before = by_seed(tmp_path / "r")
    assert len({r["owner"]["slurm_job"] for r in before.values()}) == 2  # two array tasks of four runs each
    done = {s for s, r in before.items() if r["status"] == "completed"}
    assert 4 <= len(done) < 8  # the other job finished; the cancelled one left some runs undone
    assert all(r["status"] in ("completed", "running", "interrupted") for r in before.values())  # never failed or crashed

    rerun = subprocess.run(cmd, env=slurm, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{8 - len(done)} to run" in rerun.stderr and f"{len(done)} completed" in rerun.stderr
    assert "1 packed job(s)" in rerun.stderr  # what is missing, repacked
    after = by_seed(tmp_path / "r")
    assert len(after) == 8 and all(r["status"] == "completed" for r in after.values())
    for s in done:  # nothing ran twice
        assert after[s] == before[s]


def test_a_requeued_packed_job_skips_the_runs_it_completed(slurm, tmp_path):
    from conftest import write_glue
    glue = write_glue(tmp_path / "glue", n_train=400)
    cmd = packed_cmd(glue, tmp_path / "r", "hydra.launcher.runs_per_job=all")
    proc = subprocess.Popen(cmd, env=slurm, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    done, running, deadline = {}, {}, time.time() + 300
    while not (done and running) and time.time() < deadline:
        recs = by_seed(tmp_path / "r")
        done = {s: r for s, r in recs.items() if r["status"] == "completed"}
        # in the first half of its training: still training when the signal arrives, and past its first steps,
        # so its checkpoint is one a requeued job resumes from (a run at step 0 or about to finish proves nothing)
        running = {s: r for s, r in recs.items() if r["status"] == "running" and 10 <= step_of(tmp_path / "r", s) <= 160}
        time.sleep(0.05)
    assert done and running, "no run completed while another one was early in its training"
    job = next(iter(done.values()))["owner"]["slurm_job"]
    # what SLURM sends before a time limit or preemption: submitit checkpoints and requeues the job
    subprocess.run(["scancel", "--signal=USR2", job.split("_")[0]], env=slurm, check=True)
    release_when_requeued(slurm, job.split("_")[0])
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    after = by_seed(tmp_path / "r")
    assert len(after) == 8 and all(r["status"] == "completed" for r in after.values())
    for s, r in done.items():  # completed before the requeue: skipped by the requeued job, not run again
        assert after[s]["finished_at"] == r["finished_at"] and after[s]["owner"] == r["owner"]
    # runs in flight at the signal saved a checkpoint at the end of their step; the requeued job resumed them
    assert any(after[s].get("resumed_from_step") for s in running), {s: after[s].get("resumed_from_step") for s in after}
    assert not list((tmp_path / "r").glob("**/checkpoint.pt"))
    log = "".join(p.read_text() for p in (tmp_path / "r").glob("**/.submitit/**/*.err"))
    assert_requeued_then_completed(slurm, job.split("_")[0])
    assert log.count("completed before, skipped") >= len(done)


def assert_requeued_then_completed(env, job):
    """SLURM's accounting keeps every attempt of a job (-D): the first one ended REQUEUED, the last COMPLETED.
    (submitit's own "Requeued job" line can be lost: the requeued attempt may truncate the first one's log.)"""
    for _ in range(60):  # accounting lags a few seconds behind the job's end
        attempts = subprocess.run(["sacct", "-n", "-X", "-D", "-o", "State", "-j", job], env=env,
                                  capture_output=True, text=True, timeout=60).stdout.split()
        if attempts and attempts[-1] == "COMPLETED":
            break
        time.sleep(1)
    assert "REQUEUED" in attempts and attempts[-1] == "COMPLETED", attempts


def test_a_requeued_run_resumes_from_the_checkpoint_it_saved(slurm, tmp_path):
    """One run per array task (the preset's default, submitit's own job): at SIGUSR2 the run finishes its step and
    saves a checkpoint, submitit requeues the job, and the requeued job resumes the run from that step."""
    from conftest import write_glue
    glue = write_glue(tmp_path / "glue", n_train=400)
    cmd = [sys.executable, "-m", "stability_bench", "model=tiny_random", "task=rte", f"data.glue_dir={glue}",
           f"results_dir={tmp_path / 'r'}", "seed=1", "train.epochs=30", "train.batch_size=4", "train.threads=1",
           *LAUNCHER, "-m"]  # 3,000 steps
    proc = subprocess.Popen(cmd, env=slurm, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not 100 <= step_of(tmp_path / "r", 1) <= 1500:
        assert time.time() < deadline and proc.poll() is None, "the run was not seen early in its training"
        time.sleep(0.05)
    job = by_seed(tmp_path / "r")[1]["owner"]["slurm_job"]
    subprocess.run(["scancel", "--signal=USR2", job], env=slurm, check=True)
    release_when_requeued(slurm, job)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    rec = by_seed(tmp_path / "r")[1]
    assert rec["status"] == "completed" and rec["resumed_from_step"] >= 100, rec.get("resumed_from_step")
    assert not list((tmp_path / "r").glob("**/checkpoint.pt"))
    assert_requeued_then_completed(slurm, job)
