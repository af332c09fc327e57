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
                   n_single_class=n_single_class(done),
                   threshold=g["threshold"].iloc[0], p=g["p"].iloc[0], failed_rule=rule, std_ddof=ddof)
        out.append(row)
    return pd.DataFrame(out)


def compare(runs: pd.DataFrame, baseline: str, rule: str = "majority", ddof: int = 0,
            n_resamples: int = 10000) -> pd.DataFrame:
    """Per (experiment, task, model) and recipe: bootstrap CIs of Mean and Std, and tests against
    the baseline recipe (Brown-Forsythe, Mann-Whitney, Fisher on failed counts)."""
    fcol = failed_column(rule)
    done = runs[runs["status"] == "completed"]
    out = []
    for (exp, task, model), g in done.groupby(["experiment", "task", "model"], sort=True):
        base = g[g["method"] == baseline]
        b = base["metric"].astype(float).to_numpy()
        for (method, params), r in g.groupby(["method", "params"], sort=True):
            v = r["metric"].astype(float).to_numpy()
            mean_ci = stats.bootstrap_ci(v, "mean", n_resamples=n_resamples)
            std_ci = stats.bootstrap_ci(v, "std", ddof=ddof, n_resamples=n_resamples)
            is_base = method == baseline
            n_failed = int(r[fcol].astype(bool).sum())
            out.append({
                "experiment": exp, "task": task, "model": model, "method": method, "params": params, "n": len(v),
                "mean": float(np.mean(v)), "mean_ci_low": mean_ci[0], "mean_ci_high": mean_ci[1],
                "std": float(np.std(v, ddof=ddof)), "std_ci_low": std_ci[0], "std_ci_high": std_ci[1],
                "n_failed": n_failed, "n_single_class": n_single_class(r), "baseline": baseline,
                "p_brown_forsythe": np.nan if is_base or not len(b) else stats.brown_forsythe(v, b),
                "p_mann_whitney": np.nan if is_base or not len(b) else stats.mann_whitney(v, b),
                "p_fisher_failed": np.nan if is_base or not len(b) else stats.fisher_failed(
                    n_failed, len(v), int(base[fcol].astype(bool).sum()), len(b)),
            })
    return pd.DataFrame(out)


def expected_max_table(runs: pd.DataFrame) -> pd.DataFrame:
    done = runs[runs["status"] == "completed"]
    out = []
    for (exp, task, model, method, params), g in done.groupby(GROUP, sort=True):
        for n, value in enumerate(stats.expected_max(g["metric"].astype(float)), start=1):
            out.append({"experiment": exp, "task": task, "model": model, "method": method, "params": params,
                        "n_runs": n, "expected_max": value})
    return pd.DataFrame(out)


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
