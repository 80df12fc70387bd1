"""Segmentation metrics as pure NumPy/scikit-learn functions (written once, used everywhere).

All functions take boolean or {0, 1} arrays of any shape; callers restrict them to the field of
view first (``values[fov]``). Ratios whose denominator is zero are reported as ``nan``, except
where both prediction and truth are empty (F1 and IoU are then 1: nothing to find, nothing found).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from runtime.errors import require

#: Names of the threshold-dependent metrics, in the order tables show them.
BINARY_METRICS: tuple[str, ...] = (
    "f1",
    "accuracy",
    "sensitivity",
    "specificity",
    "precision",
    "iou",
    "mcc",
)
#: Every metric a report shows, in order, with its full name (the About box, prose).
METRIC_NAMES: dict[str, str] = {
    "auc_roc": "AUC-ROC",
    "auc_pr": "AUC-PR",
    "f1": "F1 (Dice)",
    "accuracy": "Accuracy",
    "sensitivity": "Sensitivity",
    "specificity": "Specificity",
    "precision": "Precision",
    "iou": "IoU",
    "mcc": "MCC",
}
#: Column titles of :data:`BINARY_METRICS` in tables.
METRIC_LABELS: dict[str, str] = {
    "f1": "F1",
    "accuracy": "Acc",
    "sensitivity": "Se",
    "specificity": "Sp",
    "precision": "Pr",
    "iou": "IoU",
    "mcc": "MCC",
}


@dataclass(frozen=True)
class Confusion:
    """Pixel counts of a binary segmentation against its ground truth."""

    tp: int
    fp: int
    tn: int
    fn: int

    def __add__(self, other: Confusion) -> Confusion:
        return Confusion(
            self.tp + other.tp, self.fp + other.fp, self.tn + other.tn, self.fn + other.fn
        )

    @property
    def total(self) -> int:
        """Number of pixels counted."""
        return self.tp + self.fp + self.tn + self.fn


def confusion(prediction: np.ndarray, truth: np.ndarray) -> Confusion:
    """Count true/false positives/negatives.

    Args:
        prediction: Binary prediction.
        truth: Binary ground truth of the same shape.

    Returns:
        The confusion counts.
    """
    prediction = np.asarray(prediction).astype(bool).ravel()
    truth = np.asarray(truth).astype(bool).ravel()
    if prediction.shape != truth.shape:
        raise ValueError(f"prediction has {prediction.size} pixels, truth has {truth.size}")
    tp = int(np.count_nonzero(prediction & truth))
    fp = int(np.count_nonzero(prediction & ~truth))
    fn = int(np.count_nonzero(~prediction & truth))
    tn = int(prediction.size - tp - fp - fn)
    return Confusion(tp=tp, fp=fp, tn=tn, fn=fn)


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def binary_scores(counts: Confusion) -> dict[str, float]:
    """Compute F1 (Dice), accuracy, sensitivity, specificity, precision, IoU and MCC.

    Args:
        counts: Confusion counts (pooled over images or of one image).

    Returns:
        A dict keyed by :data:`BINARY_METRICS`.
    """
    tp, fp, tn, fn = (float(v) for v in (counts.tp, counts.fp, counts.tn, counts.fn))
    both_empty = tp + fp + fn == 0
    mcc_den = math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return {
        "f1": 1.0 if both_empty else _ratio(2 * tp, 2 * tp + fp + fn),
        "accuracy": _ratio(tp + tn, tp + tn + fp + fn),
        "sensitivity": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
        "precision": _ratio(tp, tp + fp),
        "iou": 1.0 if both_empty else _ratio(tp, tp + fp + fn),
        "mcc": _ratio(tp * tn - fp * fn, mcc_den),
    }


def auc_roc(probability: np.ndarray, truth: np.ndarray) -> float:
    """Area under the ROC curve (``nan`` when truth holds one class only)."""
    require("sklearn", "evaluate")
    from sklearn.metrics import roc_auc_score

    truth = np.asarray(truth).astype(bool).ravel()
    if truth.all() or not truth.any():
        return math.nan
    return float(roc_auc_score(truth, np.asarray(probability, dtype=np.float64).ravel()))


def auc_pr(probability: np.ndarray, truth: np.ndarray) -> float:
    """Area under the precision-recall curve, as average precision (``nan`` without positives)."""
    require("sklearn", "evaluate")
    from sklearn.metrics import average_precision_score

    truth = np.asarray(truth).astype(bool).ravel()
    if not truth.any():
        return math.nan
    return float(average_precision_score(truth, np.asarray(probability, dtype=np.float64).ravel()))


def best_f1_threshold(probability: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Find the threshold that maximises F1 (used on validation data only).

    A pixel is called vessel when ``probability >= threshold``.

    Args:
        probability: Predicted probabilities.
        truth: Binary ground truth.

    Returns:
        ``(threshold, f1)`` at the best operating point.
    """
    require("sklearn", "evaluate")
    from sklearn.metrics import precision_recall_curve

    truth = np.asarray(truth).astype(bool).ravel()
    if not truth.any():
        raise ValueError("cannot choose a threshold: the ground truth has no vessel pixels")
    precision, recall, thresholds = precision_recall_curve(
        truth, np.asarray(probability, dtype=np.float64).ravel()
    )
    precision, recall = precision[:-1], recall[:-1]
    denominator = precision + recall
    f1 = np.divide(
        2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0
    )
    best = int(np.argmax(f1))
    return float(thresholds[best]), float(f1[best])


@dataclass(frozen=True)
class SegmentationReport:
    """Metrics of probabilities against truth: threshold-free AUCs plus binary scores."""

    auc_roc: float
    auc_pr: float
    threshold: float
    counts: Confusion
    scores: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        """Flatten to a JSON-friendly dict."""
        return {
            "auc_roc": self.auc_roc,
            "auc_pr": self.auc_pr,
            "threshold": self.threshold,
            **self.scores,
            "counts": asdict(self.counts),
        }


def evaluate_probabilities(
    probability: np.ndarray,
    truth: np.ndarray,
    threshold: float,
    aucs: tuple[float, float] | None = None,
) -> SegmentationReport:
    """Score probabilities at ``threshold`` (vessel when ``probability >= threshold``).

    Args:
        probability: Probabilities of the pixels to score (already restricted to the FOV).
        truth: Binary ground truth of the same pixels.
        threshold: Operating point.
        aucs: ``(auc_roc, auc_pr)`` already computed for these pixels (another operating point
            of the same probabilities), so the two sorts of every pixel are not done again.

    Returns:
        The report.
    """
    counts = confusion(np.asarray(probability) >= threshold, truth)
    if aucs is None:
        aucs = (auc_roc(probability, truth), auc_pr(probability, truth))
    return SegmentationReport(
        auc_roc=aucs[0],
        auc_pr=aucs[1],
        threshold=float(threshold),
        counts=counts,
        scores=binary_scores(counts),
    )
