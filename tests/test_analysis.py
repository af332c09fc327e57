import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import aggregate, stats
from analysis.__main__ import main
from analysis.load import load_runs

from analysis_fixtures import build_tree, write_record

GOLDEN = Path(__file__).parent / "golden"


def test_population_and_sample_std_by_hand():
    std, mean, mx = stats.std_mean_max([0.5, 0.7, 0.9])
    assert std == pytest.approx(math.sqrt(0.08 / 3)) and mean == pytest.approx(0.7) and mx == 0.9
    assert stats.std_mean_max([0.5, 0.7, 0.9], ddof=1)[0] == pytest.approx(0.2)


def test_expected_max_by_hand():
    e = stats.expected_max([3.0, 1.0, 2.0])
    assert e[0] == pytest.approx(2.0)  # one run: the mean
    assert e[1] == pytest.approx(1 / 9 + 2 * 3 / 9 + 3 * 5 / 9)  # 22/9
    assert e[2] == pytest.approx(1 * 1 / 27 + 2 * 7 / 27 + 3 * 19 / 27)


def test_expected_max_of_25_seeds_equals_exact_rational_arithmetic():
    """Dodge et al.'s formula in exact fractions: the products that replace numpy's (CPU-dependent) pow lose
    nothing that matters (relative error below 1e-14 for n up to N; 3e-16 at worst over 60 draws of 5 to 100
    values)."""
    from fractions import Fraction
    v = sorted(np.random.default_rng(3).uniform(0.2, 0.9, 25))
    ours = stats.expected_max(v)
    for n in range(1, 26):
        exact = sum(Fraction(x) * Fraction(i ** n - (i - 1) ** n, 25 ** n) for i, x in enumerate(v, start=1))
        assert abs(ours[n - 1] - float(exact)) <= 1e-14 * float(exact), n


def test_fisher_exact_by_hand():
    p_zero = math.comb(10, 0) * math.comb(10, 5) / math.comb(20, 5)  # 0 of 10 failed vs 5 of 10
    assert stats.fisher_failed(0, 10, 5, 10) == pytest.approx(2 * p_zero)


def test_mann_whitney_fully_separated_groups():
    assert stats.mann_whitney([1.0, 2.0, 3.0], [4.0, 5.0, 6.0]) == pytest.approx(2 / math.comb(6, 3))


def test_brown_forsythe_is_anova_on_deviations_from_the_median():
    from scipy.stats import f
    a, b = np.array([1.0, 2.0, 3.0, 4.0, 10.0]), np.array([2.0, 3.0, 3.0, 4.0, 4.5])
    za, zb = np.abs(a - np.median(a)), np.abs(b - np.median(b))
    z = np.concatenate([za, zb])
    between = len(za) * (za.mean() - z.mean()) ** 2 + len(zb) * (zb.mean() - z.mean()) ** 2
    within = ((za - za.mean()) ** 2).sum() + ((zb - zb.mean()) ** 2).sum()
    F = between / (within / (len(z) - 2))
    assert stats.brown_forsythe(a, b) == pytest.approx(f.sf(F, 1, len(z) - 2))
    assert math.isnan(stats.brown_forsythe([1.0, 2.0], [3.0, 5.0]))  # degenerate with 2 runs


def test_bootstrap_interval_brackets_the_estimate():
    v = np.array([0.6, 0.65, 0.7, 0.72, 0.8, 0.55])
    lo, hi = stats.bootstrap_ci(v, "mean", n_resamples=2000)
    assert lo < v.mean() < hi
    lo, hi = stats.bootstrap_ci(v, "std", n_resamples=2000)
    assert lo < v.std() < hi
    assert stats.bootstrap_ci([0.5, 0.5, 0.5], "mean") == (0.5, 0.5)
    assert stats.bootstrap_ci([0.5, 0.5, 0.5], "std") == (0.0, 0.0)
    assert all(math.isnan(x) for x in stats.bootstrap_ci([0.5, 0.6], "mean"))  # BCa needs 3 runs


def test_summary_counts_statuses_and_never_counts_crashes_as_failures(tmp_path):
    runs, skipped = load_runs(build_tree(tmp_path))
    assert not skipped
    s = aggregate.summarize(runs).set_index(["task", "method"])
    rte_bc = s.loc[("rte", "bias_correction")]
    assert (rte_bc.n_completed, rte_bc.n_crashed, rte_bc.n_missing, rte_bc.n_declared) == (3, 1, 1, 5)
    assert rte_bc.n_failed == 1  # 0.50 <= 0.527; the crashed run is not a failure
    assert rte_bc["std"] == pytest.approx(np.std([0.70, 0.50, 0.72]))
    mrpc_cw = s.loc[("mrpc", "cwgnc")]
    assert (mrpc_cw.n_diverged, mrpc_cw.n_missing, mrpc_cw.n_failed) == (1, 1, 0)


def test_fixed_threshold_rule_counts_mrpc_failures_differently(tmp_path):
    runs, _ = load_runs(build_tree(tmp_path))
    major = aggregate.summarize(runs, "majority").set_index(["task", "method"])
    fixed = aggregate.summarize(runs, "fixed").set_index(["task", "method"])
    # MRPC F1 0.80: below the majority classifier's 0.812, above the authors' fixed 0.75
    assert major.loc[("mrpc", "bias_correction")].n_failed == 1
    assert fixed.loc[("mrpc", "bias_correction")].n_failed == 0


def test_golden_tables(tmp_path):
    out = tmp_path / "out"
    assert main(["--no-aso", str(build_tree(tmp_path / "results")), "--out", str(out), "--no-figures"]) == 0
    for name in ("table1.md", "table1.tex", "table2.md", "table2.tex", "table1.csv", "table2.csv"):
        expected = (GOLDEN / name).read_text()
        assert (out / name).read_text() == expected, f"{name} differs from tests/golden/{name}"


def test_everything_regenerates_from_runs_csv(tmp_path):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    assert main(["--no-aso", str(build_tree(tmp_path / "results")), "--out", str(out1), "--no-figures"]) == 0
    assert main(["--no-aso", "--from-runs", str(out1 / "runs.csv"), "--out", str(out2), "--no-figures"]) == 0
    for name in ("summary.csv", "table1.md", "table1.tex", "table2.md", "stats.csv", "expected_max.csv"):
        assert (out1 / name).read_text() == (out2 / name).read_text(), name


def test_bad_records_are_reported_and_skipped(tmp_path, capsys):
    root = build_tree(tmp_path / "results")
    exp = root / "table1-tiny_random"
    write_record(exp, "rte", "cwgnc", {}, 7, 0.7).write_text('{"schema_version": 1, "status": "comp')
    write_record(exp, "rte", "cwgnc", {}, 8, 0.7, schema_version=99)
    bad = write_record(exp, "rte", "cwgnc", {}, 9, 0.7)
    rec = json.loads(bad.read_text())
    del rec["task"]
    bad.write_text(json.dumps(rec))
    write_record(exp, "rte", "cwgnc", {}, 10, 0.71, some_future_field={"x": 1})  # extra fields are fine
    out = tmp_path / "out"
    assert main(["--no-aso", str(root), "--out", str(out), "--no-figures"]) == 0
    err = capsys.readouterr().err
    assert "not valid JSON" in err and "schema_version 99" in err and "missing fields: task" in err
    skipped = pd.read_csv(out / "skipped.csv")
    assert len(skipped) == 3
    runs = pd.read_csv(out / "runs.csv")
    assert ((runs["method"] == "cwgnc") & (runs["seed"] == 10) & (runs["task"] == "rte")).sum() == 1


