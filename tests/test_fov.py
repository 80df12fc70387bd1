"""FOV estimation against DRIVE's hand-made masks, synthetic discs and degenerate photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.fov import estimate_fov, fov_diameter
from runtime.imageio import read_binary, read_rgb

TEST_DIR = Path(__file__).resolve().parents[1] / "data" / "DRIVE" / "test"
TEST_IDS = [f"{i:02d}" for i in range(1, 21)]


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.count_nonzero(a & b) / np.count_nonzero(a | b))


@pytest.fixture(scope="module")
def drive_test() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(id, RGB image, given FOV mask) of the 20 DRIVE test images."""
    if not TEST_DIR.is_dir():
        pytest.skip(f"DRIVE test images not found in {TEST_DIR}")
    return [
        (
            sid,
            read_rgb(TEST_DIR / "images" / f"{sid}_test.tif"),
            read_binary(TEST_DIR / "mask" / f"{sid}_test_mask.gif"),
        )
        for sid in TEST_IDS
    ]


def synthetic_fundus(
    shape: tuple[int, int] = (300, 340), radius: int = 120, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """An orange disc with vignetting and a few dark 'vessels' on a noisy black surround."""
    rng = np.random.default_rng(seed)
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    r = np.hypot(yy - h / 2, xx - w / 2)
    disc = r <= radius
    shade = np.clip(1.0 - 0.5 * (r / radius) ** 2, 0, 1)  # Rim at half the centre's brightness.
    image = np.zeros((h, w, 3), np.float64)
    image[disc] = np.array([200.0, 100.0, 40.0]) * shade[disc, None]
    for angle in (0.3, 1.4, 2.5):  # Dark lines across the disc, like vessels.
        x0, y0 = w / 2, h / 2
        x1, y1 = x0 + radius * np.cos(angle), y0 + radius * np.sin(angle)
        cv2.line(image, (int(x0), int(y0)), (int(x1), int(y1)), (60.0, 20.0, 10.0), 3)
    image = np.clip(image + rng.normal(0.0, 3.0, image.shape), 0, 255).astype(np.uint8)
    return image, disc


def test_drive_test_images_match_their_masks(drive_test):
    ious = {sid: iou(estimate_fov(image), mask) for sid, image, mask in drive_test}
    worst = min(ious, key=ious.get)
    print(f"FOV IoU on DRIVE test: min {ious[worst]:.4f} (image {worst})")
    assert len(ious) == 20
    assert ious[worst] >= 0.95, ious


def test_dark_and_bright_exposures_still_match(drive_test):
    _, image, mask = drive_test[0]
    dark = (image.astype(np.float64) * 0.25).astype(np.uint8)  # Retina at 20-60 grey levels.
    bright = np.clip(image.astype(np.float64) * 1.8 + 30, 0, 255).astype(np.uint8)
    assert iou(estimate_fov(dark), mask) >= 0.95
    assert iou(estimate_fov(bright), mask) >= 0.95


def test_drive_fov_diameter(drive_test):
    diameters = [fov_diameter(mask) for _, _, mask in drive_test]
    assert all(520 <= d <= 560 for d in diameters), diameters


def test_synthetic_disc_on_black():
    image, disc = synthetic_fundus()
    fov = estimate_fov(image)
    assert fov.dtype == np.bool_ and fov.shape == disc.shape
    assert iou(fov, disc) >= 0.99
    assert fov_diameter(fov) == pytest.approx(241, abs=3)


def test_disc_cut_at_top_and_bottom():
    image, disc = synthetic_fundus(shape=(200, 300), radius=130)
    fov = estimate_fov(image)
    assert iou(fov, disc) >= 0.99
    assert fov_diameter(fov) == pytest.approx(261, abs=3)  # The width, not the 200 px height.


def test_grey_and_rgba_images_are_accepted():
    image, disc = synthetic_fundus()
    assert iou(estimate_fov(image[:, :, 0]), disc) >= 0.99
    rgba = np.dstack([image, np.full(disc.shape, 255, np.uint8)])
    assert iou(estimate_fov(rgba), disc) >= 0.99


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((120, 160, 3), np.uint8),  # Blank.
        np.full((120, 160, 3), 255, np.uint8),  # All white.
        np.full((120, 160, 3), 128, np.uint8),  # Flat grey.
        np.random.default_rng(1).integers(150, 256, (120, 160, 3)).astype(np.uint8),  # Bright.
    ],
    ids=["blank", "white", "grey", "bright-texture"],
)
def test_degenerate_images_give_a_full_mask(image):
    fov = estimate_fov(image)
    assert fov.shape == image.shape[:2] and fov.all()


def test_bright_crop_without_surround_gives_a_full_mask(drive_test):
    _, image, _ = drive_test[0]
    crop = image[150:430, 150:410]  # Inside the retina: no black surround anywhere.
    assert estimate_fov(crop).all()


def test_tiny_bright_spot_is_not_a_fov():
    image = np.zeros((200, 200, 3), np.uint8)
    image[100:110, 100:110] = 255
    assert estimate_fov(image).all()


def test_fov_diameter_of_simple_masks():
    fov = np.zeros((50, 80), bool)
    fov[10:30, 5:45] = True
    assert fov_diameter(fov) == 40.0
    assert fov_diameter(fov.astype(np.uint8) * 255) == 40.0
    assert fov_diameter(np.zeros((5, 5), bool)) == 0.0


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10, 3), np.float32), "uint8, got dtype float32"),
        (np.zeros((10, 10, 2), np.uint8), r"got shape \(10, 10, 2\)"),
        (np.zeros((2, 10, 10, 3), np.uint8), r"got shape \(2, 10, 10, 3\)"),
        (np.zeros((0, 10, 3), np.uint8), "no pixels"),
    ],
)
def test_bad_images_raise(image, message):
    with pytest.raises(ValueError, match=message):
        estimate_fov(image)


def test_fov_diameter_rejects_non_2d():
    with pytest.raises(ValueError, match=r"2-D array, got shape \(4, 4, 3\)"):
        fov_diameter(np.ones((4, 4, 3), bool))


def test_large_photographs_are_analysed_on_a_reduced_copy(drive_test):
    _, image, mask = drive_test[0]
    size = (3 * mask.shape[1], 3 * mask.shape[0])  # 1695 x 1752: above ANALYSIS_SIDE
    big = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    big_mask = cv2.resize(mask.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    fov = estimate_fov(big)
    assert fov.shape == big_mask.shape
    assert iou(fov, big_mask) >= 0.98
    assert fov_diameter(fov) == pytest.approx(3 * fov_diameter(mask), rel=0.02)
