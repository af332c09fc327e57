"""Real data, real pretrained model: MiniLM-L6 fine-tuned on an RTE subset (slow: ~1-2 minutes on 2 CPU cores)."""

import csv
import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_minilm_on_real_rte_subset_writes_a_record_whose_metric_recomputes(real_glue_dir, tmp_path):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-m", "stability_bench", "task=rte", "model=minilm_l6", "seed=0",
                          f"data.glue_dir={real_glue_dir}", f"results_dir={tmp_path}", "data.max_train_samples=256",
                          "train.epochs=1"], env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    rec = json.loads((tmp_path / "minilm_l6" / "rte" / "bias_correction" / "seed0" / "record.json").read_text())
    assert rec["status"] == "completed" and rec["n_train"] == 256 and rec["n_dev"] == 277 and rec["steps"] == 16
    # Labels read independently of the harness, straight from the GLUE file.
    with open(real_glue_dir / "RTE" / "dev.tsv", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    gold = [rec["label_names"].index(row[3]) for row in rows]
    assert rec["metric"] == pytest.approx(sklearn_metrics.accuracy_score(gold, rec["dev_predictions"]))
    assert rec["majority_baseline"] == pytest.approx(146 / 277)
    assert rec["failed"] == (rec["metric"] <= 146 / 277)
    losses = [v for _, v in rec["loss_curve"]]
    assert all(0.0 < v < 1.5 for v in losses)
    assert (tmp_path / "minilm_l6" / "rte" / "bias_correction" / "seed0" / "run.log").exists()
