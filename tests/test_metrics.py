"""Metric math against hand-computed 3x3 cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from runtime.metrics import (
    Confusion,
    auc_pr,
    auc_roc,
    best_f1_threshold,
    binary_scores,
    confusion,
    evaluate_probabilities,
)

# Truth and prediction drawn by hand:
#   truth      prediction
#   1 1 0      1 0 0
#   0 1 0      1 1 0
#   0 0 0      0 0 1
TRUTH = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
PRED = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 1]], bool)


def test_confusion_counts_by_hand():
    assert confusion(PRED, TRUTH) == Confusion(tp=2, fp=2, tn=4, fn=1)


def test_binary_scores_by_hand():
    s = binary_scores(Confusion(tp=2, fp=2, tn=4, fn=1))
    assert s["f1"] == pytest.approx(4 / 7)  # 2*2 / (2*2 + 2 + 1)
    assert s["accuracy"] == pytest.approx(6 / 9)
    assert s["sensitivity"] == pytest.approx(2 / 3)
    assert s["specificity"] == pytest.approx(4 / 6)
    assert s["precision"] == pytest.approx(2 / 4)
    assert s["iou"] == pytest.approx(2 / 5)
    assert s["mcc"] == pytest.approx((2 * 4 - 2 * 1) / math.sqrt(4 * 3 * 6 * 5))


def test_perfect_and_empty_cases():
    perfect = binary_scores(confusion(TRUTH, TRUTH))
    assert perfect["f1"] == perfect["iou"] == perfect["mcc"] == perfect["accuracy"] == 1.0
    empty = binary_scores(confusion(np.zeros((3, 3), bool), np.zeros((3, 3), bool)))
    assert empty["f1"] == 1.0 and empty["iou"] == 1.0
    assert math.isnan(empty["sensitivity"]) and math.isnan(empty["mcc"])
    assert empty["specificity"] == 1.0


def test_confusion_adds_up_and_rejects_mismatched_shapes():
    total = confusion(PRED, TRUTH) + confusion(TRUTH, TRUTH)
    assert total == Confusion(tp=5, fp=2, tn=10, fn=1)
    assert total.total == 18
    with pytest.raises(ValueError, match="9 pixels"):
        confusion(PRED, TRUTH[:2])


def test_auc_by_hand():
    # Positives score 0.9, 0.4; negatives 0.8, 0.1: of the 4 pairs, 3 are ordered right.
    prob = np.array([0.9, 0.4, 0.8, 0.1])
    truth = np.array([1, 1, 0, 0], bool)
    assert auc_roc(prob, truth) == pytest.approx(0.75)
    # Average precision: recall 0.5 at precision 1 (0.9), recall 1 at precision 2/3 (0.4).
    assert auc_pr(prob, truth) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert math.isnan(auc_roc(prob, np.zeros(4, bool)))


def test_best_f1_threshold_finds_the_separating_value():
    prob = np.array([0.95, 0.7, 0.65, 0.3, 0.2, 0.1])
    truth = np.array([1, 1, 1, 0, 0, 0], bool)
    threshold, f1 = best_f1_threshold(prob, truth)
    assert threshold == pytest.approx(0.65)
    assert f1 == pytest.approx(1.0)
    with pytest.raises(ValueError, match="no vessel pixels"):
        best_f1_threshold(prob, np.zeros(6, bool))


def test_evaluate_probabilities_counts_ties_as_vessel():
    prob = np.array([0.5, 0.49, 0.8, 0.2])
    truth = np.array([1, 0, 1, 0], bool)
    report = evaluate_probabilities(prob, truth, 0.5)
    assert report.counts == Confusion(tp=2, fp=0, tn=2, fn=0)
    assert report.as_dict()["f1"] == 1.0
    assert report.auc_roc == 1.0
