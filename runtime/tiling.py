"""Whole-image inference for any predictor: padding, tiling with blended seams, TTA, masks.

TensorFlow-free: the caller supplies ``predict_batch``, a predictor's ``predict``
(:class:`runtime.predictors.Predictor`): a function from a float32 NHWC batch of raw RGB
(0-255) whose height and width are multiples of the model's multiple, to probabilities of shape
``(N, H, W)`` or ``(N, H, W, 1)``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from runtime.symmetry import GRID_SYMMETRIES

BatchPredictor = Callable[[np.ndarray], np.ndarray]
#: Called with ``(done, total)`` after each window :func:`predict_tiled` runs; may raise to stop.
TileCallback = Callable[[int, int], None]


def padded_size(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Smallest size at least ``(height, width)`` whose sides are multiples of ``multiple``."""
    return (-(-height // multiple) * multiple, -(-width // multiple) * multiple)


def pad_to_multiple(array: np.ndarray, multiple: int) -> np.ndarray:
    """Zero-pad the bottom and right of an ``(H, W, ...)`` array to multiples of ``multiple``.

    Zeros look like the black surround of a fundus photograph, which the model sees in training.

    Args:
        array: Image or mask, height and width first.
        multiple: Required multiple (``2**depth``).

    Returns:
        The padded array (the input itself when no padding is needed).
    """
    height, width = array.shape[:2]
    new_h, new_w = padded_size(height, width, multiple)
    if (new_h, new_w) == (height, width):
        return array
    pad = [(0, new_h - height), (0, new_w - width)] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, pad)


def predict_probability(
    predict_batch: BatchPredictor,
    image: np.ndarray,
    multiple: int,
    tta: bool = False,
) -> np.ndarray:
    """Vessel probability of one whole image.

    Args:
        predict_batch: The runtime's batch function (see module docstring).
        image: ``(H, W, 3)`` raw RGB, uint8 or float 0-255.
        multiple: The model's spatial multiple; the image is zero-padded to it and cropped back.
        tta: Average the predictions of the eight turns and mirrors of the image
            (:data:`runtime.symmetry.GRID_SYMMETRIES`, two batches of four). Each view is padded
            after it is turned, so the map of a turned or mirrored image is exactly this map
            turned or mirrored.

    Returns:
        ``(H, W)`` float32 probabilities.
    """
    height, width = image.shape[:2]
    image = np.asarray(image, dtype=np.float32)
    if not tta:
        out = np.asarray(predict_batch(pad_to_multiple(image, multiple)[None]), np.float32)
        return np.ascontiguousarray(out.reshape(out.shape[1:3])[:height, :width])
    total = np.zeros((height, width), np.float64)
    for swaps in (False, True):
        views = [s for s in GRID_SYMMETRIES if s.swaps_axes == swaps]
        batch = np.stack([pad_to_multiple(s.apply(image), multiple) for s in views])
        out = np.asarray(predict_batch(np.ascontiguousarray(batch)), np.float32)
        out = out.reshape(out.shape[:3])
        view_h, view_w = (width, height) if swaps else (height, width)
        for symmetry, probability in zip(views, out, strict=True):
            total += symmetry.undo(probability[:view_h, :view_w])
    return (total / len(GRID_SYMMETRIES)).astype(np.float32)


def binary_mask(
    probability: np.ndarray, threshold: float, fov: np.ndarray | None = None
) -> np.ndarray:
    """Threshold probabilities (vessel when ``p >= threshold``), restricted to the FOV if given."""
    mask = probability >= threshold
    return mask & fov if fov is not None else mask


def probability_to_uint8(probability: np.ndarray) -> np.ndarray:
    """Probabilities in [0, 1] as a 0-255 grayscale image."""
    return np.clip(np.round(probability * 255.0), 0, 255).astype(np.uint8)


def overlay(
    image: np.ndarray,
    mask: np.ndarray,
    colour: tuple[int, int, int] = (0, 255, 0),
    opacity: float = 0.6,
) -> np.ndarray:
    """Blend ``colour`` over ``image`` where ``mask`` is set.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        mask: ``(H, W)`` bool.
        colour: RGB colour of the vessels.
        opacity: 0 shows the image only, 1 paints the vessels solid.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    out = image.astype(np.float32).copy()
    out[mask] = (1.0 - opacity) * out[mask] + opacity * np.asarray(colour, np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _tile_starts(length: int, tile: int, step: int) -> list[int]:
    """Start offsets of windows of size ``tile`` covering ``[0, length)`` with stride ``step``."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile, step))
    return [*starts, length - tile]


def _blend_ramp(length: int, overlap: int, at_start: bool, at_end: bool) -> np.ndarray:
    """1-D weights: linear ramps over ``overlap`` pixels on inner edges, 1 elsewhere."""
    ramp = np.ones(length, np.float32)
    if overlap > 0:
        rise = (np.arange(overlap, dtype=np.float32) + 0.5) / overlap
        if not at_start:
            ramp[:overlap] = np.minimum(ramp[:overlap], rise)
        if not at_end:
            ramp[-overlap:] = np.minimum(ramp[-overlap:], rise[::-1])
    return ramp


@dataclass(frozen=True)
class TileGrid:
    """The windows :func:`predict_tiled` runs over a padded image."""

    tile_h: int
    tile_w: int
    overlap: int
    rows: list[int]  # top offsets
    cols: list[int]  # left offsets

    @property
    def count(self) -> int:
        """Number of windows."""
        return len(self.rows) * len(self.cols)


def tile_grid(
    height: int, width: int, multiple: int, tile: int = 1024, overlap: int = 64
) -> TileGrid | None:
    """Windows for an image of this size, or ``None`` when it runs in one piece.

    ``tile`` is rounded down to ``multiple`` and ``overlap`` up to an even number (at most half
    a tile).
    """
    tile = max(multiple, tile // multiple * multiple)
    padded_h, padded_w = padded_size(height, width, multiple)
    if padded_h <= tile and padded_w <= tile:
        return None
    overlap = min(overlap + overlap % 2, tile // 2)
    tile_h, tile_w = min(tile, padded_h), min(tile, padded_w)
    return TileGrid(
        tile_h,
        tile_w,
        overlap,
        _tile_starts(padded_h, tile_h, tile_h - overlap),
        _tile_starts(padded_w, tile_w, tile_w - overlap),
    )


def predict_tiled(
    predict_batch: BatchPredictor,
    image: np.ndarray,
    multiple: int,
    tile: int = 1024,
    overlap: int = 64,
    tta: bool = False,
    on_tile: TileCallback | None = None,
) -> np.ndarray:
    """Vessel probability of an image of any size, in overlapping tiles when it is large.

    Images whose padded size fits in ``tile`` x ``tile`` go through in one piece
    (:func:`predict_probability`). Larger ones are cut into ``tile``-sized windows overlapping
    by ``overlap`` pixels; each window's prediction is weighted by linear ramps over the overlap
    (no ramp at the image border) and the weighted average is returned, so seams blend and
    memory stays bounded by one tile plus two float32 accumulators of the image size.

    Args:
        predict_batch: The runtime's batch function.
        image: ``(H, W, 3)`` raw RGB.
        multiple: The model's spatial multiple; ``tile`` is rounded down to it.
        tile: Window side in pixels.
        overlap: Overlap between neighbouring windows (rounded up to an even number).
        tta: Test-time augmentation (eight turns and mirrors) on every window.
        on_tile: Called after each window with ``(done, total)`` (once with ``(1, 1)`` for an
            image run in one piece); an exception it raises stops the run and propagates.

    Returns:
        ``(H, W)`` float32 probabilities.
    """
    height, width = image.shape[:2]
    grid = tile_grid(height, width, multiple, tile, overlap)
    if grid is None:
        probability = predict_probability(predict_batch, image, multiple, tta=tta)
        if on_tile is not None:
            on_tile(1, 1)
        return probability
    padded = pad_to_multiple(np.asarray(image, dtype=np.float32), multiple)
    total = np.zeros(padded.shape[:2], np.float32)
    weight = np.zeros(padded.shape[:2], np.float32)
    tile_h, tile_w, rows, cols = grid.tile_h, grid.tile_w, grid.rows, grid.cols
    done = 0
    for top in rows:
        ramp_y = _blend_ramp(tile_h, grid.overlap, top == 0, top == rows[-1])
        for left in cols:
            window = padded[top : top + tile_h, left : left + tile_w]
            probability = predict_probability(predict_batch, window, multiple, tta=tta)
            ramp_x = _blend_ramp(tile_w, grid.overlap, left == 0, left == cols[-1])
            ramp = ramp_y[:, None] * ramp_x
            total[top : top + tile_h, left : left + tile_w] += probability * ramp
            weight[top : top + tile_h, left : left + tile_w] += ramp
            done += 1
            if on_tile is not None:
                on_tile(done, grid.count)
    return (total / np.maximum(weight, 1e-6))[:height, :width]


def tile_count(height: int, width: int, multiple: int, tile: int = 1024, overlap: int = 64) -> int:
    """How many windows :func:`predict_tiled` runs for an image of this size."""
    grid = tile_grid(height, width, multiple, tile, overlap)
    return 1 if grid is None else grid.count
