"""From the runs table to per-cell summaries and the comparison statistics."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats

GROUP = ["experiment", "task", "model", "method", "params"]
STATUSES = ("completed", "crashed", "diverged", "running", "interrupted", "missing")


def failed_column(rule: str) -> str:
    return {"majority": "failed_majority", "fixed": "failed_fixed"}[rule]


def n_single_class(done: pd.DataFrame):
    """Completed runs that predict one class on all of dev; None when the runs do not say."""
    known = done["single_class"].dropna()
    return int(known.astype(bool).sum()) if len(known) == len(done) and len(done) else None


def cell_predictions(examples, experiment: str, run_dirs) -> np.ndarray | None:
    """The stored dev predictions of a cell's runs (runs x dev examples); None unless every run has them, all of
    one length."""
    preds = [examples.predictions.get((experiment, d)) for d in run_dirs] if examples is not None else [None]
    if not preds or any(p is None for p in preds) or len({len(p) for p in preds}) != 1:
        return None
    return np.stack(preds)


def summarize(runs: pd.DataFrame, rule: str = "majority", ddof: int = 0) -> pd.DataFrame:
    """One row per (experiment, task, model, method, params): counts by status, Std/Mean/Max of the
    completed runs' metric (fractions, not percent), and failed runs under ``rule``."""
    fcol = failed_column(rule)
    out = []
    for key, g in runs.groupby(GROUP, sort=True, dropna=False):
        done = g[g["status"] == "completed"]
        std, mean, mx = stats.std_mean_max(done["metric"].astype(float), ddof)
        row = dict(zip(GROUP, key))
        row.update({f"n_{s}": int((g["status"] == s).sum()) for s in STATUSES})
        row.update(n_declared=len(g), std=std, mean=mean, max=mx, n_failed=int(done[fcol].astype(bool).sum()),
                   n_single_class=n_single_class(done), failed_rule=rule, std_ddof=ddof,
                   selected_on=",".join(sorted(set(done["selected_on"].dropna()))) or None,
                   **{c: g[c].iloc[0] for c in runs.columns if c.startswith("param.") or c in ("sweep", "label", "task_label")})
        out.append(row)
    return pd.DataFrame(out)


