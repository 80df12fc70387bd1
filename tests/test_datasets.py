"""The data-set registry, the recorded splits, both folder layouts and the working scale."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from runtime.constants import VALIDATION_SEED, WORKING_FOV_DIAMETER
from runtime.datasets import (
    DATASETS,
    SPLITS,
    detect_layout,
    find_samples,
    load_sample,
    make_splits,
    split_samples,
)
from runtime.errors import DatasetError
from runtime.scaling import resize_back, resize_fraction, resize_mask, working_scale
from tests.conftest import REPO

DATA = REPO / "data"


def test_recorded_splits_are_the_rule_and_disjoint():
    recorded = json.loads((DATA / "splits.json").read_text())
    assert recorded == make_splits(DATA, VALIDATION_SEED)  # Regenerating changes nothing.
    assert set(recorded["sets"]) == set(DATASETS)
    for name, split in recorded["sets"].items():
        ids = [i for part in SPLITS for i in split[part]]
        assert len(ids) == len(set(ids)), name  # No image in two splits.
        assert all(split[part] for part in SPLITS), name
    drive = recorded["sets"]["DRIVE"]
    assert drive["test"] == [f"{i:02d}" for i in range(1, 21)]
    assert drive["validation"] == ["21", "27", "32", "37"]
    hrf_test = recorded["sets"]["HRF"]["test"]
    assert sorted(i.rsplit("_", 1)[1] for i in hrf_test) == ["dr"] * 5 + ["g"] * 5 + ["h"] * 5


def test_every_recorded_image_has_its_files():
    for name in DATASETS:
        for split in SPLITS:
            samples = split_samples(DATA, name, split)
            assert samples and all(s.manual and s.mask for s in samples), (name, split)


def test_layouts_are_told_apart():
    assert detect_layout(DATA / "DRIVE" / "training").name == "DRIVE"
    assert detect_layout(DATA / "STARE").name == "uniform"
    stare = find_samples(DATA / "STARE")
    assert len(stare) == 20 and stare[0].second_manual.parent.name == "manual2"
    hrf = find_samples(DATA / "HRF")
    assert {s.sample_id for s in hrf} >= {"01_dr", "01_g", "01_h"}  # Stems, not "01".


def test_split_errors_name_the_problem(tmp_path):
    with pytest.raises(DatasetError, match="unknown data set 'CHASE'"):
        split_samples(DATA, "CHASE", "test")
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        split_samples(DATA, "DRIVE", "dev")
    with pytest.raises(DatasetError, match="data set STARE not found"):
        split_samples(tmp_path, "STARE", "train")
    shutil.copytree(DATA / "STARE", tmp_path / "STARE")
    with pytest.raises(DatasetError, match="no recorded splits for STARE"):
        split_samples(tmp_path, "STARE", "train")
    splits = make_splits(DATA, VALIDATION_SEED)
    (tmp_path / "splits.json").write_text(json.dumps(splits))
    first = splits["sets"]["STARE"]["test"][0]
    (tmp_path / "STARE" / "images" / f"{first}.png").unlink()
    with pytest.raises(DatasetError, match=f"STARE test images missing: {first}"):
        split_samples(tmp_path, "STARE", "test")


def test_too_many_validation_images_is_one_line(drive_crops):
    with pytest.raises(DatasetError, match="holding out 6 validation images leaves no training"):
        split_samples(drive_crops.parent, "DRIVE", "train", validation_images=6)
    fit = split_samples(drive_crops.parent, "DRIVE", "train", validation_images=2)
    assert len(fit) == 4


def test_working_scale_rule():
    fov = np.zeros((700, 700), bool)
    fov[10:660, 20:670] = True  # 650 px across, like STARE.
    assert working_scale(fov) == pytest.approx(WORKING_FOV_DIAMETER / 650)
    near = np.zeros((600, 600), bool)
    near[10:580, 20:580] = True  # 570 px: within the tolerance, used as it is.
    assert working_scale(near) == 1.0
    assert working_scale(np.zeros((10, 10), bool)) == 1.0


def test_labels_shrink_as_area_fractions():
    label = np.zeros((600, 600), bool)
    label[:, 300:302] = True  # A 2-px vessel of a large photograph.
    fraction = resize_fraction(label, 1 / 6)
    assert fraction.shape == (100, 100) and fraction.dtype == np.float32
    assert fraction.max() == pytest.approx(1 / 3) and fraction.min() == 0.0
    assert fraction.sum() == pytest.approx(label.sum() / 36, rel=1e-3)  # Area is kept.
    assert not resize_mask(label, 1 / 6).any()  # Thresholded, the vessel would vanish.
    probability = resize_back(fraction, 600, 600)
    assert probability.shape == (600, 600) and 0.0 <= probability.min() <= probability.max() <= 1


def test_real_samples_come_to_the_working_scale():
    from keras_unet.data.sets import at_working_scale

    sample = load_sample(split_samples(DATA, "HRF", "validation")[0])
    scaled = at_working_scale(sample, WORKING_FOV_DIAMETER)
    from runtime.fov import fov_diameter

    assert fov_diameter(scaled.fov) == pytest.approx(WORKING_FOV_DIAMETER, abs=2)
    assert scaled.vessels.dtype == np.float32 and 0 < scaled.vessels.max() <= 1
    share = scaled.vessels[scaled.fov].mean()
    assert share == pytest.approx(sample.vessels[sample.fov].mean(), rel=0.05)
    binary = at_working_scale(sample, WORKING_FOV_DIAMETER, labels="binary")
    assert binary.vessels.dtype == bool
