"""Which ONNX model the window loads at start (Qt-free)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from runtime.errors import UserInputError


@dataclass(frozen=True)
class ModelChoice:
    """The model to load and why, or ``path=None`` with what the user should do.

    Attributes:
        path: The ``.onnx`` file, or ``None`` when none was found.
        origin: Where it came from (or why there is none), to show the user.
    """

    path: Path | None
    origin: str


def choose_model(explicit: str | Path | None = None, remembered: str | Path = "") -> ModelChoice:
    """Pick the model: the one asked for, else the one chosen last time, else the shipped one.

    Args:
        explicit: Given on the command line (or by a test); used even if it does not exist, so
            loading it reports the problem.
        remembered: The model the user chose in an earlier session (``""``: none); skipped
            when the file has gone.

    Returns:
        The choice; ``path`` is ``None`` when no model was given and none is shipped.
    """
    from runtime.models import default_model

    if explicit:
        return ModelChoice(Path(explicit), "given on the command line")
    if remembered and Path(remembered).is_file():
        return ModelChoice(Path(remembered), "the model you chose")
    try:
        return ModelChoice(default_model(), "the shipped model")
    except UserInputError:
        return ModelChoice(
            None,
            "No shipped model was found in saved_models/. Choose an exported .onnx model "
            "(Model ▸ Open model…).",
        )
