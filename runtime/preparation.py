"""Input preparation: what is done to a photograph, at the working scale, before the model sees it.

Cameras differ in colour balance, exposure, contrast and illumination fall-off; a vessel is the
same thing in all of them: a thin structure darker than the retina around it. A model records
the preparation it was trained with (model card ``data.input_preparation``, ONNX metadata
``input_preparation``) and training (:mod:`keras_unet.data.sets`), evaluation, export's
calibration and the engine apply it through :func:`prepare`, so it is one function everywhere.

:data:`PREPARATIONS` is the table (``--input-preparation``):

- ``none``: the photograph as it is (every model trained before the table existed).
- ``standardize``: each colour channel shifted and scaled so that, inside the FOV, its mean and
  standard deviation are the reference ones (:data:`runtime.constants.DRIVE_RGB_MEAN` / ``_STD``):
  removes exposure, colour cast and global contrast.
- ``flat_field``: each channel divided by its own smooth background (the FOV-only Gaussian
  average over a fraction :data:`BACKGROUND_SIGMA` of the FOV diameter), then standardised as
  above: removes uneven illumination and vignetting too, keeping the local contrast of vessels.

Outside the FOV every prepared image is the reference mean (zero after the model's own
normalisation), so the FOV edge is no longer a dark-to-bright edge a model could take for a vessel.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from runtime.constants import DRIVE_RGB_MEAN, DRIVE_RGB_STD
from runtime.errors import UserInputError
from runtime.fov import fov_diameter
from runtime.scaling import resize_fraction, resize_image, resize_mask, resize_to

#: Standard deviation of the illumination background of ``flat_field``, as a fraction of the FOV
#: diameter (about 34 px at the 539 px working scale: three times the widest vessels).
BACKGROUND_SIGMA: float = 1.0 / 16.0
#: The background is estimated on an image shrunk by this factor (area averaging), which is
#: exact enough for a blur this wide and 60x cheaper.
BACKGROUND_SHRINK: int = 8
#: The preparation of models whose card names none.
DEFAULT_PREPARATION: str = "none"


def _channel_stats(values: np.ndarray, fov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    inside = values[fov]
    return inside.mean(axis=0), np.maximum(inside.std(axis=0), 1e-3)


def _to_reference(values: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """``values`` (float, ``(H, W, 3)``) standardised inside the FOV to the reference statistics."""
    mean, std = _channel_stats(values, fov)
    reference_mean = np.asarray(DRIVE_RGB_MEAN, np.float32)
    out = (values - mean) / std * np.asarray(DRIVE_RGB_STD, np.float32) + reference_mean
    out[~fov] = reference_mean
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _background(values: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Smooth per-channel background of ``values`` from FOV pixels only (normalised convolution)."""
    height, width = fov.shape
    shrink = 1.0 / BACKGROUND_SHRINK
    weight = resize_fraction(fov, shrink)
    small = resize_image(values * fov[:, :, None], shrink)
    sigma = max(1.0, BACKGROUND_SIGMA * fov_diameter(fov) / BACKGROUND_SHRINK)
    norm = ndimage.gaussian_filter(weight, sigma, mode="constant")
    norm = np.maximum(norm, 1e-3)
    channels = [
        ndimage.gaussian_filter(small[:, :, c], sigma, mode="constant") / norm for c in range(3)
    ]
    return resize_to(np.stack(channels, axis=2).astype(np.float32), height, width)


def _none(image: np.ndarray, fov: np.ndarray) -> np.ndarray:
    return image


def _standardize(image: np.ndarray, fov: np.ndarray) -> np.ndarray:
    return _to_reference(image.astype(np.float32), fov)


def _flat_field(image: np.ndarray, fov: np.ndarray) -> np.ndarray:
    values = image.astype(np.float32)
    ratio = values / np.maximum(_background(values, fov), 1.0)
    return _to_reference(ratio, fov)


#: Input preparations by name: ``(image uint8 (H, W, 3), fov bool (H, W)) -> uint8 (H, W, 3)``.
PREPARATIONS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "none": _none,
    "standardize": _standardize,
    "flat_field": _flat_field,
}


def prepare(image: np.ndarray, fov: np.ndarray, method: str) -> np.ndarray:
    """``image`` prepared for a model trained with ``method`` (see module docstring).

    Args:
        image: ``(H, W, 3)`` uint8 RGB at the working scale.
        fov: ``(H, W)`` FOV mask of the same size.
        method: A key of :data:`PREPARATIONS`.

    Returns:
        A uint8 RGB image of the same size (``image`` itself for ``none`` or an empty FOV).

    Raises:
        UserInputError: Unknown ``method`` (a model from a newer version of the product).
    """
    if method not in PREPARATIONS:
        raise UserInputError(
            f"unknown input preparation {method!r} (known: {', '.join(PREPARATIONS)}); "
            "is the model from a newer version of this product?"
        )
    fov = np.asarray(fov, dtype=bool)
    if not fov.any():
        return image
    return PREPARATIONS[method](image, fov)


def model_input(image: np.ndarray, fov: np.ndarray, scale: float, method: str) -> np.ndarray:
    """What a model sees of a photograph: resized by ``scale``, then prepared by ``method``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB at the photograph's own size.
        fov: Its ``(H, W)`` FOV mask.
        scale: The working-scale factor (:func:`runtime.scaling.working_scale`).
        method: A key of :data:`PREPARATIONS`.
    """
    work = resize_image(image, scale)
    if method == "none":
        return work
    return prepare(work, resize_mask(fov, scale), method)
