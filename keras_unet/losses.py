"""Training losses and Keras metrics, all accepting per-pixel sample weights (the FOV).

Registered as Keras serialisables, so checkpoints with them reload (``--resume``) in safe mode.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
from keras import ops


def _weighted_dice(y_true, y_pred, sample_weight, smooth: float):
    y_true = ops.cast(y_true, y_pred.dtype)
    if sample_weight is None:
        weight = ops.ones_like(y_pred)
    else:
        weight = ops.reshape(ops.cast(sample_weight, y_pred.dtype), ops.shape(y_pred))
    intersection = ops.sum(weight * y_true * y_pred)
    total = ops.sum(weight * y_true) + ops.sum(weight * y_pred)
    return 1.0 - (2.0 * intersection + smooth) / (total + smooth)


def _replica_share(value):
    """``value`` divided by the replica count under a ``tf.distribute`` strategy, as Keras' own
    losses are: each replica's gradients are summed across replicas, so the sum is the global
    batch's (a loss that overrides ``__call__`` skips Keras' scaling and must do it itself)."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            value = value / replicas
    return value


@keras.saving.register_keras_serializable(package="keras_unet")
class SoftDiceLoss(keras.losses.Loss):
    """1 - soft Dice over the whole batch; pixel weights (e.g. the FOV) scale each pixel's share."""

    def __init__(self, smooth: float = 1.0, name: str = "dice", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.smooth = smooth

    def call(self, y_true, y_pred):  # Used by Keras only when no weights are given.
        return _weighted_dice(y_true, y_pred, None, self.smooth)

    def __call__(self, y_true, y_pred, sample_weight=None):
        dice = _weighted_dice(y_true, ops.convert_to_tensor(y_pred), sample_weight, self.smooth)
        return _replica_share(dice)

    def get_config(self) -> dict:
        return {**super().get_config(), "smooth": self.smooth}


@keras.saving.register_keras_serializable(package="keras_unet")
class BceDiceLoss(keras.losses.Loss):
    """Binary cross-entropy plus soft Dice, both weighted by the pixel weights."""

    def __init__(self, smooth: float = 1.0, name: str = "bce_dice", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.smooth = smooth
        self._bce = keras.losses.BinaryCrossentropy()
        self._dice = SoftDiceLoss(smooth)

    def call(self, y_true, y_pred):
        return self._bce(y_true, y_pred) + self._dice(y_true, y_pred)

    def __call__(self, y_true, y_pred, sample_weight=None):
        return self._bce(y_true, y_pred, sample_weight) + self._dice(y_true, y_pred, sample_weight)

    def get_config(self) -> dict:
        return {**super().get_config(), "smooth": self.smooth}


#: Losses selectable by name (``--loss``, argparse choices): a factory each. ``mse`` is the
#: seed's and the default; add a loss by adding a row (and a test in tests/test_losses.py).
LOSSES: dict[str, Callable[[], keras.losses.Loss]] = {
    "mse": lambda: keras.losses.MeanSquaredError(name="mse"),
    "bce": lambda: keras.losses.BinaryCrossentropy(name="bce"),
    "dice": SoftDiceLoss,
    "bce+dice": BceDiceLoss,
}


def get_loss(name: str) -> keras.losses.Loss:
    """Return the loss called ``name`` (a key of :data:`LOSSES`)."""
    if name not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(LOSSES)}, received {name!r}")
    return LOSSES[name]()


@keras.saving.register_keras_serializable(package="keras_unet")
class DiceScore(keras.metrics.Metric):
    """F1 (= Dice) of the mask ``y_pred >= threshold``, pooled over all pixels seen, weighted."""

    def __init__(self, threshold: float = 0.5, name: str = "dice", **kwargs) -> None:
        super().__init__(name=name, **kwargs)
        self.threshold = threshold
        self.tp = self.add_variable((), initializer="zeros", name="tp")
        self.fp = self.add_variable((), initializer="zeros", name="fp")
        self.fn = self.add_variable((), initializer="zeros", name="fn")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.cast(ops.greater_equal(y_pred, self.threshold), "float32")
        y_true = ops.cast(y_true, "float32")
        weight = (
            ops.ones_like(y_pred)
            if sample_weight is None
            else ops.reshape(ops.cast(sample_weight, "float32"), ops.shape(y_pred))
        )
        self.tp.assign_add(ops.sum(weight * y_true * y_pred))
        self.fp.assign_add(ops.sum(weight * (1.0 - y_true) * y_pred))
        self.fn.assign_add(ops.sum(weight * y_true * (1.0 - y_pred)))

    def result(self):
        denominator = 2.0 * self.tp + self.fp + self.fn
        return ops.where(denominator > 0, 2.0 * self.tp / ops.maximum(denominator, 1e-12), 1.0)

    def reset_state(self):
        for variable in (self.tp, self.fp, self.fn):
            variable.assign(0.0)

    def get_config(self) -> dict:
        return {**super().get_config(), "threshold": self.threshold}


def training_metrics() -> list[keras.metrics.Metric]:
    """Metrics logged every epoch (on training patches and on the validation images)."""
    return [
        DiceScore(name="dice"),
        keras.metrics.AUC(num_thresholds=200, name="auc"),
    ]
