"""Dev-set metrics of the GLUE tasks and the majority-class baseline, from label ids.

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
    """Binary Matthews correlation; 0 when a row or column of the confusion matrix is empty."""
    y, p = np.asarray(labels) == 1, np.asarray(preds) == 1
    tp, tn = int((y & p).sum()), int((~y & ~p).sum())
    fp, fn = int((~y & p).sum()), int((y & ~p).sum())
    denom = math.sqrt(float(tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return (tp * tn - fp * fn) / denom if denom else 0.0


METRICS = {"accuracy": accuracy, "f1": f1, "mcc": mcc}


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
