"""The one way to run a model: a predictor maps a raw-RGB batch to vessel probabilities.

Every backend implements :class:`Predictor`: the onnxruntime session
(:class:`runtime.onnx_session.OnnxPredictor`), OpenVINO
(:class:`runtime.openvino_session.OpenVinoPredictor`; both chosen through
:mod:`runtime.backends`) and the Keras model (:class:`keras_unet.predictors.KerasPredictor`).
Tiling, TTA, the engine, evaluation and the benchmark take any predictor; they never touch
a backend.

The contract: ``predict(batch)`` takes ``float32 (N, H, W, 3)`` raw RGB in 0-255 whose ``H`` and
``W`` are multiples of ``multiple`` and returns probabilities ``(N, H, W, 1)`` (or ``(N, H, W)``)
in [0, 1]. Normalisation happens inside the model graph.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Predictor(Protocol):
    """A loaded model that turns a batch into probabilities.

    Attributes:
        name: What runs it, for users and reports (``onnxruntime CPU``, ``keras``).
        multiple: Height and width of a batch must be multiples of this (``2**depth``).
    """

    name: str
    multiple: int

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities of a checked raw-RGB batch (see the module docstring)."""
        ...


class CallablePredictor:
    """Any batch function as a :class:`Predictor` (a converted artifact, a test double)."""

    def __init__(self, name: str, multiple: int, function) -> None:  # function: batch -> probs
        self.name, self.multiple, self._function = name, multiple, function

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """The wrapped function's probabilities for ``batch``."""
        return self._function(batch)
