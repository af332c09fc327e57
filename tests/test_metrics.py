import math

import numpy as np
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


Y3 = [0, 0, 1, 1, 2, 2, 2, 0]
P3 = [0, 1, 1, 1, 2, 0, 2, 0]  # per label: 0: tp 2 fp 1 fn 1; 1: tp 2 fp 1 fn 0; 2: tp 2 fp 0 fn 1


def test_macro_f1_by_hand():
    f = [2 * 2 / (2 * 2 + 1 + 1), 2 * 2 / (2 * 2 + 1 + 0), 2 * 2 / (2 * 2 + 0 + 1)]
    assert metrics.macro_f1(Y3, P3) == pytest.approx(sum(f) / 3)
    assert metrics.macro_f1([0, 0, 1], [0, 0, 0]) == pytest.approx((2 * 2 / (4 + 1) + 0.0) / 2)  # label 1 never predicted


def test_multiclass_mcc_by_hand_and_equal_to_the_binary_formula_on_two_labels():
    # Gorodkin's R_K: (c s - sum_k t_k p_k) / sqrt((s^2 - sum p_k^2)(s^2 - sum t_k^2))
    t, p, c, s = [3, 2, 3], [3, 3, 2], 6, 8
    expected = (c * s - sum(a * b for a, b in zip(t, p))) / math.sqrt(
        (s * s - sum(b * b for b in p)) * (s * s - sum(a * a for a in t)))
    assert metrics.mcc(Y3, P3) == pytest.approx(expected)
    assert metrics._mcc_multiclass(np.array(LABELS), np.array(PREDS)) == pytest.approx(metrics.mcc(LABELS, PREDS))


def test_majority_baseline_of_a_three_label_task():
    assert metrics.majority_baseline("accuracy", Y3) == 3 / 8  # always label 0 (ties: the lowest id)
    # label 0's F1 is 2*3 / (8 + 3); labels 1 and 2, in the gold labels but never predicted, count with F1 0
    assert metrics.majority_baseline("macro_f1", Y3) == pytest.approx((2 * 3 / (8 + 3)) / 3)
    assert metrics.majority_baseline("mcc", Y3) == 0.0
