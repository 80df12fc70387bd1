"""DRIVE discovery, validation split, channel statistics and the tf.data pipeline."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from keras_unet.data import channel_statistics
from runtime.constants import DRIVE_RGB_MEAN, DRIVE_RGB_STD, VALIDATION_IMAGES, VALIDATION_SEED
from runtime.datasets import (
    Sample,
    find_samples,
    load_sample,
    load_samples,
    validation_split,
)
from runtime.errors import DatasetError, ImageReadError
from tests.conftest import DRIVE


def test_finds_all_drive_triples():
    train = find_samples(DRIVE / "training")
    test = find_samples(DRIVE / "test")
    assert [s.sample_id for s in train] == [str(i) for i in range(21, 41)]
    assert [s.sample_id for s in test] == [f"{i:02d}" for i in range(1, 21)]
    assert train[0].manual.name == "21_manual1.gif"
    assert train[0].mask.name == "21_training_mask.gif"
    assert train[0].second_manual is None
    assert test[4].second_manual.name == "05_manual2.gif"


def test_validation_split_is_fixed_disjoint_and_never_touches_test():
    train = find_samples(DRIVE / "training")
    fit, val = validation_split(train, VALIDATION_IMAGES, VALIDATION_SEED)
    fit2, val2 = validation_split(train, VALIDATION_IMAGES, VALIDATION_SEED)
    assert [s.sample_id for s in val] == [s.sample_id for s in val2] == ["21", "27", "32", "37"]
    assert len(fit) == 16 and not {s.sample_id for s in fit} & {s.sample_id for s in val}
    assert [s.sample_id for s in fit] == [s.sample_id for s in fit2]
    with pytest.raises(ValueError, match="validation count"):
        validation_split(train, 20, 0)


def test_channel_statistics_match_the_constants():
    mean, std = channel_statistics(load_samples(find_samples(DRIVE / "training")))
    assert mean == pytest.approx(DRIVE_RGB_MEAN, abs=1e-3)
    assert std == pytest.approx(DRIVE_RGB_STD, abs=1e-3)


def test_missing_folders_and_unmatched_files_are_named(tmp_path, drive_crops):
    with pytest.raises(DatasetError, match="nowhere: data folder not found"):
        find_samples(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no 'images/' folder"):
        find_samples(tmp_path / "empty")
    broken = tmp_path / "broken"
    shutil.copytree(drive_crops / "training", broken)
    (broken / "1st_manual" / "22_manual1.gif").unlink()
    with pytest.raises(DatasetError, match=r"22_training\.tif: no matching manual annotation"):
        find_samples(broken)
    (broken / "mask" / "23_training_mask.gif").unlink()
    samples = find_samples(broken, require_manual=False, require_mask=False)
    assert samples[1].manual is None and samples[2].mask is None
    shutil.rmtree(broken / "mask")
    with pytest.raises(DatasetError, match="no 'mask/' folder"):
        find_samples(broken)


def test_mismatched_sizes_and_corrupt_files_are_reported(tmp_path, drive_crops):
    split = tmp_path / "split"
    shutil.copytree(drive_crops / "training", split)
    paths = find_samples(split)
    from PIL import Image

    Image.new("L", (10, 10)).save(paths[0].mask)
    with pytest.raises(ImageReadError, match=r"mask is 10x10, image is 96x96"):
        load_sample(paths[0])
    paths[1].image.write_bytes(b"GIF89a-but-broken")
    with pytest.raises(ImageReadError, match=r"22_training\.tif"):
        load_sample(paths[1])


def test_sample_without_mask_gets_a_full_fov(drive_crops, tmp_path):
    split = tmp_path / "nomask"
    shutil.copytree(drive_crops / "test", split)
    shutil.rmtree(split / "mask")
    sample = load_sample(find_samples(split, require_mask=False)[0])
    assert sample.fov.all() and sample.fov.shape == (96, 96)


# --- tf.data pipeline -------------------------------------------------------------------------


def _disc_sample(size: int = 200, radius: int = 50) -> Sample:
    yy, xx = np.mgrid[:size, :size]
    fov = (yy - size // 2) ** 2 + (xx - size // 2) ** 2 <= radius**2
    image = np.stack([yy % 256, xx % 256, np.full_like(yy, 128)], axis=-1).astype(np.uint8)
    return Sample("disc", image, fov.copy(), fov)


def test_patches_have_the_right_shapes_types_and_ranges(drive_crops):
    from keras_unet.data.pipeline import patch_dataset

    samples = load_samples(find_samples(drive_crops / "training"))
    x, y = next(iter(patch_dataset(samples, 32, 8, seed=3, patches_per_epoch=16)))
    assert x.shape == (8, 32, 32, 3) and y.shape == (8, 32, 32, 1)
    assert x.dtype.name == "float32" and y.dtype.name == "float32"
    x, y = x.numpy(), y.numpy()
    assert x.min() >= 0.0 and x.max() <= 255.0 and x.max() > 100
    assert set(np.unique(y)) <= {0.0, 1.0} and y.max() == 1.0


def test_patch_centres_lie_inside_the_fov():
    from keras_unet.data.pipeline import Augmentation, patch_dataset

    # The label equals the FOV, so each patch's centre pixel must be labelled 1; the image
    # encodes row/column, which locates the patch.
    sample = _disc_sample()
    ds = patch_dataset(
        [sample], 32, 64, seed=0, augmentation=Augmentation.none(), patches_per_epoch=256
    )
    for x, y in ds.take(4):
        assert (y.numpy()[:, 16, 16, 0] == 1.0).all()
        rows = x.numpy()[:, 16, 16, 0]
        assert rows.min() >= 100 - 50 and rows.max() <= 100 + 50


def test_pipeline_is_deterministic_and_resumes_exactly(drive_crops):
    from keras_unet.data.pipeline import patch_dataset

    samples = load_samples(find_samples(drive_crops / "training"))

    def batches(seed, start_epoch=0, count=4):
        ds = patch_dataset(samples, 32, 4, seed, patches_per_epoch=8, start_epoch=start_epoch)
        return [x.numpy() for x, _ in ds.take(count)]

    first, again, other = batches(1), batches(1), batches(2)
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert not np.array_equal(first[0], other[0])
    resumed = batches(1, start_epoch=1, count=2)
    assert np.array_equal(resumed[0], first[2]) and np.array_equal(resumed[1], first[3])


def test_augmentation_keeps_image_and_label_aligned():
    from keras_unet.data.pipeline import Augmentation, patch_dataset

    # Image red channel = 255 on the label, 0 elsewhere; geometry must move both together and
    # colour jitter must not push label pixels below the unlabelled ones.
    sample = _disc_sample()
    sample.vessels = np.zeros_like(sample.fov)
    sample.vessels[::7, :] = True
    sample.image[..., 0] = np.where(sample.vessels, 255, 0)
    ds = patch_dataset([sample], 32, 32, seed=5, augmentation=Augmentation(), patches_per_epoch=32)
    x, y = next(iter(ds))
    red, label = x.numpy()[..., 0], y.numpy()[..., 0] == 1.0
    assert red[label].min() > red[~label].max()


def test_patch_larger_than_image_is_refused():
    from keras_unet.data.pipeline import patch_dataset

    with pytest.raises(ValueError, match="exceeds the smallest image side"):
        patch_dataset([_disc_sample(size=20, radius=5)], 32, 4, seed=0)


def test_validation_dataset_pads_and_weights_by_fov(drive_crops):
    from keras_unet.data.pipeline import full_image_dataset

    samples = load_samples(find_samples(drive_crops / "training"))[:2]
    samples[0].fov[:10] = False
    samples[1].image, samples[1].vessels, samples[1].fov = (
        samples[1].image[:70],
        samples[1].vessels[:70],
        samples[1].fov[:70],
    )
    ds = full_image_dataset(samples, multiple=64, batch_size=3)
    batches = list(ds)
    assert len(batches) == 1 and ds.cardinality().numpy() == 1
    image, label, weight = (t.numpy()[:1] for t in batches[0])
    assert batches[0][0].shape == (3, 128, 128, 3)
    assert batches[0][2].numpy()[1].sum() == samples[1].fov.sum()
    assert batches[0][2].numpy()[2].sum() == 0  # blank filler for the third replica
    assert image.shape == (1, 128, 128, 3) and label.shape == weight.shape == (1, 128, 128, 1)
    assert weight[0, 96:].sum() == 0 and weight[0, :, 96:].sum() == 0  # padding weighs 0
    assert weight[0, :10].sum() == 0 and weight[0, :96, :96].sum() == samples[0].fov.sum()
