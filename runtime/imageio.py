"""Robust image reading and writing (no TensorFlow: TF cannot decode TIFF or GIF).

Conversions are documented rather than refused:

* grayscale, palette and 1-bit images are replicated to three RGB channels;
* an alpha channel is dropped (RGBA -> RGB, LA -> RGB);
* 16-bit and 32-bit integer images are scaled to 8 bits by the maximum of their type (16-bit RGB
  files keep their high bytes);
  float images in [0, 1] are scaled by 255;
* the EXIF orientation tag is applied, so a photograph is read the way a viewer shows it.

Anything else (a file that is missing, empty, truncated, not an image, or of size zero) raises
:class:`~runtime.errors.ImageReadError` with the path and the problem in one line.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from runtime.constants import PNG_COMPRESS_LEVEL
from runtime.errors import ImageReadError

#: File suffixes treated as images when scanning folders.
IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".gif", ".bmp", ".ppm", ".webp"}
)

# Pillow refuses images above ~179 Mpx by default; fundus photographs never get close, but
# users' scans might. 400 Mpx is still bounded (1.2 GB as RGB uint8).
Image.MAX_IMAGE_PIXELS = 400_000_000


def _to_uint8(array: np.ndarray, path: str) -> np.ndarray:
    """Scale an integer or float image array to uint8 by the range of its dtype."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.bool_:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.integer):
        info = np.iinfo(array.dtype)
        if info.min < 0:
            array = np.clip(array, 0, None)
        top = float(info.max)
        return np.clip(np.round(array.astype(np.float64) * (255.0 / top)), 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageReadError(path, "image contains NaN or infinite values")
        top = 255.0 if array.max(initial=0.0) > 1.0 else 1.0
        return np.clip(np.round(array * (255.0 / top)), 0, 255).astype(np.uint8)
    raise ImageReadError(path, f"unsupported pixel type {array.dtype}")


def _channels_to_rgb(array: np.ndarray, path: str) -> np.ndarray:
    """Turn an HxW, HxWx1, HxWx2 (gray+alpha), HxWx3 or HxWx4 array into HxWx3."""
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.ndim != 3:
        raise ImageReadError(path, f"expected a 2-D image, got an array of shape {array.shape}")
    channels = array.shape[2]
    if channels in (1, 2):
        return np.repeat(array[:, :, :1], 3, axis=2)
    if channels in (3, 4):
        return np.ascontiguousarray(array[:, :, :3])
    raise ImageReadError(path, f"unsupported channel count {channels} (expected 1, 2, 3 or 4)")


def _open(path: str) -> Image.Image:
    if not os.path.exists(path):
        raise ImageReadError(path, "file not found")
    if os.path.isdir(path):
        raise ImageReadError(path, "is a folder, not an image file")
    if os.path.getsize(path) == 0:
        raise ImageReadError(path, "file is empty (0 bytes)")
    try:
        image = Image.open(path)
        image.load()
    except UnidentifiedImageError:
        raise ImageReadError(path, "not an image file (format not recognised)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(path, f"cannot decode image ({exc})") from None
    except Image.DecompressionBombError:
        raise ImageReadError(path, "image is too large to read safely") from None
    return image


def read_rgb(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    Args:
        path: Any file Pillow can decode (PNG, JPEG, TIFF incl. 16-bit, GIF, BMP, ...).

    Returns:
        The image, converted as described in the module docstring.

    Raises:
        ImageReadError: The file is missing, empty, corrupt, not an image or has zero size.
    """
    path = os.fspath(path)
    image = _open(path)
    # A broken EXIF block must not make the pixels unreadable.
    with contextlib.suppress(Exception):
        image = ImageOps.exif_transpose(image) or image
    if image.width == 0 or image.height == 0:
        raise ImageReadError(path, "image has zero size")
    mode = image.mode
    if mode in ("RGB", "L", "P", "1", "RGBA", "LA", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        if mode in ("P", "PA") and "transparency" in image.info:
            image = image.convert("RGBA")
        # Pillow reads 16-bit RGB PNG/TIFF files as 8-bit "RGB": their high bytes.
        array = np.asarray(image.convert("RGB"))
    else:  # "I;16", "I;16B", "I", "F" and friends: high bit depth, one channel.
        array = _to_uint8(np.asarray(image), path)
        if array.ndim == 2 or array.shape[2] != 3:
            array = _channels_to_rgb(array, path)
    return np.ascontiguousarray(array, dtype=np.uint8)


def read_binary(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a manual annotation or FOV mask as a boolean array ``(H, W)``.

    Palette and colour files are converted to gray first (a colour pixel counts by its brightest
    channel). Files holding only 0 and 1 count every non-zero pixel; others count pixels above
    half of their type's range (DRIVE's 2nd-manual GIFs store 3 and 253, for instance).

    Args:
        path: A GIF, PNG, TIFF, ... file.

    Returns:
        The binary mask.

    Raises:
        ImageReadError: As for :func:`read_rgb`.
    """
    path = os.fspath(path)
    image = _open(path)
    if image.mode in ("P", "PA", "1"):
        image = image.convert("L")
    array = np.asarray(image)
    if array.ndim == 3:
        array = array[:, :, :3].max(axis=2)
    if array.size == 0:
        raise ImageReadError(path, "image has zero size")
    if array.dtype == np.bool_ or array.max(initial=0) <= 1:
        return array > 0
    top = float(np.iinfo(array.dtype).max) if np.issubdtype(array.dtype, np.integer) else 1.0
    return array > top / 2


def write_png(
    path: str | os.PathLike[str], array: np.ndarray, text: Mapping[str, str] | None = None
) -> None:
    """Write a uint8 (or boolean, written as 0/255) array as PNG, creating parent folders.

    Args:
        path: Destination file.
        array: ``(H, W)`` gray or ``(H, W, 3)`` RGB array.
        text: PNG text chunks (``iTXt``, UTF-8), e.g.
            :meth:`runtime.provenance.RunSettings.png_text`.
    """
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        raise ValueError(f"write_png expects uint8 or bool, got {array.dtype}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    info = None
    if text:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        for key, value in text.items():
            info.add_itxt(key, str(value))
    Image.fromarray(array).save(
        os.fspath(path), format="PNG", pnginfo=info, compress_level=PNG_COMPRESS_LEVEL
    )


def is_image_file(path: str | os.PathLike[str]) -> bool:
    """Return True if ``path`` has a suffix we treat as an image."""
    return Path(path).suffix.lower() in IMAGE_SUFFIXES
