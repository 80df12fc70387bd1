"""Find and load DRIVE-layout data sets.

A split folder (``DRIVE/training``, ``DRIVE/test`` or any folder laid out the same way) holds::

    images/       21_training.tif, ...        colour fundus photographs
    1st_manual/   21_manual1.gif, ...         vessel annotation (ground truth)
    mask/         21_training_mask.gif, ...   field-of-view (FOV) mask
    2nd_manual/   01_manual2.gif, ...         optional second observer

Files are matched by their stem, or failing that by the part of the stem before the first
underscore (DRIVE's image number), so ``21_training.tif`` pairs with ``21_manual1.gif``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.errors import DatasetError, ImageReadError, UserInputError
from runtime.imageio import is_image_file, read_binary, read_rgb

IMAGES_DIR = "images"
MANUAL_DIR = "1st_manual"
SECOND_MANUAL_DIR = "2nd_manual"
MASK_DIR = "mask"


@dataclass(frozen=True)
class SamplePaths:
    """Where one sample's files are."""

    sample_id: str
    image: Path
    manual: Path | None
    mask: Path | None
    second_manual: Path | None = None


@dataclass
class Sample:
    """One loaded sample: raw RGB image, vessel annotation and FOV mask of the same size."""

    sample_id: str
    image: np.ndarray  # (H, W, 3) uint8
    vessels: np.ndarray | None  # (H, W) bool
    fov: np.ndarray  # (H, W) bool
    second_observer: np.ndarray | None = None  # (H, W) bool
    path: Path | None = None


def _key(path: Path) -> str:
    return path.stem.split("_")[0]


def _match(image: Path, candidates: list[Path], kind: str) -> Path | None:
    exact = [c for c in candidates if c.stem == image.stem]
    if len(exact) == 1:
        return exact[0]
    by_key = [c for c in candidates if _key(c) == _key(image)]
    if len(by_key) > 1:
        names = ", ".join(c.name for c in by_key)
        raise DatasetError(f"{image}: more than one {kind} file matches ({names})")
    return by_key[0] if by_key else None


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def find_samples(
    split_dir: str | Path,
    *,
    require_manual: bool = True,
    require_mask: bool = True,
) -> list[SamplePaths]:
    """List the samples of a DRIVE-layout split folder.

    Args:
        split_dir: Folder with ``images/`` and usually ``1st_manual/``, ``mask/``.
        require_manual: Refuse an image that has no annotation.
        require_mask: Refuse an image that has no FOV mask.

    Returns:
        The samples sorted by image name.

    Raises:
        DatasetError: The folder or a sub-folder is missing, it holds no images, or an image
            lacks a required manual or mask (the message names the image).
    """
    split_dir = Path(split_dir)
    if not split_dir.is_dir():
        raise DatasetError(f"{split_dir}: data folder not found")
    image_dir = split_dir / IMAGES_DIR
    if not image_dir.is_dir():
        raise DatasetError(f"{split_dir}: no '{IMAGES_DIR}/' folder (expected DRIVE layout)")
    images = _image_files(image_dir)
    if not images:
        raise DatasetError(f"{image_dir}: no image files")

    def listing(name: str, required: bool) -> list[Path]:
        folder = split_dir / name
        if folder.is_dir():
            return _image_files(folder)
        if required:
            raise DatasetError(f"{split_dir}: no '{name}/' folder")
        return []

    manuals = listing(MANUAL_DIR, require_manual)
    masks = listing(MASK_DIR, require_mask)
    seconds = listing(SECOND_MANUAL_DIR, False)
    samples = []
    for image in images:
        manual = _match(image, manuals, "manual")
        mask = _match(image, masks, "mask")
        if manual is None and require_manual:
            raise DatasetError(
                f"{image}: no matching manual annotation in {split_dir / MANUAL_DIR}"
            )
        if mask is None and require_mask:
            raise DatasetError(f"{image}: no matching FOV mask in {split_dir / MASK_DIR}")
        samples.append(
            SamplePaths(
                sample_id=_key(image),
                image=image,
                manual=manual,
                mask=mask,
                second_manual=_match(image, seconds, "2nd manual"),
            )
        )
    ids = [s.sample_id for s in samples]
    if len(set(ids)) != len(ids):
        samples = [
            SamplePaths(s.image.stem, s.image, s.manual, s.mask, s.second_manual) for s in samples
        ]
    return samples


def _check_shape(array: np.ndarray, shape: tuple[int, int], path: Path, what: str) -> None:
    if array.shape[:2] != shape:
        raise ImageReadError(
            path, f"{what} is {array.shape[1]}x{array.shape[0]}, image is {shape[1]}x{shape[0]}"
        )


def load_sample(paths: SamplePaths) -> Sample:
    """Read one sample's files.

    A sample without a mask gets a FOV covering the whole image.

    Raises:
        ImageReadError: A file is unreadable or its size differs from the image's.
    """
    image = read_rgb(paths.image)
    shape = image.shape[:2]
    vessels = fov = second = None
    if paths.manual is not None:
        vessels = read_binary(paths.manual)
        _check_shape(vessels, shape, paths.manual, "manual")
    if paths.mask is not None:
        fov = read_binary(paths.mask)
        _check_shape(fov, shape, paths.mask, "mask")
    else:
        fov = np.ones(shape, dtype=bool)
    if paths.second_manual is not None:
        second = read_binary(paths.second_manual)
        _check_shape(second, shape, paths.second_manual, "2nd manual")
    return Sample(paths.sample_id, image, vessels, fov, second, paths.image)


def load_samples(paths: Sequence[SamplePaths]) -> list[Sample]:
    """Load many samples (see :func:`load_sample`)."""
    return [load_sample(p) for p in paths]


def validation_split(
    samples: Sequence[SamplePaths], count: int, seed: int
) -> tuple[list[SamplePaths], list[SamplePaths]]:
    """Hold out ``count`` samples for validation, chosen by a seeded shuffle of their ids.

    Args:
        samples: All training samples.
        count: How many to hold out (0 gives an empty validation set).
        seed: Seed of the shuffle; the same seed always holds out the same images.

    Returns:
        ``(train, validation)``, each sorted by sample id.
    """
    if not 0 <= count < len(samples):
        raise ValueError(f"validation count must be in [0, {len(samples) - 1}], got {count}")
    ids = sorted(s.sample_id for s in samples)
    held_out = set(random.Random(seed).sample(ids, count))
    train = [s for s in samples if s.sample_id not in held_out]
    validation = [s for s in samples if s.sample_id in held_out]
    return train, validation


def find_fov_mask(image_path: str | Path) -> Path | None:
    """The FOV mask of an image in a DRIVE-layout folder (``.../images/x.tif`` + ``.../mask/``).

    Matching follows :func:`find_samples`, so ``01_test.tif`` finds
    ``mask/01_test_mask.gif``.

    Returns:
        The mask file, or ``None`` when the image is not in such a folder (the engine then
        estimates the FOV).
    """
    image_path = Path(image_path)
    split_dir = image_path.parent.parent
    if image_path.parent.name != IMAGES_DIR or not (split_dir / MASK_DIR).is_dir():
        return None
    try:
        samples = find_samples(split_dir, require_manual=False, require_mask=False)
    except UserInputError:
        return None
    target = image_path.resolve()
    return next((s.mask for s in samples if s.image.resolve() == target), None)
