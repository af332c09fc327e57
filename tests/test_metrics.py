import math

import pytest

from stability_bench import metrics

LABELS = [1, 1, 1, 0, 0, 1, 0, 1]
PREDS = [1, 0, 1, 0, 1, 1, 0, 0]  # tp=3 fn=2 fp=1 tn=2


def test_accuracy_by_hand():
    assert metrics.accuracy(LABELS, PREDS) == 5 / 8


def test_f1_of_the_positive_class_by_hand():
    precision, recall = 3 / 4, 3 / 5
    assert metrics.f1(LABELS, PREDS) == pytest.approx(2 * precision * recall / (precision + recall))


def test_mcc_by_hand():
    tp, tn, fp, fn = 3, 2, 1, 2
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert metrics.mcc(LABELS, PREDS) == pytest.approx(expected)


def test_constant_predictions_have_zero_mcc():
    assert metrics.mcc(LABELS, [1] * 8) == 0.0


def test_majority_baseline_uses_the_task_metric():
    assert metrics.majority_baseline("accuracy", LABELS) == 5 / 8
    assert metrics.majority_baseline("f1", LABELS) == pytest.approx(2 * 5 / (5 + 8))
    assert metrics.majority_baseline("mcc", LABELS) == 0.0
