"""Packed jobs (``hydra/launcher=local``): grouping, the same record as alone, and resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stability_bench.config import ConfigError
from stability_bench.packing import as_container, check_packing, group_runs, longest_first, run_job
from stability_bench.run import execute

from conftest import make_cfg, write_glue

ROOT = Path(__file__).resolve().parent.parent


def fake_run(task, method, seed, **train):
    return {"task": {"name": task}, "method": {"name": method}, "seed": seed, "init_seed": None, "data_seed": None,
            "train": {"epochs": 3, **train}}


def test_runs_are_grouped_by_count_by_cell_or_all():
    runs = [fake_run(t, m, s) for t in ("rte", "cola") for m in ("devlin", "cwgnc") for s in range(3)]
    assert group_runs(runs, 5) == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]
    assert group_runs(runs, "all") == [list(range(12))]
    cells = group_runs(runs, "seeds")
    assert cells == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9, 10, 11]]  # one job per task x recipe: its seeds
    other_lr = runs[:2] + [fake_run("rte", "devlin", 2, lr=1e-5)]
    assert group_runs(other_lr, "seeds") == [[0, 1], [2]]  # another setting is another cell
    for bad in (0, -1, "some"):
        with pytest.raises(ConfigError, match="runs_per_job"):
            check_packing(bad, 1)
    with pytest.raises(ConfigError, match="workers_per_job"):
        check_packing("seeds", 0)


def test_a_job_hands_out_its_runs_by_optimizer_steps_longest_first(tmp_path):
    """Counted from the training files, as the dry run counts them: CoLA's 120 examples for 2 epochs (30 steps of
    8) before RTE's 40 for 3 (15), before a capped MRPC run (2); epochs alone would put RTE first. Data that
    cannot be read (here: a folder that is not there) counts its cap, and is ordered, not refused."""
    glue = write_glue(tmp_path / "glue", n_train=40)
    (glue / "CoLA" / "train.tsv").write_bytes((write_glue(tmp_path / "big", n_train=120) / "CoLA" / "train.tsv").read_bytes())
    cfgs = [make_cfg(o, glue, tmp_path / "r") for o in (
        ["task=mrpc", "data.max_train_samples=16"], ["task=rte", "train.epochs=3"], ["task=cola", "train.epochs=2"],
        [f"data.glue_dir={tmp_path / 'nowhere'}", "task=rte", "train.epochs=4", "data.max_train_samples=8"])]
    runs = [as_container(c) for c in cfgs]
    assert longest_first(runs) == [2, 1, 3, 0]  # steps 30, 15, 4 (the unreadable one: 4 epochs x 8 of 8), 2


@pytest.mark.slow
def test_a_packed_job_stops_at_a_run_that_a_user_mistake_stops_before_it_writes(glue_dir, tmp_path):
    """A run that stops on a user mistake before writing anything (here its data folder is not there: what a
    sweep checks first, so this job is built by hand) would be met by the job's later runs too: no run starts
    after it, the run before it keeps its record, and the job's status says the error, which the launchers
    turn into the sweep's one line (exit 2)."""
    from hydra_plugins.stability_bench_launcher.common import raise_refusal
    from stability_bench.config import UserError

    cfgs = [make_cfg(o, glue_dir, tmp_path / "r") for o in (
        ["seed=1", "train.epochs=2"], [f"data.glue_dir={tmp_path / 'nowhere'}", "seed=2", "data.max_train_samples=8"],
        ["seed=3", "data.max_train_samples=8"], ["seed=4", "data.max_train_samples=8"])]
    for c in cfgs[1:]:
        c.train.epochs = 1  # handed out in this order: longest first (2 steps, then 1 each), one worker
    statuses = run_job([as_container(c) for c in cfgs], workers=1)
    error = f"data.glue_dir={tmp_path / 'nowhere'} is not a directory (expected the folder holding RTE/train.tsv and dev.tsv)"
    assert statuses == ["completed", f"error: {error}", "missing", "missing"]
    assert sorted(p.parent.name for p in (tmp_path / "r").rglob("record.json")) == ["seed1"]
    with pytest.raises(UserError, match=f"^{error}$".replace("(", r"\(").replace(")", r"\)")):
        raise_refusal(statuses)
    raise_refusal(["completed", "crashed", "missing"])  # nothing to say


def strip(rec):
    """What must be equal between a packed and a lone run: everything but timings, owner and environment."""
    volatile = {"owner", "environment", "started_at", "finished_at", "wall_time_s", "train_time_s", "model_load_s",
                "data_load_s", "process_start_to_first_step_s", "tokenization_cache_hit", "config", "identity"}
    out = {k: v for k, v in rec.items() if k not in volatile}
    out["evals"] = [{k: v for k, v in e.items() if k != "seconds"} for e in rec["evals"]]
    return out


