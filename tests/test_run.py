"""A whole run in-process on the tiny random BERT: the record, skipping, seeds, crashes, divergence."""

import json
import os

import numpy as np
import pytest

from stability_bench import metrics, recipes
from stability_bench.config import ConfigError
from stability_bench.run import execute
from stability_bench.tasks import load_split

from conftest import make_cfg


def run(overrides, glue_dir, results):
    return execute(make_cfg(overrides, glue_dir, results))


def test_record_is_complete_and_its_metric_recomputes_from_predictions(glue_dir, tmp_path):
    rec = run(["task=mrpc", "seed=3"], glue_dir, tmp_path / "r")
    path = tmp_path / "r" / "tiny_random" / "mrpc" / "bias_correction" / "seed3" / "record.json"
    assert json.loads(path.read_text()) == rec
    assert (path.parent / "run.log").read_text().count("step") > 0
    assert rec["status"] == "completed" and rec["schema_version"] == 1
    assert rec["label_names"] == ["not_equivalent", "equivalent"] and rec["metric_name"] == "f1"
    assert (rec["seed"], rec["init_seed"], rec["data_seed"]) == (3, 3, 3)
    dev = load_split(make_cfg(["task=mrpc"], glue_dir, tmp_path).task, str(glue_dir), "dev")
    assert len(rec["dev_predictions"]) == len(dev.labels)
    assert rec["metric"] == pytest.approx(metrics.f1(dev.labels, rec["dev_predictions"]))
    assert rec["metrics"]["accuracy"] == pytest.approx(metrics.accuracy(dev.labels, rec["dev_predictions"]))
    assert rec["failed"] == (rec["metric"] <= rec["majority_baseline"])
    assert rec["majority_baseline"] == pytest.approx(metrics.f1(dev.labels, [1] * len(dev.labels)))
    assert rec["steps"] == 5 and len(rec["evals"]) == 1 and rec["loss_curve"]
    for key in ("environment", "config", "wall_time_s", "n_parameters"):
        assert key in rec
    assert rec["config"]["train"]["lr"] == 2e-5


def test_a_run_that_selects_another_evaluation_also_keeps_its_last_ones_predictions(glue_dir, tmp_path):
    """train.select=best (Mosbach et al.): dev_predictions are the selected evaluation's; last_dev_predictions the
    last one's, which recompute its recorded metrics (what the analysis's --evaluation last scores). A run that
    reports its last evaluation stores them once."""
    best = run(["task=rte", "seed=1", "train.select=best", "train.evals_per_epoch=3", "train.epochs=2"], glue_dir,
               tmp_path / "r")
    last = best["evals"][-1]
    assert best["selected_eval"] != {k: last[k] for k in ("stage", "epoch", "step")}  # the first of equal ones
    assert metrics.all_metrics(np.array(best["dev_labels"]), np.array(best["last_dev_predictions"])) == last["metrics"]
    assert metrics.all_metrics(np.array(best["dev_labels"]), np.array(best["dev_predictions"])) == best["metrics"]
    assert "last_dev_predictions" not in run(["task=rte", "seed=1", "train.epochs=2"], glue_dir, tmp_path / "r2")


