"""Local sweeps through Hydra's -m: expansion, resume, status, and bad sweep input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stability_bench.status import collect

SWEEP = ["+sweep=smoke", "model=tiny_random", "data.max_train_samples=16", "task=rte", "seed=range(1,3)"]


def cli(args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "stability_bench", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_sweep_runs_every_cell_then_a_rerun_only_reports(glue_dir, tmp_path):
    args = SWEEP + [f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "-m"]
    first = cli(args, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "[sweep] 4 cells: 0 completed, 4 to run" in first.stderr and "[sweep] finished: 4 completed" in first.stderr
    exp = tmp_path / "r" / "smoke-tiny_random"
    cells = json.loads((exp / "sweep.json").read_text())["cells"]
    assert sorted(c["run_dir"] for c in cells) == [
        "rte/bias_correction/seed1", "rte/bias_correction/seed2",
        "rte/cwgnc,grouping=tensor,threshold=0.05/seed1", "rte/cwgnc,grouping=tensor,threshold=0.05/seed2"]
    rec = json.loads((exp / "rte" / "bias_correction" / "seed1" / "record.json").read_text())
    assert rec["config"]["train"]["epochs"] == 1 and rec["n_train"] == 16  # the sweep's settings won

    (exp / "rte" / "bias_correction" / "seed2" / "record.json").unlink()
    crashed = exp / "rte" / "cwgnc,grouping=tensor,threshold=0.05" / "seed1" / "record.json"
    crashed.write_text(json.dumps({**json.loads(crashed.read_text()), "status": "crashed"}))
    table = collect(exp)
    assert table[("smoke-tiny_random", "rte", "bias_correction")]["missing"] == 1
    assert table[("smoke-tiny_random", "rte", "cwgnc,grouping=tensor,threshold=0.05")]["crashed"] == 1

    second = cli(args, tmp_path)
    assert "[sweep] 4 cells: 2 completed, 2 to run" in second.stderr and "finished: 4 completed" in second.stderr
    third = cli(args, tmp_path)
    assert third.returncode == 0 and "all cells are complete" in third.stderr and "Launching" not in third.stderr

    status = subprocess.run([sys.executable, "-m", "stability_bench.status", str(tmp_path / "r")],
                            capture_output=True, text=True)
    assert status.returncode == 0 and "total: 4 completed, 0 crashed" in status.stdout


@pytest.mark.slow
def test_a_diverged_run_is_a_result_that_the_same_sweep_keeps(glue_dir, tmp_path):
    """A NaN loss is what its recipe and seed gave: the sweep says so and succeeds, and the same command does not
    train it again (a second try on a GPU, whose kernels need not repeat a run, could dodge it and hide it)."""
    nan = ("from stability_bench.recipes.base import Method; loss = Method.loss; "
           "Method.loss = lambda self, model, batch: loss(self, model, batch) * float('nan'); ")

    def sweep(patch: str, *more: str):  # the default launcher runs the cells in this process: the loss is patched
        code = f"import runpy, sys; sys.argv = sys.argv[1:]; {patch}runpy.run_module('stability_bench', run_name='__main__')"
        return subprocess.run([sys.executable, "-c", code, "stability_bench", "model=tiny_random", "task=rte",
                               "data.max_train_samples=16", "train.epochs=1", "seed=1,2", f"data.glue_dir={glue_dir}",
                               f"results_dir={tmp_path / 'r'}", *more, "-m"], cwd=tmp_path, capture_output=True,
                              text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})

    first = sweep(nan)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "[sweep] 2 cells diverged (NaN or infinite loss): kept as the result" in first.stderr
    assert "[sweep] finished: 2 diverged" in first.stderr
    records = sorted((tmp_path / "r").glob("**/record.json"))
    before = [p.read_text() for p in records]
    assert all(json.loads(t)["status"] == "diverged" for t in before)
    again = sweep("")  # the loss is finite now: only a re-training would tell
    assert again.returncode == 0, again.stderr[-2000:]
    assert "[sweep] 2 cells: 2 diverged, 0 to run" in again.stderr
    assert "all cells are complete (2 diverged: kept as results)" in again.stderr
    assert [p.read_text() for p in records] == before
    status = subprocess.run([sys.executable, "-m", "stability_bench.status", str(tmp_path / "r")],
                            capture_output=True, text=True)
    assert "total: 0 completed, 0 crashed, 2 diverged" in status.stdout and "left:" not in status.stdout
    other = sweep("", "train.lr=1e-3")  # kept, so never taken for the result of other settings either
    assert other.returncode == 2 and other.stderr.startswith(
        "error: 2 of the sweep's 2 cells hold diverged runs with other settings (train.lr: 2e-05 -> 0.001; "), other.stderr
    # another table with the same cells reuses them as they are, diverged
    reused = sweep("", "experiment=b", "hydra.sweeper.reuse=true")
    assert "[sweep] 2 cells: 2 reused from tiny_random (same settings), 0 to run" in reused.stderr, reused.stderr[-2000:]
    copies = [json.loads(p.read_text()) for p in sorted((tmp_path / "r" / "b").glob("**/record.json"))]
    assert [(c["status"], c["reused_from"]) for c in copies] == [("diverged", f"tiny_random/rte/bias_correction/seed{s}")
                                                                 for s in (1, 2)]


@pytest.mark.slow
def test_a_setting_swept_beside_the_recipes_gets_an_experiment_per_value(glue_dir, tmp_path):
    """train.lr is not in a run directory's name: each value gets its own experiment, never one directory for two."""
    args = SWEEP[:-1] + ["seed=1", "train.lr=1e-5,3e-5", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "-m"]
    first = cli(args, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "[sweep] 4 cells: 0 completed, 4 to run" in first.stderr and "[sweep] finished: 4 completed" in first.stderr
    assert "(2 experiments: smoke-tiny_random,train.lr=1e-05, smoke-tiny_random,train.lr=3e-05)" in first.stderr
    # no folder for the unswept experiment name (Hydra's files of the sweep go to <results_dir>/.hydra)
    assert sorted(p.name for p in (tmp_path / "r").iterdir() if not p.name.startswith(".")) == [
        "smoke-tiny_random,train.lr=1e-05", "smoke-tiny_random,train.lr=3e-05"]
    assert list((tmp_path / "r" / ".hydra").glob("multirun_*/multirun.yaml"))
    for lr in (1e-5, 3e-5):
        exp = tmp_path / "r" / f"smoke-tiny_random,train.lr={lr:.0e}"
        records = [json.loads(p.read_text()) for p in sorted(exp.glob("rte/*/seed1/record.json"))]
        assert [r["method"]["name"] for r in records] == ["bias_correction", "cwgnc"]
        assert all(r["status"] == "completed" and r["config"]["train"]["lr"] == lr and r["experiment"] == exp.name
                   for r in records)
    again = cli(args, tmp_path)
    assert again.returncode == 0 and "all cells are complete" in again.stderr

    from analysis.__main__ import main
    assert main(["--no-aso", "--no-figures", str(tmp_path / "r"), "--out", str(tmp_path / "t")]) == 0
    table = (tmp_path / "t" / "table1.md").read_text()
    assert "experiment `smoke-tiny_random,train.lr=1e-05`" in table and "experiment `smoke-tiny_random,train.lr=3e-05`" in table


def test_a_cell_declared_twice_is_an_error_and_writes_nothing(glue_dir, tmp_path):
    out = cli(SWEEP[:-1] + ["seed=1,1", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "-m"], tmp_path)
    assert out.returncode == 2 and "2 times: a swept key lists a value twice; nothing was launched" in out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("size", ["0", "-1"])
def test_a_batch_size_that_would_launch_nothing_is_refused(glue_dir, tmp_path, size):
    # with a packing launcher, -1 used to launch no cell and report them all missing, exit 0
    out = cli(SWEEP + [f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "hydra/launcher=local",
                       f"hydra.sweeper.max_batch_size={size}", "-m"], tmp_path)
    assert out.returncode == 2 and out.stderr == (
        f"error: hydra.sweeper.max_batch_size={size} is invalid: use a positive number of jobs per launch, or null "
        "(all at once); nothing was launched\n"), out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("setting,valid", [("timeout_min=-5", "0 (no time limit) or more minutes"),
                                           ("array_parallelism=0", "a positive number"),
                                           ("cpus_per_task=0", "a positive number"), ("gpus_per_node=-1", "0 or more")])
def test_slurm_resources_sbatch_would_refuse_or_ignore_are_refused_before_submitting(glue_dir, tmp_path, setting, valid):
    # checked before anything is declared: no cluster is needed to be told (a negative time limit meant none,
    # array_parallelism=0 was dropped without a word)
    out = cli(SWEEP + [f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "hydra/launcher=slurm",
                       f"hydra.launcher.{setting}", "-m"], tmp_path)
    assert out.returncode == 2 and out.stderr == (
        f"error: hydra.launcher.{setting} is invalid: use {valid}; nothing was launched\n"), out.stderr
    assert not (tmp_path / "r").exists()


def test_experiment_names_for_settings_the_run_directory_does_not_name(glue_dir, tmp_path):
    from conftest import make_cfg
    from stability_bench.config import UserError
    from stability_bench.sweep import Cell, separate_experiments

    grid = [["experiment=mine", "seed=1", f"model.pretrained={d}", f"data.max_train_samples={n}"]
            for d in ("/models/a", "/models/b") for n in (8, 16)]
    configs = [make_cfg(cell, glue_dir, tmp_path) for cell in grid]
    out = separate_experiments(grid, configs)
    names = [Cell.from_config(o, c).experiment_dir for o, c in zip(out, configs)]
    assert [Path(n).name for n in names] == [  # "/" would nest directories
        "mine,model.pretrained=_models_a,data.max_train_samples=8", "mine,model.pretrained=_models_a,data.max_train_samples=16",
        "mine,model.pretrained=_models_b,data.max_train_samples=8", "mine,model.pretrained=_models_b,data.max_train_samples=16"]
    assert out[0] == ["seed=1", "model.pretrained=/models/a", "data.max_train_samples=8",
                      "experiment='mine,model.pretrained=_models_a,data.max_train_samples=8'"]
    assert make_cfg(out[0], glue_dir, tmp_path).experiment == Path(names[0]).name  # what the job composes
    grid = [["seed=1", f"model.pretrained={d}"] for d in ("/models/a", "_models/a")]
    with pytest.raises(UserError, match="same experiment name"):
        separate_experiments(grid, [make_cfg(c, glue_dir, tmp_path) for c in grid])
    # cells that already have directories of their own are left as they are
    grid = [[f"seed={s}", "train.lr=1e-5"] for s in (1, 2)]
    assert separate_experiments(grid, [make_cfg(c, glue_dir, tmp_path) for c in grid]) == grid


def test_empty_seed_list_is_an_error_and_writes_nothing(glue_dir, tmp_path):
    out = cli(["+sweep=smoke", "model=tiny_random", "seed=range(0,0)", f"results_dir={tmp_path / 'r'}", "-m"], tmp_path)
    assert out.returncode == 2 and "the sweep has no cells" in out.stderr
    assert not (tmp_path / "r").exists()


def _rows(stdout: str) -> dict:
    """The dry run's table: (task, method) -> its columns by header name."""
    lines = [line.split() for line in stdout.strip().splitlines()]  # "recorded s/run" reads as "recorded"
    return {(r[1], r[2]): dict(zip(lines[0], r)) for r in lines[1:] if r[0] != "total"}


def files(root: Path) -> list:
    return sorted((str(p), p.stat().st_mtime_ns) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.slow
def test_a_sweep_whose_settings_differ_from_its_completed_runs_is_refused_not_taken_for_done(glue_dir, tmp_path):
    """The same command with a setting added (train.lr, data.heldout_fraction) would find its cells completed by
    runs of the old settings: one line naming what differs, nothing launched or touched; its own experiment= or
    force=true runs it. Cells of the same settings still resume."""
    args = ["model=tiny_random", "task=rte", "method=mosbach", "train.epochs=1", "data.max_train_samples=16",
            f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "seed=1,2", "-m"]
    assert cli(args, tmp_path).returncode == 0
    before = files(tmp_path / "r")
    for extra, diff in ((["train.lr=1e-3"], "train.lr: 2e-05 -> 0.001"),
                        (["data.heldout_fraction=0.25"], "data.heldout_fraction: None -> 0.25")):
        for dry in ([], ["hydra.sweeper.dry_run=true"]):
            out = cli(args + extra + dry, tmp_path)
            assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr[-2000:]
            assert out.stderr == (f"error: 2 of the sweep's 2 cells hold completed runs with other settings ({diff}; "
                                  "e.g. tiny_random/rte/mosbach/seed1): give these settings their own experiment=, or "
                                  "pass force=true to train those cells again with them; nothing was launched\n")
    assert files(tmp_path / "r") == before
    assert "3 cells: 2 completed, 1 to run" in cli(args + ["seed=1,2,3", "hydra.sweeper.dry_run=true"], tmp_path).stderr
    own = cli(args + ["train.lr=1e-3", "experiment=lr"], tmp_path)
    assert own.returncode == 0 and "[sweep] finished: 2 completed" in own.stderr, own.stderr[-2000:]


def test_a_sweep_whose_data_file_is_missing_is_refused_before_anything_is_written(glue_dir, tmp_path):
    """A task's file not under data.glue_dir would stop each of its runs: the sweep says so once, before it declares
    or launches anything (also with the packed launcher); its cells that are complete need no data."""
    (glue_dir / "MRPC" / "dev.tsv").unlink()
    args = ["model=tiny_random", "task=rte,mrpc", "seed=1,2", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "-m"]
    for launcher in ([], ["hydra/launcher=local", "hydra.launcher.workers_per_job=2"]):
        out = cli(args + launcher, tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr
        assert out.stderr.strip().splitlines()[-1] == (
            f"error: data file not found: {glue_dir}/MRPC/dev.tsv (task mrpc reads MRPC/dev.tsv under data.glue_dir); "
            "nothing was launched"), out.stderr[-2000:]
        assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_a_dry_run_tells_what_would_run_and_writes_nothing(glue_dir, tmp_path):
    """20 examples, batches of 8, 2 epochs, 2 evaluations an epoch: 3 steps an epoch, 6 a run, 4 evaluations."""
    args = ["+sweep=smoke", "model=tiny_random", "task=rte", "data.max_train_samples=20", "train.batch_size=8",
            "train.epochs=2", "train.evals_per_epoch=2", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}"]
    dry = ["hydra.sweeper.dry_run=true", "-m"]
    first = cli(args + ["seed=range(1,4)"] + dry, tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    assert "[sweep] 6 cells: 0 completed, 6 to run" in first.stderr
    assert "dry run: nothing was launched or written" in first.stderr and not (tmp_path / "r").exists()
    rows = _rows(first.stdout)
    assert set(rows) == {("rte", "bias_correction"), ("rte", "cwgnc,grouping=tensor,threshold=0.05")}
    for row in rows.values():
        assert (row["runs"], row["seeds"], row["steps/run"], row["evals/run"], row["steps"]) == ("3", "1-3", "6", "4", "18")
    assert first.stdout.strip().splitlines()[-1].split() == ["total", "6", "36"]
    split = cli(args + ["seed=0", "method=cwgnc", "init_seed=range(1,4)", "data_seed=2,5"] + dry, tmp_path)
    assert _rows(split.stdout)[("rte", "cwgnc,grouping=tensor,threshold=0.05")]["seeds"] == "0;init=1-3;data=2,5"

    assert cli(args + ["seed=1", "-m"], tmp_path).returncode == 0  # seed 1 of both recipes completes
    before = files(tmp_path / "r")
    second = cli(args + ["seed=range(1,4)"] + dry, tmp_path)
    assert second.returncode == 0 and "[sweep] 6 cells: 2 completed, 4 to run" in second.stderr
    assert files(tmp_path / "r") == before  # no record, sweep file, cache or Hydra directory touched
    row = _rows(second.stdout)[("rte", "bias_correction")]
    recorded = json.loads(next((tmp_path / "r").glob("*/rte/bias_correction/seed1/record.json")).read_text())
    assert (row["runs"], row["seeds"], row["steps"]) == ("2", "2,3", "12")
    assert row["recorded"] == f"{recorded['wall_time_s']:.0f}" and recorded["steps"] == 6  # the count it predicted

    (tmp_path / "empty").mkdir()
    missing = cli(["model=tiny_random", "seed=1", f"data.glue_dir={tmp_path / 'empty'}",
                   f"results_dir={tmp_path / 'r'}"] + dry, tmp_path)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    assert missing.stderr.strip().splitlines()[-1] == (
        f"error: data file not found: {tmp_path / 'empty'}/RTE/train.tsv (task rte reads RTE/train.tsv under "
        "data.glue_dir); nothing was launched")
    assert files(tmp_path / "r") == before

    staged = cli(["model=tiny_random", "method=gu", "task=rte", "seed=1,2", f"data.glue_dir={glue_dir}",
                  f"results_dir={tmp_path / 'r'}"] + dry, tmp_path)  # its stages depend on the model's layers
    assert staged.returncode == 0, staged.stderr[-2000:]
    assert _rows(staged.stdout)[("rte", "gu,max_iterations=None,restart=False")]["steps/run"] == "?"
    assert "2 runs of unknown size" in staged.stdout
    assert cli(["model=tiny_random", "method=gu", "task=rte", "seed=1", f"data.glue_dir={glue_dir}",
                f"results_dir={tmp_path / 'r'}"], tmp_path).returncode == 0
    staged = cli(["model=tiny_random", "method=gu", "task=rte", "seed=1,2", f"data.glue_dir={glue_dir}",
                  f"results_dir={tmp_path / 'r'}"] + dry, tmp_path)
    rec = json.loads(next((tmp_path / "r").glob("tiny_random/rte/gu*/seed1/record.json")).read_text())
    row = _rows(staged.stdout)[("rte", "gu,max_iterations=None,restart=False")]
    assert (row["runs"], row["steps/run"], row["evals/run"]) == ("1", str(rec["steps"]), str(len(rec["evals"])))


@pytest.mark.slow
def test_a_reusing_sweep_copies_completed_twins_of_other_experiments_and_trains_the_rest(glue_dir, tmp_path):
    """hydra.sweeper.reuse=true: a missing cell whose settings equal a completed run of another experiment is
    copied (record and log, naming where it came from), not trained; other settings, or reuse off, train."""
    r = tmp_path / "r"
    args = SWEEP[:-1] + [f"data.glue_dir={glue_dir}", f"results_dir={r}"]
    assert cli(args + ["seed=1", "experiment=a", "-m"], tmp_path).returncode == 0  # seed 1 of both recipes
    other_lr = cli(args + ["seed=2", "experiment=c", "train.lr=1e-5", "-m"], tmp_path)  # seed 2, another lr
    assert other_lr.returncode == 0, other_lr.stderr[-2000:]
    before = files(r)
    off = cli(args + ["seed=1,2", "experiment=b", "hydra.sweeper.dry_run=true", "-m"], tmp_path)
    assert "[sweep] 4 cells: 0 completed, 4 to run" in off.stderr  # off unless asked for
    dry = cli(args + ["seed=1,2", "experiment=b", "hydra.sweeper.reuse=true", "hydra.sweeper.dry_run=true", "-m"],
              tmp_path)
    assert "[sweep] 4 cells: 2 to reuse from a (same settings), 2 to run" in dry.stderr, dry.stderr[-2000:]
    assert {(row["runs"], row["seeds"]) for row in _rows(dry.stdout).values()} == {("1", "2")}
    assert files(r) == before

    out = cli(args + ["seed=1,2", "experiment=b", "hydra.sweeper.reuse=true", "-m"], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "[sweep] 4 cells: 2 reused from a (same settings), 2 to run" in out.stderr
    assert "[sweep] finished: 4 completed" in out.stderr
    for method in ("bias_correction", "cwgnc,grouping=tensor,threshold=0.05"):
        src, dst = r / "a" / "rte" / method / "seed1", r / "b" / "rte" / method / "seed1"
        copy, original = json.loads((dst / "record.json").read_text()), json.loads((src / "record.json").read_text())
        assert copy == {**original, "experiment": "b", "reused_from": f"a/rte/{method}/seed1"}
        assert (dst / "run.log").read_text() == (src / "run.log").read_text()  # trained once, in a
        trained = json.loads((r / "b" / "rte" / method / "seed2" / "record.json").read_text())
        assert "reused_from" not in trained and trained["identity"]["train"]["lr"] != 1e-5  # c's lr is not b's
    assert {c["run_dir"] for c in json.loads((r / "b" / "sweep.json").read_text())["cells"]} == {
        f"rte/{m}/seed{s}" for m in ("bias_correction", "cwgnc,grouping=tensor,threshold=0.05") for s in (1, 2)}
    again = cli(args + ["seed=1,2", "experiment=b", "hydra.sweeper.reuse=true", "-m"], tmp_path)
    assert "all cells are complete" in again.stderr
    corrupt = r / "a" / "rte" / "bias_correction" / "seed1" / "record.json"
    corrupt.write_text(corrupt.read_text()[:100])  # truncated: no source, and left as it is
    dry = cli(args + ["seed=1", "experiment=d", "hydra.sweeper.reuse=true", "hydra.sweeper.dry_run=true", "-m"],
              tmp_path)
    # bias_correction from b (a's is corrupt), CWGNC from a (the first in name order)
    assert "[sweep] 2 cells: 2 to reuse from a, b (same settings), 0 to run" in dry.stderr, dry.stderr[-2000:]
    assert len(corrupt.read_text()) == 100

    tables = subprocess.run([sys.executable, "-m", "analysis", str(r / "b"), "--out", str(tmp_path / "t"),
                             "--no-figures", "--no-aso"], capture_output=True, text=True, timeout=300)
    assert tables.returncode == 0, tables.stderr[-2000:]
    assert "note: 2 runs are copies of runs of a (hydra.sweeper.reuse" in tables.stdout
    import pandas as pd
    runs = pd.read_csv(tmp_path / "t" / "runs.csv")
    assert sorted(runs["reused_from"].dropna()) == [f"a/rte/{m}/seed1" for m in ("bias_correction",
                                                                                 "cwgnc,grouping=tensor,threshold=0.05")]


@pytest.mark.slow  # two dry runs and a status over the GPU study's records with MiniLM (about 15 s)
def test_the_dry_runs_quoted_in_readme_are_what_the_committed_gpu_records_give(real_glue_dir, tmp_path):
    import re
    import tarfile
    root = Path(__file__).resolve().parent.parent
    with tarfile.open(root / "analysis" / "study_gpu" / "records.tar.gz") as tar:  # ours: plain files under results/
        if hasattr(tarfile, "data_filter"):  # Python >= 3.10.12 / 3.11.4
            tar.extraction_filter = tarfile.data_filter
        tar.extractall(tmp_path)
    readme = " ".join((root / "README.md").read_text().split())
    args = ["model=minilm_l6", f"data.glue_dir={real_glue_dir}", f"results_dir={tmp_path / 'results'}",
            "hydra.sweeper.dry_run=true", "-m"]
    table1 = cli(["+sweep=table1"] + args, tmp_path)
    assert table1.returncode == 0, table1.stderr[-2000:]
    for line in (table1.stderr + table1.stdout).splitlines():
        assert " ".join(line.split()) in readme, line
    table2 = cli(["+sweep=table2", "hydra.sweeper.reuse=true"] + args, tmp_path)
    said = re.search(r"\[sweep\] 175 cells: .*", table2.stderr)
    assert said and " ".join(said.group(0).split()) in readme, table2.stderr[-2000:]
    status = subprocess.run([sys.executable, "-m", "stability_bench.status", str(tmp_path / "results")],
                            capture_output=True, text=True, timeout=60)
    left = status.stdout.splitlines()[-2:]  # what is left, and how long: README quotes both lines
    assert left[0].startswith("left: ") and all(" ".join(line.split()) in readme for line in left), status.stdout


def test_seed_ranges_are_written_compactly():
    from stability_bench.dry_run import seed_ranges
    assert seed_ranges([5, 1, 2, 3, 7, 9, 10, 11, 12]) == "1-3,5,7,9-12"
    assert seed_ranges([2, 3]) == "2,3" and seed_ranges([4]) == "4"


def test_unknown_sweep_lists_the_available_ones(tmp_path):
    out = cli(["+sweep=tabel1", f"results_dir={tmp_path / 'r'}", "-m"], tmp_path)
    assert out.returncode != 0 and "table1" in out.stderr and "smoke" in out.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_leaderboard_sweep_runs_every_recipe_and_renders_its_table(glue_dir, tmp_path):
    from analysis.__main__ import main as analysis_main
    args = ["+sweep=leaderboard", "model=tiny_random", "model.random_init.num_hidden_layers=3", "task=rte",
            "seed=range(1,3)", "data.max_train_samples=16",
            "train.epochs=1", f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "-m"]
    out = cli(args, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "[sweep] finished: 20 completed" in out.stderr
    assert analysis_main([str(tmp_path / "r"), "--out", str(tmp_path / "t"), "--no-figures", "--no-aso"]) == 0
    table = (tmp_path / "t" / "leaderboard.md").read_text()  # declared by analysis/declared_tables/leaderboard.yaml
    assert not (tmp_path / "t" / "table1.md").exists()  # Table 1 leaves the leaderboard's experiment to it
    for name in ("Devlin et al. (2019)", "+ bias correction", "Mixout", "Mosbach", "CWGNC", "Re-init top layers",
                 "Layer-wise LR decay", "MHLoss", "MMR", "SURT"):
        assert f"| {name}" in table or name in table, name
    assert "[" not in table  # every recipe ran with its default settings


@pytest.mark.slow
def test_two_identical_sweeps_started_together_run_every_cell_once(tmp_path):
    from conftest import write_glue
    glue = write_glue(tmp_path / "glue", n_train=200)
    cmd = [sys.executable, "-m", "stability_bench", "task=rte", "model=tiny_random", f"data.glue_dir={glue}",
           f"results_dir={tmp_path / 'r'}", "train.batch_size=4", "train.epochs=2", "seed=range(1,7)",
           "train.threads=1", "-m"]  # one thread each: two OpenMP pools on two cores spin against each other
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    root = Path(__file__).resolve().parent.parent
    procs = [subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    logs = sorted((tmp_path / "r").glob("tiny_random/rte/*/seed*/run.log"))
    assert len(logs) == 6
    for log in logs:  # each run started exactly once, by one of the two sweeps
        assert log.read_text().count(": start (") == 1, log
    recs = [json.loads(p.read_text()) for p in (tmp_path / "r").glob("tiny_random/rte/*/seed*/record.json")]
    assert len(recs) == 6 and all(r["status"] == "completed" for r in recs)


def test_fast_composition_equals_hydras_for_every_cell():
    """compose_cells (each cell a copy of a composed config with its plain values set) gives Hydra's own config,
    node for node, Hydra's node included, for the declared sweeps and for odd values; a value Hydra refuses is
    refused with Hydra's words."""
    import pytest
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException
    from omegaconf import OmegaConf

    from conftest import CONF_DIR
    from stability_bench.grid import compose_cells, expand

    cases = [["+sweep=table1", "model=tiny_random", "method=devlin,cwgnc", "task=rte,cola", "seed=1,2"],
             ["+sweep=table2", "model=tiny_random", "seed=1,2"],
             ["+sweep=seed_split", "init_seed=1,2", "data_seed=3"],
             ["method=cwgnc", "method.threshold=0.1,1e5", "seed=1,2", "train.lr=1e-5,2e-5", "experiment=a,'b c'",
              "data.max_train_samples=null,16", "train.max_grad_norm=null", "+model.random_init.model_type=roberta",
              "model=tiny_random", "method.grouping=layer"]]
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        for args in cases:
            master = compose(config_name="config", overrides=[a for a in args if a.startswith("+sweep")],
                             return_hydra_config=True)
            grid = expand(loader, master.hydra.sweeper.params, args)
            fast = compose_cells(loader, master, grid)
            for cell, cfg in zip(grid, fast):
                hydras = loader.load_sweep_config(master, list(cell))
                assert OmegaConf.to_container(cfg) == OmegaConf.to_container(hydras), cell
                assert OmegaConf.is_struct(cfg) and not OmegaConf.is_readonly(cfg.hydra)
            assert len(fast) == len(grid) > 1
        master = compose(config_name="config", return_hydra_config=True)
        bad = [["seed=1"], ["seed=abc"]]
        with pytest.raises(ConfigCompositionException) as ours:
            compose_cells(loader, master, bad)
        with pytest.raises(ConfigCompositionException) as theirs:
            loader.load_sweep_config(master, ["seed=abc"])
        assert str(ours.value) == str(theirs.value)
