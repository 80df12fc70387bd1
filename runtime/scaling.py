"""The working scale: every photograph is seen by the model with its FOV ``diameter`` pixels across.

One rule for training (:mod:`keras_unet.data.pipeline` via :func:`sample_at_working_scale`),
evaluation and the engine, so a vessel is as many pixels wide for the model whatever the camera's
pixel count. The diameter is stored with each model (model card, ONNX metadata
``working_fov_diameter``); :data:`runtime.constants.WORKING_FOV_DIAMETER` is the default for
models that carry none.

Images are shrunk with area averaging (no aliasing) and enlarged with cubic interpolation (Pillow's
resampling filters: the clinic install carries no OpenCV);
vessel labels are resampled as *area fractions* (``float32`` in [0, 1], the share of each new pixel
that was vessel), not by nearest neighbour, so a thin vessel of a large photograph survives as
a faint line instead of vanishing or turning into a broken staircase; FOV masks are resampled the
same way and thresholded at one half.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from runtime.constants import RESCALE_TOLERANCE, WORKING_FOV_DIAMETER
from runtime.fov import fov_diameter


def working_scale(
    fov: np.ndarray,
    diameter: float = WORKING_FOV_DIAMETER,
    tolerance: float = RESCALE_TOLERANCE,
) -> float:
    """Resize factor that brings a field of view to ``diameter`` pixels across.

    Args:
        fov: ``(H, W)`` FOV mask.
        diameter: The model's working FOV diameter in pixels.
        tolerance: Relative difference under which the image is used as it is (factor 1.0).

    Returns:
        The factor (1.0 for an empty mask or one already close to ``diameter``).
    """
    found = fov_diameter(fov)
    if found <= 0:
        return 1.0
    scale = diameter / found
    return 1.0 if abs(scale - 1.0) <= tolerance else scale


def scaled_size(height: int, width: int, scale: float) -> tuple[int, int]:
    """``(height, width)`` after resizing by ``scale`` (at least 8 pixels a side)."""
    return max(8, round(height * scale)), max(8, round(width * scale))


def _resize(array: np.ndarray, height: int, width: int, resample: Image.Resampling) -> np.ndarray:
    """Resize an ``(H, W)`` or ``(H, W, C)`` uint8 or float array with a Pillow filter.

    ``Image.Resampling.BOX`` averages the covered area when shrinking (like OpenCV's
    ``INTER_AREA``); the other filters are antialiased when shrinking as well.
    """
    if array.dtype == np.uint8 and (array.ndim == 2 or array.shape[2] in (3, 4)):
        return np.asarray(Image.fromarray(array).resize((width, height), resample))
    values = np.asarray(array, dtype=np.float32)
    if values.ndim == 2:
        return np.asarray(Image.fromarray(values).resize((width, height), resample))  # mode F
    channels = [_resize(values[:, :, c], height, width, resample) for c in range(values.shape[2])]
    return np.stack(channels, axis=2)


def resize_image(image: np.ndarray, scale: float) -> np.ndarray:
    """An RGB image resized by ``scale`` (area averaging to shrink, cubic to enlarge)."""
    if scale == 1.0:
        return image
    height, width = scaled_size(*image.shape[:2], scale)
    resample = Image.Resampling.BOX if scale < 1.0 else Image.Resampling.BICUBIC
    return _resize(image, height, width, resample)


def resize_fraction(mask: np.ndarray, scale: float) -> np.ndarray:
    """A binary or fractional mask resized by ``scale`` as area fractions (float32, 0 to 1)."""
    values = np.asarray(mask, dtype=np.float32)
    if scale == 1.0:
        return values
    height, width = scaled_size(*values.shape[:2], scale)
    resample = Image.Resampling.BOX if scale < 1.0 else Image.Resampling.BILINEAR
    return np.clip(_resize(values, height, width, resample), 0.0, 1.0)


def resize_mask(mask: np.ndarray, scale: float) -> np.ndarray:
    """A binary mask resized by ``scale``: its area fractions thresholded at one half."""
    if scale == 1.0:
        return np.asarray(mask, dtype=bool)
    return resize_fraction(mask, scale) >= 0.5


def resize_to(values: np.ndarray, height: int, width: int) -> np.ndarray:
    """A float ``(H, W)`` or ``(H, W, C)`` array resized to ``height`` x ``width`` (bilinear)."""
    if values.shape[:2] == (height, width):
        return values
    return _resize(values, height, width, Image.Resampling.BILINEAR)


def resize_back(probability: np.ndarray, height: int, width: int) -> np.ndarray:
    """Probabilities computed at the working scale brought back to the photograph's size."""
    if probability.shape[:2] == (height, width):
        return probability
    return np.clip(resize_to(probability, height, width), 0.0, 1.0)