def test_selection_on_a_held_out_split_reports_the_dev_metric_of_the_evaluation_it_picks(glue_dir, tmp_path):
    """data.heldout_fraction=0.25 of the 40 training examples: 10 held out, 30 trained on (8 steps an epoch in
    batches of 4). Every evaluation also scores the held-out ten; train.select=best takes the first evaluation with
    the best held-out metric and reports its dev metric and predictions. The dev labels are flipped, so that the
    tiny model's runs, which move between predicting one class and the other, peak on dev where they do worst on
    the held-out split (checked: selecting on dev would fail this test)."""
    dev = glue_dir / "RTE" / "dev.tsv"
    dev.write_text(dev.read_text().replace("not_entailment", "@").replace("entailment", "not_entailment").replace("@", "entailment"))
    args = ["task=rte", "train.select=best", "train.evals_per_epoch=4", "train.epochs=2", "train.batch_size=4",
            "train.lr=1e-3", "data.heldout_fraction=0.25"]
    for seed in range(1, 9):
        rec = run(args + [f"seed={seed}"], glue_dir, tmp_path / "r")
        held, dev = [e["heldout_metric"] for e in rec["evals"]], [e["metric"] for e in rec["evals"]]
        if held.index(max(held)) != dev.index(max(dev)):
            break
    else:
        pytest.fail("no seed of 1-8 has its held-out and dev metrics peak at different evaluations")
    assert (rec["n_train"], rec["n_heldout"], rec["steps"], len(rec["evals"])) == (30, 10, 16, 8)
    chosen = rec["evals"][held.index(max(held))]
    assert rec["selected_eval"] == {k: chosen[k] for k in ("stage", "epoch", "step")}
    assert (rec["metric"], rec["metrics"]) == (chosen["metric"], chosen["metrics"])
    assert metrics.all_metrics(np.array(rec["dev_labels"]), np.array(rec["dev_predictions"])) == chosen["metrics"]
    assert all(10 * e["heldout_metrics"]["accuracy"] == pytest.approx(round(10 * e["heldout_metrics"]["accuracy"]))
               for e in rec["evals"])  # accuracies of ten examples
    assert rec["identity"]["data"]["heldout_fraction"] == 0.25
    from stability_bench.tasks import train_size
    assert train_size(make_cfg(args, glue_dir, tmp_path), {}) == 30  # what a dry run and packing count steps from
    plain = run(["task=rte", "seed=1", "train.select=best"], glue_dir, tmp_path / "p")
    assert "heldout_fraction" not in plain["identity"]["data"] and "n_heldout" not in plain  # older records: same run
    assert "heldout_metric" not in plain["evals"][0]
    from analysis.load import selected_on  # what runs.csv and the tables read from real records
    assert (selected_on(rec), selected_on(plain)) == ("heldout", "dev")
    with pytest.raises(ConfigError, match=r"^data.heldout_fraction=0.01 of 40 training examples holds out 0: choose a "
                                          "fraction that leaves at least one example on each side$"):
        run(args[:-1] + ["data.heldout_fraction=0.01"], glue_dir, tmp_path / "none")
    assert [p.name for p in (tmp_path / "none").iterdir()] == [".cache"]  # the tokenization cache, no run


def test_the_held_out_split_is_fixed_by_the_subset_seed_and_taken_from_the_training_subset():
    from omegaconf import OmegaConf

    from stability_bench.data import Encoded, select_subsets

    def ids(e):
        return [x[0] for x in e.features["input_ids"]]

    splits = {"train": Encoded({"input_ids": [[i] for i in range(100)]}, [i % 2 for i in range(100)], 0),
              "dev": Encoded({"input_ids": [[i] for i in range(7)]}, [0] * 7, 0)}

    def cut(subset_seed, fraction):
        return select_subsets(splits, OmegaConf.create({"max_train_samples": 40, "max_eval_samples": None,
                                                        "subset_seed": subset_seed, "heldout_fraction": fraction}))

    whole, out = cut(0, None), cut(0, 0.25)
    assert "heldout" not in whole and (len(out["train"]), len(out["heldout"])) == (30, 10)
    assert sorted(ids(out["train"]) + ids(out["heldout"])) == ids(whole["train"])  # the same 40, split
    assert ids(out["train"]) == sorted(ids(out["train"])) and ids(out["dev"]) == list(range(7))
    assert ids(cut(0, 0.25)["heldout"]) == ids(out["heldout"]) != ids(cut(1, 0.25)["heldout"])
    assert out["heldout"].labels == [i % 2 for i in ids(out["heldout"])]


