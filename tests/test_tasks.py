from pathlib import Path

import pytest

from stability_bench import CONF_DIR, metrics
from stability_bench.tasks import DataError, load_split

from conftest import make_cfg


def task_cfg(name, tmp_path):
    return make_cfg([f"task={name}"], tmp_path, tmp_path).task


def test_rte_keeps_quote_characters_and_maps_label_names(glue_dir, tmp_path):
    split = load_split(task_cfg("rte", tmp_path), str(glue_dir), "train")
    assert len(split.labels) == 40
    assert split.texts[0][1].startswith('"')  # a leading quote is text, not CSV quoting
    assert split.labels[0] == 1 and split.labels[1] == 0  # not_entailment -> 1, entailment -> 0


def test_mrpc_strips_the_byte_order_mark_and_reads_quality(glue_dir, tmp_path):
    split = load_split(task_cfg("mrpc", tmp_path), str(glue_dir), "dev")
    assert len(split.labels) == 24 and split.labels[:2] == [0, 1]
    assert split.texts[0][1].endswith('"')


def test_cola_has_no_header_and_one_text(glue_dir, tmp_path):
    split = load_split(task_cfg("cola", tmp_path), str(glue_dir), "dev")
    assert len(split.labels) == 24 and all(len(t) == 1 for t in split.texts)


def test_missing_file_names_the_path(glue_dir, tmp_path):
    (glue_dir / "RTE" / "dev.tsv").unlink()
    with pytest.raises(DataError, match=r"RTE/dev.tsv"):
        load_split(task_cfg("rte", tmp_path), str(glue_dir), "dev")


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="data.glue_dir=.*is not a directory"):
        load_split(task_cfg("rte", tmp_path), str(tmp_path / "nowhere"), "dev")


def test_malformed_row_names_file_and_line(glue_dir, tmp_path):
    path = glue_dir / "RTE" / "train.tsv"
    lines = path.read_text().splitlines()
    lines[3] = "3\tonly two fields"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"train.tsv:4: expected 4 tab-separated fields, found 2"):
        load_split(task_cfg("rte", tmp_path), str(glue_dir), "train")


def test_unknown_label_is_rejected(glue_dir, tmp_path):
    path = glue_dir / "CoLA" / "dev.tsv"
    path.write_text("gj04\t7\t\tsome sentence\n")
    with pytest.raises(DataError, match="label '7'"):
        load_split(task_cfg("cola", tmp_path), str(glue_dir), "dev")


@pytest.mark.parametrize("task,n_train,n_dev,baseline", [
    ("rte", 2490, 277, 146 / 277), ("mrpc", 3668, 408, 2 * 279 / (279 + 408)), ("cola", 8551, 1043, 0.0)])
def test_real_glue_files_row_counts_and_majority_baselines(real_glue_dir, tmp_path, task, n_train, n_dev, baseline):
    cfg = task_cfg(task, tmp_path)
    train = load_split(cfg, str(real_glue_dir), "train")
    dev = load_split(cfg, str(real_glue_dir), "dev")
    assert (len(train.labels), len(dev.labels)) == (n_train, n_dev)
    assert metrics.majority_baseline(cfg.metric, dev.labels) == pytest.approx(baseline)


# --- every declared task, its readers, and tasks of one's own --------------------------------------------------

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "tasks"
ROOT = Path(__file__).resolve().parent.parent
TASKS = sorted(p.stem for p in (CONF_DIR / "task").glob("*.yaml"))


def test_the_glue_and_superglue_classification_tasks_are_declared():
    assert {"rte", "mrpc", "cola", "sst2", "qnli", "qqp", "mnli", "wnli", "boolq", "cb"} <= set(TASKS)


@pytest.mark.parametrize("task", TASKS)  # a new task is tested the moment its file exists
def test_every_declared_task_reads_its_fixture_in_the_original_layout(task, tmp_path):
    cfg = task_cfg(task, tmp_path)
    assert (FIXTURES / cfg.local.dir).is_dir(), f"add a small fixture in {task}'s layout under tests/fixtures/tasks/"
    for split in ("train", "dev"):
        data = load_split(cfg, str(FIXTURES), split)
        assert len(data.labels) >= 6 and all(len(t) == len(cfg.text_fields) and all(t) for t in data.texts)
        assert set(data.labels) == set(range(len(cfg.label_names))), "every label of the task appears in the fixture"
    assert cfg.hub_path and cfg.hub_name  # loadable from the hub too


