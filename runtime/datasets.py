"""Find and load annotated fundus photographs: the two folder layouts and the data-set registry.

A split folder holds one of two layouts (:data:`LAYOUTS`), told apart by its annotation folder::

    DRIVE layout                                 uniform layout (STARE, HRF, LES-AV)
    images/      21_training.tif                 images/    im0001.png
    1st_manual/  21_manual1.gif  (ground truth)  manual/    im0001.png
    mask/        21_training_mask.gif (FOV)      mask/      im0001.png
    2nd_manual/  01_manual2.gif  (optional)      manual2/   im0001.png (optional)

Files are matched by their stem, or failing that by the part of the stem before the first
underscore (DRIVE's image number), so ``21_training.tif`` pairs with ``21_manual1.gif``.

The data sets the product knows (:data:`DATASETS`) live under one data root (``data/``), each with
a fixed train / validation / test split recorded in ``data/splits.json``
(:func:`make_splits` writes it by a seeded rule; :func:`split_samples` reads it).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import DatasetError, ImageReadError, UserInputError
from runtime.imageio import is_image_file, read_binary, read_rgb

IMAGES_DIR = "images"
MASK_DIR = "mask"


@dataclass(frozen=True)
class Layout:
    """Names of the annotation folders of one layout (images are always in ``images/``)."""

    name: str
    manual: str
    second_manual: str


#: The folder layouts, tried in this order: the first whose ``manual`` folder exists is used.
LAYOUTS: tuple[Layout, ...] = (
    Layout("DRIVE", "1st_manual", "2nd_manual"),
    Layout("uniform", "manual", "manual2"),
)


def detect_layout(split_dir: Path) -> Layout:
    """The layout of a split folder (DRIVE's when it has no annotation folder at all)."""
    for layout in LAYOUTS:
        if (split_dir / layout.manual).is_dir():
            return layout
    return LAYOUTS[0]


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
    """List the samples of a split folder in either layout.

    Args:
        split_dir: Folder with ``images/`` and usually ``1st_manual/`` or ``manual/``, ``mask/``.
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
        raise DatasetError(f"{split_dir}: no '{IMAGES_DIR}/' folder (see data/README.md)")
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

    layout = detect_layout(split_dir)
    manuals = listing(layout.manual, require_manual)
    masks = listing(MASK_DIR, require_mask)
    seconds = listing(layout.second_manual, False)
    samples = []
    for image in images:
        manual = _match(image, manuals, "manual")
        mask = _match(image, masks, "mask")
        if manual is None and require_manual:
            raise DatasetError(
                f"{image}: no matching manual annotation in {split_dir / layout.manual}"
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


@dataclass(frozen=True)
class DataSet:
    """One annotated data set under the data root.

    Attributes:
        name: The name users type (``--dataset STARE``).
        folder: Its folder under the data root.
        camera: Camera, field angle and population, for reports.
        folders: For sets published with official splits (DRIVE): the sub-folder of each split
            (``validation`` is drawn from ``train``'s folder); ``None`` for a single folder
            split by :func:`make_splits`.
        group_by_suffix: Stratify the seeded split by the id's part after the last underscore
            (HRF: ``_h``, ``_dr``, ``_g``), so every split holds each group.
    """

    name: str
    folder: str
    camera: str
    folders: dict[str, str] | None = None
    group_by_suffix: bool = False


#: The data sets the product trains and is evaluated on (see data/README.md).
DATASETS: dict[str, DataSet] = {
    s.name: s
    for s in (
        DataSet(
            "DRIVE",
            "DRIVE",
            "Canon CR5, 45°, 565x584",
            folders={"train": "training", "validation": "training", "test": "test"},
        ),
        DataSet("STARE", "STARE", "TopCon TRV-50, 35°, 700x605"),
        DataSet("HRF", "HRF", "Canon CR-1, 45°, 3504x2336", group_by_suffix=True),
        DataSet("LES-AV", "LES-AV", "Zeiss Visucam, 30°/45°, 1620x1444"),
    )
}
#: The splits every set has; test images never reach training, selection or thresholds.
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: Share of each (group of a) set held out for test and for validation by :func:`make_splits`.
TEST_SHARE = 0.3
VALIDATION_SHARE = 0.15
SPLITS_FILE = "splits.json"


def get_dataset(name: str) -> DataSet:
    """The registered data set called ``name``.

    Raises:
        DatasetError: Unknown name (the message lists the known ones).
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown data set {name!r}; known: {', '.join(DATASETS)}")
    return DATASETS[name]


def _split_dir(root: Path, dataset: DataSet, split: str) -> Path:
    base = Path(root) / dataset.folder
    return base / dataset.folders[split] if dataset.folders else base


def make_splits(root: str | Path, seed: int) -> dict[str, Any]:
    """The split of every registered set found under ``root`` (others are left out), by a rule.

    DRIVE keeps its official test set, and :data:`runtime.constants.VALIDATION_IMAGES` of its
    training images (``seed``) are held out for validation. Every other set is shuffled with a
    generator seeded by ``(seed, set, group)`` and cut into :data:`TEST_SHARE` test,
    :data:`VALIDATION_SHARE` validation (at least one) and the rest train, group by group.

    Returns:
        ``{"seed", "rule", "sets": {name: {split: [ids]}}}``, the content of ``splits.json``.

    Raises:
        DatasetError: A set's folder is missing or laid out wrongly.
    """
    from runtime.constants import VALIDATION_IMAGES

    sets: dict[str, dict[str, list[str]]] = {}
    for dataset in DATASETS.values():
        if not (Path(root) / dataset.folder).is_dir():
            continue  # A root of the user's own may hold only some of the sets.
        if dataset.folders:
            training = find_samples(_split_dir(root, dataset, "train"))
            fit, held_out = validation_split(training, VALIDATION_IMAGES, seed)
            test = find_samples(_split_dir(root, dataset, "test"))
            sets[dataset.name] = {
                "train": [s.sample_id for s in fit],
                "validation": [s.sample_id for s in held_out],
                "test": [s.sample_id for s in test],
            }
            continue
        ids = [s.sample_id for s in find_samples(_split_dir(root, dataset, "train"))]
        groups: dict[str, list[str]] = {}
        for sample_id in ids:
            group = sample_id.rsplit("_", 1)[-1] if dataset.group_by_suffix else ""
            groups.setdefault(group, []).append(sample_id)
        split: dict[str, list[str]] = {name: [] for name in SPLITS}
        for group, members in sorted(groups.items()):
            members = sorted(members)
            random.Random(f"{seed}:{dataset.name}:{group}").shuffle(members)
            n_test = int(len(members) * TEST_SHARE + 0.5)
            n_val = max(1, int(len(members) * VALIDATION_SHARE + 0.5))
            split["test"] += members[:n_test]
            split["validation"] += members[n_test : n_test + n_val]
            split["train"] += members[n_test + n_val :]
        sets[dataset.name] = {name: sorted(values) for name, values in split.items()}
    return {
        "seed": seed,
        "rule": (
            f"DRIVE: official test set, {VALIDATION_IMAGES} training images held out for "
            f"validation (seed {seed}); other sets: per set (HRF: per group h/dr/g) a seeded "
            f"shuffle, {TEST_SHARE:.0%} test, {VALIDATION_SHARE:.0%} validation (at least 1), "
            "the rest train"
        ),
        "sets": sets,
    }


def read_splits(root: str | Path) -> dict[str, Any] | None:
    """The recorded splits of ``root`` (``<root>/splits.json``), or ``None`` when there are none.

    Raises:
        DatasetError: The file exists but cannot be read.
    """
    path = Path(root) / SPLITS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable splits file ({exc})") from None


def split_samples(
    root: str | Path,
    name: str,
    split: str,
    *,
    validation_images: int | None = None,
    seed: int | None = None,
) -> list[SamplePaths]:
    """The samples of one split of one registered set.

    The split recorded in ``<root>/splits.json`` is used. A root without that file (a folder
    of the user's own) gets the rule of :func:`make_splits` applied on the spot: for a set with
    official folders (DRIVE layout), ``validation_images`` of its training images held out with
    ``seed``; other sets need a recorded split.

    Args:
        root: The data root (``data``).
        name: A key of :data:`DATASETS`.
        split: ``train``, ``validation`` or ``test``.
        validation_images: Validation images of an unrecorded official split (default
            :data:`runtime.constants.VALIDATION_IMAGES`).
        seed: Seed of an unrecorded split (default :data:`runtime.constants.VALIDATION_SEED`).

    Raises:
        DatasetError: Unknown set or split, a set missing from the root or from the splits
            file, or a recorded id without its files (the message names them).
    """
    from runtime.constants import VALIDATION_IMAGES, VALIDATION_SEED

    dataset = get_dataset(name)
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    folder = _split_dir(root, dataset, split)
    if not Path(root, dataset.folder).is_dir():
        raise DatasetError(f"{Path(root, dataset.folder)}: data set {name} not found")
    found = find_samples(folder)
    recorded = read_splits(root)
    if recorded is None:
        if dataset.folders is None:
            raise DatasetError(
                f"{Path(root) / SPLITS_FILE}: no recorded splits for {name}; write them with "
                f"'python -m runtime.datasets --write-splits {root}'"
            )
        if split == "test":
            return found
        count = VALIDATION_IMAGES if validation_images is None else validation_images
        if not 0 <= count < len(found):
            raise DatasetError(
                f"{folder}: holding out {count} validation images leaves no training images "
                f"(found {len(found)}); choose --validation-images below {len(found)}"
            )
        fit, held_out = validation_split(found, count, VALIDATION_SEED if seed is None else seed)
        return fit if split == "train" else held_out
    ids = recorded.get("sets", {}).get(name, {}).get(split)
    if ids is None:
        raise DatasetError(f"{Path(root) / SPLITS_FILE}: no {split} split recorded for {name}")
    by_id = {s.sample_id: s for s in found}
    missing = [i for i in ids if i not in by_id]
    if missing:
        raise DatasetError(f"{folder}: {name} {split} images missing: {', '.join(missing)}")
    return [by_id[i] for i in ids]


def main(argv: list[str] | None = None) -> int:
    """``python -m runtime.datasets --write-splits data``: record the splits of a data root."""
    import argparse

    from runtime.constants import VALIDATION_SEED
    from runtime.errors import cli_errors

    parser = argparse.ArgumentParser(prog="python -m runtime.datasets", description=main.__doc__)
    parser.add_argument("--write-splits", metavar="ROOT", required=True, help="data root")
    parser.add_argument("--seed", type=int, default=VALIDATION_SEED, help="seed of the rule")
    args = parser.parse_args(argv)

    @cli_errors
    def run() -> int:
        from runtime.reports import write_json

        splits = make_splits(args.write_splits, args.seed)
        write_json(Path(args.write_splits) / SPLITS_FILE, splits)
        for name, split in splits["sets"].items():
            counts = ", ".join(f"{k} {len(v)}" for k, v in split.items())
            print(f"{name}: {counts}")
        return 0

    return run()


if __name__ == "__main__":
    raise SystemExit(main())
