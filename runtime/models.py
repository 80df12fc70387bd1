"""The models that ship with the product, and how the runtime finds the default one.

In a checkout (or an editable install) they are in the repository's ``saved_models/``; an
installed wheel carries their ONNX files and cards as the package ``runtime.shipped``, found
with :mod:`importlib.resources`, whatever the working directory.
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

from runtime.errors import UserInputError

#: Where shipped models live in a checkout (``saved_models/<name>/<name>.onnx``).
REPOSITORY_MODELS = Path(__file__).resolve().parents[1] / "saved_models"
#: The model ``vessel-segment``, the app and ``make demo`` use when none is given, best first:
#: the model for any fundus camera, then the classic DRIVE-only model.
DEFAULT_MODELS: tuple[str, ...] = ("any_camera_unet_w16", "drive_unet_w16")


def shipped_models_folder() -> Path:
    """The folder holding the shipped models: the checkout's, else the installed package's."""
    if REPOSITORY_MODELS.is_dir():
        return REPOSITORY_MODELS
    try:
        return Path(str(importlib.resources.files("runtime.shipped")))
    except ModuleNotFoundError:
        return REPOSITORY_MODELS


#: Where ``ship`` writes and the runtime looks (see :func:`shipped_models_folder`).
SHIPPED_MODELS = shipped_models_folder()


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