def test_boolq_reads_json_booleans_and_cb_three_label_names(tmp_path):
    boolq = load_split(task_cfg("boolq", tmp_path), str(FIXTURES), "dev")
    assert boolq.labels[:2] == [1, 0]  # "label": true, false
    cb = load_split(task_cfg("cb", tmp_path), str(FIXTURES), "dev")
    assert cb.labels[:3] == [1, 0, 2]  # contradiction, entailment, neutral -> the hub's ids


def test_mnli_reads_the_matched_dev_file_by_its_header_names(tmp_path):
    dev = load_split(task_cfg("mnli", tmp_path), str(FIXTURES), "dev")
    lines = (FIXTURES / "MNLI" / "dev_matched.tsv").read_text().splitlines()
    first = lines[1].split("\t")
    assert dev.texts[0] == (first[8], first[9]) and dev.labels[0] == ["entailment", "neutral", "contradiction"].index(first[-1])


def test_a_hub_dataset_is_read_through_datasets_load_dataset(tmp_path):
    """The hub reader on a local dataset folder (datasets infers the splits from the file names): fields by
    name, labels as ids or names."""
    folder = tmp_path / "my_dataset"
    folder.mkdir()
    (folder / "train.csv").write_text('premise,hypothesis,label\n"a, b",c,neutral\nd,e,entailment\nf,g,contradiction\n')
    (folder / "validation.csv").write_text("premise,hypothesis,label\nh,i,contradiction\nj,k,neutral\n")
    cfg = task_cfg("cb", tmp_path)
    cfg.hub_path, cfg.hub_name = str(folder), None
    assert load_split(cfg, None, "train").texts[0] == ("a, b", "c")
    assert load_split(cfg, None, "dev").labels == [1, 2]
    cfg.text_fields = ["premise", "claim"]
    with pytest.raises(DataError, match=r"no field 'claim' \(its fields: premise, hypothesis, label\)"):
        load_split(cfg, None, "dev")


@pytest.mark.parametrize("task,file,content,message", [
    ("cb", "CB/val.jsonl", '{"premise": "a", "hypothesis": "b", "label": "neutral"}\n{"premise": "a", "label": "neutral"}\n',
     r"CB/val.jsonl:2: no field 'hypothesis' \(the object's fields: premise, label\)"),
    ("cb", "CB/val.jsonl", '{"premise": "a", "hypothesis": "b", "label": "neutral"}\n{"premise": "a",\n',
     r"CB/val.jsonl:2: not valid JSON"),
    ("cb", "CB/val.jsonl", '["a", "b"]\n', r"CB/val.jsonl:1: expected a JSON object, found list"),
    ("cb", "CB/val.jsonl", '{"premise": "a", "hypothesis": "b", "label": "maybe"}\n',
     r"CB/val.jsonl:1: label 'maybe' in field 'label' is not one of \['entailment', 'contradiction', 'neutral'\]"),
    ("qqp", "QQP/dev.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tduplicate\n1\t2\t3\ta\tb\t1\n",
     r"QQP/dev.tsv:1: no field 'is_duplicate' \(the file's fields: id, qid1, qid2, question1, question2, duplicate\)"),
    ("sst2", "SST-2/dev.tsv", "sentence\tlabel\ngood\t1\nbad\t0\textra\n", r"SST-2/dev.tsv:3: expected 2 tab-separated fields, found 3"),
])
def test_a_malformed_file_or_unknown_field_is_one_line_naming_file_line_and_field(tmp_path, task, file, content, message):
    import shutil
    root = tmp_path / "data"
    shutil.copytree(FIXTURES, root)
    (root / file).write_text(content)
    with pytest.raises(DataError, match=message) as e:
        load_split(task_cfg(task, tmp_path), str(root), "dev")
    assert "\n" not in str(e.value)


MY_TASK = """defaults:
  - /schema/task@_here_
name: reviews
label: Reviews (3 stars, macro-F1)
text_fields: [review]
label_field: stars
label_names: [bad, ok, good]
metric: macro_f1
local:
  dir: {dir}
  train: train.csv
  dev: dev.csv
"""


