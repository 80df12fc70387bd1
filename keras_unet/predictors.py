"""Model files behind the one predictor protocol (:class:`runtime.predictors.Predictor`).

:func:`load_model` opens a ``.keras`` file (Keras, safe mode) or an ``.onnx`` file
(onnxruntime) by its suffix (:data:`LOADERS`) and returns the predictor with its model card;
:func:`keras_engine` / :func:`load_engine` put it in the runtime's engine, so Keras and exported
models are scored by exactly the same code as the clinic side runs.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from runtime.engine import VesselEngine
from runtime.errors import ModelFileError
from runtime.model_card import ModelCard
from runtime.predictors import Predictor


class KerasPredictor:
    """An in-memory Keras vessel model as a :class:`runtime.predictors.Predictor`."""

    def __init__(self, model, path: str | Path | None = None) -> None:  # model: keras.Model
        from keras_unet.model import model_multiple

        self.model = model
        self.path = Path(path) if path is not None else None
        self.multiple = model_multiple(model)
        self.name = "keras"

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, H, W, 1)`` of a raw-RGB batch."""
        return np.asarray(self.model(batch, training=False))


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


def _load_keras(path: Path) -> tuple[Predictor, ModelCard]:
    card = ModelCard.load(path) or ModelCard()
    return KerasPredictor(load_keras_model(path), path), card


def _load_onnx(path: Path) -> tuple[Predictor, ModelCard]:
    from runtime.onnx_session import OnnxPredictor

    predictor = OnnxPredictor(path)
    return predictor, predictor.card


#: How each kind of model file is opened, by suffix.
LOADERS: dict[str, Callable[[Path], tuple[Predictor, ModelCard]]] = {
    ".keras": _load_keras,
    ".onnx": _load_onnx,
}


def load_model(path: str | Path) -> tuple[Predictor, ModelCard]:
    """Open a model file by its suffix (:data:`LOADERS`): its predictor and model card.

    Raises:
        ModelFileError: Unknown suffix, missing or corrupt file.
    """
    path = Path(path)
    loader = LOADERS.get(path.suffix)
    if loader is None:
        raise ModelFileError(f"{path}: unsupported model file (expected {' or '.join(LOADERS)})")
    return loader(path)


def load_engine(
    path: str | Path, backend: str = "onnxruntime", precision: str = "auto", **options
) -> VesselEngine:
    """An engine on a ``.keras`` or ``.onnx`` file (``options`` as :class:`VesselEngine`'s).

    An ``.onnx`` file runs in ``backend`` (see :meth:`VesselEngine.open`) at ``precision``
    (``auto``: the file's own, so an evaluation scores the file it is given); a ``.keras`` file
    runs in Keras, whatever they say.
    """
    if Path(path).suffix == ".onnx":
        if precision == "auto":
            precision = "int8" if Path(path).name.endswith(".int8.onnx") else "fp32"
        return VesselEngine.open(path, backend=backend, precision=precision, **options)
    predictor, card = load_model(path)
    return VesselEngine(predictor, card, **options)


def keras_engine(model, card: ModelCard, path: str | Path | None = None, **options) -> VesselEngine:
    """An engine on an in-memory Keras model (training's threshold choice, export's checks)."""
    return VesselEngine(KerasPredictor(model, path), card, **options)
