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


def test_a_config_file_that_is_not_yaml_is_one_line_naming_its_file_line_and_column(tmp_path):
    """A preset of one's own (given with --config-dir) whose flow mapping is not closed: a run, and a sweep over it
    and a good preset, each stop with one line before anything is written."""
    (tmp_path / "conf" / "method").mkdir(parents=True)
    bad = tmp_path / "conf" / "method" / "mine.yaml"
    bad.write_text("# @package _global_\ndefaults: [cwgnc, _self_]\nmethod: {name: mine, label: Mine, threshold: 0.1\n")
    expected = (f"error: {bad}:4:1: not valid YAML: expected ',' or '}}', but got '<stream end>' (while parsing a flow "
                "mapping that begins at line 3) (HYDRA_FULL_ERROR=1 shows Hydra's full report)")
    for args in (["method=mine"], ["method=cwgnc,mine", "-m"]):
        out = cli("--config-dir", str(tmp_path / "conf"), "model=tiny_random", f"results_dir={tmp_path / 'r'}", *args,
                  cwd=tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr[-3000:]
        assert out.stderr.strip().splitlines() == [expected]
        assert not (tmp_path / "r").exists()


def test_a_key_the_schema_lacks_in_a_config_file_of_ones_own_names_the_key_and_the_file(tmp_path):
    (tmp_path / "conf" / "method").mkdir(parents=True)
    (tmp_path / "conf" / "method" / "mine.yaml").write_text(
        "# @package _global_\ndefaults: [cwgnc, _self_]\nmethod: {name: mine, label: Mine}\ntrain: {epochz: 3}\n")
    out = cli("--config-dir", str(tmp_path / "conf"), "model=tiny_random", "method=mine", f"results_dir={tmp_path / 'r'}",
              cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        "error: train.epochz is not a setting; did you mean train.epochs? (in method/mine.yaml) (HYDRA_FULL_ERROR=1 "
        "shows Hydra's full report)"], out.stderr[-3000:]
    assert not (tmp_path / "r").exists()


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
    ("method.threshold=abc", "error: method.threshold=abc is invalid: Value 'abc' of type 'str' could not be converted to Float"),
    ("seed=-1", "error: seed=-1 is invalid: a seed is an integer from 0 to 9223372036854775807"),
    ("data.subset_seed=4294967296", "error: data.subset_seed=4294967296 is invalid: a seed is an integer from 0 to 4294967295"),
    ("data.glue_dir=/nonexistent/glue", "error: data.glue_dir=/nonexistent/glue is not a directory"),
    ("+data.max_train_sample=32", "error: data.max_train_sample is not a setting; did you mean data.max_train_samples?"),
    ("+trian.lr=1", "error: trian is not a setting; did you mean train?"),
    ("experiment=../elsewhere", "error: experiment=../elsewhere is invalid: it names one folder under results_dir, so "
     "it must be a non-empty name without '/' that does not start with '.'"),
    ("experiment=.cache", "error: experiment=.cache is invalid"),
    ("model.name=org/name", "error: model.name=org/name is invalid"),
    ("data.heldout_fraction=1.5", "error: data.heldout_fraction=1.5 is invalid: it must be in (0, 1), or null"),
    ("data.heldout_fraction=0.1", "error: data.heldout_fraction=0.1 holds training data out for train.select=best to "
     "select on; with train.select=last it would only shrink the training set"),
])
def test_bad_values_give_one_line_errors_and_write_nothing(glue_dir, tmp_path, override, message):
    args = ["model=tiny_random", f"results_dir={tmp_path / 'r'}", f"data.glue_dir={glue_dir}", "method=cwgnc", override]
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith(message), out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override,names", [("task=sst9", "cola"), ("model=gpt9", "minilm_l6"), ("method=sgd", "cwgnc")])
def test_unknown_choices_list_the_valid_ones(tmp_path, override, names):
    out = cli(override, f"results_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode != 0 and names in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("override,line", [
    ("model=gpt9", "error: model=gpt9 is not an option; choose one of albert_large_v2, bert_base_uncased"),
    ("model=base_model", "error: model=base_model is not an option; choose one of"),
    ("task=base_task", "error: task=base_task is not an option; choose one of boolq, cb, cola, mnli, mrpc, qnli, qqp, rte, sst2, wnli"),
    ("trian.lr=1", "error: trian is not a setting; did you mean train?"),
    ("data.max_train_sample=32", "error: data.max_train_sample is not a setting; did you mean data.max_train_samples?"),
    ("seed=abc", "error: seed=abc is invalid: Value 'abc' of type 'str' could not be converted to Integer"),
    ("train.lr=[1,", "error: no viable alternative at input '[1,'"),
    ("+sweep=nope", "error: sweep=nope is not an option; choose one of gu, leaderboard"),
    ("model.random_init.x=3", "error: model.random_init.x is not in model.random_init; to add a key there use +"),
    # Hydra's own settings: the launcher's keys exist once it is chosen (the usual slip: no hydra/launcher=)
    ("hydra.launcher.workers_per_job=8", "error: hydra.launcher.workers_per_job is not a setting; the settings of "
     "hydra.launcher: none; it is a setting of hydra/launcher=local and hydra/launcher=slurm"),
    ("hydra.run.dirr=x", "error: hydra.run.dirr is not a setting; did you mean hydra.run.dir?"),
])
def test_hydra_errors_are_one_line_naming_the_key_and_the_choices(tmp_path, override, line):
    out = cli("model=tiny_random", override, f"results_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
    assert out.stderr.startswith(line) and "HYDRA_FULL_ERROR=1" in out.stderr
    assert "base_model" not in out.stderr.partition("choose one of")[2]  # the schema is not an option
    assert not (tmp_path / "r").exists()
    full = subprocess.run([sys.executable, "-m", "stability_bench", "model=tiny_random", override], cwd=tmp_path,
                          env={**os.environ, "HYDRA_FULL_ERROR": "1"}, capture_output=True, text=True, timeout=300)
    assert full.returncode != 0 and "Traceback" in full.stderr  # the full text is one variable away


def test_a_dry_run_without_multirun_is_refused_not_run(glue_dir, tmp_path):
    out = cli("model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}",
              "hydra.sweeper.dry_run=true", cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1] == (
        "error: hydra.sweeper.dry_run=true tells what a sweep would run: add -m (nothing was run)")
    assert not (tmp_path / "r").exists()


def test_a_sweep_preset_without_multirun_is_refused_not_run_as_one_run(glue_dir, tmp_path):
    out = cli("+sweep=table2", "model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}",
              cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1] == (
        "error: +sweep=table2 declares a sweep: add -m to run its cells (without -m it would be one run of its "
        "defaults; nothing was run)")
    assert not (tmp_path / "r").exists()


def test_multirun_flag_may_come_anywhere_among_the_overrides(glue_dir, tmp_path):
    # Hydra's own parser refuses an override after -m; a user adds overrides to the end of a command
    out = cli("+sweep=table1", "model=tiny_random", "-m", "seed=range(1,3)", "method=cwgnc", f"data.glue_dir={glue_dir}",
              f"results_dir={tmp_path / 'r'}", "hydra.sweeper.dry_run=true", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "6 cells" in out.stdout + out.stderr and "dry run: nothing was launched" in out.stdout + out.stderr
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


@pytest.mark.slow
def test_a_results_dir_that_cannot_be_created_is_a_one_line_user_error(glue_dir, tmp_path):
    (tmp_path / "r").write_text("a file where the results directory should be")
    out = cli("model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1] == (
        f"error: the tokenization cache {tmp_path / 'r' / '.cache' / 'tokenized'} cannot be written (Not a directory): "
        "give results_dir (or data.cache_dir) a folder that can be created and written"), out.stderr
    sweep = cli("+sweep=smoke", "model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r' / 'x'}",
                "-m", cwd=tmp_path)
    assert sweep.returncode == 2 and "Traceback" not in sweep.stderr
    assert sweep.stderr.strip().splitlines()[-1] == (
        f"error: results_dir: the experiment folder {tmp_path / 'r' / 'x' / 'smoke-tiny_random'} cannot be created "
        "(Not a directory); nothing was launched"), sweep.stderr
    assert (tmp_path / "r").read_text() == "a file where the results directory should be"


@pytest.mark.parametrize("args,line", [
    # the preset is not the one that has the setting (the usual slip: method=cwgnc left out)
    (["method.threshold=0.1"], "error: method.threshold is not a setting of the chosen method; it is a setting of "
     "method=cwgnc, method=cwgnc_script (HYDRA_FULL_ERROR=1"),
    (["+method.threshold=0.1"], "error: method.threshold is not a setting of method=bias_correction (recipe plain, "
     "whose settings are: none); it is a setting of method=cwgnc, method=cwgnc_script"),
    (["method=gu", "method.layers=2"], "error: method.layers is not a setting of the chosen method; it is a setting of "
     "method=llrd, method=reinit"),  # llrd inherits reinit's recipe from its parent preset
    (["method=cwgnc", "method.treshold=0.1"], "error: method.treshold is not a setting of the chosen method; did you "
     "mean method.threshold (a setting of method=cwgnc, method=cwgnc_script)?"),
    (["method=mixout", "+method.zzz=1"], "error: method.zzz is not a setting of method=mixout (recipe mixout, whose "
     "settings are: disable_dropout, p, skip_intermediate)"),
])
def test_a_method_setting_of_another_preset_names_the_presets_that_have_it(glue_dir, tmp_path, args, line):
    out = cli("model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", *args, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and out.stderr.startswith(line), out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_sweep_with_crashed_cells_exits_non_zero_naming_each_reason_once(glue_dir, tmp_path):
    out = cli("model=tiny_random", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "train.epochs=1",
              "model.random_init.num_attention_heads=3", "task=rte,mrpc", "seed=1,2", "-m", cwd=tmp_path)
    assert out.returncode == 1, out.stderr[-2000:]
    lines = out.stderr.strip().splitlines()
    crashed = [line for line in lines if "cells crashed: " in line]
    assert crashed == [crashed[0]] and crashed[0].startswith("[sweep] 4 cells crashed: ValueError"), out.stderr[-2000:]
    assert lines[-1].startswith("error: 4 of 4 launched cells did not complete")
    assert any("progress: python -m stability_bench.status" in line for line in lines)


@pytest.mark.slow
@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_signal_stops_a_run_with_one_line_and_an_interrupted_record(glue_dir, tmp_path, sig, code):
    import signal
    import time
    from conftest import write_glue
    glue = write_glue(tmp_path / "glue", n_train=2000)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "stability_bench", "model=tiny_random", f"data.glue_dir={glue}",
                             f"results_dir={tmp_path / 'r'}", "train.epochs=20", "train.batch_size=2", "seed=1,2", "-m"],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # as at a terminal: a suite started in the background (`cmd &` in a script) ignores
                            # SIGINT, its children inherit that, and Python then leaves Ctrl-C ignored
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    record = tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed1" / "record.json"
    deadline = time.time() + 120
    while time.time() < deadline and not (record.exists() and "step" in (record.parent / "run.log").read_text()):
        time.sleep(0.2)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err[-2000:]
    assert err.strip().splitlines()[-1] == "interrupted: 0 completed; re-run the same command to resume"
    assert "Traceback" not in err
    assert json.loads(record.read_text())["status"] == "interrupted"


@pytest.mark.slow
def test_records_sweep_files_and_caches_follow_the_umask(glue_dir, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-c", "import os, runpy, sys; os.umask(0o022); sys.argv = sys.argv[1:]; "
           "runpy.run_module('stability_bench', run_name='__main__')", "stability_bench", "model=tiny_random",
           f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "train.epochs=1", "seed=1,2", "-m"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    files = [*(tmp_path / "r").glob("**/record.json"), *(tmp_path / "r").glob("**/sweep.json"),
             *(tmp_path / "r").glob(".cache/tokenized/*.pt")]
    assert len(files) == 4
    for f in files:  # readable by the other users of a shared results directory
        assert f.stat().st_mode & 0o777 == 0o644, f


@pytest.mark.parametrize("module,ends", [("stability_bench.status", "corrupt (listed by path) and missing."),
                                         ("analysis", "Outputs are swapped in all at once (analysis/outputs.py).")])
def test_help_says_what_the_command_does_in_whole_sentences(tmp_path, module, ends):
    out = subprocess.run([sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    description = " ".join(out.stdout.split("\n\n")[1].split())  # usage, then the description
    assert description.endswith(ends), description


def test_the_main_command_help_shows_usage_groups_launchers_and_examples(tmp_path):
    out = cli("--help", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("python -m stability_bench [GROUP=OPTION] [KEY=VALUE] ... [-m]"), out.stdout[:300]
    groups = dict(line.split(": ", 1) for line in out.stdout.split("== Configuration groups")[1].split("\n\n")[0]
                  .splitlines()[1:])
    assert {"method", "model", "sweep", "task"} <= set(groups) and "table2" in groups["sweep"].split(", ")
    assert "hydra/launcher=basic" in out.stdout and "python -m analysis" in out.stdout
    assert not list(tmp_path.iterdir())  # help writes nothing
