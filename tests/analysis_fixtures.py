"""Synthetic run records for the analysis tests: a fixed, hand-checkable experiment tree."""

import json
from pathlib import Path

BASELINES = {"rte": 146 / 277, "mrpc": 0.8122, "cola": 0.0}
METRIC = {"rte": "accuracy", "mrpc": "f1", "cola": "mcc"}


def write_record(exp: Path, task: str, method: str, params: dict, seed: int, metric=None, status="completed", **extra):
    method_dir = ",".join([method] + [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(params.items())])
    run_dir = exp / task / method_dir / f"seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    rec = {"schema_version": 1, "status": status, "task": task, "model": "tiny_random",
           "method": {"name": method, "params": params}, "seed": seed, "init_seed": seed, "data_seed": seed,
           "metric_name": METRIC[task], "metric": metric if status == "completed" else None,
           "majority_baseline": extra.pop("majority_baseline", BASELINES[task]),
           "failed": (metric <= BASELINES[task]) if status == "completed" else None, **extra}
    (run_dir / "record.json").write_text(json.dumps(rec))
    return run_dir / "record.json"


def build_tree(root: Path) -> Path:
    """table1-style experiment: 2 recipes x 2 tasks x 3 seeds, with a crashed, a diverged and a missing
    run; and a table2-style experiment: 3 thresholds x 2 seeds on CoLA."""
    exp = root / "table1-tiny_random"
    cw = {"grouping": "tensor", "threshold": 0.05}
    values = {("rte", "bias_correction"): [0.70, 0.50, 0.72], ("rte", "cwgnc"): [0.73, 0.74, 0.75],
              ("mrpc", "bias_correction"): [0.90, 0.80, 0.88], ("mrpc", "cwgnc"): [0.905, 0.91, 0.90]}
    for (task, method), vals in values.items():
        for seed, v in enumerate(vals, start=1):
            write_record(exp, task, method, cw if method == "cwgnc" else {}, seed, v)
    write_record(exp, "rte", "bias_correction", {}, 4, status="crashed", error="RuntimeError: boom")
    write_record(exp, "mrpc", "cwgnc", cw, 4, status="diverged")
    cells = [{"run_dir": f"{t}/{m}/seed{s}", "task": t, "method": m, "model": "tiny_random", "seed": s, "overrides": []}
             for t in ("rte", "mrpc") for m in ("bias_correction", "cwgnc,grouping=tensor,threshold=0.05") for s in (1, 2, 3, 4, 5)]
    (exp / "sweep.json").write_text(json.dumps({"cells": cells}))
    exp2 = root / "table2-tiny_random"
    for thr, vals in ((0.01, [0.55, 0.57]), (1.0, [0.40, 0.0]), (100000.0, [0.30, 0.0])):
        for seed, v in enumerate(vals, start=1):
            write_record(exp2, "cola", "cwgnc", {"grouping": "tensor", "threshold": thr}, seed, v)
    return root


def build_example_tree(root: Path) -> Path:
    """Records with what example- and curve-level statistics need: dev labels and predictions, two evaluations
    and a loss curve per run, training times. RTE-like, 2 recipes x 6 seeds, 30 dev examples."""
    import numpy as np

    from stability_bench import metrics

    rng = np.random.default_rng(7)
    labels = rng.integers(0, 2, 30)
    baseline = metrics.majority_baseline("accuracy", labels)
    exp = root / "ex"
    for method, skill in (("bias_correction", 0.6), ("cwgnc", 0.8)):
        for seed in range(1, 7):
            preds = np.where(rng.random(30) < skill, labels, 1 - labels)
            if method == "bias_correction" and seed <= 2:
                preds = np.zeros(30, dtype=int) + int(np.bincount(labels).argmax())  # collapsed: failed
            acc = metrics.accuracy(labels, preds)
            half = baseline if seed <= 3 else acc  # seeds 1-3 are at the baseline halfway
            loss = [[s, 0.69 if (method == "bias_correction" and seed <= 2) else 0.69 - 0.01 * s] for s in range(2, 21, 2)]
            write_record(exp, "rte", method, {"threshold": 0.05} if method == "cwgnc" else {}, seed, acc,
                         majority_baseline=baseline, dev_predictions=preds.tolist(), dev_labels=labels.tolist(),
                         metrics=metrics.all_metrics(labels, preds), steps=20, train_time_s=36.0 * seed,
                         evals=[{"step": 10, "metric": half}, {"step": 20, "metric": acc}], loss_curve=loss)
    return root