@pytest.mark.slow
def test_a_packed_job_gives_each_run_the_record_it_has_alone(glue_dir, tmp_path):
    overrides = ["train.threads=1", "task=mrpc"]
    cfgs = {s: make_cfg(overrides + [f"seed={s}", "method=cwgnc" if s % 2 else "method=devlin"], glue_dir, tmp_path / "packed")
            for s in range(4)}
    statuses = run_job([as_container(c) for c in cfgs.values()], workers=2)
    assert statuses == ["completed"] * 4
    for s, cfg in cfgs.items():
        alone = execute(make_cfg(overrides + [f"seed={s}", "method=cwgnc" if s % 2 else "method=devlin"],
                                 glue_dir, tmp_path / "alone"))
        method = "cwgnc,grouping=tensor,threshold=0.05" if s % 2 else "devlin"
        packed_path = tmp_path / "packed" / "tiny_random" / "mrpc" / method / f"seed{s}"
        packed = json.loads((packed_path / "record.json").read_text())
        assert strip(packed) == strip(alone)  # metric, predictions, loss curve: bit for bit
        assert sorted(packed) == sorted(alone)  # same schema
        assert packed["owner"]["worker"] in (0, 1) and alone["owner"]["worker"] is None
        assert packed["owner"]["pid"] != os.getpid()
        assert "step" in (packed_path / "run.log").read_text()


def sweep_cmd(glue_dir, results, *extra):
    return [sys.executable, "-m", "stability_bench", "task=rte", "model=tiny_random", f"data.glue_dir={glue_dir}",
            f"results_dir={results}", "hydra/launcher=local", "hydra.launcher.workers_per_job=2", *extra, "-m"]


@pytest.mark.slow
def test_a_packed_sweep_runs_each_cell_once_and_resumes_after_a_kill(tmp_path):
    from conftest import write_glue
    glue = write_glue(tmp_path / "glue", n_train=400)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = sweep_cmd(glue, tmp_path / "r", "seed=range(1,7)", "train.epochs=4", "train.batch_size=4",
                    "hydra.launcher.runs_per_job=seeds")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.time() + 120
    recs = lambda: [json.loads(p.read_text()) for p in (tmp_path / "r").glob("**/record.json")]  # noqa: E731
    def mid_sweep():  # one run done and another one under way
        statuses = {r["status"] for r in recs()}
        return {"completed", "running"} <= statuses
    while time.time() < deadline and not mid_sweep():
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # the whole job, workers included, as a node failure would
    proc.communicate(timeout=60)
    before = {r["seed"]: r for r in recs()}
    completed = {s for s, r in before.items() if r["status"] == "completed"}
    assert completed and len(completed) < 6
    assert any(r["status"] == "running" for r in before.values())  # killed mid-run: never failed, never lost
    status = subprocess.run([sys.executable, "-m", "stability_bench.status", str(tmp_path / "r" / "tiny_random")],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert "interrupted" in status.stdout, status.stdout

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{6 - len(completed)} to run" in rerun.stderr
    after = {r["seed"]: r for r in recs()}
    assert all(r["status"] == "completed" for r in after.values()) and len(after) == 6
    for s in completed:  # nothing ran twice: finished records are untouched
        assert after[s] == before[s]


@pytest.mark.slow
@pytest.mark.parametrize("packed", [True, False])
def test_a_drained_sweep_finishes_its_runs_in_flight_and_starts_no_other(tmp_path, packed):
    """SIGUSR1 to the sweep (what launch/gpu_session.sh drain sends), packed or one run at a time in-process:
    the runs in flight complete, the others are never started (no record), the sweep says how many of each and
    exits 0, and the same command runs the rest; nothing is interrupted, nothing runs twice."""
    glue = write_glue(tmp_path / "glue", n_train=400)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = sweep_cmd(glue, tmp_path / "r", "seed=range(1,7)", "train.epochs=4", "train.batch_size=4")
    if not packed:
        cmd = [a for a in cmd if not a.startswith(("hydra/launcher", "hydra.launcher"))]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    recs = lambda: [json.loads(p.read_text()) for p in (tmp_path / "r").glob("**/record.json")]  # noqa: E731
    deadline = time.time() + 120
    while time.time() < deadline and not any(r["status"] == "running" for r in recs()):
        time.sleep(0.1)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err[-3000:]
    ran = {r["seed"]: r for r in recs()}
    assert 0 < len(ran) < 6 and all(r["status"] == "completed" for r in ran.values()), err[-3000:]
    assert ("[job] draining: the " in err) == packed
    assert f"drained: {len(ran)} of 6 launched cells ran, {6 - len(ran)} were not started; run the same command" in err

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0 and f"{6 - len(ran)} to run" in rerun.stderr, rerun.stderr[-3000:]
    after = {r["seed"]: r for r in recs()}
    assert len(after) == 6 and all(r["status"] == "completed" for r in after.values())
    assert all(after[s] == r for s, r in ran.items())  # nothing ran twice


@pytest.mark.slow
def test_minilm_runs_packed_equal_the_same_runs_alone(real_glue_dir, tmp_path):
    from hydra import compose, initialize_config_dir

    from conftest import CONF_DIR

    def cfg(seed, results):
        over = [f"data.glue_dir={real_glue_dir}", f"results_dir={results}", "model=minilm_l6", "task=rte",
                "data.max_train_samples=32", "data.max_eval_samples=64", "train.epochs=1", "train.threads=1",
                f"seed={seed}", "method=cwgnc" if seed % 2 else "method=bias_correction"]
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            return compose(config_name="config", overrides=over)

    # three runs on two workers: they run at once, and one worker runs a second model after its first
    assert run_job([as_container(cfg(s, tmp_path / "packed")) for s in range(3)], workers=2) == ["completed"] * 3
    for s in range(3):
        alone = execute(cfg(s, tmp_path / "alone"))
        packed = json.loads(next((tmp_path / "packed").glob(f"minilm_l6/rte/*/seed{s}/record.json")).read_text())
        assert strip(packed) == strip(alone)
