"""A run stopped by SIGTERM (or SIGUSR2, SLURM's warning before a time limit) saves a checkpoint at the end of
its step, and the next attempt resumes from it with the record an uninterrupted run gives."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write_glue

ROOT = Path(__file__).resolve().parent.parent
SAME = ("metric", "metrics", "dev_predictions", "last_dev_predictions", "loss_curve", "steps", "selected_eval", "stages",
        "failed")


def command(glue, results, method):
    method, _, heldout = method.partition("+")  # bias_correction+heldout: selects on a held-out split
    return [sys.executable, "-m", "stability_bench", "model=tiny_random", "task=rte", f"method={method}",
            f"data.glue_dir={glue}", f"results_dir={results}", "seed=3", "train.batch_size=4", "train.epochs=3",
            "train.evals_per_epoch=3", "train.select=best", "train.log_every=7"] \
        + (["data.heldout_fraction=0.2"] if heldout else [])


def record_of(results, method_dir):
    return json.loads(next(Path(results).glob(f"tiny_random/rte/{method_dir}/seed3/record.json")).read_text())


@pytest.mark.parametrize("method,method_dir,sig", [("bias_correction", "bias_correction", signal.SIGTERM),
                                                   ("mixout", "mixout*", signal.SIGUSR2),
                                                   ("gu_restart", "gu_restart*", signal.SIGTERM),
                                                   ("bias_correction+heldout", "bias_correction", signal.SIGTERM)])
@pytest.mark.slow
def test_a_stopped_run_resumes_from_its_checkpoint_to_the_uninterrupted_result(tmp_path, method, method_dir, sig):
    glue = write_glue(tmp_path / "glue", n_train=400)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    whole = subprocess.run(command(glue, tmp_path / "whole", method), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert whole.returncode == 0, whole.stderr[-2000:]
    uninterrupted = record_of(tmp_path / "whole", method_dir)

    proc = subprocess.Popen(command(glue, tmp_path / "r", method), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    stop_after = max(20, uninterrupted["steps"] // 2)  # well inside training (a later stage for gu_restart)
    while time.time() < deadline:
        logs = list((tmp_path / "r").glob("tiny_random/rte/*/seed3/run.log"))
        if logs and logs[0].read_text().count(" step ") * 7 >= stop_after:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143 and "interrupted: 0 completed" in err, err[-2000:]
    stopped = record_of(tmp_path / "r", method_dir)
    assert stopped["status"] == "interrupted" and stopped["checkpoint"] == "checkpoint.pt"
    run_dir = next((tmp_path / "r").glob(f"tiny_random/rte/{method_dir}/seed3"))
    assert (run_dir / "checkpoint.pt").exists()

    again = subprocess.run(command(glue, tmp_path / "r", method), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = record_of(tmp_path / "r", method_dir)
    assert resumed["status"] == "completed" and 0 < resumed["resumed_from_step"] < resumed["steps"]
    assert "checkpoint" not in resumed and not (run_dir / "checkpoint.pt").exists()  # deleted once completed
    for key in SAME:  # bit for bit: the same batches, dropout, optimizer state and evaluations
        assert resumed.get(key) == uninterrupted.get(key), key
    strip = lambda evals: [{k: v for k, v in e.items() if k != "seconds"} for e in evals]  # noqa: E731
    assert strip(resumed["evals"]) == strip(uninterrupted["evals"])
    assert "resumed at step" in (run_dir / "run.log").read_text()


def test_a_checkpoint_of_other_settings_is_not_used(tmp_path):
    import torch

    from stability_bench import checkpoint

    path = tmp_path / "checkpoint.pt"
    torch.save({"identity": {"seed": 1}}, path)
    assert checkpoint.load(path, {"seed": 2}) is None and not path.exists()
    path.write_bytes(b"truncat")
    assert checkpoint.load(path, {"seed": 2}) is None and not path.exists()