def _pairs(r: pd.DataFrame, base: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Runs of two recipes that share their seeds (same seed, init_seed, data_seed): same classifier
    initialisation and data order, so the comparison can be paired."""
    key = ["seed", "init_seed", "data_seed"]
    m = r[key + ["metric"]].merge(base[key + ["metric"]], on=key, suffixes=("", "_base"))
    return m["metric"].astype(float).to_numpy(), m["metric_base"].astype(float).to_numpy()


def compare(runs: pd.DataFrame, baselines: dict, rule: str = "majority", ddof: int = 0,
            n_resamples: int = 9999, examples=None, aso: bool = True) -> pd.DataFrame:
    """Per (experiment, task, model) and recipe: intervals of Mean and Std (seeds only; seeds and dev examples
    when the predictions are at hand), the failed-run rate with its Wilson interval, and against the group's
    baseline cell (``baselines``: (experiment, task, model) -> ``baselines.Cell``, possibly of another
    experiment): effect sizes (P(A>B), Cliff's delta, ASO's epsilon_min), unpaired tests (Brown-Forsythe,
    Mann-Whitney, Fisher on failed counts) and the paired Wilcoxon test, each p-value also Holm-adjusted over
    the experiment's comparisons (its table)."""
    fcol = failed_column(rule)
    done = runs[runs["status"] == "completed"]
    params_str = done["params"].astype(str)
    out = []
    for (exp, task, model), g in done.groupby(["experiment", "task", "model"], sort=True):
        cell = baselines.get((exp, task, model))
        base = done[(done["experiment"] == cell.experiment) & (done["task"] == task) & (done["model"] == model)
                    & (done["method"] == cell.method) & (params_str == cell.params)] if cell else done.iloc[0:0]
        b = base["metric"].astype(float).to_numpy()
        labels = examples.labels.get((exp, task)) if examples is not None else None
        for (method, params), r in g.groupby(["method", "params"], sort=True):
            v = r["metric"].astype(float).to_numpy()
            mean_ci = stats.bootstrap_ci(v, "mean", n_resamples=n_resamples)
            std_ci = stats.bootstrap_ci(v, "std", ddof=ddof, n_resamples=n_resamples)
            preds = cell_predictions(examples, exp, r["run_dir"])
            multi = {"mean": (np.nan, np.nan), "std": (np.nan, np.nan)}
            if labels is not None and preds is not None and preds.shape[1] == len(labels):
                multi = stats.multi_bootstrap(preds, labels, r["metric_name"].iloc[0], ddof=ddof)
            is_base = cell is not None and (exp, method, str(params)) == (cell.experiment, cell.method, cell.params)
            n_failed = int(r[fcol].astype(bool).sum())
            failed_ci = stats.wilson(n_failed, len(v))
            row = {
                "experiment": exp, "task": task, "model": model, "method": method, "params": params, "n": len(v),
                "mean": float(np.mean(v)), "mean_ci_low": mean_ci[0], "mean_ci_high": mean_ci[1],
                "mean_mb_low": multi["mean"][0], "mean_mb_high": multi["mean"][1],
                "std": float(np.std(v, ddof=ddof)), "std_ci_low": std_ci[0], "std_ci_high": std_ci[1],
                "std_mb_low": multi["std"][0], "std_mb_high": multi["std"][1],
                "n_failed": n_failed, "failed_ci_low": failed_ci[0], "failed_ci_high": failed_ci[1],
                "n_single_class": n_single_class(r), "baseline": cell.name(exp) if cell else None, "is_baseline": is_base,
                "label": r["label"].iloc[0] if "label" in r else None,
            }
            compared = not is_base and len(b) > 0
            pa, pb = _pairs(r, base) if compared else (np.array([]), np.array([]))
            ps_ci = stats.prob_superiority_ci(v, b, n_resamples=n_resamples) if compared else (np.nan, np.nan)
            ps = stats.prob_superiority(v, b) if compared else np.nan
            row.update({
                "prob_superiority": ps, "ps_ci_low": ps_ci[0], "ps_ci_high": ps_ci[1],
                "cliffs_delta": 2 * ps - 1 if compared else np.nan,
                "aso_epsilon": stats.aso_epsilon(v, b) if compared and aso else np.nan,
                "p_brown_forsythe": stats.brown_forsythe(v, b) if compared else np.nan,
                "p_mann_whitney": stats.mann_whitney(v, b) if compared else np.nan,
                "p_fisher_failed": stats.fisher_failed(n_failed, len(v), int(base[fcol].astype(bool).sum()), len(b))
                if compared else np.nan,
                "n_pairs": len(pa), "p_wilcoxon_paired": stats.wilcoxon_paired(pa, pb) if compared else np.nan,
            })
            out.append(row)
    df = pd.DataFrame(out)
    for test in TESTS:  # a table's comparisons are one family
        df[f"{test}_holm"] = df.groupby("experiment")[test].transform(lambda p: pd.Series(stats.holm(p), index=p.index)) \
            if len(df) else []
    return df


TESTS = ("p_brown_forsythe", "p_mann_whitney", "p_fisher_failed", "p_wilcoxon_paired")


def expected_max_table(runs: pd.DataFrame, n_resamples: int = 2000) -> pd.DataFrame:
    """Per cell and n = 1..N: the expected maximum over n runs, with replacement (Dodge et al. 2019) and without
    (the unbiased estimator of Dodge et al. 2021) with a bootstrap interval, and the training hours n runs take
    (n x the cell's mean train_time_s), so that "expected best metric after H hours" is a curve."""
    done = runs[runs["status"] == "completed"]
    out = []
    for (exp, task, model, method, params), g in done.groupby(GROUP, sort=True):
        v = g["metric"].astype(float).to_numpy()
        hours = pd.to_numeric(g.get("train_time_s"), errors="coerce").mean() / 3600 if "train_time_s" in g else np.nan
        curves = zip(stats.expected_max(v), stats.expected_max_unbiased(v),
                     stats.expected_max_intervals(v, n_resamples=n_resamples))
        for n, (value, ub, (low, high)) in enumerate(curves, start=1):
            out.append({"experiment": exp, "task": task, "model": model, "method": method, "params": params,
                        "n_runs": n, "expected_max": value, "expected_max_unbiased": ub, "em_ci_low": low,
                        "em_ci_high": high, "train_hours": n * hours if np.isfinite(hours) else np.nan,
                        "label": g["label"].iloc[0] if "label" in g else None})
    return pd.DataFrame(out)


def early_detection(runs: pd.DataFrame, examples, rule: str = "majority") -> pd.DataFrame:
    """Could a failed run be told apart early (Dodge et al. 2020, stop bad seeds early)? For each fraction f of
    training, two rules: *eval* — the last dev evaluation at or before f is not above the majority baseline; *loss*
    — the training loss around f is still >= 95% of its value in the first tenth (no progress). Per experiment,
    task and rule: precision and recall of "predicted to fail" against the run's final failed flag, and the
    training hours that stopping the predicted runs at f would have saved."""
    if examples is None or not examples.early:
        return pd.DataFrame()
    fcol = failed_column(rule)
    feats = pd.DataFrame(examples.early)
    done = runs[runs["status"] == "completed"][["experiment", "task", "run_dir", "majority_baseline", fcol, "train_time_s"]]
    df = feats.merge(done, on=["experiment", "run_dir"])
    first = df[df["fraction"] == min(df["fraction"])][["experiment", "run_dir", "loss"]].rename(columns={"loss": "loss0"})
    df = df.merge(first, on=["experiment", "run_dir"], how="left")
    df["pred_eval"] = pd.to_numeric(df["eval_metric"], errors="coerce") <= df["majority_baseline"].astype(float)
    df["pred_loss"] = pd.to_numeric(df["loss"], errors="coerce") >= 0.95 * pd.to_numeric(df["loss0"], errors="coerce")
    out = []
    for (exp, task, f), g in df.groupby(["experiment", "task", "fraction"], sort=True):
        actual = g[fcol].astype(bool)
        hours = pd.to_numeric(g["train_time_s"], errors="coerce").fillna(0) / 3600
        for name in ("eval", "loss"):
            if name == "loss" and f == min(df["fraction"]):
                continue  # its own reference window
            pred = g[f"pred_{name}"].fillna(False).astype(bool)
            tp, n_pred, n_fail = int((pred & actual).sum()), int(pred.sum()), int(actual.sum())
            out.append({"experiment": exp, "task": task, "rule": name, "fraction": f, "n_runs": len(g),
                        "n_failed": n_fail, "n_predicted": n_pred, "true_positives": tp,
                        "precision": tp / n_pred if n_pred else np.nan, "recall": tp / n_fail if n_fail else np.nan,
                        "hours_saved": float(((1 - f) * hours[pred]).sum()), "good_runs_stopped": n_pred - tp})
    return pd.DataFrame(out)


def churn(runs: pd.DataFrame, examples, baselines: dict) -> pd.DataFrame:
    """Per cell of two or more completed runs: their prediction churn (``stats.disagreement``) on the dev set, from
    the stored predictions; nan where a run's are missing (or are another evaluation's: ``--evaluation last``).
    Against the group's baseline cell (``baselines``, as for ``compare``): the difference of churn with its
    interval and the paired jackknife test (``stats.disagreement_difference``), Holm-adjusted over the
    experiment's comparisons."""
    done = runs[runs["status"] == "completed"]
    cells = {}  # (experiment, task, model, method, params as text) -> (predictions, seeds)
    out = []
    for (exp, task, model, method, params), g in done.groupby(GROUP, sort=True):
        preds = cell_predictions(examples, exp, g["run_dir"])
        seeds = list(zip(*(g[k].astype(str) for k in ("seed", "init_seed", "data_seed"))))  # as text: nan meets nan
        cells[exp, task, model, method, str(params)] = preds, seeds
        if len(g) < 2:
            continue
        value, low, high = stats.disagreement(preds) if preds is not None else (np.nan, np.nan, np.nan)
        out.append({"experiment": exp, "task": task, "model": model, "method": method, "params": params, "n": len(g),
                    "churn": value, "churn_ci_low": low, "churn_ci_high": high,
                    "label": g["label"].iloc[0] if "label" in g else None})
    for row in out:
        key = (row["experiment"], row["task"], row["model"])
        cell = baselines.get(key)
        base = cells.get((cell.experiment, *key[1:], cell.method, cell.params)) if cell else None
        mine = cells[(*key, row["method"], str(row["params"]))]
        compared = base is not None and base is not mine and mine[0] is not None and base[0] is not None
        diff = stats.disagreement_difference(mine[0], base[0], mine[1], base[1]) if compared else (np.nan,) * 4
        row.update(baseline=cell.name(row["experiment"]) if cell else None,
                   **dict(zip(("churn_diff", "churn_diff_ci_low", "churn_diff_ci_high", "p_churn"), diff)))
    df = pd.DataFrame(out)
    if len(df):  # a table's comparisons are one family, as in ``compare``
        df["p_churn_holm"] = df.groupby("experiment")["p_churn"].transform(lambda p: pd.Series(stats.holm(p), index=p.index))
    return df


def seed_variance(runs: pd.DataFrame) -> pd.DataFrame:
    """Split the metric's variance into weight-initialisation and data-order parts (Dodge et al. 2020),
    for every cell run on a grid of init_seed x data_seed: with m_ij the metric of init i and data
    order j, var_init = var_i(mean_j m_ij), var_data = var_j(mean_i m_ij), and the rest (interaction
    and noise) = var(m) - var_init - var_data. Population variances, percentage points squared."""
    done = runs[runs["status"] == "completed"].dropna(subset=["init_seed", "data_seed"])
    out = []
    for key, g in done.groupby(GROUP, sort=True):
        # Only a crossed design separates the two: in an ordinary sweep (init_seed == data_seed == seed)
        # each init seed meets one data order and the split would be meaningless.
        if g.groupby("init_seed")["data_seed"].nunique().min() < 2 \
                or g.groupby("data_seed")["init_seed"].nunique().min() < 2:
            continue
        m = 100 * g["metric"].astype(float)
        grid = g.assign(m=m).pivot_table(index="init_seed", columns="data_seed", values="m", aggfunc="mean")
        total = float(np.var(m))
        v_init = float(np.var(grid.mean(axis=1)))
        v_data = float(np.var(grid.mean(axis=0)))
        out.append({**dict(zip(GROUP, key)), "n_init": grid.shape[0], "n_data": grid.shape[1], "n": len(g),
                    "complete_grid": bool(grid.notna().all().all()), "var_total": total, "var_init": v_init,
                    "var_data": v_data, "var_rest": total - v_init - v_data,
                    "share_init": v_init / total if total else np.nan, "share_data": v_data / total if total else np.nan})
    return pd.DataFrame(out)