def test_empty_or_missing_directory_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["--no-aso", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no record.json or sweep.json" in capsys.readouterr().err
    assert main(["--no-aso", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a directory" in capsys.readouterr().err


def test_a_baseline_that_no_run_has_is_a_clear_error(tmp_path, capsys):
    results = build_tree(tmp_path / "results")
    out = tmp_path / "o"
    for given, says in (("bias_corection", "--baseline bias_corection is not a recipe of these runs; choose one of "
                                           "bias_correction, cwgnc"),
                        ("cwgnc,threshold", "--baseline cwgnc,threshold: threshold is not KEY=VALUE; write "),
                        ("nope/bias_correction", "--baseline nope/bias_correction: there is no experiment nope; "
                                                 "choose one of table1-tiny_random, table2-tiny_random"),
                        ("cwgnc,threshold=7", "--baseline cwgnc,threshold=7 names no cell of these runs; the cells of "
                                              "cwgnc: cwgnc,grouping=tensor,threshold=0.01, ")):
        assert main(["--no-aso", str(results), "--out", str(out), "--baseline", given]) == 2, given
        err = capsys.readouterr().err.strip()
        assert err.startswith(f"error: {says}") and "\n" not in err and not out.exists(), err
    # a name that fits several cells of every group it could serve: name the one meant
    assert main(["--no-aso", str(results / "table2-tiny_random"), "--out", str(out), "--baseline", "cwgnc"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --baseline cwgnc names 3 cells of table2-tiny_random (cola); name "
                                               "the one with its params, e.g. --baseline cwgnc,grouping=tensor,threshold=0.01")
    # a declared table's baseline is checked like --baseline
    (tmp_path / "tables").mkdir()
    (tmp_path / "tables" / "mine.yaml").write_text("title: T\nbaseline: cwgnc,0.05\n")
    assert main(["--no-aso", str(results), "--out", str(out), "--tables", str(tmp_path / "tables")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {tmp_path / 'tables' / 'mine.yaml'}: baseline cwgnc,0.05: 0.05 is not KEY=VALUE")
    assert not out.exists()


def test_each_experiment_is_compared_against_its_declared_baseline_or_the_one_named(tmp_path):
    """Table 1 against bias correction, Table 2's thresholds against no clipping (table2.yaml's baseline), and
    with --baseline another experiment's cell; P(A>B) and the pairs by hand from analysis_fixtures.build_tree."""
    results = build_tree(tmp_path / "results")
    main(["--no-aso", str(results), "--out", str(tmp_path / "a"), "--no-figures"])
    comp = pd.read_csv(tmp_path / "a" / "stats.csv")
    t1, t2 = comp[comp["experiment"] == "table1-tiny_random"], comp[comp["experiment"] == "table2-tiny_random"]
    assert (t1["baseline"] == "bias_correction").all() and t1["is_baseline"].tolist() == [True, False] * 2
    assert (t2["baseline"] == "cwgnc,grouping=tensor,threshold=100000").all()
    by_params = t2.set_index("params")
    assert by_params["is_baseline"].to_dict() == {"grouping=tensor,threshold=0.01": False,
                                                  "grouping=tensor,threshold=1": False,
                                                  "grouping=tensor,threshold=100000": True}
    # 0.01: [.55, .57] against [.30, 0]: 4 of 4 pairs win; 1: [.40, 0] against [.30, 0]: 2 wins and a tie of 4
    assert by_params["prob_superiority"].tolist()[:2] == [1.0, 0.625]
    assert by_params["n_pairs"].tolist()[:2] == [2, 2]
    text = (tmp_path / "a" / "stats.md").read_text()
    assert "Against `cwgnc,grouping=tensor,threshold=100000`:" in text and "Against `bias_correction`:" in text

    # another experiment's cell, of the same task and model; the first name that fits a group serves it
    for seed, v in ((1, 0.2), (2, 0.1)):
        write_record(results / "other-tiny_random", "cola", "bias_correction", {}, seed, v)
    assert main(["--no-aso", str(results), "--out", str(tmp_path / "b"), "--no-figures",
                 "--baseline", "other-tiny_random/bias_correction", "--baseline", "bias_correction"]) == 0
    comp = pd.read_csv(tmp_path / "b" / "stats.csv")
    t2 = comp[comp["experiment"] == "table2-tiny_random"].set_index("params")
    assert (t2["baseline"] == "other-tiny_random/bias_correction").all() and not t2["is_baseline"].any()
    # 0.01, 1, 1e5 against [.2, .1]: 4, 2 and 2 of 4 pairs win
    assert t2["prob_superiority"].tolist() == [1.0, 0.5, 0.5] and (t2["n_pairs"] == 2).all()
    assert (comp[comp["experiment"] == "table1-tiny_random"]["baseline"] == "bias_correction").all()
    # rows of one recipe follow its params' values as numbers (stats.md), not as text
    from analysis.tables import params_key
    assert sorted(["grouping=tensor,threshold=100000", "grouping=tensor,threshold=5", "grouping=layer,threshold=1"],
                  key=params_key) == ["grouping=layer,threshold=1", "grouping=tensor,threshold=5",
                                      "grouping=tensor,threshold=100000"]
    # a value names its number however it is written
    assert main(["--no-aso", str(results / "table2-tiny_random"), "--out", str(tmp_path / "c"), "--no-figures",
                 "--baseline", "cwgnc,threshold=1e5"]) == 0
    assert pd.read_csv(tmp_path / "c" / "stats.csv")["is_baseline"].sum() == 1


def test_figures_are_written(tmp_path):
    out = tmp_path / "out"
    assert main(["--no-aso", str(build_tree(tmp_path / "results")), "--out", str(out)]) == 0
    for name in ("strip_table1-tiny_random.png", "strip_table1-tiny_random.pdf", "table2_table2-tiny_random.png",
                 "expected_max_table1-tiny_random.png"):
        assert (out / name).stat().st_size > 1000, name


def test_cli_entry_point(tmp_path):
    root = build_tree(tmp_path / "results")
    out = subprocess.run([sys.executable, "-m", "analysis", str(root), "--out", str(tmp_path / "o"), "--no-figures", "--no-aso"],
                         capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert out.returncode == 0 and "wrote" in out.stdout


def test_component_and_unfreezing_figures_from_real_tiny_runs(glue_dir, tmp_path):
    from stability_bench.run import execute

    from conftest import make_cfg
    results = tmp_path / "results"
    for seed in (1, 2):
        execute(make_cfg(["method=cwgnc", f"seed={seed}", "train.component_stats_every=1", "experiment=cs"], glue_dir, results))
        execute(make_cfg(["method=gu_restart", f"seed={seed}", "experiment=gu"], glue_dir, results))
    out = tmp_path / "out"
    assert main(["--no-aso", str(results), "--out", str(out)]) == 0
    assert (out / "component_stats.png").stat().st_size > 1000
    assert (out / "gradual_unfreezing.png").stat().st_size > 1000


def test_seed_variance_split_recovers_additive_effects(tmp_path):
    init_effect = {1: 0.60, 2: 0.70, 3: 0.80}
    data_effect = {1: -0.02, 2: 0.0, 3: 0.02}
    exp = tmp_path / "seed_split-tiny"
    for i, a in init_effect.items():
        for j, b in data_effect.items():
            write_record(exp, "rte", "bias_correction", {}, 0, a + b, init_seed=i, data_seed=j)
            rec_dir = exp / "rte" / "bias_correction" / "seed0"
            rec_dir.rename(exp / "rte" / "bias_correction" / f"seed0-init{i}-data{j}")
    runs, _ = load_runs(tmp_path)
    split = aggregate.seed_variance(runs).iloc[0]
    assert split["var_init"] == pytest.approx(np.var([60, 70, 80]))
    assert split["var_data"] == pytest.approx(np.var([-2, 0, 2]))
    assert split["var_rest"] == pytest.approx(0.0, abs=1e-9)
    out = tmp_path / "out"
    assert main(["--no-aso", str(tmp_path), "--out", str(out), "--no-figures"]) == 0
    assert "Weight initialisation vs data order" in (out / "stats.md").read_text()


def test_seed_variance_is_not_split_for_an_ordinary_sweep(tmp_path):
    exp = tmp_path / "table1-tiny"
    for seed, value in [(1, 0.6), (2, 0.7), (3, 0.65)]:  # init_seed == data_seed == seed: no crossed grid
        write_record(exp, "rte", "bias_correction", {}, seed, value)
    runs, _ = load_runs(tmp_path)
    assert aggregate.seed_variance(runs).empty


@pytest.mark.slow  # the statistics of three studies, ASO included (about 2 minutes)
@pytest.mark.parametrize("published", sorted(p.parent.name for p in (Path(__file__).parent.parent / "analysis")
                                             .glob("*/runs.csv")))
def test_published_tables_regenerate_from_their_runs_csv(published, tmp_path):
    """The tables in README.md and RESULTS.md are the ones their committed runs.csv (and the example-level files
    beside it) gives today."""
    src = Path(__file__).parent.parent / "analysis" / published
    assert main(["--from-runs", str(src / "runs.csv"), "--out", str(tmp_path), "--no-figures"]) == 0
    for name in ("summary.csv", "table1.md", "table1.tex", "table2.md", "stats.md", "stats.csv", "expected_max.csv",
                 "early_detection.csv", "churn.csv"):
        if (src / name).exists():
            assert (tmp_path / name).read_text() == (src / name).read_text(), f"analysis/{published}/{name}"


def test_single_class_runs_are_counted_from_dev_predictions(tmp_path):
    exp = tmp_path / "table1-tiny"
    for seed, preds in [(1, [1, 1, 1]), (2, [0, 1, 1]), (3, [0, 0, 0])]:
        write_record(exp, "rte", "bias_correction", {}, seed, 0.6, dev_predictions=preds)
    write_record(exp, "rte", "bias_correction", {}, 4, status="crashed")
    runs, _ = load_runs(tmp_path)
    assert aggregate.summarize(runs)["n_single_class"].tolist() == [2]
    out, again = tmp_path / "out", tmp_path / "again"
    assert main(["--no-aso", str(tmp_path), "--out", str(out), "--no-figures"]) == 0
    assert "| 3 | 60.0 | [60.0, 60.0] | [–] | 0.0 | [0.0, 0.0] | [–] | 0/3 | [0.0, 56.1] | 2/3 |" in (out / "stats.md").read_text()
    assert main(["--no-aso", "--from-runs", str(out / "runs.csv"), "--out", str(again), "--no-figures"]) == 0
    assert (again / "stats.md").read_text() == (out / "stats.md").read_text()


def test_records_that_say_running_are_reported_as_written_with_a_pointer_to_status(tmp_path, capsys):
    """The analysis never asks whether a run is alive (records copied from another host would all look dead);
    it says how many records say running and which command tells live runs from cut-off ones."""
    exp = tmp_path / "table1-tiny"
    for seed in (1, 2):
        write_record(exp, "rte", "bias_correction", {}, seed, 0.6)
    write_record(exp, "rte", "bias_correction", {}, 3, status="running", owner={"host": "gpu-host", "pid": 1})
    assert main(["--no-aso", str(tmp_path), "--out", str(tmp_path / "out"), "--no-figures"]) == 0
    out = capsys.readouterr().out
    assert "3 runs (2 completed, 1 running)" in out
    assert "note: 1 records say running, as written; python -m stability_bench.status <results dir>" in out
    assert main(["--no-aso", str(exp / "rte" / "bias_correction" / "seed1"), "--out", str(tmp_path / "o2"),
                 "--no-figures"]) == 0
    assert "note:" not in capsys.readouterr().out  # nothing to say when no record says running


@pytest.mark.parametrize("doc, published", [("RESULTS.md", "study_cpu"), ("RESULTS.md", "study_gpu"), ("README.md", "example")])
def test_tables_quoted_in_the_docs_are_the_published_ones(doc, published):
    root = Path(__file__).parent.parent
    text = (root / doc).read_text()
    for name in ("table1.md", "table2.md"):
        table = root / "analysis" / published / name
        if table.exists():
            rows = [line for line in table.read_text().splitlines() if line.startswith("|")]
            assert "\n".join(rows) in text, f"{doc} quotes an outdated analysis/{published}/{name}"
    if doc == "RESULTS.md":  # the statistics quoted per task are those of stats.md
        stats_md = (root / "analysis" / published / "stats.md").read_text().split("# Early failure")[0]
        for block in stats_md.split("\n\n"):
            if block.startswith("| Recipe"):
                assert block.strip() in text, f"{doc} quotes an outdated analysis/{published}/stats.md"


def test_runs_of_different_precision_in_one_cell_are_flagged(tmp_path, capsys):
    root = build_tree(tmp_path / "results")
    exp = root / "table1-tiny_random"
    for seed, (prec, tf32) in enumerate((("fp32", False), ("bf16", False), ("fp32", True)), start=1):
        write_record(exp, "rte", "cwgnc", {"grouping": "tensor", "threshold": 0.05}, seed, 0.7,
                     config={"train": {"precision": prec, "tf32": tf32}})
    for seed in (1, 2):
        write_record(exp, "mrpc", "bias_correction", {}, seed, 0.9, config={"train": {"precision": "fp32", "tf32": False}})
    out = tmp_path / "out"
    assert main(["--no-aso", str(root), "--out", str(out), "--no-figures"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: table1-tiny_random rte cwgnc grouping=tensor,threshold=0.05: runs of different precision "
                        "pooled (1 bf16, 1 fp32, 1 tf32); give each its own experiment="]
    runs = pd.read_csv(out / "runs.csv")
    assert set(runs.loc[runs["task"] == "rte", "precision"].dropna()) == {"fp32", "bf16", "tf32"}


def test_where_a_run_selected_its_reported_evaluation_is_in_runs_csv_and_the_tables(tmp_path, capsys):
    """runs.csv's selected_on: last (train.select=last), dev (best on the dev set it reports: Mosbach et al.),
    heldout (best on held-out training examples); the table notes the rows whose runs report a selected
    evaluation, but not with --evaluation last; a cell pooling two selections is warned about."""
    exp = tmp_path / "results" / "table1-tiny_random"
    last, best = {"train": {"select": "last"}}, {"train": {"select": "best"}}
    heldout = {"train": {"select": "best"}, "data": {"heldout_fraction": 0.1}}
    for seed in (1, 2):
        write_record(exp, "rte", "bias_correction", {}, seed, 0.6, config=last)
        write_record(exp, "rte", "mosbach", {}, seed, 0.7, config=best)
        write_record(exp, "mrpc", "mosbach", {}, seed, 0.9, config=heldout)
    write_record(exp, "rte", "devlin", {}, 1, 0.6)  # a record without its config: not known
    out = tmp_path / "out"
    assert main(["--no-aso", str(exp), "--out", str(out), "--no-figures"]) == 0
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    runs = pd.read_csv(out / "runs.csv").set_index(["task", "method", "seed"])
    assert runs["selected_on"].to_dict() == {("mrpc", "mosbach", 1): "heldout", ("mrpc", "mosbach", 2): "heldout",
                                             ("rte", "bias_correction", 1): "last", ("rte", "bias_correction", 2): "last",
                                             ("rte", "devlin", 1): np.nan, ("rte", "mosbach", 1): "dev",
                                             ("rte", "mosbach", 2): "dev"}
    notes = [line for line in (out / "table1.md").read_text().splitlines() if line.startswith("- ")]
    assert notes == ["- Mosbach et al. (2020): each run reports the best of its dev evaluations, chosen on the dev set "
                     "it is scored on: an optimistic selection (`--evaluation last` scores each run's last)",
                     "- Mosbach et al. (2020): each run reports the dev score of its evaluation that was best on "
                     "training examples held out from training (data.heldout_fraction)"]
    again = tmp_path / "again"  # the same from runs.csv
    assert main(["--no-aso", "--no-figures", "--from-runs", str(out / "runs.csv"), "--out", str(again)]) == 0
    assert (again / "table1.md").read_text() == (out / "table1.md").read_text()
    rows = pd.read_csv(out / "runs.csv")
    rows.assign(last_metric=rows["metric"], last_is_selected=True).to_csv(tmp_path / "l.csv", index=False)
    assert main(["--no-aso", "--no-figures", "--from-runs", str(tmp_path / "l.csv"), "--out", str(tmp_path / "last"),
                 "--evaluation", "last"]) == 0
    assert "- Mosbach" not in (tmp_path / "last" / "table1.md").read_text()

    write_record(exp, "rte", "mosbach", {}, 3, 0.7, config=last)
    capsys.readouterr()
    assert main(["--no-aso", str(exp), "--out", str(out), "--no-figures"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: table1-tiny_random rte mosbach: runs of different evaluation selection (train.select, "
                        "data.heldout_fraction) pooled (2 dev, 1 last); give each its own experiment="]


@pytest.mark.slow
def test_a_killed_analysis_leaves_the_previous_outputs_whole(tmp_path):
    """kill -9 at several moments of a re-analysis: --out always holds one analysis's complete set."""
    import signal
    import time

    root = build_tree(tmp_path / "results")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "analysis", str(root), "--out", str(out), "--no-aso"]
    cwd = Path(__file__).parent.parent
    assert subprocess.run(cmd, cwd=cwd, capture_output=True).returncode == 0
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    listed = json.loads((out / ".manifest.json").read_text())["files"]
    assert sorted(listed) == sorted(set(before) - {".manifest.json"}) and any(n.endswith(".pdf") for n in listed)
    for delay in (1.0, 2.0, 3.0, 4.0):
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        assert files.keys() == before.keys() and all(files.values()), delay  # no 0-byte, none missing or extra
    assert subprocess.run(cmd, cwd=cwd, capture_output=True).returncode == 0
    assert not list(out.glob(".analysis-staging-*"))  # the killed runs' staging folders are cleaned up


def test_analysing_another_experiment_into_the_same_out_removes_the_old_outputs(tmp_path):
    root = build_tree(tmp_path / "results")
    out = tmp_path / "out"
    (out / "notes.txt").parent.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["--no-aso", str(root), "--out", str(out)]) == 0
    assert (out / "table2_table2-tiny_random.png").exists()
    assert main(["--no-aso", str(root / "table1-tiny_random"), "--out", str(out)]) == 0
    assert not list(out.glob("*table2*")) and (out / "strip_table1-tiny_random.png").exists()
    assert (out / "notes.txt").read_text() == "mine"  # never written by an analysis: left alone


def test_unusable_out_or_runs_csv_is_one_line(tmp_path, capsys):
    root = build_tree(tmp_path / "results")
    (tmp_path / "file").write_text("x")
    assert main(["--no-aso", str(root), "--out", str(tmp_path / "file"), "--no-figures"]) == 2
    assert capsys.readouterr().err.strip().endswith("is a file: give a directory (created if it does not exist)")
    assert main(["--no-aso", str(root), "--out", str(tmp_path / "file" / "out"), "--no-figures"]) == 2
    assert capsys.readouterr().err == f"error: --out {tmp_path / 'file' / 'out'} cannot be created (Not a directory)\n"
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    assert main(["--no-aso", "--from-runs", str(other), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {other} is not a runs.csv written by python -m analysis: no column experiment")
    assert "\n" not in err


def test_strip_plot_marks_collapses_and_explains_every_marker(tmp_path, monkeypatch):
    from analysis import figures

    seen = {}

    def capture(fig, out, name):
        ax = fig.axes[0]
        seen["legend"] = [t.get_text() for t in ax.get_legend().get_texts()]
        seen["notes"] = [t.get_text() for t in ax.texts]
        seen["ticks"] = [t.get_text() for t in ax.get_xticklabels()]
        return []

    monkeypatch.setattr(figures, "_save", capture)
    rows = [{"experiment": "e", "task": "cola", "method": m, "params": "", "status": "completed", "metric": v,
             "majority_baseline": 0.0, "failed_majority": v <= 0, "single_class": single}
            for m, v, single in [("cwgnc", 0.0, True)] * 3 + [("devlin", 0.2, False), ("devlin", 0.0, True),
                                                               ("devlin", -0.1, False)]]
    figures.strip_box(pd.DataFrame(rows), tmp_path, "majority")
    assert seen["ticks"] == ["Devlin et al. (2019)", "CWGNC"]  # Table 1's row order, not alphabetical
    assert seen["notes"] == ["all 3 runs\none class"]  # the collapsed recipe, not a flat "stable" line
    assert set(seen["legend"]) == {"run", "failed run", "failed, single-class run", "majority baseline"}


def test_expected_max_axis_counts_whole_seeds(tmp_path, monkeypatch):
    from analysis import figures

    ticks = []
    monkeypatch.setattr(figures, "_save", lambda fig, out, name: ticks.extend(fig.axes[0].get_xticks()) or [])
    emax = pd.DataFrame({"experiment": "e", "task": "rte", "method": "devlin", "params": "", "n_runs": [1, 2, 3],
                         "expected_max": [0.5, 0.6, 0.65]})
    figures.expected_max_curves(emax, tmp_path)
    assert ticks and all(float(t).is_integer() for t in ticks)


def test_multi_bootstrap_draws_recompute_with_the_metric_functions():
    """Each resample of the vectorised multi-bootstrap equals the metric recomputed on the drawn examples."""
    from stability_bench import metrics

    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 40)
    preds = np.where(rng.random((6, 40)) < 0.75, labels, 1 - labels)
    for metric in ("accuracy", "f1", "mcc"):
        out, dist = stats.multi_bootstrap(preds, labels, metric, n_resamples=50, seed=3, return_dist=True)
        draw = np.random.default_rng(3)
        weights = draw.multinomial(40, np.full(40, 1 / 40), size=50)
        pick = draw.integers(0, 6, size=(50, 6))
        for r in range(50):
            idx = np.repeat(np.arange(40), weights[r])
            scores = [metrics.compute(metric, labels[idx], preds[s][idx]) for s in pick[r]]
            assert dist["mean"][r] == pytest.approx(np.mean(scores), abs=1e-12)
            assert dist["std"][r] == pytest.approx(np.std(scores), abs=1e-12)
        assert out["mean"][0] <= np.mean([metrics.compute(metric, labels, p) for p in preds]) <= out["mean"][1]


def test_multi_bootstrap_is_wider_than_seeds_only_when_the_dev_set_is_small():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 60)
    preds = np.where(rng.random((25, 60)) < 0.8, labels, 1 - labels)
    from stability_bench import metrics
    per_seed = [metrics.accuracy(labels, p) for p in preds]
    seeds_only = stats.bootstrap_ci(per_seed, "mean")
    multi = stats.multi_bootstrap(preds, labels, "accuracy")["mean"]
    assert multi[1] - multi[0] > 1.5 * (seeds_only[1] - seeds_only[0])


def test_paired_wilcoxon_sees_a_consistent_shift_that_unpaired_tests_miss():
    rng = np.random.default_rng(1)
    seed_effect = rng.normal(0, 0.05, 20)  # what a seed does to every recipe
    a, b = seed_effect + 0.01 + rng.normal(0, 0.002, 20), seed_effect
    assert stats.wilcoxon_paired(a, b) < 0.001 and stats.mann_whitney(a, b) > 0.05


def test_probability_of_superiority_by_hand_and_against_mann_whitney_u():
    assert stats.prob_superiority([3, 5], [1, 3, 4]) == pytest.approx((1 + 0.5 + 0 + 1 + 1 + 1) / 6)  # 3>1, 3=3, 3<4, 5>all
    a, b = np.array([0.61, 0.64, 0.59, 0.70, 0.66]), np.array([0.58, 0.64, 0.60, 0.55])
    u = __import__("scipy").stats.mannwhitneyu(a, b).statistic
    assert stats.prob_superiority(a, b) == pytest.approx(u / (len(a) * len(b)))
    low, high = stats.prob_superiority_ci(a, b, n_resamples=2000)
    assert low <= stats.prob_superiority(a, b) <= high


def test_probability_of_superiority_interval_equals_the_pairwise_count_and_scales_to_many_seeds():
    """The bootstrap statistic is computed from ranks: the same interval as counting all pairs (ties included),
    without the pairs' memory (666 seeds per cell x 10,000 resamples needed 33 GiB as pairwise differences)."""
    import scipy.stats as st

    def pairwise(x, y, axis):
        d = x[..., :, None] - y[..., None, :]
        return ((d > 0).sum(axis=(-2, -1)) + 0.5 * (d == 0).sum(axis=(-2, -1))) / (x.shape[-1] * y.shape[-1])

    rng = np.random.default_rng(3)
    a, b = rng.integers(50, 60, 25) / 100, rng.integers(48, 58, 21) / 100  # many ties, as accuracies have
    want = st.bootstrap((a, b), pairwise, n_resamples=3000, random_state=0, vectorized=True, method="percentile")
    assert stats.prob_superiority_ci(a, b, n_resamples=3000) == (want.confidence_interval.low,
                                                                    want.confidence_interval.high)
    assert stats.prob_superiority(a, b) == pairwise(a, b, -1)
    big_a, big_b = rng.normal(0.6, 0.1, 666), rng.normal(0.58, 0.1, 661)
    low, high = stats.prob_superiority_ci(big_a, big_b, n_resamples=10000)
    assert low < stats.prob_superiority(big_a, big_b) < high


def test_holm_and_wilson_against_statsmodels():
    from statsmodels.stats.multitest import multipletests
    from statsmodels.stats.proportion import proportion_confint

    p = [0.01, 0.04, np.nan, 0.03, 0.2, 0.005]
    ok = [x for x in p if not np.isnan(x)]
    expected = multipletests(ok, method="holm")[1]
    got = stats.holm(p)
    assert np.isnan(got[2]) and np.allclose(got[~np.isnan(got)], expected)
    for k, n in ((0, 25), (4, 9), (25, 25), (7, 20)):
        assert np.allclose(stats.wilson(k, n), proportion_confint(k, n, method="wilson"))


def test_unbiased_expected_max_is_the_mean_max_over_all_subsets():
    from itertools import combinations

    v = [0.52, 0.61, 0.55, 0.70, 0.58, 0.66]
    for n, est in enumerate(stats.expected_max_unbiased(v), start=1):
        assert est == pytest.approx(np.mean([max(c) for c in combinations(v, n)]))
    assert stats.expected_max_unbiased(v)[-1] == pytest.approx(max(v))  # n = N: the observed max
    assert stats.expected_max(v)[-1] < max(v)  # the with-replacement form is biased low there
    intervals = stats.expected_max_intervals(v)
    assert len(intervals) == len(v)
    for (low, high), est in zip(intervals, stats.expected_max_unbiased(v)):
        assert low <= est <= high
    # per n, the percentiles of the estimator over resamples of the runs (by hand, n = 3)
    draws = np.sort(np.asarray(v)[np.random.default_rng(0).integers(0, 6, size=(2000, 6))], axis=1)
    by_hand = [np.mean([max(c) for c in combinations(row, 3)]) for row in draws]
    assert intervals[2] == pytest.approx((np.quantile(by_hand, 0.025), np.quantile(by_hand, 0.975)))


def test_violation_ratio_by_hand():
    """Four quantile levels of width 0.25: B lies above A on the first two, below on the last two. The squared
    distance is 4 x 1 x 0.25; the violated part skips the first level (deepsig integrates over t in (0, 1)), so
    only the second counts: 0.25 / 1."""
    f, g = np.array([0.0, 0.0, 1.0, 1.0]), np.array([1.0, 1.0, 0.0, 0.0])
    assert stats._violation_ratio(f, g, 0.25).tolist() == [0.25]
    assert stats._violation_ratio(f, f, 0.25).tolist() == [0.5]  # equal quantile functions: 0/0, no claim
    assert stats._quantile_index(4, np.array([0.001, 0.25, 0.2501, 1.0])).tolist() == [0, 0, 1, 3]  # ceil(4p)-th


def test_almost_stochastic_order_orders_separated_recipes():
    rng = np.random.default_rng(2)
    better, worse = rng.normal(0.7, 0.02, 20), rng.normal(0.6, 0.02, 20)
    assert stats.aso_epsilon(better, worse) < 0.05 and stats.aso_epsilon(worse, better) > 0.95
    assert np.isnan(stats.aso_epsilon([0.7], worse))  # one run has no distribution to compare


SAMPLES = {  # (A, B): unequal sizes, many ties (MCC of collapsed runs), every run at one value, domination
    "normal 10 x 10": (np.random.default_rng(0).normal(0.70, 0.02, 10), np.random.default_rng(1).normal(0.69, 0.02, 10)),
    "ties 25 x 7": (np.random.default_rng(2).integers(0, 4, 25) / 4, np.random.default_rng(3).integers(0, 4, 7) / 4),
    "collapsed 5 x 5": (np.zeros(5), np.zeros(5)),
    "dominated 25 x 3": (np.random.default_rng(4).normal(0.5, 0.1, 25), np.random.default_rng(5).normal(0.8, 0.01, 3)),
    "two runs each": (np.array([0.1, 0.3]), np.array([0.2, 0.25])),
}


@pytest.mark.parametrize("name", SAMPLES)
def test_almost_stochastic_order_equals_deepsig_to_the_bit(name):
    """Our vectorised ASO is deepsig's estimator with deepsig's draws: the same float, not a close one."""
    pytest.importorskip("deepsig")
    import warnings

    from deepsig import aso

    a, b = SAMPLES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # deepsig warns of the 0/0 of two collapsed samples
        for seed in (0, 11):
            expected = float(aso(a, b, seed=seed, num_bootstrap_iterations=100, show_progress=False, num_jobs=1))
            assert stats.aso_epsilon(a, b, seed=seed, iterations=100) == expected
        if name == "normal 10 x 10":  # once at deepsig's defaults, which the analysis uses (~5 s in deepsig)
            assert stats.aso_epsilon(a, b) == float(aso(a, b, seed=0, show_progress=False, num_jobs=1))


def test_new_statistics_report_and_regeneration_from_records(tmp_path):
    from analysis_fixtures import build_example_tree

    root = build_example_tree(tmp_path / "results")
    out = tmp_path / "out"
    assert main(["--no-aso", str(root), "--out", str(out)]) == 0
    comp = pd.read_csv(out / "stats.csv").set_index("method")
    assert comp["mean_mb_low"].notna().all() and (comp["mean_mb_low"] <= comp["mean"]).all()
    assert (comp["mean_mb_high"] - comp["mean_mb_low"] > comp["mean_ci_high"] - comp["mean_ci_low"]).all()
    assert comp.loc["bias_correction", "n_failed"] == 2
    assert np.allclose(comp.loc["bias_correction", ["failed_ci_low", "failed_ci_high"]], stats.wilson(2, 6))
    assert comp.loc["cwgnc", "n_pairs"] == 6 and comp.loc["cwgnc", "p_wilcoxon_paired_holm"] >= comp.loc["cwgnc", "p_wilcoxon_paired"]

    early = pd.read_csv(out / "early_detection.csv")
    half = early[(early["rule"] == "eval") & (early["fraction"] == 0.5)].iloc[0]
    # at half of training seeds 1-3 of both recipes sit at the baseline: 6 predicted, the 2 collapsed ones fail
    assert (half["n_predicted"], half["true_positives"], half["precision"], half["recall"]) == (6, 2, 2 / 6, 1.0)
    hours = (36 * (1 + 2 + 3) * 2) / 3600 * 0.5
    assert half["hours_saved"] == pytest.approx(hours)
    loss = early[(early["rule"] == "loss") & (early["fraction"] == 0.5)].iloc[0]
    assert (loss["n_predicted"], loss["true_positives"]) == (2, 2)  # only the flat loss curves

    emax = pd.read_csv(out / "expected_max.csv")
    row = emax[(emax["method"] == "cwgnc") & (emax["n_runs"] == 2)].iloc[0]
    assert row["train_hours"] == pytest.approx(2 * 36 * 3.5 / 3600) and row["em_ci_low"] <= row["expected_max_unbiased"]

    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3 and "http" not in page and "<script" not in page
    assert "Statistics beyond the paper" in page and "Runs that did not complete" in page and "<table>" in page

    again = tmp_path / "again"
    assert main(["--no-aso", "--from-runs", str(out / "runs.csv"), "--out", str(again)]) == 0
    for name in ("stats.csv", "early_detection.csv", "expected_max.csv", "stats.md"):
        assert (again / name).read_text() == (out / name).read_text(), name


def test_a_table_declared_in_a_file_renders_without_code(tmp_path):
    """Mixout's p on RTE, and a recipes table of one sweep: two YAML files, no code."""
    root = tmp_path / "results"
    exp = root / "mixout_p-tiny_random"
    for p, values in ((0.1, [0.60, 0.64]), (0.5, [0.58, 0.62]), (0.9, [0.50, 0.56])):
        for seed, v in enumerate(values, start=1):
            write_record(exp, "rte", "mixout", {"p": p, "skip_intermediate": True}, seed, v)
    specs = tmp_path / "tables"
    specs.mkdir()
    (specs / "mixout_p.yaml").write_text(
        "title: 'Mixout p on RTE — `{experiment}`'\ncaption: 'Accuracy in percentage points; {rule}.'\n"
        "tex_comment: 'Mixout p, {experiment}'\nrows: param.p\nrow_header: p\nwhere: {method: mixout, task: rte}\n")
    (specs / "only_mixout.yaml").write_text("title: 'Recipes of `{experiment}`'\nexperiments: 'mixout_p-*'\n")
    out = tmp_path / "out"
    assert main(["--no-aso", str(root), "--out", str(out), "--tables", str(specs), "--no-figures"]) == 0
    md = (out / "mixout_p.md").read_text()
    assert "| p | Std | Mean | Max | Failed | Runs |" in md
    assert "| 0.1 | 2.0 | 62.0 | 64.0 | 0/2 | 2/2 |" in md and "| 0.9 | 3.0 | 53.0 | 56.0 | 1/2 | 2/2 |" in md
    assert list(pd.read_csv(out / "mixout_p.csv")["p"]) == [0.1, 0.5, 0.9]
    recipes = (out / "only_mixout.md").read_text()  # three parameter sets of one recipe: each shows its params
    assert "| Lee et al. (2019) (Mixout) [p=0.1,skip_intermediate=True] |" in recipes
    (specs / "bad.yaml").write_text("title: x\nrow: recipe\n")
    assert main(["--no-aso", str(root), "--out", str(out), "--tables", str(specs), "--no-figures"]) == 2


def _selection_tree(root: Path, store_last: bool = False) -> Path:
    """RTE, 30 dev examples: Mosbach et al. (train.select=best: the record reports its best of three evaluations)
    and + bias correction (reports its last), 3 seeds each, with dev predictions and labels (``store_last``: and
    the last evaluation's, where it is not the selected one, as records have since they have the field)."""
    from stability_bench import metrics

    labels = np.array([0, 1] * 15)
    exp = root / "t1"
    right = {"mosbach": [[18, 21, 20], [17, 24, 15], [18, 19, 20]],  # of 30 dev examples; seed 2's last: failed
             "bias_correction": [[17, 18], [18, 19], [15, 17]]}
    for method, runs in right.items():
        for seed, counts in enumerate(runs, start=1):
            log = [{"stage": "all", "epoch": i + 1, "step": 10 * (i + 1), "metric": k / 30} for i, k in enumerate(counts)]
            chosen = counts.index(max(counts)) if method == "mosbach" else len(counts) - 1
            preds = np.where(np.arange(30) < counts[chosen], labels, 1 - labels)  # the chosen evaluation's
            extra = {"last_dev_predictions": np.where(np.arange(30) < counts[-1], labels, 1 - labels).tolist()} \
                if store_last and chosen != len(counts) - 1 else {}
            write_record(exp, "rte", method, {}, seed, metrics.accuracy(labels, preds), majority_baseline=0.5,
                         evals=log, selected_eval={k: log[chosen][k] for k in ("stage", "epoch", "step")},
                         dev_predictions=preds.tolist(), dev_labels=labels.tolist(), **extra)
    return root


def test_runs_scored_at_their_last_evaluation_separate_training_from_dev_selection(tmp_path, capsys):
    """--evaluation last: Mosbach et al.'s runs at their final evaluation instead of their best one (hand computed
    from the records' evaluations); the failed rule applies to that value; the runs whose reported predictions are
    another evaluation's lose the example-level columns; runs.csv stays as recorded, so --from-runs does the same."""
    root = _selection_tree(tmp_path / "r")
    assert main(["--no-aso", "--no-figures", str(root), "--out", str(tmp_path / "sel")]) == 0
    assert main(["--no-aso", "--no-figures", str(root), "--out", str(tmp_path / "last"), "--evaluation", "last"]) == 0
    sel, last = (pd.read_csv(tmp_path / d / "summary.csv").set_index("method") for d in ("sel", "last"))
    assert sel.loc["mosbach", "mean"] == pytest.approx((21 + 24 + 20) / 90)
    assert last.loc["mosbach", "mean"] == pytest.approx((20 + 15 + 20) / 90)
    assert last.loc["mosbach", "std"] == pytest.approx(np.std([20 / 30, 15 / 30, 20 / 30]))
    assert (sel.loc["mosbach", "n_failed"], last.loc["mosbach", "n_failed"]) == (0, 1)  # 0.50 <= 0.5
    for col in ("mean", "std", "n_failed"):  # a recipe that reports its last evaluation is unchanged
        assert sel.loc["bias_correction", col] == last.loc["bias_correction", col]
    assert (tmp_path / "sel" / "runs.csv").read_bytes() == (tmp_path / "last" / "runs.csv").read_bytes()
    runs = pd.read_csv(tmp_path / "sel" / "runs.csv")
    mos = runs[runs["method"] == "mosbach"].sort_values("seed")
    assert mos["last_metric"].tolist() == pytest.approx([20 / 30, 15 / 30, 20 / 30])
    assert mos["last_is_selected"].tolist() == [False, False, True]

    table = (tmp_path / "last" / "table1.md").read_text()
    assert "Each run at its last dev evaluation (`--evaluation last`)" in table
    assert "| Mosbach et al. (2020) | 3 | 61.1 | " in (tmp_path / "last" / "stats.md").read_text()
    stats_sel, stats_last = (pd.read_csv(tmp_path / d / "stats.csv").set_index("method") for d in ("sel", "last"))
    assert stats_sel.loc["mosbach", ["mean_mb_low", "n_single_class"]].notna().all()
    assert stats_last.loc["mosbach", ["mean_mb_low", "n_single_class"]].isna().all()  # seeds 1, 2: another evaluation's
    assert stats_last.loc["bias_correction", ["mean_mb_low", "n_single_class"]].notna().all()
    churn_sel, churn_last = (pd.read_csv(tmp_path / d / "churn.csv").set_index("method")["churn"] for d in ("sel", "last"))
    assert churn_sel.notna().all() and churn_last.isna().tolist() == [False, True]  # bias_correction, mosbach
    assert "| Mosbach et al. (2020) |" not in (tmp_path / "last" / "stats.md").read_text().split("# Prediction churn")[1]

    again = tmp_path / "again"
    assert main(["--no-aso", "--no-figures", "--from-runs", str(tmp_path / "sel" / "runs.csv"), "--out", str(again),
                 "--evaluation", "last"]) == 0
    assert (again / "summary.csv").read_bytes() == (tmp_path / "last" / "summary.csv").read_bytes()
    assert (again / "stats.csv").read_bytes() == (tmp_path / "last" / "stats.csv").read_bytes()

    # a runs.csv from before the column: one line, nothing written
    runs.drop(columns=["last_metric", "last_is_selected"]).to_csv(tmp_path / "old.csv", index=False)
    capsys.readouterr()
    assert main(["--no-aso", "--from-runs", str(tmp_path / "old.csv"), "--out", str(tmp_path / "x"), "--evaluation", "last"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: 6 completed runs do not say their last dev evaluation (e.g. t1/rte/bias_correction/seed1): "
                   "analyse the records, or a runs.csv written from them since the last_metric column exists, for "
                   "--evaluation last"]
    assert not (tmp_path / "x").exists()


def test_runs_whose_records_keep_the_last_evaluations_predictions_get_every_statistic_at_it(tmp_path):
    """--evaluation last with last_dev_predictions in the records: the example-level statistics of Mosbach et al.'s
    cell are those of its last evaluations (churn by hand: the runs predict right on their first 20, 15 and 20
    examples, so pairs disagree on 5, 0 and 5 of 30), also --from-runs."""
    root = _selection_tree(tmp_path / "r", store_last=True)
    assert main(["--no-aso", "--no-figures", str(root), "--out", str(tmp_path / "last"), "--evaluation", "last"]) == 0
    comp = pd.read_csv(tmp_path / "last" / "stats.csv").set_index("method")
    assert comp.loc["mosbach", ["mean_mb_low", "mean_mb_high"]].notna().all() and comp.loc["mosbach", "n_single_class"] == 0
    churn = pd.read_csv(tmp_path / "last" / "churn.csv").set_index("method")["churn"]
    assert churn["mosbach"] == pytest.approx((5 + 0 + 5) / 30 / 3)
    assert main(["--no-aso", "--no-figures", "--from-runs", str(tmp_path / "last" / "runs.csv"), "--out",
                 str(tmp_path / "again"), "--evaluation", "last"]) == 0
    for name in ("stats.csv", "churn.csv", "summary.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (tmp_path / "last" / name).read_bytes(), name


def test_churn_against_the_baseline_is_tested_pairing_runs_by_seed(tmp_path):
    """The selection tree's runs predict right on their first k of 30 dev examples, so two runs disagree on
    |k1 - k2|: Mosbach et al. (k = 21, 24, 20) has churn (3 + 1 + 4) / 90, + bias correction (18, 19, 17)
    (1 + 1 + 2) / 90; leaving out seed 1, 2, 3 from both gives differences 4/30 - 2/30, 1/30 - 1/30, 3/30 - 1/30,
    whose jackknife se is sqrt(2/3 * 24/8100) = 4/90 = the difference: t = 1 on 2 degrees of freedom, p = 1 - 1/sqrt(3)."""
    root = _selection_tree(tmp_path / "r")
    assert main(["--no-aso", "--no-figures", str(root), "--out", str(tmp_path / "out")]) == 0
    ch = pd.read_csv(tmp_path / "out" / "churn.csv").set_index("method")
    t = 4.302652729911275  # t quantile 0.975, 2 degrees of freedom
    assert ch.loc["mosbach", "churn"] == pytest.approx(8 / 90) and ch.loc["bias_correction", "churn"] == pytest.approx(4 / 90)
    assert ch.loc["mosbach", ["churn_diff", "churn_diff_ci_low", "churn_diff_ci_high", "p_churn", "p_churn_holm"]].tolist() \
        == pytest.approx([4 / 90, 4 / 90 * (1 - t), 4 / 90 * (1 + t), 1 - 1 / np.sqrt(3), 1 - 1 / np.sqrt(3)])
    assert ch.loc["mosbach", "baseline"] == "bias_correction" and ch.loc["bias_correction", ["churn_diff", "p_churn"]].isna().all()
    section = (tmp_path / "out" / "stats.md").read_text().split("# Prediction churn")[1]
    assert "Against `bias_correction`:\n\n| Recipe | RTE (Acc) |\n|---|---|\n" \
           "| Mosbach et al. (2020) | +4.4 [-14.7, +23.6], p 0.42 / 0.42 |\n" in section
    # another baseline: the comparison turns around
    assert main(["--no-aso", "--no-figures", str(root), "--out", str(tmp_path / "m"), "--baseline", "mosbach"]) == 0
    ch = pd.read_csv(tmp_path / "m" / "churn.csv").set_index("method")
    assert ch.loc["bias_correction", "churn_diff"] == pytest.approx(-4 / 90) and pd.isna(ch.loc["mosbach", "p_churn"])


def test_table2s_thresholds_are_compared_on_churn_with_its_no_clipping_cell(tmp_path):
    """Table 2's declared baseline is a cell named by its params (threshold 100000): each other threshold's churn
    is compared with that cell's, whatever order the cells come in."""
    from stability_bench import metrics

    exp = tmp_path / "r" / "table2-tiny_random"
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 40)
    for threshold, skill in ((100000.0, 0.6), (0.01, 0.9), (1.0, 0.7)):
        for seed in range(1, 5):
            preds = np.where(rng.random(40) < skill, labels, 1 - labels)
            write_record(exp, "cola", "cwgnc", {"grouping": "tensor", "threshold": threshold}, seed,
                         metrics.mcc(labels, preds), dev_predictions=preds.tolist(), dev_labels=labels.tolist())
    assert main(["--no-aso", "--no-figures", str(tmp_path / "r"), "--out", str(tmp_path / "out")]) == 0
    ch = pd.read_csv(tmp_path / "out" / "churn.csv").set_index("params")
    base = ch.loc["grouping=tensor,threshold=100000"]
    assert pd.isna(base["p_churn"]) and set(ch["baseline"]) == {"cwgnc,grouping=tensor,threshold=100000"}
    for params in ("grouping=tensor,threshold=0.01", "grouping=tensor,threshold=1"):
        assert ch.loc[params, "churn_diff"] == pytest.approx(ch.loc[params, "churn"] - base["churn"])
        assert 0 < ch.loc[params, "p_churn"] <= ch.loc[params, "p_churn_holm"] <= 1


def test_the_last_evaluation_rows_quoted_in_results_are_what_the_command_gives(tmp_path):
    """RESULTS.md, Setting 2, "Dev-set selection": its rows are those of the command written above them."""
    root = Path(__file__).parent.parent
    assert main(["--from-runs", str(root / "analysis" / "study_gpu" / "runs.csv"), "--evaluation", "last",
                 "--baseline", "mosbach", "--no-figures", "--out", str(tmp_path / "last")]) == 0
    text = (root / "RESULTS.md").read_text()
    stats_md = (tmp_path / "last" / "stats.md").read_text().split("# Prediction churn")[0]
    quoted = 0
    for block in stats_md.split("\n## ")[1:]:
        task = block.splitlines()[0].split(" — ")[1]
        head, against = block.split("Against `mosbach`")
        for line in head.splitlines():
            if line.startswith("| Mosbach"):
                assert f"| {task} {line}" in text, f"RESULTS.md quotes an outdated row: {task} {line}"
                quoted += 1
        for line in against.splitlines():
            if line.startswith(("| Devlin", "| + bias", "| CWGNC")):
                assert f"| {task} {line}" in text, f"RESULTS.md quotes an outdated row: {task} {line}"
                quoted += 1
    assert quoted == 12


def test_churn_is_the_mean_pairwise_disagreement_with_a_jackknife_interval():
    """Hand computation: runs 1-2 disagree on 1 of 4 examples, 1-3 on 2, 2-3 on 1: churn (1/4 + 2/4 + 1/4) / 3 = 1/3;
    leaving one run out gives 1/4, 1/2, 1/4, so the jackknife's se is sqrt(2/3 * (1/144 + 4/144 + 1/144)) = 1/6."""
    preds = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]])
    churn, low, high = stats.disagreement(preds)
    z = 1.959963984540054
    assert (churn, low, high) == pytest.approx((1 / 3, 1 / 3 - z / 6, 1 / 3 + z / 6))
    assert stats.disagreement(preds[:2])[0] == 0.25 and np.isnan(stats.disagreement(preds[:2])[1])
    assert np.isnan(stats.disagreement(preds[:1])[0])
    assert stats.disagreement(np.ones((5, 9), int)) == (0.0, 0.0, 0.0)  # identical runs
    # the leave-one-out shortcut against recomputing without each run, on random predictions of 3 classes
    rng = np.random.default_rng(0)
    P = rng.integers(0, 3, (7, 50))
    pairs = [(P[i] != P[j]).mean() for i in range(7) for j in range(7) if i != j]
    assert stats.disagreement(P)[0] == pytest.approx(np.mean(pairs), abs=1e-15)  # the matrix product counts exactly
    loo = np.array([stats.disagreement(np.delete(P, k, axis=0))[0] for k in range(7)])
    se = np.sqrt(6 / 7 * ((loo - loo.mean()) ** 2).sum())
    assert stats.disagreement(P)[1] == pytest.approx(stats.disagreement(P)[0] - z * se)


def test_a_difference_of_churn_is_jackknifed_over_seeds_paired_or_not():
    """Hand computation. A: churn 1/3, without each run 1/4, 1/2, 1/4 (above); B = 0000, 0000, 0001: pairs disagree
    on 0, 1/4, 1/4 of the examples, churn 1/6, without each run 1/4, 1/4, 0. Same seeds (paired): differences
    without seed 1, 2, 3 are 0, 1/4, 1/4, se = sqrt(2/3 * (1/36 + 2/144)) = 1/6 = the difference: t = 1 on 2
    degrees of freedom, p = 1 - 1/sqrt(3). Disjoint seeds: six units, 1/12, 1/3, 1/12 (A's left out) and 1/12,
    1/12, 1/3 (B's), se = sqrt(5/6 * 1/12), 5 degrees of freedom."""
    from scipy import stats as st

    A = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [1, 1, 1, 1]])
    B = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]])
    diff, low, high, p = stats.disagreement_difference(A, B, [1, 2, 3], [1, 2, 3])
    t2 = st.t.ppf(0.975, 2)
    assert (diff, low, high, p) == pytest.approx((1 / 6, 1 / 6 - t2 / 6, 1 / 6 + t2 / 6, 1 - 1 / np.sqrt(3)))
    se = np.sqrt(5 / 6 * (1 / 12))
    diff, low, high, p = stats.disagreement_difference(A, B, [1, 2, 3], [4, 5, 6])
    assert (diff, high - low, p) == pytest.approx((1 / 6, 2 * st.t.ppf(0.975, 5) * se, 2 * st.t.sf(1 / 6 / se, 5)))
    assert np.isnan(stats.disagreement_difference(A[:2], B, [1, 2], [1, 2, 3])[3])  # 3 runs a side at least
    assert np.isnan(stats.disagreement_difference(A, B[:, :3], [1, 2, 3], [1, 2, 3])[0])  # other dev examples
    # the shortcut against leaving each seed out of both and recomputing, on 3-class predictions with a missing run
    rng = np.random.default_rng(1)
    PA, PB = rng.integers(0, 3, (6, 40)), rng.integers(0, 3, (5, 40))
    sa, sb = [1, 2, 3, 4, 5, 6], [1, 2, 3, 5, 6]  # B's seed 4 crashed
    loo = np.array([stats.disagreement(PA[[i for i, x in enumerate(sa) if x != u]])[0]
                    - stats.disagreement(PB[[i for i, x in enumerate(sb) if x != u]])[0] for u in sa])
    se = np.sqrt(5 / 6 * ((loo - loo.mean()) ** 2).sum())
    diff, low, high, _ = stats.disagreement_difference(PA, PB, sa, sb)
    assert diff == pytest.approx(stats.disagreement(PA)[0] - stats.disagreement(PB)[0])
    assert high - low == pytest.approx(2 * st.t.ppf(0.975, 5) * se)


def test_the_churn_test_holds_its_level_under_the_null_and_finds_a_real_difference():
    """Simulation: 25 seeds, 300 dev examples, each example with its own chance of label 1, runs of one seed
    correlated across the two recipes (a shared draw). Same distribution for both recipes: the test rejects at
    most at its 5% level (1,000 repetitions; a binomial 95% bound around 5% is 3.7-6.4%). A recipe whose runs
    follow the examples' majority more often (2.3 points less churn on average): rejected in almost every repetition."""
    rng = np.random.default_rng(0)
    norm = __import__("scipy").stats.norm

    def runs(q, shared):
        return (norm.cdf(np.sqrt(0.5) * rng.standard_normal(shared.shape) + np.sqrt(0.5) * shared) < q).astype(int)

    def rate(sharpen, reps):
        seeds, hits = list(range(25)), 0
        for _ in range(reps):
            q = rng.beta(0.5, 0.5, 300)
            shared = rng.standard_normal((25, 300))
            a, b = runs(q, shared), runs(np.clip(q + sharpen * np.sign(q - 0.5) * np.minimum(q, 1 - q), 0, 1), shared)
            hits += stats.disagreement_difference(a, b, seeds, seeds)[3] < 0.05
        return hits / reps

    assert rate(0.0, 1000) <= 0.064
    assert rate(0.15, 200) >= 0.9


