"""Losses and Keras metrics, including per-pixel (FOV) weights."""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from keras_unet.losses import LOSSES, DiceScore, get_loss  # noqa: E402
from runtime.metrics import binary_scores, confusion  # noqa: E402

TRUTH = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], np.float32).reshape(1, 3, 3, 1)
PROB = np.array([[0.9, 0.2, 0.1], [0.6, 0.8, 0.0], [0.0, 0.3, 0.7]], np.float32).reshape(1, 3, 3, 1)


def test_soft_dice_by_hand_and_with_weights():
    dice = get_loss("dice")
    inter, total = 0.9 + 0.2 + 0.8, 3 + PROB.sum()
    assert float(dice(TRUTH, PROB)) == pytest.approx(1 - (2 * inter + 1) / (total + 1), rel=1e-5)
    weight = np.ones_like(TRUTH)
    weight[0, 2, :] = 0  # ignore the last row
    inter_w, total_w = 1.9, 3 + PROB[0, :2].sum()
    expected = 1 - (2 * inter_w + 1) / (total_w + 1)
    assert float(dice(TRUTH, PROB, sample_weight=weight)) == pytest.approx(expected, rel=1e-5)


def test_mse_is_the_default_and_respects_weights():
    mse = get_loss("mse")
    assert float(mse(TRUTH, PROB)) == pytest.approx(float(((TRUTH - PROB) ** 2).mean()), rel=1e-5)
    weight = np.zeros_like(TRUTH)
    weight[0, 0, 0] = 1.0
    # Keras averages weighted losses over all elements: only (0.1)^2 survives, / 9.
    assert float(mse(TRUTH, PROB, sample_weight=weight)) == pytest.approx(0.01 / 9, rel=1e-4)


def test_every_loss_builds_and_unknown_is_refused():
    for name in LOSSES:
        assert float(get_loss(name)(TRUTH, PROB)) > 0
    with pytest.raises(ValueError, match="received 'focal'"):
        get_loss("focal")


def test_dice_metric_equals_the_numpy_f1():
    metric = DiceScore()
    metric.update_state(TRUTH, PROB)
    expected = binary_scores(confusion(PROB >= 0.5, TRUTH.astype(bool)))["f1"]
    assert float(metric.result()) == pytest.approx(expected)
    weight = np.ones_like(TRUTH)
    weight[0, 1, 0] = 0  # drop the false positive at (1, 0)
    metric.reset_state()
    metric.update_state(TRUTH, PROB, sample_weight=weight)
    assert float(metric.result()) == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
