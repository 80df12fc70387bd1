"""The models that ship with the product, and how the runtime finds the default one."""

from __future__ import annotations

from pathlib import Path

from runtime.errors import UserInputError

#: Where shipped models live in a checkout (``saved_models/<name>/<name>.onnx``).
SHIPPED_MODELS = Path(__file__).resolve().parents[1] / "saved_models"
#: The model ``vessel-segment``, the app and ``make demo`` use when none is given, best first:
#: the model for any fundus camera, then the classic DRIVE-only model.
DEFAULT_MODELS: tuple[str, ...] = ("any_camera_unet_w16", "drive_unet_w16")


def shipped_model(name: str, precision: str = "fp32") -> Path:
    """The ONNX file of a shipped model (``int8`` gives ``<name>.int8.onnx``)."""
    suffix = ".onnx" if precision == "fp32" else f".{precision}.onnx"
    return SHIPPED_MODELS / name / f"{name}{suffix}"


def default_model() -> Path:
    """The first of :data:`DEFAULT_MODELS` that is present.

    Raises:
        UserInputError: None is present (the message says to pass ``--model``).
    """
    for name in DEFAULT_MODELS:
        path = shipped_model(name)
        if path.is_file():
            return path
    raise UserInputError(f"{SHIPPED_MODELS}: no shipped ONNX model found; pass --model")
