"""Dev-set metrics (two or more labels) and the majority-class baseline, from label ids.

Pure numpy so that a record's metric can be recomputed from its stored predictions anywhere.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np


def accuracy(labels: Sequence[int], preds: Sequence[int]) -> float:
    y, p = np.asarray(labels), np.asarray(preds)
    return float((y == p).mean())


def f1(labels: Sequence[int], preds: Sequence[int], positive: int = 1) -> float:
    """F1 of the positive class (MRPC: id 1 = paraphrase); 0 when it is never predicted nor present."""
    y, p = np.asarray(labels) == positive, np.asarray(preds) == positive
    tp = int((y & p).sum())
    denom = int(y.sum()) + int(p.sum())
    return 2.0 * tp / denom if denom else 0.0


def mcc(labels: Sequence[int], preds: Sequence[int]) -> float:
    """Matthews correlation; 0 when a row or column of the confusion matrix is empty. Two labels: the binary
    formula; more: Gorodkin's (2004) R_K, which equals it on two labels (sklearn's matthews_corrcoef)."""
    y, p = np.asarray(labels), np.asarray(preds)
    if max(y.max(initial=0), p.max(initial=0)) > 1:
        return _mcc_multiclass(y, p)
    y, p = y == 1, p == 1
    tp, tn = int((y & p).sum()), int((~y & ~p).sum())
    fp, fn = int((~y & p).sum()), int((y & ~p).sum())
    denom = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denom if denom else 0.0


def _mcc_multiclass(y: np.ndarray, p: np.ndarray) -> float:
    k = int(max(y.max(), p.max())) + 1
    t, q = np.bincount(y, minlength=k).astype(float), np.bincount(p, minlength=k).astype(float)
    c, s = float((y == p).sum()), float(len(y))
    denom = math.sqrt((s * s - float(q @ q)) * (s * s - float(t @ t)))
    return (c * s - float(t @ q)) / denom if denom else 0.0


def macro_f1(labels: Sequence[int], preds: Sequence[int]) -> float:
    """Mean over the labels present in either the gold labels or the predictions of each label's F1
    (sklearn's f1_score(average="macro"); SuperGLUE's CB metric)."""
    y, p = np.asarray(labels), np.asarray(preds)
    present = np.union1d(y, p)
    return float(np.mean([f1(y, p, positive=int(k)) for k in present])) if len(present) else 0.0


METRICS = {"accuracy": accuracy, "f1": f1, "mcc": mcc, "macro_f1": macro_f1}


def compute(metric: str, labels: Sequence[int], preds: Sequence[int]) -> float:
    return METRICS[metric](labels, preds)


def all_metrics(labels: Sequence[int], preds: Sequence[int]) -> dict[str, float]:
    return {name: fn(labels, preds) for name, fn in METRICS.items()}


def majority_baseline(metric: str, labels: Sequence[int]) -> float:
    """The score of always predicting the most frequent dev label, with the task's own metric.

    RTE: accuracy 0.527; MRPC: F1 0.812 (always "paraphrase"); CoLA: MCC 0.
    """
    values, counts = np.unique(np.asarray(labels), return_counts=True)
    majority = int(values[np.argmax(counts)])
    return compute(metric, labels, [majority] * len(labels))