def test_record_holds_no_environment_variables(glue_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_secret_value_123")
    rec = run([], glue_dir, tmp_path / "r")
    assert "hf_secret_value_123" not in json.dumps(rec)


def test_completed_run_is_skipped_and_force_reruns_it(glue_dir, tmp_path):
    first = run([], glue_dir, tmp_path / "r")
    path = tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed0" / "record.json"
    mtime = os.stat(path).st_mtime_ns
    assert run([], glue_dir, tmp_path / "r") == first
    assert os.stat(path).st_mtime_ns == mtime
    again = run(["force=true"], glue_dir, tmp_path / "r")
    assert again["started_at"] >= first["started_at"] and os.stat(path).st_mtime_ns != mtime


def test_other_settings_in_the_same_run_directory_are_refused(glue_dir, tmp_path):
    run([], glue_dir, tmp_path / "r")
    before = (tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed0" / "record.json").read_text()
    with pytest.raises(ConfigError, match=r"train.lr: 2e-05 -> 0.001"):
        run(["train.lr=1e-3"], glue_dir, tmp_path / "r")
    assert (tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed0" / "record.json").read_text() == before


def test_same_seed_gives_identical_predictions_and_losses(glue_dir, tmp_path):
    a = run(["task=cola", "seed=5", "train.lr=1e-3"], glue_dir, tmp_path / "a")
    b = run(["task=cola", "seed=5", "train.lr=1e-3"], glue_dir, tmp_path / "b")
    c = run(["task=cola", "seed=6", "train.lr=1e-3"], glue_dir, tmp_path / "c")
    assert a["dev_predictions"] == b["dev_predictions"] and a["loss_curve"] == b["loss_curve"]
    assert a["loss_curve"] != c["loss_curve"]


def test_init_and_data_seeds_split_the_randomness(glue_dir, tmp_path):
    base = run(["seed=1", "train.lr=1e-3"], glue_dir, tmp_path / "r")
    other_data = run(["seed=1", "data_seed=2", "train.lr=1e-3"], glue_dir, tmp_path / "r")
    assert other_data["init_seed"] == 1 and other_data["data_seed"] == 2
    assert base["loss_curve"] != other_data["loss_curve"]
    assert (tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed1-data2" / "record.json").exists()


def test_training_subset_is_fixed_across_seeds(glue_dir, tmp_path):
    a = run(["data.max_train_samples=16", "seed=0"], glue_dir, tmp_path / "r")
    b = run(["data.max_train_samples=16", "seed=1", "data.max_eval_samples=10"], glue_dir, tmp_path / "r")
    assert a["n_train"] == b["n_train"] == 16 and b["n_dev"] == 10 and len(b["dev_predictions"]) == 10
    assert a["steps"] == 2


def test_tokenization_is_cached_and_shared_by_later_runs(glue_dir, tmp_path):
    assert run(["seed=0"], glue_dir, tmp_path / "r")["tokenization_cache_hit"] is False
    assert run(["seed=1"], glue_dir, tmp_path / "r")["tokenization_cache_hit"] is True
    assert len(list((tmp_path / "r" / ".cache" / "tokenized").glob("rte-*.pt"))) == 1


def test_an_exception_writes_a_crashed_record_and_propagates(glue_dir, tmp_path, monkeypatch):
    import stability_bench.run as run_module

    def boom(*args, **kwargs):
        raise RuntimeError("CUDA out of memory (simulated)")
    monkeypatch.setattr(run_module, "fit", boom)
    with pytest.raises(RuntimeError):
        run([], glue_dir, tmp_path / "r")
    rec = json.loads((tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed0" / "record.json").read_text())
    assert rec["status"] == "crashed" and "simulated" in rec["error"] and rec["failed"] is None
    assert "Traceback" in rec["traceback"]


@pytest.mark.parametrize("stats", [0, 1], ids=["checkpointing", "component_stats"])
def test_stops_right_after_the_first_record_write_and_during_the_last_leave_it_interrupted(glue_dir, tmp_path,
                                                                                           monkeypatch, stats):
    """A packed worker stopped just as it starts its next run (CI met it), then signalled again while it writes
    the record (SLURM signals every process, and the job stops its workers): the record must not stay
    ``running``, whether stop signals are held to the end of a step or (component statistics) not."""
    import signal

    import stability_bench.run as run_module
    from stability_bench import interrupts

    real_write, writes = run_module.write_record, []

    def write_then_sigterm(path, record):
        if writes:  # and a second stop signal (SLURM's, after the job's) arrives as the last record is written
            os.kill(os.getpid(), signal.SIGTERM)
        real_write(path, record)
        writes.append(record.status)
        if len(writes) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # handled at the next bytecode, here or just after

    monkeypatch.setattr(run_module, "write_record", write_then_sigterm)
    previous = signal.getsignal(signal.SIGTERM)
    interrupts.install()
    try:
        with pytest.raises(interrupts.Interrupted):
            run([f"train.component_stats_every={stats}"], glue_dir, tmp_path / "r")
    finally:
        signal.signal(signal.SIGTERM, previous)
    rec = json.loads((tmp_path / "r" / "tiny_random" / "rte" / "bias_correction" / "seed0" / "record.json").read_text())
    assert writes == ["running", "interrupted"] and rec["status"] == "interrupted" and rec["error"], (writes, rec)


def test_runs_out_of_gpu_memory_are_one_reason_saying_what_to_change(glue_dir, tmp_path, monkeypatch):
    """CUDA's message names each run's sizes and processes; the records' errors are one line, the same for all."""
    import torch
    import stability_bench.run as run_module
    from stability_bench.sweep import Cell, problems

    sizes = iter(["2.00 GiB", "1.50 GiB"])

    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {next(sizes)}. GPU 0 has a total "
                                          "capacity of 79.19 GiB of which 1.06 GiB is free.")
    monkeypatch.setattr(run_module, "fit", out_of_memory)
    cells = []
    for seed in (1, 2):
        with pytest.raises(torch.cuda.OutOfMemoryError):
            run([f"seed={seed}"], glue_dir, tmp_path / "r")
        cells.append(Cell.from_config([f"seed={seed}"], make_cfg([f"seed={seed}"], glue_dir, tmp_path / "r")))
    recs = [json.loads(c.record_path.read_text()) for c in cells]
    assert all(r["status"] == "crashed" for r in recs) and recs[0]["error"] == recs[1]["error"]
    assert "workers_per_job" in recs[0]["error"] and "\n" not in recs[0]["error"]
    assert "Tried to allocate 2.00 GiB" in recs[0]["traceback"]  # the details are kept
    assert list(problems(cells).values()) == [2]


def test_nan_loss_is_recorded_as_diverged_not_failed_and_kept_as_the_result(glue_dir, tmp_path, monkeypatch):
    from stability_bench.recipes.base import Method
    original = Method.loss
    monkeypatch.setattr(Method, "loss", lambda self, model, batch: original(self, model, batch) * float("nan"))
    rec = run(["train.log_every=2"], glue_dir, tmp_path / "r")
    assert rec["status"] == "diverged" and rec["failed"] is None and rec["metric"] is None
    assert rec["diverged_at_step"] == 2
    # the loss is finite again, as a second try on a GPU may find it: the same command keeps the result it has
    monkeypatch.setattr(Method, "loss", original)
    assert run(["train.log_every=2"], glue_dir, tmp_path / "r") == rec
    with pytest.raises(ConfigError, match="holds a diverged run with other settings"):
        run(["train.log_every=2", "train.lr=3e-5"], glue_dir, tmp_path / "r")
    assert run(["train.log_every=2", "force=true"], glue_dir, tmp_path / "r")["status"] == "completed"


def test_bad_value_leaves_results_dir_untouched(glue_dir, tmp_path):
    with pytest.raises(ConfigError, match=r"train.lr=0.0 is invalid"):
        run(["train.lr=0"], glue_dir, tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_component_stats_are_stored_compactly(glue_dir, tmp_path):
    rec = run(["method=cwgnc", "train.component_stats_every=2"], glue_dir, tmp_path / "r")
    stats = np.load(tmp_path / "r" / "tiny_random" / "rte" / "cwgnc,grouping=tensor,threshold=0.05" / "seed0" / rec["component_stats"])
    n = len(stats["names"])
    assert stats["steps"].tolist() == [0, 2, 4]
    assert stats["grad_norm"].shape == stats["rms_diff"].shape == (3, n)
    clipped = stats["grad_norm_after"] < stats["grad_norm"]
    assert np.array_equal(clipped, stats["grad_norm"] > 0.05 + 1e-6)
    assert np.allclose(stats["grad_norm_after"][clipped], 0.05, rtol=1e-4)
    assert (stats["rms_diff"][0] == 0).all() and (stats["rms_diff"][-1] > 0).any()


PRESETS = sorted(p.stem for p in recipes.PRESETS.glob("*.yaml"))


@pytest.mark.parametrize("method", PRESETS)  # a new preset is tested the moment its file exists
def test_every_method_preset_trains_on_the_tiny_model(glue_dir, tmp_path, method):
    rec = run([f"method={method}", "train.epochs=1", "task=cola", "data.max_train_samples=16",
               "model.random_init.num_hidden_layers=3"], glue_dir, tmp_path / "r")  # reinit's 3 top layers
    assert rec["status"] == "completed" and rec["method"]["name"] == method and rec["steps"] >= 2
    if method.startswith("gu"):
        assert [s["iteration"] for s in rec["stages"]] == [0, 1, 2]


def test_a_batch_is_its_examples_padded_to_the_longest_exactly_as_built_by_hand():
    """collate builds batches from the examples laid end to end (a speed-up): the same tensors as padding each
    example by hand, with and without token types, for any pad id, order and repetition of examples."""
    import random
    import torch
    from stability_bench.data import Encoded

    def by_hand(data, indices):
        rows = [data.features["input_ids"][i] for i in indices]
        width = max(map(len, rows))
        out = {"input_ids": torch.tensor([r + [data.pad_id] * (width - len(r)) for r in rows]),
               "attention_mask": torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])}
        if "token_type_ids" in data.features:
            out["token_type_ids"] = torch.tensor([data.features["token_type_ids"][i] + [0] * (width - len(r))
                                                  for i, r in zip(indices, rows)])
        out["labels"] = torch.tensor([data.labels[i] for i in indices])
        return out

    rng = random.Random(0)
    ids = [[rng.randrange(1, 30000) for _ in range(rng.randint(1, 128))] for _ in range(300)]
    types = [[int(k >= len(x) // 2) for k in range(len(x))] for x in ids]
    for features, pad in (({"input_ids": ids}, 0), ({"input_ids": ids, "token_type_ids": types}, 1)):
        data = Encoded(features, [rng.randrange(3) for _ in ids], pad)
        for size in (1, 7, 16, 64):
            indices = [rng.randrange(len(ids)) for _ in range(size)]
            got, want = data.collate(indices), by_hand(data, indices)
            assert list(got) == list(want)
            for key in want:
                assert got[key].dtype == torch.long and torch.equal(got[key], want[key]), (key, size)
        part = data.subset([5, 3, 200])
        assert torch.equal(part.collate([2, 0])["input_ids"], by_hand(data, [200, 5])["input_ids"])


def test_length_grouped_batches_cover_every_example_once_with_less_padding(glue_dir, tmp_path):
    import torch
    from stability_bench.data import Encoded, train_batches
    lengths = [3 + (i * 37) % 60 for i in range(400)]
    data = Encoded({"input_ids": [[1] * n for n in lengths]}, list(range(400)), 0)  # label = example index
    plain = list(train_batches(data, 8, torch.Generator().manual_seed(0)))
    grouped = list(train_batches(data, 8, torch.Generator().manual_seed(0), group_by_length=True))
    assert sorted(torch.cat([b["labels"] for b in grouped]).tolist()) == list(range(400))
    assert sum(int(b["attention_mask"].sum()) for b in grouped) == sum(lengths)
    padded = lambda bs: sum(b["input_ids"].numel() for b in bs)  # noqa: E731
    assert padded(grouped) < 0.8 * padded(plain)
    rec = run(["data.group_by_length=true"], glue_dir, tmp_path / "r")
    assert rec["status"] == "completed" and rec["identity"]["data"]["group_by_length"] is True


def test_dev_predictions_come_back_in_file_order_whatever_the_batching(glue_dir, tmp_path):
    import torch
    from contextlib import nullcontext
    from stability_bench import train
    from stability_bench.data import Encoded, eval_order

    class EchoFirstToken(torch.nn.Module):  # predicts the label stored in each example's first token
        def forward(self, input_ids, attention_mask, **_):
            out = torch.nn.functional.one_hot(input_ids[:, 0], 3).float()
            return type("Out", (), {"logits": out})()

    lengths = [1 + (i * 7) % 13 for i in range(50)]
    labels = [i % 3 for i in range(50)]
    dev = Encoded({"input_ids": [[y] * n for y, n in zip(labels, lengths)]}, labels, 0)
    order = eval_order(dev)
    assert sorted(order) == list(range(50)) and order != list(range(50))
    assert [lengths[i] for i in order] == sorted(lengths, reverse=True)
    preds = train.predict(EchoFirstToken(), dev, 8, torch.device("cpu"), nullcontext, order)
    assert preds.tolist() == labels


def test_evaluating_only_at_the_end_changes_nothing_but_the_evaluation_count(glue_dir, tmp_path):
    every = run(["train.epochs=2", "train.evals_per_epoch=2"], glue_dir, tmp_path / "a")
    end = run(["train.epochs=2", "train.evals_per_epoch=0"], glue_dir, tmp_path / "b")
    assert len(every["evals"]) == 4 and len(end["evals"]) == 1
    assert end["evals"][0]["step"] == every["evals"][-1]["step"] == end["steps"]
    assert end["dev_predictions"] == every["dev_predictions"] and end["loss_curve"] == every["loss_curve"]
    with pytest.raises(ConfigError, match="train.evals_per_epoch=-1"):
        run(["train.evals_per_epoch=-1"], glue_dir, tmp_path / "c")


def test_a_run_claimed_by_a_live_process_is_skipped_and_a_dead_claim_is_taken_over(glue_dir, tmp_path):
    import subprocess
    import sys

    from stability_bench.claims import claim
    from stability_bench.records import record_path
    cfg = make_cfg(["seed=5"], glue_dir, tmp_path / "r")
    rdir = record_path(cfg).parent
    with claim(tmp_path / "r", rdir) as held:  # this process is running the cell
        assert held
        skipped = execute(cfg)
        assert skipped["status"] == "running" and not (rdir / "record.json").exists()
    # a process that took the claim and was killed -9 leaves nothing that blocks the cell
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from stability_bench.claims import claim; "
                               "c = claim(Path(sys.argv[1]), Path(sys.argv[2])); assert c.__enter__(); "
                               "print('held', flush=True); time.sleep(600)", str(tmp_path / "r"), str(rdir)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    assert execute(make_cfg(["seed=5"], glue_dir, tmp_path / "r"))["status"] == "running"
    holder.kill()
    holder.wait()
    assert execute(make_cfg(["seed=5"], glue_dir, tmp_path / "r"))["status"] == "completed"


def test_deterministic_switch_is_recorded_and_keeps_the_run_identity(glue_dir, tmp_path):
    import torch

    plain = run(["seed=4"], glue_dir, tmp_path)
    again = run(["seed=4", "train.deterministic=true"], glue_dir, tmp_path)
    assert again == plain  # the same run (identity excludes the switch): already completed, not re-run
    rec = run(["seed=4", "train.deterministic=true", "force=true"], glue_dir, tmp_path)
    assert rec["config"]["train"]["deterministic"] is True and torch.are_deterministic_algorithms_enabled()
    assert rec["dev_predictions"] == plain["dev_predictions"] and rec["loss_curve"] == plain["loss_curve"]
    run(["seed=5"], glue_dir, tmp_path)
    assert not torch.are_deterministic_algorithms_enabled()  # a later run in the same process: switched back