def test_a_task_of_ones_own_from_a_local_csv_runs_end_to_end(tmp_path):
    """README's task checklist: a YAML file in a config folder of one's own (--config-dir), CSV files with
    quoted commas, three labels, no hub dataset: a run completes, its majority baseline in macro-F1."""
    import json
    import os
    import subprocess
    import sys
    data = tmp_path / "reviews"
    data.mkdir()
    words = ["fine", "great", "awful", "meh", "superb", "dull"]
    for split, n in (("train", 30), ("dev", 12)):
        rows = ["review,stars"] + [f'"{words[i % 6]}, {words[(i * 5) % 6]} and {words[(i + 1) % 6]}",{["bad", "ok", "good"][i % 3]}'
                                   for i in range(n)]
        (data / f"{split}.csv").write_text("\n".join(rows) + "\n")
    conf = tmp_path / "myconf"
    (conf / "task").mkdir(parents=True)
    (conf / "task" / "reviews.yaml").write_text(MY_TASK.format(dir=data))
    out = subprocess.run([sys.executable, "-m", "stability_bench", "--config-dir", str(conf), "task=reviews",
                          "model=tiny_random", "train.epochs=1", "train.batch_size=8", f"results_dir={tmp_path / 'r'}"],
                         cwd=tmp_path, env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rec = json.loads(next((tmp_path / "r").glob("**/record.json")).read_text())
    assert rec["status"] == "completed" and rec["task"] == "reviews" and rec["metric_name"] == "macro_f1"
    assert rec["label_names"] == ["bad", "ok", "good"] and len(rec["dev_predictions"]) == 12
    assert rec["majority_baseline"] == pytest.approx(metrics.majority_baseline("macro_f1", rec["dev_labels"]))
    assert rec["metric"] == pytest.approx(metrics.macro_f1(rec["dev_labels"], rec["dev_predictions"]))
    # its declared label names it in the tables, with no edit to the analysis
    out = subprocess.run([sys.executable, "-m", "analysis", str(tmp_path / "r"), "--out", str(tmp_path / "t"),
                          "--no-figures", "--no-aso"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Reviews (3 stars, macro-F1)" in (tmp_path / "t" / "table1.md").read_text()
    assert "## tiny_random — Reviews (3 stars, macro-F1)" in (tmp_path / "t" / "stats.md").read_text()
    # and so do tables regenerated from runs.csv alone, where no record and no declaration is at hand
    out = subprocess.run([sys.executable, "-m", "analysis", "--from-runs", str(tmp_path / "t" / "runs.csv"),
                          "--out", str(tmp_path / "t2"), "--no-figures", "--no-aso"],
                         cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Reviews (3 stars, macro-F1)" in (tmp_path / "t2" / "table1.md").read_text()
    assert (tmp_path / "t2" / "stats.md").read_text() == (tmp_path / "t" / "stats.md").read_text()


def test_a_three_label_task_runs_end_to_end_into_the_tables(tmp_path):
    """CB (three labels, macro-F1): training, majority baseline, failed-run rule, summary, multi-bootstrap, tables."""
    from analysis.__main__ import main
    from stability_bench.run import execute
    for seed in (1, 2, 3):
        rec = execute(make_cfg(["task=cb", f"seed={seed}", "experiment=cb", "train.batch_size=4"], FIXTURES, tmp_path / "r"))
        assert rec["status"] == "completed" and rec["metric_name"] == "macro_f1"
        assert rec["failed"] == (rec["metric"] <= rec["majority_baseline"])
        assert set(rec["metrics"]) >= {"accuracy", "macro_f1", "mcc"}
    assert main([str(tmp_path / "r"), "--out", str(tmp_path / "t"), "--no-figures", "--no-aso"]) == 0
    import pandas as pd
    summary = pd.read_csv(tmp_path / "t" / "summary.csv")
    row = summary[summary["task"] == "cb"].iloc[0]
    assert row["n_completed"] == 3 and 0 <= row["mean"] <= 1
    stats = pd.read_csv(tmp_path / "t" / "stats.csv")
    assert stats[stats["task"] == "cb"]["mean_mb_low"].notna().all()  # the multi-bootstrap of three labels
    assert "CB (macro-F1)" in (tmp_path / "t" / "table1.md").read_text()
