"""Training on several data sets: mixing by weight, soft labels, bad data, leave-one-set-out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("tensorflow")

from keras_unet import train as train_cli
from runtime.constants import VALIDATION_SEED
from runtime.datasets import Sample, make_splits
from runtime.reports import write_json
from tests.conftest import REPO, TINY_TRAIN_FLAGS

STARE = REPO / "data" / "STARE"
#: Crop window (top, left, size) inside the FOV of the STARE images.
STARE_CROP = (250, 300, 96)


def _flat_sample(name: str, value: float, size: int = 48) -> Sample:
    image = np.full((size, size, 3), 128, np.uint8)
    return Sample(
        name, image, np.full((size, size), value, np.float32), np.ones((size, size), bool)
    )


def test_mixing_follows_the_set_weights_and_keeps_soft_labels():
    from keras_unet.data.pipeline import Augmentation, patch_dataset

    sets = {"A": [_flat_sample("a", 1.0)], "B": [_flat_sample("b", 0.25)]}
    ds = patch_dataset(
        sets, 16, 50, seed=3, augmentation=Augmentation.none(), weights={"A": 3, "B": 1}
    )
    labels = np.concatenate([batch[1].numpy() for batch in ds.take(8)])
    means = labels.reshape(len(labels), -1).mean(axis=1)
    soft = means[means < 1.0]
    np.testing.assert_allclose(soft, 0.25, atol=1 / 255)  # Soft labels stay soft (to 1/255).
    assert np.mean(means == 1.0) == pytest.approx(0.75, abs=0.06)


def test_camera_augmentation_is_deterministic_and_in_range():
    from keras_unet.data.pipeline import AUGMENTATIONS, patch_dataset

    sample = _flat_sample("a", 0.5, 96)
    sample.image = np.random.default_rng(0).integers(0, 256, (96, 96, 3)).astype(np.uint8)

    def first() -> np.ndarray:
        ds = patch_dataset([sample], 32, 8, seed=1, augmentation=AUGMENTATIONS["camera"])
        return next(iter(ds))

    (x1, y1), (x2, _) = first(), first()
    assert np.array_equal(x1.numpy(), x2.numpy())
    assert x1.numpy().min() >= 0.0 and x1.numpy().max() <= 255.0
    assert y1.numpy().min() >= 0.0 and y1.numpy().max() <= 1.0


def make_stare_crops(root: Path, count: int = 8) -> Path:
    """A uniform-layout STARE of ``count`` crops (with the second annotator) under ``root``."""
    top, left, size = STARE_CROP
    ids = sorted(p.stem for p in (STARE / "images").iterdir())[:count]
    for sub in ("images", "manual", "manual2", "mask"):
        (root / "STARE" / sub).mkdir(parents=True, exist_ok=True)
        for sid in ids:
            with Image.open(STARE / sub / f"{sid}.png") as image:
                image.crop((left, top, left + size, top + size)).save(
                    root / "STARE" / sub / f"{sid}.png"
                )
    return root / "STARE"


@pytest.fixture(scope="module")
def two_sets(drive_crops: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root with DRIVE crops and STARE crops, and its recorded splits."""
    root = tmp_path_factory.mktemp("two_sets")
    shutil.copytree(drive_crops, root / "DRIVE")
    make_stare_crops(root)
    write_json(root / "splits.json", make_splits(root, VALIDATION_SEED))
    return root


def _train_argv(root: Path, runs: Path, *extra: str) -> list[str]:
    return ["--data", str(root), "--runs-dir", str(runs), *TINY_TRAIN_FLAGS, *extra]


def test_bad_data_stops_training_before_it_starts(two_sets, tmp_path, capsys):
    root = tmp_path / "root"
    shutil.copytree(two_sets, root)
    runs = tmp_path / "runs"

    def error(*extra: str) -> str:
        assert train_cli.main(_train_argv(root, runs, *extra)) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "Traceback" not in err
        assert not runs.exists()  # Nothing was written.
        return err

    assert error("--datasets", "DRIVE,HRF") == f"error: {root / 'HRF'}: data set HRF not found"
    splits = json.loads((root / "splits.json").read_text())["sets"]["STARE"]
    first = splits["train"][0]
    label = root / "STARE" / "manual" / f"{first}.png"
    Image.new("L", (10, 12)).save(label)
    assert error("--datasets", "DRIVE,STARE") == (
        f"error: {label}: manual is 10x12, image is 96x96"
    )
    label.unlink()
    image = root / "STARE" / "images" / f"{first}.png"
    assert error("--datasets", "STARE") == (
        f"error: {image}: no matching manual annotation in {root / 'STARE' / 'manual'}"
    )


@pytest.mark.e2e
def test_leave_one_set_out_scores_the_held_out_test_split(two_sets, tmp_path):
    from keras_unet import lodo

    out = tmp_path / "lodo"
    argv = [
        *_train_argv(two_sets, tmp_path / "runs"),
        "--datasets",
        "DRIVE,STARE",
        "--held-out",
        "STARE",
        "--out",
        str(out),
    ]
    assert lodo.main(argv) == 0
    result = json.loads((out / "lodo.json").read_text())
    (row,) = result["rows"]
    splits = json.loads((two_sets / "splits.json").read_text())["sets"]
    assert row["held_out"] == "STARE" and row["trained_on"] == ["DRIVE"]
    assert row["images"] == len(splits["STARE"]["test"])
    assert 0.0 <= row["f1"] <= 1.0 and 0.0 < row["second_observer_f1"] <= 1.0
    card = json.loads((tmp_path / "runs" / "lodo_without_STARE" / "config.json").read_text())
    assert list(card["data"]["train_ids"]) == ["DRIVE"]  # STARE never reached training.
    metrics = json.loads((out / "STARE" / "metrics.json").read_text())
    assert metrics["split"] == "STARE test"
    assert "| STARE | DRIVE |" in (out / "lodo.md").read_text()
    from keras_unet import compare

    rows = compare.score_runs(
        [tmp_path / "runs" / "lodo_without_STARE"], two_sets, ["DRIVE", "STARE"], "validation"
    )
    assert rows[0]["trained_on"] == ["DRIVE"] and set(rows[0]["sets"]) == {"DRIVE", "STARE"}
    assert rows[0]["mean_f1"] == pytest.approx(
        (rows[0]["sets"]["DRIVE"]["f1"] + rows[0]["sets"]["STARE"]["f1"]) / 2
    )
    assert "| lodo_without_STARE | 539 |" in compare.scores_to_markdown(rows, "validation")
