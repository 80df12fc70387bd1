"""What the product writes per image, and the one rule that names those files.

The segment CLI, the app's batch and exports, and the evaluation name their PNGs with
:func:`output_name`, so a folder written by any of them reads the same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

#: The images written per photograph, in the order they are written.
OUTPUT_KINDS: tuple[str, ...] = ("mask", "probability", "overlay")


def output_name(stem: str, kind: str) -> str:
    """``<stem>_<kind>.png``, e.g. ``01_test_mask.png``.

    Raises:
        ValueError: ``kind`` is not one of :data:`OUTPUT_KINDS`.
    """
    if kind not in OUTPUT_KINDS:
        raise ValueError(f"output kind must be one of {', '.join(OUTPUT_KINDS)}, got {kind!r}")
    return f"{stem}_{kind}.png"


def output_images(
    image: np.ndarray, probability: np.ndarray, mask: np.ndarray
) -> dict[str, np.ndarray]:
    """What each of :data:`OUTPUT_KINDS` holds for one photograph, ready for ``write_png``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB photograph.
        probability: ``(H, W)`` vessel probabilities in [0, 1].
        mask: ``(H, W)`` bool vessel mask.

    Returns:
        ``{kind: array}``: the mask, the probabilities as 0-255 grey, the overlay.
    """
    from runtime.tiling import overlay, probability_to_uint8

    return {
        "mask": mask,
        "probability": probability_to_uint8(probability),
        "overlay": overlay(image, mask),
    }


def output_path(out_dir: Path, relative: Path, kind: str) -> Path:
    """Where the ``kind`` image of the photograph ``relative`` (to its input root) goes."""
    return Path(out_dir) / relative.parent / output_name(relative.stem, kind)
