"""Image reading: documented conversions and one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from runtime.errors import ImageReadError
from runtime.imageio import read_binary, read_rgb, write_png
from tests.conftest import DRIVE


def test_reads_drive_tiff_and_gifs():
    image = read_rgb(DRIVE / "training" / "images" / "21_training.tif")
    assert image.shape == (584, 565, 3) and image.dtype == np.uint8
    manual = read_binary(DRIVE / "training" / "1st_manual" / "21_manual1.gif")
    assert manual.dtype == bool and manual.shape == (584, 565)
    assert manual.sum() == 24658
    assert read_binary(DRIVE / "training" / "mask" / "21_training_mask.gif").sum() == 225600


def test_second_manual_palette_gif_is_binarised_correctly():
    # DRIVE's 2nd-manual GIFs are palette images whose gray levels are 3 and 253.
    second = read_binary(DRIVE / "test" / "2nd_manual" / "01_manual2.gif")
    assert second.sum() == 28848


def test_gray_rgba_16bit_and_float_conversions(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    Image.fromarray(gray).save(tmp_path / "gray.png")
    out = read_rgb(tmp_path / "gray.png")
    assert out.shape == (3, 4, 3) and (out[..., 0] == gray).all() and (out[..., 2] == gray).all()

    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    assert (read_rgb(tmp_path / "rgba.png") == [200, 0, 0]).all()

    deep = np.full((2, 3), 65535, np.uint16)
    deep[0, 0] = 0
    Image.fromarray(deep).save(tmp_path / "deep.png")
    out = read_rgb(tmp_path / "deep.png")
    assert out[0, 0].tolist() == [0, 0, 0] and out[1, 1].tolist() == [255, 255, 255]


def test_16bit_rgb_png_keeps_its_high_byte(tmp_path):
    import cv2

    rgb16 = np.zeros((2, 2, 3), np.uint16)
    rgb16[..., 0] = 65535  # red at full scale
    rgb16[..., 2] = 257 * 100  # blue at 100/255
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[..., ::-1])  # OpenCV writes BGR
    out = read_rgb(tmp_path / "rgb16.png")
    assert out[0, 0].tolist() == [255, 0, 100]


def test_exif_orientation_is_applied(tmp_path):
    array = np.zeros((2, 4, 3), np.uint8)  # 2 rows, 4 columns
    image = Image.fromarray(array)
    exif = image.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    image.save(tmp_path / "rotated.jpg", exif=exif)
    assert read_rgb(tmp_path / "rotated.jpg").shape == (4, 2, 3)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "file not found"),
        (b"", "file is empty"),
        (b"this is not an image at all", "not an image file"),
    ],
)
def test_bad_files_give_one_line_errors(tmp_path, content, problem):
    path = tmp_path / "bad file é.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ImageReadError) as info:
        read_rgb(path)
    message = str(info.value)
    assert str(path) in message and problem in message and "\n" not in message


def test_truncated_file_is_reported(tmp_path):
    source = DRIVE / "test" / "images" / "01_test.tif"
    Image.open(source).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageReadError, match=r"cut\.png: cannot decode image"):
        read_rgb(tmp_path / "cut.png")


def test_folder_is_not_an_image(tmp_path):
    with pytest.raises(ImageReadError, match="is a folder"):
        read_rgb(tmp_path)


def test_write_png_round_trip(tmp_path):
    mask = np.array([[True, False], [False, True]])
    write_png(tmp_path / "sub" / "mask.png", mask)
    assert (np.asarray(Image.open(tmp_path / "sub" / "mask.png")) == mask * 255).all()
    assert (read_binary(tmp_path / "sub" / "mask.png") == mask).all()
    with pytest.raises(ValueError, match="uint8 or bool"):
        write_png(tmp_path / "x.png", mask.astype(np.float32))
