"""The model card: ``config.json`` next to a model file, holding what a runtime must know.

A run folder and a shipped-model folder both keep it beside their ``.keras`` file::

    {"name": ..., "version": ..., "model": {"filters", "depth", "multiple", "mean", "std", ...},
     "threshold": 0.47, "validation": {...}, "training": {...}, "data": {...}}

The threshold here is the one chosen on validation data; export copies these values into the
ONNX metadata, so nothing downstream hard-codes them.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from runtime.constants import DEFAULT_THRESHOLD

CARD_NAME = "config.json"


def card_path(model_path: str | Path) -> Path:
    """The model card that belongs to ``model_path`` (same folder)."""
    return Path(model_path).parent / CARD_NAME


def read_card(model_path: str | Path) -> dict[str, Any]:
    """Read the card beside ``model_path``; an empty dict when there is none."""
    path = card_path(model_path)
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return {}


def card_threshold(card: dict[str, Any]) -> float:
    """The validation threshold of a card, or :data:`DEFAULT_THRESHOLD` when it has none."""
    return float(card.get("threshold", DEFAULT_THRESHOLD))


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (temporary file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)
