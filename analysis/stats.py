"""Statistics of a set of per-seed dev metrics: the paper's Std/Mean/Max and what goes beyond it.

Std follows the authors' code (numpy's population std, ddof=0) unless ``ddof=1`` is asked for.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as st


def std_mean_max(values, ddof: int = 0) -> tuple[float, float, float]:
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return (np.nan, np.nan, np.nan)
    std = float(np.std(v, ddof=ddof)) if len(v) > ddof else np.nan
    return std, float(np.mean(v)), float(np.max(v))


def bootstrap_ci(values, statistic: str = "mean", ddof: int = 0, n_resamples: int = 10000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean or the std (vectorised over resamples)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    samples = v[rng.integers(0, len(v), size=(n_resamples, len(v)))]
    dist = samples.mean(axis=1) if statistic == "mean" else samples.std(axis=1, ddof=ddof)
    alpha = (1 - level) / 2
    return float(np.quantile(dist, alpha)), float(np.quantile(dist, 1 - alpha))


def brown_forsythe(a, b) -> float:
    """p-value of the Brown-Forsythe test (Levene's test around the median) of equal variances."""
    # With fewer than 3 runs a group's absolute deviations from its median are all equal, and the
    # test degenerates; with no spread at all it is undefined.
    if len(a) < 3 or len(b) < 3 or (np.ptp(a) == 0 and np.ptp(b) == 0):
        return np.nan
    return float(st.levene(a, b, center="median").pvalue)


def mann_whitney(a, b) -> float:
    """Two-sided Mann-Whitney U p-value: does one recipe's metric tend to be larger?"""
    if len(a) == 0 or len(b) == 0:
        return np.nan
    return float(st.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def fisher_failed(failed_a: int, n_a: int, failed_b: int, n_b: int) -> float:
    """Two-sided Fisher exact p-value that two recipes fail at the same rate."""
    if n_a == 0 or n_b == 0:
        return np.nan
    return float(st.fisher_exact([[failed_a, n_a - failed_a], [failed_b, n_b - failed_b]]).pvalue)


def expected_max(values, n_max: int | None = None) -> np.ndarray:
    """Expected maximum dev metric over n runs, n = 1..n_max (Dodge et al. 2019, "Show Your Work"):
    with the N observed values sorted v_1 <= ... <= v_N and runs drawn with replacement,
    E[max_n] = sum_i v_i * ((i/N)^n - ((i-1)/N)^n)."""
    v = np.sort(np.asarray(values, dtype=float))
    big_n = len(v)
    if big_n == 0:
        return np.array([])
    n_max = n_max or big_n
    i = np.arange(1, big_n + 1)
    return np.array([float(np.sum(v * ((i / big_n) ** n - ((i - 1) / big_n) ** n))) for n in range(1, n_max + 1)])
