"""Reading an experiment tree into the runs table (one row per declared or recorded run).

Unreadable, truncated, schema-incompatible or incomplete records are reported (file and reason)
and skipped; they never stop the analysis. Cells that a sweep declared but that have no record
become rows with status ``missing``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import pandas as pd

from stability_bench.records import experiment_of, method_dirname, read_record_checked
from stability_bench.sweep import SWEEP_FILE

from .paper import FIXED_FAILURE_THRESHOLDS

COLUMNS = ["experiment", "task", "model", "method", "params", "seed", "init_seed", "data_seed",
           "status", "metric_name", "metric", "majority_baseline", "failed_majority", "failed_fixed", "single_class",
           "precision", "run_dir"]
OPTIONAL = ["single_class", "precision", "steps", "train_time_s", "sweep", "label", "task_label",
            "reused_from", "last_metric", "last_is_selected", "selected_on"]  # absent from older runs.csv files
FRACTIONS = (0.1, 0.25, 0.33, 0.5, 0.75)  # of training, for early failure detection


class AnalysisError(ValueError):
    """A problem with the input as a whole (e.g. no records at all); one line for the terminal."""


def precision(rec: dict) -> str | None:
    """fp32, tf32 (fp32 with TF32 matrix products) or bf16, from the record's resolved config."""
    train = (rec.get("config") or {}).get("train") or {}
    if "precision" not in train:
        return None
    return "tf32" if train["precision"] == "fp32" and train.get("tf32") else train["precision"]


def selected_on(rec: dict) -> str | None:
    """Where the run's reported evaluation was chosen: ``last`` (its last dev evaluation, train.select=last),
    ``dev`` (the best on the dev set it is scored on: Mosbach et al.'s preset) or ``heldout`` (the best on training
    examples held out, data.heldout_fraction); None for a record whose config does not say."""
    cfg = rec.get("config") or {}
    select = (cfg.get("train") or {}).get("select")
    if select is None:
        return None
    if select == "last":
        return "last"
    return "heldout" if (cfg.get("data") or {}).get("heldout_fraction") else "dev"


POOLED = {"precision": "precision", "selected_on": "evaluation selection (train.select, data.heldout_fraction)"}


def pooled_settings(runs: pd.DataFrame) -> list[str]:
    """Table cells whose completed runs differ in a setting that a run directory does not name (precision, where
    the reported evaluation was selected): one line each."""
    out = []
    for col, what in POOLED.items():
        if col not in runs:
            continue
        done = runs[(runs["status"] == "completed") & runs[col].notna()]
        for key, g in done.groupby(["experiment", "task", "method", "params"], sort=True):
            counts = g[col].value_counts()
            if len(counts) > 1:
                label = " ".join(str(k) for k in key if k)
                out.append(f"{label}: runs of different {what} pooled "
                           f"({', '.join(f'{n} {p}' for p, n in sorted(counts.items()))}); give each its own experiment=")
    return out


def _failed(metric, baseline, task: str) -> dict:
    """failed_majority and failed_fixed of a metric (None where it or the threshold is unknown)."""
    fixed = FIXED_FAILURE_THRESHOLDS.get(task)
    known = metric is not None and not pd.isna(metric)
    return {"failed_majority": None if not known or baseline is None or pd.isna(baseline) else bool(metric <= baseline),
            "failed_fixed": None if not known or fixed is None else bool(metric <= fixed)}


def _last(rec: dict, metric) -> dict:
    """The run's last dev evaluation, and whether it is the one its metric reports (train.select=best picks
    another, e.g. Mosbach et al.'s best of 60)."""
    evals = rec.get("evals") or []
    if metric is None or not evals:
        return {"last_metric": None, "last_is_selected": None}
    last, chosen = evals[-1], rec.get("selected_eval")
    same = chosen is None or all(last.get(k) == v for k, v in chosen.items())  # no selected_eval: older records
    return {"last_metric": last["metric"], "last_is_selected": bool(same)}


