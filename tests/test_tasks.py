from pathlib import Path

import pytest

from stability_bench import metrics
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
