"""Automatic field-of-view (FOV) mask of a colour fundus photograph, for images given without one.

A fundus camera images the retina as a bright disc (often cut at the top and bottom) on a black
surround. :func:`estimate_fov` finds that disc:

1. brightness = the maximum of the three channels (the red channel in a normal fundus photo, but
   it also copes with grey images and odd colour balance), median-filtered (5x5) against noise
   and JPEG speckle;
2. ``dark`` and ``bright`` = its 1st and 99th percentiles; pixels brighter than
   ``dark + 0.2 * (bright - dark)`` are candidates. Scaling with the photo's own range keeps the
   rule working for underexposed (retina at 30-60 grey levels) and overexposed photos alike,
   and 20% stays clear of the darkest retina at the rim while staying above the surround's noise;
3. a morphological opening (a disc of radius 1% of the shorter image side) cuts thin bridges to
   glare or text, the largest 8-connected component is kept, its holes are filled, and a closing
   with the same disc smooths the rim.

Degenerate photos get a full-image mask (every pixel in the FOV) instead of an error, because
measuring the whole image is the safe default:

* a blank or flat image (``bright - dark`` under :data:`MIN_CONTRAST` grey levels);
* a bright image without a dark surround, e.g. a crop inside the retina: what lies outside the
  disc found covers less than :data:`MIN_SURROUND_FRACTION` of the image, or is not dark (its
  median brightness is above :data:`MAX_SURROUND_LEVEL` of ``bright``; a camera's black surround
  sits at about 5%, the darker half of a retina crop at 70-80%);
* an image whose bright part is too small to be a FOV (under :data:`MIN_FOV_FRACTION`).
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter
from scipy import ndimage

#: Longer side above which the FOV is found on a reduced copy (keeps time and memory bounded
#: for very large photographs; the mask is scaled back with nearest-neighbour interpolation).
ANALYSIS_SIDE = 1024
#: Smallest spread (grey levels) between the 1st and 99th brightness percentiles of a photo.
MIN_CONTRAST = 20
#: Where the threshold sits between the dark (1st) and bright (99th) percentiles.
THRESHOLD_FRACTION = 0.2
#: A FOV smaller than this share of the image is not trusted.
MIN_FOV_FRACTION = 0.05
#: A surround smaller than this share of the image means there is no surround.
MIN_SURROUND_FRACTION = 0.01
#: The surround's median brightness may be at most this share of the bright (99th) percentile.
MAX_SURROUND_LEVEL = 0.25
#: Radius of the smoothing disc, as a share of the shorter image side.
SMOOTHING_FRACTION = 0.01


def _brightness(image: np.ndarray) -> np.ndarray:
    """Validate an RGB(A)/grey uint8 image and return its per-pixel maximum channel."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[2] in (3, 4):
        image = image[:, :, :3].max(axis=2)
    elif image.ndim != 2:
        raise ValueError(f"image must be (H, W, 3) RGB or (H, W) grey, got shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"image has no pixels (shape {image.shape})")
    return np.ascontiguousarray(image)


def _percentiles(values: np.ndarray, quantiles: tuple[float, ...]) -> list[int]:
    """Lowest grey levels reaching each cumulative share of a uint8 image (fast percentiles)."""
    cumulative = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return [int(np.searchsorted(cumulative, q * values.size)) for q in quantiles]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of ``mask`` (all False when ``mask`` is empty)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return np.zeros(mask.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _erode(mask: np.ndarray, radius: int) -> np.ndarray:
    """Erosion by a disc of ``radius`` (outside the image counts as inside, as in OpenCV)."""
    if mask.all():
        return mask.copy()
    return ndimage.distance_transform_edt(mask) > radius


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Dilation by a disc of ``radius``."""
    if not mask.any():
        return mask.copy()
    return ndimage.distance_transform_edt(~mask) <= radius


def _open(mask: np.ndarray, radius: int) -> np.ndarray:
    """Morphological opening by a disc: removes parts thinner than the disc."""
    return _dilate(_erode(mask, radius), radius)


def _close(mask: np.ndarray, radius: int) -> np.ndarray:
    """Morphological closing by a disc: fills notches narrower than the disc."""
    return _erode(_dilate(mask, radius), radius)


def estimate_fov(image: np.ndarray) -> np.ndarray:
    """Estimate the field of view of a colour fundus photograph.

    Args:
        image: ``(H, W, 3)`` RGB (or ``(H, W, 4)`` RGBA, or ``(H, W)`` grey) uint8 photograph.

    Returns:
        ``(H, W)`` bool mask, True inside the FOV; all True for degenerate photos (see the module
        docstring).

    Raises:
        ValueError: The image is not uint8, has another shape, or has no pixels.
    """
    brightness = _brightness(image)
    height, width = brightness.shape
    factor = ANALYSIS_SIDE / max(height, width)
    if factor < 1.0:  # Large photographs: find the FOV on a reduced copy, then scale it back.
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        reduced = Image.fromarray(brightness).resize(size, Image.Resampling.BOX)
        small = _estimate(np.asarray(reduced))
        back = Image.fromarray(small).resize((width, height), Image.Resampling.NEAREST)
        return np.asarray(back, dtype=bool)
    return _estimate(brightness)


def _estimate(brightness: np.ndarray) -> np.ndarray:
    """:func:`estimate_fov` on a single-channel uint8 image of moderate size."""
    full = np.ones(brightness.shape, dtype=bool)
    smooth = (
        np.asarray(Image.fromarray(brightness).filter(ImageFilter.MedianFilter(5)))
        if min(brightness.shape) >= 5
        else brightness
    )
    dark, bright = _percentiles(smooth, (0.01, 0.99))
    if bright - dark < MIN_CONTRAST:
        return full
    candidate = smooth > dark + THRESHOLD_FRACTION * (bright - dark)
    radius = max(1, round(SMOOTHING_FRACTION * min(brightness.shape)))
    candidate = _open(candidate, radius)
    fov = _close(ndimage.binary_fill_holes(_largest_component(candidate)), radius)
    share = np.count_nonzero(fov) / fov.size
    if share < MIN_FOV_FRACTION or share > 1.0 - MIN_SURROUND_FRACTION:
        return full
    if np.median(smooth[~fov]) > MAX_SURROUND_LEVEL * bright:  # Darker parts of a retina crop.
        return full
    return fov


def fov_diameter(fov: np.ndarray) -> float:
    """Diameter of a field of view in pixels: the longer side of its bounding box.

    The longer side rather than the equivalent-area circle, because many cameras cut the FOV
    disc at the top and bottom: its width is then still the disc's diameter, while the
    equivalent-area circle would come out smaller.

    Args:
        fov: ``(H, W)`` FOV mask (bool, or numbers where non-zero is inside).

    Returns:
        The diameter in pixels; 0.0 for an empty mask.

    Raises:
        ValueError: ``fov`` is not 2-D.
    """
    fov = np.asarray(fov)
    if fov.ndim != 2:
        raise ValueError(f"fov must be a 2-D array, got shape {fov.shape}")
    rows = np.flatnonzero(fov.any(axis=1))
    cols = np.flatnonzero(fov.any(axis=0))
    if rows.size == 0:
        return 0.0
    return float(max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1))