def _row(rec: dict, experiment: str, run_dir: str) -> dict:
    params = rec["method"].get("params", {}) if isinstance(rec["method"], dict) else {}
    name = rec["method"]["name"] if isinstance(rec["method"], dict) else str(rec["method"])
    status = rec["status"]  # as written: the analysis never asks whether a running run is alive
    metric = rec.get("metric") if status == "completed" else None
    baseline = rec.get("majority_baseline")
    preds = rec.get("dev_predictions") if metric is not None else None
    return {
        "experiment": experiment, "task": rec["task"], "model": rec["model"], "method": name,
        "params": method_dirname(name, params).partition(",")[2], "seed": rec["seed"], "init_seed": rec.get("init_seed"), "data_seed": rec.get("data_seed"),
        "status": status, "metric_name": rec["metric_name"], "metric": metric, "majority_baseline": baseline,
        **_failed(metric, baseline, rec["task"]),
        # the run predicts one class for every dev example: a collapse, whatever its metric
        "single_class": None if not preds else len(set(preds)) == 1,
        "precision": precision(rec),
        "run_dir": run_dir,
        "steps": rec.get("steps"),
        "train_time_s": rec.get("train_time_s"),
        "label": rec["method"].get("label") if isinstance(rec["method"], dict) else None,  # the preset's own
        "sweep": rec.get("sweep") or ((rec.get("config") or {}).get("sweep") or {}).get("name"),
        "reused_from": rec.get("reused_from"),  # a copy of another experiment's run (hydra.sweeper.reuse)
        **_last(rec, metric),
        "selected_on": selected_on(rec),
        **{f"param.{k}": v for k, v in sorted(params.items())},
    }


@dataclass
class Examples:
    """What example-level and curve-level statistics need beyond runs.csv (written beside it)."""
    predictions: dict = field(default_factory=dict)  # (experiment, run_dir) -> dev predictions (completed runs)
    last_predictions: dict = field(default_factory=dict)  # the same, of the last evaluation where another is selected
    labels: dict = field(default_factory=dict)  # (experiment, task) -> dev labels
    early: list = field(default_factory=list)  # per run and fraction of training: last dev metric, recent loss


def _labels(rec: dict, glue_dir: str | None, cache: dict):
    """The dev labels of a record: its own ``dev_labels``, or (older records) the task's dev file under
    ``glue_dir``, used only when the record's metrics recompute exactly from them and its predictions."""
    if rec.get("dev_labels"):
        return np.asarray(rec["dev_labels"])
    task_cfg = (rec.get("config") or {}).get("task")
    preds, recorded = rec.get("dev_predictions"), rec.get("metrics") or {}
    if not glue_dir or not task_cfg or not preds or not recorded:
        return None
    key = (rec["task"], glue_dir)
    if key not in cache:
        try:
            from omegaconf import OmegaConf

            from stability_bench.config import TaskConfig
            from stability_bench.tasks import from_record, load_split
            task = OmegaConf.merge(OmegaConf.structured(TaskConfig), from_record(task_cfg))
            cache[key] = np.asarray(load_split(task, glue_dir, "dev").labels)
        except Exception:  # no such file, another layout: no labels
            cache[key] = None
    labels = cache[key]
    if labels is None or len(labels) < len(preds):
        return None
    labels = labels[:len(preds)]  # data.max_eval_samples keeps the first N
    from stability_bench import metrics
    if any(abs(metrics.compute(m, labels, preds) - v) > 1e-12 for m, v in recorded.items() if m in metrics.METRICS):
        return None
    return labels


def _early(rec: dict, experiment: str, run_dir: str) -> list[dict]:
    """For each fraction of training: the last dev evaluation at or before it, and the mean training loss of
    the loss points in the tenth of training before it."""
    steps, evals, curve = rec.get("steps"), rec.get("evals") or [], rec.get("loss_curve") or []
    if not steps or rec.get("status") != "completed":
        return []
    out = []
    for f in FRACTIONS:
        at = f * steps
        before = [e for e in evals if e["step"] <= at]
        window = [v for s, v in curve if at - 0.1 * steps < s <= at and v is not None]
        out.append({"experiment": experiment, "run_dir": run_dir, "fraction": f,
                    "eval_metric": before[-1]["metric"] if before else None,
                    "loss": float(np.mean(window)) if window else None})
    return out


def _number(text: str):
    """A parameter value from a run-directory name: a number where it reads as one."""
    try:
        return float(text)
    except ValueError:
        return {"True": True, "False": False}.get(text, text)


def read_one(path: Path) -> tuple[dict | None, str | None]:
    """(record, None) or (None, why it is corrupt: stability_bench.records.read_record_checked)."""
    rec, problem = read_record_checked(path)
    if rec is None and problem is None:
        return None, "vanished while being read"
    return rec, problem


