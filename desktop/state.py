"""What the window shows for one image, computed without Qt.

An :class:`ImageDocument` is an opened image with its cached segmentation. :func:`compose`
turns it and the :class:`Display` settings (view mode, threshold, opacity, colour) into the
pixels on screen: moving the threshold re-thresholds the cached probability map
(``SegmentationResult.rethreshold``), it never runs the model again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from runtime.tiling import overlay, probability_to_uint8
from runtime.units import Scale

if TYPE_CHECKING:
    from runtime.engine import SegmentationResult


class ViewMode(enum.Enum):
    """The four ways to look at an image."""

    ORIGINAL = "original"
    PROBABILITY = "probability"
    MASK = "mask"
    OVERLAY = "overlay"

    @property
    def label(self) -> str:
        """Name shown in menus and on the toolbar."""
        return {
            ViewMode.ORIGINAL: "Original",
            ViewMode.PROBABILITY: "Probability",
            ViewMode.MASK: "Mask",
            ViewMode.OVERLAY: "Overlay",
        }[self]


@dataclass(frozen=True)
class Display:
    """How the current image is drawn.

    Attributes:
        mode: Which view.
        threshold: Probability at or above which a pixel is vessel.
        opacity: Overlay opacity in [0, 1].
        colour: Overlay RGB colour.
    """

    mode: ViewMode
    threshold: float
    opacity: float
    colour: tuple[int, int, int]


@dataclass
class ImageDocument:
    """An opened image and, once the engine has run, its segmentation.

    Attributes:
        path: The image file.
        image: ``(H, W, 3)`` uint8 RGB as read.
        result: The engine's result, or ``None`` before inference.
        fov_path: FOV mask file used, or ``None`` when the engine estimated the FOV.
        measurements: Vessel measurements of the mask at ``measured_threshold``.
        measured_threshold: Threshold the measurements belong to.
        measured_scale: Scale their units come from.
    """

    path: Path
    image: np.ndarray
    result: SegmentationResult | None = None
    fov_path: Path | None = None
    measurements: dict[str, Any] = field(default_factory=dict)
    measured_threshold: float | None = None
    measured_scale: Scale | None = None

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` in pixels."""
        return self.image.shape[1], self.image.shape[0]


def document_bytes(document: ImageDocument) -> int:
    """Memory an image and its cached result take (for the window's cache bound)."""
    arrays = [document.image]
    result = document.result
    if result is not None:
        arrays += [result.probability, result.mask, result.fov]
        if result.working_probability is not None and result.scale != 1.0:
            arrays.append(result.working_probability)
    return sum(int(array.nbytes) for array in arrays)


def compose(image: np.ndarray, result: SegmentationResult | None, display: Display) -> np.ndarray:
    """The pixels of one view.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        result: The cached segmentation, or ``None`` (then every mode shows the original).
        display: View mode, threshold, opacity and colour.

    Returns:
        ``(H, W, 3)`` uint8 RGB for the original and the overlay; ``(H, W)`` uint8 gray for the
        probability map (0-255) and the mask (0 or 255).
    """
    if result is None or display.mode is ViewMode.ORIGINAL:
        return image
    if display.mode is ViewMode.PROBABILITY:
        return probability_to_uint8(result.probability)
    mask = result.rethreshold(display.threshold)
    if display.mode is ViewMode.MASK:
        return mask.astype(np.uint8) * 255
    return overlay(image, mask, display.colour, display.opacity)


def export_array(document: ImageDocument, display: Display, kind: ViewMode) -> np.ndarray:
    """What "Export mask" / "Export overlay" write: the view ``kind`` at the current settings.

    Raises:
        ValueError: The image has not been segmented yet, or ``kind`` is the original.
    """
    if document.result is None:
        raise ValueError(f"{document.path.name} has not been segmented yet")
    if kind is ViewMode.ORIGINAL:
        raise ValueError("the original image is not an export")
    return compose(document.image, document.result, _with_mode(display, kind))


def _with_mode(display: Display, mode: ViewMode) -> Display:
    return Display(mode, display.threshold, display.opacity, display.colour)


def export_name(image_path: Path, kind: ViewMode) -> str:
    """Default file name of an export, as the segment CLI names it (``<stem>_<kind>.png``)."""
    return f"{image_path.stem}_{kind.value}.png"
