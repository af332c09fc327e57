"""Reading an experiment tree into the runs table (one row per declared or recorded run).

Unreadable, truncated, schema-incompatible or incomplete records are reported (file and reason)
and skipped; they never stop the analysis. Cells that a sweep declared but that have no record
become rows with status ``missing``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from stability_bench.records import method_dirname, read_record_checked
from stability_bench.sweep import SWEEP_FILE

from .paper import FIXED_FAILURE_THRESHOLDS

COLUMNS = ["experiment", "task", "model", "method", "params", "threshold", "p", "seed", "init_seed", "data_seed",
           "status", "metric_name", "metric", "majority_baseline", "failed_majority", "failed_fixed", "single_class",
           "precision", "run_dir"]


class AnalysisError(ValueError):
    """A problem with the input as a whole (e.g. no records at all); one line for the terminal."""


def precision(rec: dict) -> str | None:
    """fp32, tf32 (fp32 with TF32 matrix products) or bf16, from the record's resolved config."""
    train = (rec.get("config") or {}).get("train") or {}
    if "precision" not in train:
        return None
    return "tf32" if train["precision"] == "fp32" and train.get("tf32") else train["precision"]


def mixed_precision(runs: pd.DataFrame) -> list[str]:
    """Table cells whose completed runs were trained in more than one precision: one line each."""
    if "precision" not in runs:
        return []
    done = runs[(runs["status"] == "completed") & runs["precision"].notna()]
    out = []
    for key, g in done.groupby(["experiment", "task", "method", "params"], sort=True):
        counts = g["precision"].value_counts()
        if len(counts) > 1:
            label = " ".join(str(k) for k in key if k)
            out.append(f"{label}: runs of different precision pooled ({', '.join(f'{n} {p}' for p, n in sorted(counts.items()))}); "
                       "give each precision its own experiment=")
    return out


def _row(rec: dict, experiment: str, run_dir: str) -> dict:
    params = rec["method"].get("params", {}) if isinstance(rec["method"], dict) else {}
    name = rec["method"]["name"] if isinstance(rec["method"], dict) else str(rec["method"])
    status = rec["status"]  # as written: the analysis never asks whether a running run is alive
    metric = rec.get("metric") if status == "completed" else None
    baseline = rec.get("majority_baseline")
    fixed = FIXED_FAILURE_THRESHOLDS.get(rec["task"])
    preds = rec.get("dev_predictions") if metric is not None else None
    return {
        "experiment": experiment, "task": rec["task"], "model": rec["model"], "method": name,
        "params": method_dirname(name, params).partition(",")[2], "threshold": params.get("threshold"),
        "p": params.get("p"), "seed": rec["seed"], "init_seed": rec.get("init_seed"), "data_seed": rec.get("data_seed"),
        "status": status, "metric_name": rec["metric_name"], "metric": metric, "majority_baseline": baseline,
        "failed_majority": None if metric is None or baseline is None else bool(metric <= baseline),
        "failed_fixed": None if metric is None or fixed is None else bool(metric <= fixed),
        # the run predicts one class for every dev example: a collapse, whatever its metric
        "single_class": None if not preds else len(set(preds)) == 1,
        "precision": precision(rec),
        "run_dir": run_dir,
    }


def read_one(path: Path) -> tuple[dict | None, str | None]:
    """(record, None) or (None, why it is corrupt: stability_bench.records.read_record_checked)."""
    rec, problem = read_record_checked(path)
    if rec is None and problem is None:
        return None, "vanished while being read"
    return rec, problem


def load_runs(root: Path) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """All runs under ``root`` (an experiment directory or a results_dir), and the skipped files."""
    root = Path(root)
    if not root.is_dir():
        raise AnalysisError(f"{root} is not a directory")
    record_paths = sorted(root.glob("**/record.json"))
    sweep_files = sorted(root.glob(f"**/{SWEEP_FILE}"))
    if not record_paths and not sweep_files:
        raise AnalysisError(f"no record.json or sweep.json under {root}")
    rows, skipped, seen = [], [], set()
    for path in record_paths:
        exp_dir = path.parents[3]
        rec, reason = read_one(path)
        if rec is None:
            skipped.append((str(path), reason))
            continue
        run_dir = str(path.parent.relative_to(exp_dir))
        seen.add((str(exp_dir), run_dir))
        rows.append(_row(rec, exp_dir.name, run_dir))
    for sweep in sweep_files:
        exp_dir = sweep.parent
        try:
            cells = json.loads(sweep.read_text())["cells"]
        except (OSError, ValueError, KeyError) as e:
            skipped.append((str(sweep), f"unreadable sweep file: {e}"))
            continue
        for cell in cells:
            if (str(exp_dir), cell["run_dir"]) in seen:
                continue
            if (exp_dir / cell["run_dir"] / "record.json").exists():
                continue  # present but skipped above: already reported
            name, _, params = cell["method"].partition(",")
            kv = dict(x.split("=", 1) for x in params.split(",") if x)
            rows.append({"experiment": exp_dir.name, "task": cell["task"], "model": cell["model"], "method": name,
                         "params": params, "threshold": float(kv["threshold"]) if "threshold" in kv else None,
                         "p": float(kv["p"]) if "p" in kv else None, "seed": cell["seed"], "status": "missing",
                         "run_dir": cell["run_dir"]})
    df = pd.DataFrame(rows, columns=COLUMNS)
    return df.sort_values(["experiment", "task", "method", "params", "seed"], kind="stable").reset_index(drop=True), skipped


def read_runs_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise AnalysisError(f"{path} is not a readable CSV: {' '.join(str(e).split())[:200]}") from None
    missing = [c for c in COLUMNS if c not in df and c not in ("single_class", "precision")]
    if missing:
        raise AnalysisError(f"{path} is not a runs.csv written by python -m analysis: no column {', '.join(missing)}")
    df["params"] = df["params"].fillna("")
    for col in ("single_class", "precision"):  # runs.csv written before the column existed
        if col not in df:
            df[col] = None
    for col in ("failed_majority", "failed_fixed", "single_class"):
        df[col] = df[col].map(lambda v: None if pd.isna(v) else str(v) in ("True", "true", "1", "1.0"))
    return df