def load_runs(root: Path, examples: Examples | None = None,
              glue_dir: str | None = None) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """All runs under ``root`` (an experiment directory or a results_dir), and the skipped files; ``examples``
    collects the completed runs' dev predictions, the dev labels and the early-detection features."""
    root = Path(root)
    label_cache: dict = {}
    task_labels: dict[str, str] = {}
    if not root.is_dir():
        raise AnalysisError(f"{root} is not a directory")
    record_paths = sorted(root.glob("**/record.json"))
    sweep_files = sorted(root.glob(f"**/{SWEEP_FILE}"))
    if not record_paths and not sweep_files:
        raise AnalysisError(f"no record.json or sweep.json under {root}")
    rows, skipped, seen = [], [], set()
    for path in record_paths:
        exp_dir = experiment_of(path)
        rec, reason = read_one(path)
        if rec is None:
            skipped.append((str(path), reason))
            continue
        run_dir = str(path.parent.relative_to(exp_dir))
        seen.add((str(exp_dir), run_dir))
        rows.append(_row(rec, exp_dir.name, run_dir))
        label = ((rec.get("config") or {}).get("task") or {}).get("label")
        if isinstance(label, str) and label:
            task_labels.setdefault(rec["task"], label)  # how tables and figures name the task
        if examples is not None and rec["status"] == "completed" and rec.get("dev_predictions"):
            examples.predictions[(exp_dir.name, run_dir)] = np.asarray(rec["dev_predictions"])
            if rec.get("last_dev_predictions"):
                examples.last_predictions[(exp_dir.name, run_dir)] = np.asarray(rec["last_dev_predictions"])
            if (exp_dir.name, rec["task"]) not in examples.labels:
                labels = _labels(rec, glue_dir, label_cache)
                if labels is not None:
                    examples.labels[(exp_dir.name, rec["task"])] = labels
            examples.early += _early(rec, exp_dir.name, run_dir)
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
                         "params": params, "seed": cell["seed"], "status": "missing", "run_dir": cell["run_dir"],
                         "sweep": cell.get("sweep"),
                         **{f"param.{k}": _number(v) for k, v in kv.items()}})
    params = sorted({k for r in rows for k in r if k.startswith("param.")})
    df = pd.DataFrame(rows, columns=COLUMNS + OPTIONAL[2:] + params)
    sweeps = {e: s for e, s in zip(df["experiment"], df["sweep"]) if isinstance(s, str)}
    df["sweep"] = df["experiment"].map(sweeps)  # declared-but-missing cells: their experiment's sweep
    df["task_label"] = df["task"].map(task_labels)  # every row of a task, so that runs.csv alone names it too
    return df.sort_values(["experiment", "task", "method", "params", "seed"], kind="stable").reset_index(drop=True), skipped


def check_last_known(runs: pd.DataFrame) -> None:
    """An AnalysisError unless every completed run says its last dev evaluation (``--evaluation last``)."""
    done = runs["status"] == "completed"
    unknown = runs[done & runs["last_metric"].isna()] if "last_metric" in runs else runs[done]
    if len(unknown):
        r = unknown.iloc[0]
        raise AnalysisError(f"{len(unknown)} completed runs do not say their last dev evaluation (e.g. {r['experiment']}/"
                            f"{r['run_dir']}): analyse the records, or a runs.csv written from them since the "
                            "last_metric column exists, for --evaluation last")


def at_last_evaluation(runs: pd.DataFrame, examples: Examples | None) -> tuple[pd.DataFrame, Examples | None]:
    """Every completed run scored at its last dev evaluation instead of the one its recipe selects
    (``--evaluation last``). A run whose selected evaluation is another one is also judged by its last
    evaluation's dev predictions (single class, multi-bootstrap, churn) where its record stores them
    (``last_dev_predictions``); else it loses them and its single-class flag, so the example-level statistics of
    its cell stay blank rather than mix two evaluations."""
    check_last_known(runs)
    done = runs["status"] == "completed"
    runs = runs.astype({c: object for c in ("failed_majority", "failed_fixed", "single_class")})  # a copy; None fits
    moved = done & ~runs["last_is_selected"].map(lambda v: not pd.isna(v) and bool(v))
    runs.loc[done, "metric"] = runs.loc[done, "last_metric"].astype(float)
    failed = pd.DataFrame([_failed(m, b, t) for m, b, t in zip(runs["metric"], runs["majority_baseline"], runs["task"])],
                          index=runs.index, dtype=object)
    runs.loc[done, list(failed)] = failed[done]
    last = examples.last_predictions if examples is not None else {}
    moved_keys = [k for k, m in zip(zip(runs["experiment"], runs["run_dir"]), moved) if m]
    runs.loc[moved, "single_class"] = [len(set(last[k])) == 1 if k in last else None for k in moved_keys]
    if examples is not None:
        predictions = {**examples.predictions, **{k: last.get(k) for k in moved_keys}}
        examples = Examples(predictions={k: v for k, v in predictions.items() if v is not None},
                            labels=examples.labels, early=examples.early)
    return runs, examples


