"""The command line as a user types it: exit codes, one-line errors, nothing written on bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    env.pop("STABILITY_BENCH_GLUE_DIR", None)
    return subprocess.run([sys.executable, "-m", "stability_bench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_one_run_then_a_second_invocation_skips_it(glue_dir, tmp_path):
    args = ["task=rte", "model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}",
            "train.epochs=1", "seed=2"]
    first = cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    rec = json.loads((tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed2" / "record.json").read_text())
    assert rec["status"] == "completed"
    second = cli(*args, cwd=tmp_path)
    assert second.returncode == 0 and "already completed" in second.stderr + second.stdout


@pytest.mark.parametrize("override,message", [
    ("train.lr=0", "error: train.lr=0.0 is invalid: it must be a positive number"),
    ("train.batch_size=-4", "error: train.batch_size=-4 is invalid"),
    ("method.threshold=-1", "error: method.threshold=-1.0 is invalid"),
    ("data.glue_dir=/nonexistent/glue", "error: data.glue_dir=/nonexistent/glue is not a directory"),
])
def test_bad_values_give_one_line_errors_and_write_nothing(glue_dir, tmp_path, override, message):
    args = ["model=tiny_random", f"results_dir={tmp_path / 'r'}", f"data.glue_dir={glue_dir}", "method=cwgnc", override]
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith(message), out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override,names", [("task=sst2", "cola"), ("model=gpt9", "minilm_l6"), ("method=sgd", "cwgnc")])
def test_unknown_choices_list_the_valid_ones(tmp_path, override, names):
    out = cli(override, f"results_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode != 0 and names in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


def test_malformed_tsv_is_reported_with_file_and_line(glue_dir, tmp_path):
    (glue_dir / "CoLA" / "train.tsv").write_text("gj04\t1\n")
    out = cli("task=cola", "model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode == 2 and "CoLA/train.tsv:1: expected 4 tab-separated fields, found 2" in out.stderr
    assert not (tmp_path / "r" / "tiny_random").exists()


def test_a_setting_only_the_model_can_reject_is_recorded_as_crashed(glue_dir, tmp_path):
    args = ["model=tiny_random", "method=reinit", "method.layers=5", f"data.glue_dir={glue_dir}",
            f"results_dir={tmp_path / 'r'}", "train.epochs=1"]
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1].startswith(
        "error: method.layers=5 is invalid: the model has 2 layers")
    rec = json.loads(next((tmp_path / "r").glob("**/record.json")).read_text())
    assert rec["status"] == "crashed" and "the model has 2 layers" in rec["error"]
