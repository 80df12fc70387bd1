"""Shared fixtures: DRIVE crops in DRIVE layout, and one tiny trained model for end-to-end tests."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DRIVE = REPO / "data" / "DRIVE"
#: Crop window (top, left, size) inside the FOV of every DRIVE image, holding several vessels.
CROP = (200, 180, 96)


def _crop(path: Path, top: int, left: int, size: int) -> Image.Image:
    image = Image.open(path)
    image.load()
    return image.crop((left, top, left + size, top + size))


def make_drive_crops(root: Path, training_ids: list[str], test_ids: list[str]) -> Path:
    """Write DRIVE-layout crops (TIFF images, GIF manuals and masks) under ``root``."""
    top, left, size = CROP
    for split, ids in (("training", training_ids), ("test", test_ids)):
        for sub in ("images", "1st_manual", "mask") + (("2nd_manual",) if split == "test" else ()):
            (root / split / sub).mkdir(parents=True, exist_ok=True)
        for sid in ids:
            src = DRIVE / split
            _crop(src / "images" / f"{sid}_{split}.tif", top, left, size).save(
                root / split / "images" / f"{sid}_{split}.tif"
            )
            _crop(src / "1st_manual" / f"{sid}_manual1.gif", top, left, size).save(
                root / split / "1st_manual" / f"{sid}_manual1.gif"
            )
            _crop(src / "mask" / f"{sid}_{split}_mask.gif", top, left, size).save(
                root / split / "mask" / f"{sid}_{split}_mask.gif"
            )
            if split == "test":
                _crop(src / "2nd_manual" / f"{sid}_manual2.gif", top, left, size).save(
                    root / split / "2nd_manual" / f"{sid}_manual2.gif"
                )
    return root


@pytest.fixture(scope="session", autouse=True)
def _user_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Gate records (per-machine facts) go to a temporary cache, never the user's."""
    from runtime.constants import CACHE_ENV

    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="session")
def drive_crops(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small DRIVE-layout data set: 6 training and 2 test crops of 96x96."""
    return make_drive_crops(
        tmp_path_factory.mktemp("drive_crops") / "DRIVE",
        ["21", "22", "23", "24", "25", "26"],
        ["01", "02"],
    )


@pytest.fixture(scope="session")
def tiny_run(drive_crops: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny U-Net trained for two short epochs on the crops (shared by the e2e tests)."""
    from keras_unet.train import train

    config = tiny_config(drive_crops, tmp_path_factory.mktemp("runs"), "tiny")
    return train(config, verbose=0)


@pytest.fixture(scope="session")
def tiny_export(
    tiny_run: Path, drive_crops: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The tiny model exported to every format (export folder ``tiny/``)."""
    pytest.importorskip("tf2onnx")
    from export.exporter import export_all

    out = tmp_path_factory.mktemp("export") / "tiny"
    export_all(
        tiny_run / "model.keras",
        out,
        data_dir=drive_crops.parent,
        calibration_count=3,
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def tiny_model(tiny_export: Path) -> Path:
    """The tiny model's ONNX file."""
    return tiny_export / "tiny.onnx"


#: ``keras_unet.train`` flags of a model small enough to train in seconds (one short epoch).
TINY_TRAIN_FLAGS: tuple[str, ...] = (
    "--filters",
    "4",
    "--depth",
    "2",
    "--epochs",
    "1",
    "--patches-per-epoch",
    "16",
    "--patch-size",
    "32",
    "--batch-size",
    "8",
    "--verbose",
    "0",
)


def tiny_config(data_dir: Path, runs_dir: Path, name: str, **overrides):
    """Settings of a model small enough to train in seconds."""
    from keras_unet.config import TrainConfig

    values = dict(
        data_dir=str(data_dir.parent),
        runs_dir=str(runs_dir),
        name=name,
        filters=4,
        depth=2,
        epochs=2,
        patches_per_epoch=16,
        patch_size=32,
        batch_size=8,
        validation_images=2,
    )
    values.update(overrides)
    return TrainConfig(**values)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def fundus_like(size: int = 560, seed: int = 0) -> np.ndarray:
    """A synthetic colour fundus photograph the quality gate accepts: an orange-red disc with
    dark vessel-like lines and fine texture on a black surround, ``(size, size, 3)`` uint8."""
    generator = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    centre = (size - 1) / 2
    disc = (yy - centre) ** 2 + (xx - centre) ** 2 <= (0.48 * size) ** 2
    image = np.array([170.0, 90.0, 50.0]) + generator.normal(0, 6, (size, size, 1))
    for k in range(1, 8):  # Curved dark lines across the disc.
        line = np.abs(yy - (k * size / 8 + 0.05 * size * np.sin(xx / size * 6 + k))) < 1 + k % 3
        image[line] *= 0.7
    image[~disc] = 0
    return np.clip(image, 0, 255).astype(np.uint8)


#: Fields that differ between two runs that made the same outputs (when they ran).
RUN_TIME_FIELDS = frozenset({"seconds", "date", "finished", "Creation Time"})


def png_content(path: Path) -> tuple:
    """A PNG's pixels and text chunks without its creation time: what two runs must share."""
    with Image.open(path) as image:
        image.load()
        text = {k: v for k, v in getattr(image, "text", {}).items() if k not in RUN_TIME_FIELDS}
        return image.mode, image.size, image.tobytes(), text