def read_runs_csv(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_csv(path, keep_default_na=True)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise AnalysisError(f"{path} is not a readable CSV: {' '.join(str(e).split())[:200]}") from None
    missing = [c for c in COLUMNS if c not in df and c not in OPTIONAL]
    if missing:
        raise AnalysisError(f"{path} is not a runs.csv written by python -m analysis: no column {', '.join(missing)}")
    df["params"] = df["params"].fillna("")
    for col in OPTIONAL:  # runs.csv written before the column existed
        if col not in df:
            df[col] = None
    for old in ("threshold", "p"):  # runs.csv written before param.<key> columns: the two it had
        if old in df:
            values = df.pop(old)
            if f"param.{old}" not in df:
                df[f"param.{old}"] = values
    for col in ("failed_majority", "failed_fixed", "single_class", "last_is_selected"):
        df[col] = df[col].map(lambda v: None if pd.isna(v) else str(v) in ("True", "true", "1", "1.0"))
    return df


def _ids(values: np.ndarray) -> str:
    return " ".join(map(str, values.tolist()))


def write_examples(examples: Examples, out: Path) -> list[str]:
    """dev_predictions.csv, dev_labels.csv and early.csv beside runs.csv (what --from-runs reads back)."""
    written = []
    if examples.predictions:
        rows = []
        for key, p in sorted(examples.predictions.items()):
            row = {"experiment": key[0], "run_dir": key[1], "predictions": _ids(p)}
            if examples.last_predictions:  # a column only where some run selects another evaluation than its last
                row["last_predictions"] = _ids(examples.last_predictions[key]) if key in examples.last_predictions else ""
            rows.append(row)
        pd.DataFrame(rows).to_csv(out / "dev_predictions.csv", index=False)
        written.append("dev_predictions.csv")
    if examples.labels:
        pd.DataFrame([{"experiment": e, "task": t, "labels": _ids(v)}
                      for (e, t), v in sorted(examples.labels.items())]).to_csv(out / "dev_labels.csv", index=False)
        written.append("dev_labels.csv")
    if examples.early:
        pd.DataFrame(examples.early).to_csv(out / "early.csv", index=False)
        written.append("early.csv")
    return written


def read_examples(runs_csv: Path) -> Examples:
    """The files ``write_examples`` wrote beside a runs.csv (an empty part for each one that is absent)."""
    folder = Path(runs_csv).parent
    ex = Examples()
    try:
        if (folder / "dev_predictions.csv").exists():
            for r in pd.read_csv(folder / "dev_predictions.csv", keep_default_na=False).itertuples():
                ex.predictions[(r.experiment, r.run_dir)] = np.array(str(r.predictions).split(), dtype=np.int64)
                if getattr(r, "last_predictions", ""):  # written where some run selects another evaluation
                    ex.last_predictions[(r.experiment, r.run_dir)] = np.array(r.last_predictions.split(), dtype=np.int64)
        if (folder / "dev_labels.csv").exists():
            for r in pd.read_csv(folder / "dev_labels.csv").itertuples():
                ex.labels[(r.experiment, r.task)] = np.array(str(r.labels).split(), dtype=np.int64)
        if (folder / "early.csv").exists():
            ex.early = pd.read_csv(folder / "early.csv").to_dict("records")
    except (ValueError, KeyError, AttributeError, pd.errors.ParserError) as e:
        raise AnalysisError(f"the files beside {runs_csv} cannot be read: {' '.join(str(e).split())[:200]}") from None
    return ex
