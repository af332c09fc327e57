"""Corrupt state is repaired, never trusted, never deleted; liveness asks SLURM once; a bad cell stops a sweep
before anything is declared."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stability_bench.liveness import Liveness
from stability_bench.records import Record, read_record_checked, write_record
from stability_bench.status import collect

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["+sweep=smoke", "model=tiny_random", "data.max_train_samples=16", "task=rte", "method=bias_correction",
         "seed=range(1,6)"]


def cli(module, *args, cwd):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def good_record(**changes) -> dict:
    return {**Record(experiment="e", task="rte", model="m", method={"name": "devlin", "params": {}}, seed=1,
                     metric_name="accuracy", status="completed", metric=0.6).to_dict(), **changes}


CORRUPTIONS = {  # how a record can be corrupt -> what read_record_checked says
    "truncated": ('{"schema_version": 1, "status": "compl', "not valid JSON"),
    "empty": ("", "not valid JSON"),
    "a list": ("[1, 2]", "not a JSON object"),
    "another schema": (json.dumps(good_record(schema_version=7)), "schema_version 7 is not 1"),
    "completed without a metric": (json.dumps(good_record(metric=None)), "completed without a finite metric"),
    "unknown status": (json.dumps(good_record(status="done")), "status 'done' is not one of"),
    "no method name": (json.dumps(good_record(method={})), "field 'method' has no name"),
}


@pytest.mark.parametrize("kind", CORRUPTIONS)
def test_each_kind_of_corrupt_record_is_named(tmp_path, kind):
    text, why = CORRUPTIONS[kind]
    (tmp_path / "record.json").write_text(text)
    rec, problem = read_record_checked(tmp_path / "record.json")
    assert rec is None and why in problem


def test_a_good_record_and_a_missing_one_are_not_corrupt(tmp_path):
    write_record(tmp_path / "record.json", Record(**{k: v for k, v in good_record().items()}))
    assert read_record_checked(tmp_path / "record.json") == (good_record(), None)
    assert read_record_checked(tmp_path / "none.json") == (None, None)
    assert "error" not in good_record() and "environment" not in good_record()  # written once known


@pytest.mark.slow
def test_corrupt_records_are_listed_moved_aside_and_run_again(glue_dir, tmp_path):
    args = SWEEP + [f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "-m"]
    assert cli("stability_bench", *args, cwd=tmp_path).returncode == 0
    exp = tmp_path / "r" / "smoke-tiny_random"
    paths = {s: exp / "rte" / "bias_correction" / f"seed{s}" / "record.json" for s in range(1, 6)}
    kept = paths[5].read_text()
    for s, kind in zip(range(1, 5), ("truncated", "a list", "completed without a metric", "another schema")):
        paths[s].write_text(CORRUPTIONS[kind][0])

    status = cli("stability_bench.status", str(exp), cwd=tmp_path)
    assert status.returncode == 0 and "total: 1 completed" in status.stdout and "4 corrupt" in status.stdout
    assert all(f"corrupt: {paths[s]}:" in status.stderr for s in range(1, 5)) and "Traceback" not in status.stderr

    analysis = cli("analysis", str(exp), "--out", str(tmp_path / "a"), "--no-figures", cwd=ROOT)
    assert analysis.returncode == 0 and "4 files skipped" in analysis.stdout
    assert all(f"skipped {paths[s]}" in analysis.stderr for s in range(1, 5))

    rerun = cli("stability_bench", *args, cwd=tmp_path)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "5 cells: 1 completed, 4 to run" in rerun.stderr and "finished: 5 completed" in rerun.stderr
    for s in range(1, 5):
        assert json.loads(paths[s].read_text())["status"] == "completed"
        aside = list(paths[s].parent.glob("record.json.corrupt-*"))
        assert len(aside) == 1  # kept for inspection, never deleted
    assert aside[0].read_text() == CORRUPTIONS["another schema"][0] and paths[5].read_text() == kept


@pytest.mark.slow
def test_a_truncated_sweep_file_is_reported_then_rebuilt(glue_dir, tmp_path):
    args = SWEEP + [f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "seed=range(1,3)", "-m"]
    assert cli("stability_bench", *args, cwd=tmp_path).returncode == 0
    exp = tmp_path / "r" / "smoke-tiny_random"
    (exp / "sweep.json").write_text('{"cells": [{"overr')
    status = cli("stability_bench.status", str(exp), cwd=tmp_path)
    assert status.returncode == 0 and "total: 2 completed" in status.stdout
    assert "sweep.json cannot be read" in status.stderr and "re-run the sweep command to rebuild it" in status.stderr
    assert "Traceback" not in status.stderr
    rerun = cli("stability_bench", *args, cwd=tmp_path)
    assert rerun.returncode == 0 and "all cells are complete" in rerun.stderr, rerun.stderr[-2000:]
    assert len(json.loads((exp / "sweep.json").read_text())["cells"]) == 2


def test_a_bad_value_in_one_cell_stops_the_sweep_before_anything_is_written(glue_dir, tmp_path):
    out = cli("stability_bench", "model=tiny_random", "method=cwgnc", "method.threshold=0.05,-1", "seed=1,2",
              f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "-m", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].startswith("error: method.threshold=-1.0 is invalid"), out.stderr
    assert "(in the cell " in out.stderr and not (tmp_path / "r").exists()


def test_liveness_asks_slurm_once_for_many_records(tmp_path, monkeypatch):
    """A counting wrapper in front of the real squeue (or of none, where SLURM is not installed)."""
    log = tmp_path / "calls"
    real = next((Path(d) / "squeue" for d in os.environ["PATH"].split(":") if (Path(d) / "squeue").exists()), None)
    (tmp_path / "bin").mkdir()
    wrapper = tmp_path / "bin" / "squeue"
    wrapper.write_text(f"#!/bin/sh\necho x >> {log}\n" + (f'exec {real} "$@"\n' if real else "exit 0\n"))
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    exp = tmp_path / "e"
    for s in range(1, 8):
        owner = {"host": "elsewhere", "pid": 1, "slurm_job": f"999999{s}"}  # no such job: not alive
        write_record(exp / "rte" / "devlin" / f"seed{s}" / "record.json", good_record(status="running", owner=owner))
    table = collect(exp)
    assert log.read_text().count("x") == 1
    answered = real is None or subprocess.run([str(real), "-h"], capture_output=True).returncode == 0
    # jobs SLURM does not list are gone; when SLURM does not answer, nothing is declared dead (never run twice)
    assert table[("e", "rte", "devlin")]["interrupted" if answered else "running"] == 7
    live = Liveness()
    assert live.alive({"host": "elsewhere", "pid": 1, "slurm_job": "1"}) == (not answered) and not live.alive(None)
    assert live.alive({"host": os.uname().nodename, "pid": os.getpid()})


def test_temporary_files_of_killed_writes_are_removed_on_the_next_start(glue_dir, tmp_path):
    import socket

    from stability_bench.records import atomic_write, remove_stale_tmp

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer exists
    folder = tmp_path / "r" / ".cache" / "tokenized"
    folder.mkdir(parents=True)
    stale = folder / f".rte-abc.pt~{socket.gethostname()}~{dead.pid}~x1.tmp"
    live = folder / f".rte-abd.pt~{socket.gethostname()}~{os.getpid()}~x2.tmp"
    elsewhere = folder / ".rte-abe.pt~otherhost~1~x3.tmp"
    for p in (stale, live, elsewhere):
        p.write_bytes(b"half")
    out = subprocess.run([sys.executable, "-m", "stability_bench", "model=tiny_random", "task=rte",
                          f"data.glue_dir={glue_dir}", f"results_dir={tmp_path / 'r'}", "train.epochs=1",
                          "data.max_train_samples=8"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert not stale.exists() and live.exists() and elsewhere.exists()  # another host's: only once it is old
    os.utime(elsewhere, (0, 0))
    assert remove_stale_tmp(folder) == [elsewhere]
    atomic_write(tmp_path / "f.json", lambda f: f.write("{}"))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".f.json")] == []


def test_status_lists_the_live_runs_with_their_progress_from_their_logs(tmp_path, capsys):
    """--running: each live run with its last progress line (step, share, ETA, how old) and where it runs; a live
    run that logged no step yet says so; a dead one (interrupted) is not listed; without the flag, one line says
    how many there are."""
    import time

    from stability_bench.records import owner
    from stability_bench.status import main

    exp = tmp_path / "e"
    me = owner()
    ago = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 30))
    for seed, status, who, log in (
            (1, "running", me, f"{ago},004 INFO rte devlin seed1: start (2490 train / 277 dev examples, device cpu)\n"
                               f"{ago},501 INFO all step 120/3120 epoch 0.77 loss 0.6939 lr 7.628e-06 elapsed 7s eta 171s\n"
                               f"{ago},900 INFO rte devlin seed1 eval all epoch 1.00: accuracy 0.5271\n"),
            (2, "running", me, None),
            (3, "running", {**me, "pid": 2 ** 22 + 1}, None)):  # no such process: interrupted
        path = exp / "rte" / "devlin" / f"seed{seed}" / "record.json"
        write_record(path, Record(**good_record(seed=seed, status=status, metric=None, owner=who)))
        if log:
            (path.parent / "run.log").write_text(log)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    total = out.index("total: 0 completed, 0 crashed, 0 diverged, 2 running, 1 interrupted, 0 corrupt, 0 missing")
    assert out[total + 1] == "(--running lists the 2 running runs with their progress)"
    assert main([str(tmp_path), "--running"]) == 0
    out = capsys.readouterr().out.splitlines()
    where = f"host {me['host']}, pid {me['pid']}"
    at = out.index("running:")
    first = out[at + 1].split(" as of ")
    assert first[0] == "  e/rte/devlin/seed1  step 120/3120 (4%), eta 171s"
    assert 29 <= int(first[1].split("s ago")[0]) <= 40 and first[1].endswith(f"s ago  ({where})")
    assert out[at + 2] == f"  e/rte/devlin/seed2  no training step logged yet  ({where})"
    assert out[at + 3].startswith("left: ")


def test_status_estimates_what_is_left_from_the_completed_runs_and_the_logged_etas(tmp_path, capsys):
    """left: a cell to run takes the median wall time of its task x method's completed runs, a running run its
    logged ETA (less the log's age), or the median before it logs; divided by the number running now. Cells with
    no completed run of their task x method are named, not guessed."""
    import time

    from stability_bench.records import owner
    from stability_bench.status import main

    exp = tmp_path / "e"
    for seed, wall in ((1, 100.0), (2, 600.0), (3, 200.0)):
        write_record(exp / "rte" / "devlin" / f"seed{seed}" / "record.json",
                     Record(**good_record(seed=seed, wall_time_s=wall)))
    me, ago = owner(), time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() - 30))
    for seed in (4, 5):
        path = exp / "rte" / "devlin" / f"seed{seed}" / "record.json"
        write_record(path, Record(**good_record(seed=seed, status="running", metric=None, owner=me)))
    (exp / "rte" / "devlin" / "seed4" / "run.log").write_text(
        f"{ago},501 INFO all step 120/3120 epoch 0.77 loss 0.6939 lr 7.628e-06 elapsed 7s eta 171s\n")
    cells = [{"run_dir": f"{task}/devlin/seed{s}", "task": task, "method": "devlin"}
             for task, seeds in (("rte", range(1, 8)), ("cola", (1,))) for s in seeds]
    (exp / "sweep.json").write_text(json.dumps({"cells": cells}))
    assert main([str(exp)]) == 0
    out = capsys.readouterr().out.splitlines()
    # 2 missing rte cells at the median 200 s, seed4's 171 s less ~30 s, seed5 (no step logged) 200 s: ~741 s
    assert out[-2:] == ["left: 3 cells to run, 2 running: about 12 min of run time in all; 2 at a time, as now: "
                        "about 6 min", "  not counted: 1 with no completed run of their task and method yet"]
    for seed in (4, 5):  # the in-flight runs end: nothing runs now
        write_record(exp / "rte" / "devlin" / f"seed{seed}" / "record.json",
                     Record(**good_record(seed=seed, wall_time_s=1000.0)))
    assert main([str(exp)]) == 0
    # median of 100, 600, 200, 1000, 1000: 600 s for each of 2 rte cells
    assert capsys.readouterr().out.splitlines()[-2] == (
        "left: 3 cells to run: about 20 min of run time in all (none is running now)")
    for task, seed, eta in (("rte", 6, 20), ("cola", 1, 50)):  # two near their end; rte seed7 is left, at 600 s
        path = exp / task / "devlin" / f"seed{seed}" / "record.json"
        write_record(path, Record(**good_record(seed=seed, task=task, status="running", metric=None, owner=me)))
        (path.parent / "run.log").write_text(f"{ago},501 INFO all step 3000/3120 epoch 2.9 loss 0.6 lr 1e-07 "
                                             f"elapsed 7s eta {eta}s\n")
    assert main([str(exp)]) == 0
    # ~0 s + ~20 s + 600 s in all; 2 at a time still takes the 600 s run's whole time, not half the total
    assert capsys.readouterr().out.splitlines()[-1] == (
        "left: 1 cell to run, 2 running: about 10 min of run time in all; 2 at a time, as now: about 10 min")
    for task, seed in (("rte", 6), ("rte", 7), ("cola", 1)):
        write_record(exp / task / "devlin" / f"seed{seed}" / "record.json", Record(**good_record(seed=seed, task=task)))
    assert main([str(exp)]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("total: 8 completed")  # nothing left: no line
