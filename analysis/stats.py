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
    q = np.arange(big_n + 1) / big_n  # 0, 1/N, ..., 1
    power, out = np.ones(big_n + 1), []
    for _ in range(n_max):
        # q^n by repeated products, not numpy's **: its vectorised pow differs in the last bit between CPUs (AVX-512
        # or not), and published tables must regenerate byte for byte anywhere; a product is exact-rounded everywhere
        power = power * q
        out.append(float(np.sum(v * np.diff(power))))
    return np.array(out)


def bootstrap_ci(values, statistic: str = "mean", ddof: int = 0, n_resamples: int = 9999,
                       level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Seeds-only interval of the mean or std: ``scipy.stats.bootstrap`` (BCa) over the runs."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return (np.nan, np.nan)
    if np.ptp(v) == 0:  # every resample is the same sample
        point = float(v[0]) if statistic == "mean" else 0.0
        return (point, point)
    if len(v) < 3:
        return (np.nan, np.nan)
    fn = (lambda x, axis: np.mean(x, axis=axis)) if statistic == "mean" else \
        (lambda x, axis: np.std(x, axis=axis, ddof=ddof))
    res = st.bootstrap((v,), fn, n_resamples=n_resamples, confidence_level=level, random_state=seed,
                       vectorized=True, method="BCa")
    low, high = res.confidence_interval
    if not (np.isfinite(low) and np.isfinite(high)):  # BCa undefined (a degenerate resample distribution)
        res = st.bootstrap((v,), fn, n_resamples=n_resamples, confidence_level=level, random_state=seed,
                           vectorized=True, method="percentile")
        low, high = res.confidence_interval
    return float(low), float(high)


def _metric_from_counts(metric: str, tp, fp, fn, tn):
    """accuracy, F1 of class 1, or MCC from confusion counts (arrays), as stability_bench.metrics computes them."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "accuracy":
            return (tp + tn) / (tp + fp + fn + tn)
        if metric == "f1":
            d = 2 * tp + fp + fn
            return np.where(d > 0, 2 * tp / np.where(d > 0, d, 1), 0.0)
        d = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
        return np.where(d > 0, (tp * tn - fp * fn) / np.where(d > 0, d, 1), 0.0)


def _metric_multiclass(metric: str, P: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each run's metric (runs x dev examples ``P``) on each weighted resample of the examples (resamples x
    examples ``weights``), from per-label counts, as stability_bench.metrics computes it for any number of labels."""
    k = int(max(P.max(), y.max())) + 1
    n = weights.sum(axis=1, keepdims=True)  # resamples x 1
    correct = weights @ (P == y).astype(float).T  # resamples x runs
    tp = np.stack([weights @ ((P == c) & (y == c)).astype(float).T for c in range(k)])  # labels x resamples x runs
    pred = np.stack([weights @ (P == c).astype(float).T for c in range(k)])
    true = np.stack([np.repeat((weights @ (y == c).astype(float))[:, None], len(P), axis=1) for c in range(k)])
    with np.errstate(divide="ignore", invalid="ignore"):
        if metric == "accuracy":
            return correct / n
        if metric == "f1":
            d = pred[1] + true[1]
            return np.where(d > 0, 2 * tp[1] / np.where(d > 0, d, 1), 0.0)
        if metric == "macro_f1":  # over the labels present in the resample's gold labels or the run's predictions
            d = pred + true
            per_label = np.where(d > 0, 2 * tp / np.where(d > 0, d, 1), 0.0)
            present = d > 0
            return per_label.sum(axis=0) / np.maximum(present.sum(axis=0), 1)
        # Gorodkin's R_K
        cov = correct * n - (true * pred).sum(axis=0)
        d = np.sqrt((n * n - (pred * pred).sum(axis=0)) * (n * n - (true * true).sum(axis=0)))
        return np.where(d > 0, cov / np.where(d > 0, d, 1), 0.0)


def multi_bootstrap(preds, labels, metric: str, ddof: int = 0, n_resamples: int = 2000, level: float = 0.95,
                    seed: int = 0, return_dist: bool = False):
    """The multi-bootstrap of Sellam et al. (2022, "The MultiBERTs"): each resample draws the seeds *and* the dev
    examples with replacement (the same examples for every seed of a draw), recomputes each drawn seed's metric on
    the drawn examples, and takes the mean and std over the drawn seeds. Its intervals include the uncertainty of
    a finite dev set, which a seeds-only bootstrap leaves out. ``preds``: runs x dev examples (label ids)."""
    P = np.asarray(preds, dtype=np.int64)
    y = np.asarray(labels, dtype=np.int64)
    n_seeds, n_ex = P.shape
    if n_seeds < 2 or n_ex == 0:
        return {"mean": (np.nan, np.nan), "std": (np.nan, np.nan)}
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(n_ex, np.full(n_ex, 1 / n_ex), size=n_resamples).astype(float)  # example draws
    if metric == "macro_f1" or max(P.max(), y.max()) > 1:
        scores = _metric_multiclass(metric, P, y, weights)
    else:
        pos, yp = (P == 1).astype(float), (y == 1).astype(float)
        tp = weights @ (pos * yp).T  # resamples x seeds
        fp = weights @ (pos * (1 - yp)).T
        fn = weights @ ((1 - pos) * yp).T
        tn = weights @ ((1 - pos) * (1 - yp)).T
        scores = _metric_from_counts(metric, tp, fp, fn, tn)
    pick = rng.integers(0, n_seeds, size=(n_resamples, n_seeds))  # seed draws
    drawn = np.take_along_axis(scores, pick, axis=1)
    alpha = (1 - level) / 2
    dists = {"mean": drawn.mean(axis=1), "std": drawn.std(axis=1, ddof=ddof)}
    out = {k: (float(np.quantile(d, alpha)), float(np.quantile(d, 1 - alpha))) for k, d in dists.items()}
    return (out, dists) if return_dist else out


def _disagreements(P: np.ndarray) -> tuple[float, np.ndarray]:
    """Churn of the runs P (runs x examples, n >= 3) and of the n - 1 runs left when each one is left out."""
    n = len(P)
    # runs x runs: the examples two runs label alike, counted per label by a matrix product (exact integers in
    # float64, so the same numbers as comparing every pair, in milliseconds for 666 runs x 500 examples)
    agree = sum((P == c).astype(float) @ (P == c).astype(float).T for c in np.unique(P))
    D = (P.shape[1] - agree) / P.shape[1]
    total = D.sum()  # every pair twice
    return float(total / (n * (n - 1))), (total - 2 * D.sum(axis=1)) / ((n - 1) * (n - 2))


def disagreement(preds, level: float = 0.95) -> tuple[float, float, float]:
    """Prediction churn (Milani Fard et al. 2016; "pairwise disagreement" in Summers & Dinneen 2021): the share of
    dev examples on which two runs predict different labels, averaged over every pair of runs — runs with equal
    metrics can still disagree on many examples. The average over pairs is a U-statistic; its interval is the
    normal one with the jackknife's standard error over runs (leave one run out). Seeds only: the dev set's own
    sampling error is left out. ``preds``: runs x dev examples. (churn, low, high); nan below 2 runs (interval: 3)."""
    P = np.asarray(preds)
    n = len(P)
    if n < 2 or P.shape[1] == 0:
        return np.nan, np.nan, np.nan
    if n < 3:
        return float((P[0] != P[1]).mean()), np.nan, np.nan
    churn, loo = _disagreements(P)
    se = float(np.sqrt((n - 1) / n * ((loo - loo.mean()) ** 2).sum()))
    z = float(st.norm.ppf(0.5 + level / 2))
    return churn, max(0.0, churn - z * se), min(1.0, churn + z * se)


def disagreement_difference(a, b, seeds_a, seeds_b, level: float = 0.95) -> tuple[float, float, float, float]:
    """Churn of runs ``a`` minus churn of runs ``b`` (each runs x the same dev examples), with a two-sided test of
    no difference. Seeds are the units: the jackknife leaves out one seed at a time, from both recipes at once
    (``seeds_a``, ``seeds_b``: one hashable per run), so runs that share a seed (same classifier initialisation and
    data order) are paired as the Wilcoxon test pairs them; t interval and p-value with (seeds - 1) degrees of
    freedom (a simulation under the null, in the tests, keeps its rejection rate at the level or below).
    (difference, low, high, p); nan unless each side has 3 or more runs."""
    A, B = np.asarray(a), np.asarray(b)
    if len(A) < 3 or len(B) < 3 or A.shape[1] != B.shape[1] or A.shape[1] == 0:
        return np.nan, np.nan, np.nan, np.nan
    (ca, loo_a), (cb, loo_b) = _disagreements(A), _disagreements(B)
    units = list(dict.fromkeys([*seeds_a, *seeds_b]))
    left_a, left_b = dict(zip(seeds_a, loo_a)), dict(zip(seeds_b, loo_b))
    loo = np.array([left_a.get(u, ca) - left_b.get(u, cb) for u in units])  # a seed without a run changes nothing
    m = len(units)
    se = float(np.sqrt((m - 1) / m * ((loo - loo.mean()) ** 2).sum()))
    diff = ca - cb
    if se == 0:
        return diff, diff, diff, (1.0 if diff == 0 else np.nan)
    t = float(st.t.ppf(0.5 + level / 2, m - 1))
    return diff, diff - t * se, diff + t * se, float(2 * st.t.sf(abs(diff) / se, m - 1))


def wilcoxon_paired(a, b) -> float:
    """Two-sided Wilcoxon signed-rank p-value of paired runs (same seed: same classifier init and data order)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    if len(d) < 2 or not np.any(d != 0):
        return np.nan
    return float(st.wilcoxon(d, zero_method="wilcox").pvalue)


def _superiority(x, y, k: int):
    """P(X > Y) + P(X = Y) / 2 along the last axis (any leading axes: one per bootstrap resample), counted exactly
    from the y values below and equal to each x value. x and y hold integer codes 0..k-1 that order the values as
    the values do, so the count is a histogram per row, linear in n + m (pairwise differences of 666 seeds x
    10,000 resamples needed 33 GiB)."""
    n, m = x.shape[-1], y.shape[-1]
    lead = y.shape[:-1]
    rows = int(np.prod(lead))
    xc, yc = x.reshape(rows, n).astype(np.int64), y.reshape(rows, m).astype(np.int64)
    counts = np.bincount((yc + k * np.arange(rows)[:, None]).ravel(), minlength=rows * k).reshape(rows, k)
    below_or_half = np.cumsum(counts, axis=1) - 0.5 * counts  # y < v, plus half of y == v, for each code v
    return (np.take_along_axis(below_or_half, xc, axis=1).sum(axis=1) / (n * m)).reshape(lead)


def _codes(a, b) -> tuple[np.ndarray, np.ndarray, int]:
    values = np.unique(np.concatenate([a, b]))
    return np.searchsorted(values, a), np.searchsorted(values, b), len(values)


def prob_superiority(a, b) -> float:
    """P(A > B) + P(A = B) / 2 over all pairs of runs: the common-language effect size (McGraw & Wong 1992);
    Cliff's delta is 2 P - 1."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not len(a) or not len(b):
        return np.nan
    return float(_superiority(*_codes(a, b)))


def prob_superiority_ci(a, b, n_resamples: int = 9999, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of P(A > B) (``scipy.stats.bootstrap``, the two samples resampled apart).
    The runs' codes are resampled instead of their values: the same draws, the same statistic."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(a) < 2 or len(b) < 2:
        return (np.nan, np.nan)
    ca, cb, k = _codes(a, b)
    res = st.bootstrap((ca, cb), lambda x, y, axis: _superiority(x, y, k), n_resamples=n_resamples,
                       confidence_level=level, random_state=seed, vectorized=True, method="percentile")
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _quantile_index(n: int, p: np.ndarray) -> np.ndarray:
    """Where the empirical quantile at level p sits among n sorted values: the ceil(n p)-th smallest (the
    convention of Dror et al.'s code and of deepsig)."""
    return np.clip(np.ceil(n * p).astype(int) - 1, 0, n - 1)


def _violation_ratio(f: np.ndarray, g: np.ndarray, dt: float) -> np.ndarray:
    """epsilon_W2 of "A (quantiles f) is stochastically larger than B (quantiles g)", one per row: the squared
    Wasserstein-2 distance over the levels where f < g, divided by the whole distance; a 0/0 (equal quantile
    functions) is 0.5, no claim either way."""
    diff = np.atleast_2d(g - f)
    whole = _row_sums(diff ** 2 * dt)
    violated = _row_sums(np.where(np.atleast_2d(f >= g), 0.0, diff)[:, 1:] ** 2 * dt)  # from the 2nd level, as deepsig
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole == 0, 0.5, violated / whole)


def _row_sums(x: np.ndarray) -> np.ndarray:
    # A row at a time: a 1-D sum is pairwise, a sum along the rows of a 2-D array may not be, and the last bits
    # would differ from deepsig's (which sums one resample at a time).
    return np.array([np.sum(row) for row in x])


def aso_epsilon(a, b, seed: int = 0, confidence_level: float = 0.95, iterations: int = 1000,
                dt: float = 0.005) -> float:
    """Almost stochastic order (Dror et al. 2019, del Barrio et al. 2018): epsilon_min, an upper confidence bound
    of the violation of "A is stochastically larger than B" (0: A dominates; < 0.5: A is better, almost; 1: B
    dominates). The estimator, defaults and draws of ``deepsig.aso`` 1.2.8 (Ulmer et al. 2022; bootstrap
    iteration i draws from ``RandomState(seed + i)``), for all iterations at once: deepsig evaluates every
    quantile in a Python call (~4 s per comparison at 10 seeds), this takes a few hundredths of a second, and a
    test pins the two equal to the bit."""
    a, b = np.sort(np.asarray(a, dtype=float)), np.sort(np.asarray(b, dtype=float))
    n, m = len(a), len(b)
    if n < 2 or m < 2:
        return np.nan
    t = np.arange(dt, 1, dt)
    ratio = _violation_ratio(a[_quantile_index(n, t)], b[_quantile_index(m, t)], dt)[0]
    rs, u_a, u_b = np.random.RandomState(), [], []
    for i in range(1, iterations + 1):
        rs.seed(seed + i)  # reseeding one generator: a tenth of the time of a new one per iteration
        u_a.append(rs.uniform(0, 1, n))  # a's draws, then b's, from the same stream
        u_b.append(rs.uniform(0, 1, m))
    resampled_a = np.sort(a[_quantile_index(n, np.stack(u_a))], axis=1)
    resampled_b = np.sort(b[_quantile_index(m, np.stack(u_b))], axis=1)
    ratios = _violation_ratio(resampled_a[:, _quantile_index(n, t)], resampled_b[:, _quantile_index(m, t)], dt)
    const = np.sqrt(n * m / (n + m))
    sigma = np.std(const * (ratios - ratio))
    return float(np.clip(ratio - (1 / const) * sigma * st.norm.ppf(1 - confidence_level), 0, 1))


def holm(pvalues) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries stay NaN, and are not counted)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if not m:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def wilson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a failed-run rate k / n (``scipy.stats.binomtest``)."""
    if n == 0:
        return (np.nan, np.nan)
    ci = st.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return float(ci.low), float(ci.high)


def expected_max_unbiased(values, n_max: int | None = None) -> np.ndarray:
    """Expected maximum over n runs drawn *without* replacement from the N observed, n = 1..N: the unbiased
    estimator of Dodge et al. (2021, "Expected Validation Performance and Estimation of a Random Variable's
    Maximum"), E[max_n] = sum_i v_(i) C(i-1, n-1) / C(N, n) with v_(1) <= ... <= v_(N). (The with-replacement
    form of Dodge et al. 2019, ``expected_max``, is biased low for n near N.)"""
    from scipy.special import comb

    v = np.sort(np.asarray(values, dtype=float))
    big_n = len(v)
    n_max = min(n_max or big_n, big_n)
    i = np.arange(1, big_n + 1)
    return np.array([float(np.sum(v * comb(i - 1, n - 1) / comb(big_n, n))) for n in range(1, n_max + 1)])


def expected_max_intervals(values, n_resamples: int = 2000, level: float = 0.95,
                           seed: int = 0) -> list[tuple[float, float]]:
    """Percentile bootstrap intervals of the unbiased expected maximum over n runs, n = 1..N (runs resampled; one
    set of resamples, drawn and sorted once, serves every n)."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return [(np.nan, np.nan)] * len(v)
    from scipy.special import comb

    rng = np.random.default_rng(seed)
    draws = np.sort(v[rng.integers(0, len(v), size=(n_resamples, len(v)))], axis=1)
    i = np.arange(1, len(v) + 1)
    alpha = (1 - level) / 2
    out = []
    for n in range(1, len(v) + 1):
        dist = draws @ (comb(i - 1, n - 1) / comb(len(v), n))
        out.append((float(np.quantile(dist, alpha)), float(np.quantile(dist, 1 - alpha))))
    return out


