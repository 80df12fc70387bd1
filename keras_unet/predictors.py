"""Predictors: a model file plus its card, behind one interface used by evaluation and tools.

``load_predictor`` picks the runtime from the file suffix (Keras for ``.keras``, onnxruntime for
``.onnx``); every predictor goes through the same
:func:`runtime.tiling.predict_probability`, so Keras and exported models are scored by
exactly the same code.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import ModelFileError
from runtime.model_card import card_threshold, read_card
from runtime.tiling import BatchPredictor, predict_probability


@dataclass
class Predictor:
    """A loaded model ready to segment whole images.

    Attributes:
        path: The model file.
        runtime: ``keras`` or ``onnxruntime``.
        multiple: Required input multiple (``2**depth``).
        threshold: Operating threshold chosen on validation data.
        predict_batch: Runtime batch function (see :mod:`runtime.tiling`).
        card: The model card (may be empty).
    """

    path: Path
    runtime: str
    multiple: int
    threshold: float
    predict_batch: BatchPredictor
    card: dict[str, Any] = field(default_factory=dict)

    def probability(self, image: np.ndarray, tta: bool = False) -> np.ndarray:
        """Vessel probability ``(H, W)`` of a raw RGB image ``(H, W, 3)``."""
        return predict_probability(self.predict_batch, image, self.multiple, tta=tta)


def load_keras_model(path: str | Path):  # -> keras.Model
    """Load a ``.keras`` file in safe mode (no arbitrary code) and check it is a vessel U-Net.

    Raises:
        ModelFileError: Missing, corrupt, or not one sigmoid channel out.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: model file not found")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(
            f"{path}: not a .keras model (not a zip archive: corrupt or another kind of file)"
        )
    import keras

    import keras_unet.losses  # noqa: F401 - registers the custom losses/metrics.

    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad archive.
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelFileError(f"{path}: cannot load the Keras model ({message})") from None
    check_vessel_model(model, path)
    return model


def check_vessel_model(model, path: str | Path) -> None:  # model: keras.Model
    """Refuse models that do not map RGB images to one sigmoid probability channel."""
    if len(model.inputs) != 1 or model.inputs[0].shape[-1] != 3:
        raise ModelFileError(
            f"{path}: model must take one RGB input (..., 3), "
            f"has {[tuple(i.shape) for i in model.inputs]}"
        )
    if len(model.outputs) != 1 or model.outputs[0].shape[-1] != 1:
        raise ModelFileError(
            f"{path}: model must output one channel (..., 1), "
            f"has {[tuple(o.shape) for o in model.outputs]}"
        )
    last = model.layers[-1]
    activation = getattr(getattr(last, "activation", None), "__name__", None)
    if activation != "sigmoid":
        raise ModelFileError(
            f"{path}: model output must be a sigmoid, last layer "
            f"'{last.name}' has activation {activation!r}"
        )


def keras_predictor(model, path: str | Path, card: dict[str, Any] | None = None) -> Predictor:
    """Wrap an in-memory Keras model."""
    from keras_unet.model import model_multiple

    card = card if card is not None else read_card(path)

    def predict_batch(batch: np.ndarray) -> np.ndarray:
        return np.asarray(model(batch, training=False))

    return Predictor(
        Path(path), "keras", model_multiple(model), card_threshold(card), predict_batch, card
    )


def onnx_predictor(path: str | Path, providers: list[str] | None = None) -> Predictor:
    """Load an ONNX model exported by this project (threshold and multiple from its metadata)."""
    from runtime.onnx_session import OnnxModel

    model = OnnxModel(path, providers=providers)
    card = {
        "name": model.metadata.get("model_name"),
        "threshold_source": model.metadata.get("threshold_source", "ONNX metadata"),
        "onnx": model.describe(),
    }
    return Predictor(
        Path(path),
        f"onnxruntime/{model.provider}",
        model.multiple,
        model.threshold,
        model.run,
        card,
    )


def load_predictor(path: str | Path) -> Predictor:
    """Load a model file by its suffix: ``.keras`` (Keras, safe mode) or ``.onnx`` (onnxruntime).

    Raises:
        ModelFileError: Unknown suffix, missing or corrupt file.
    """
    path = Path(path)
    if path.suffix == ".keras":
        return keras_predictor(load_keras_model(path), path)
    if path.suffix == ".onnx":
        return onnx_predictor(path)
    raise ModelFileError(f"{path}: unsupported model file (expected .keras or .onnx)")
