"""Measurements that mean the same on every camera, their units, and the quality gate.

The invariance tests run the shipped model on real DRIVE photographs at 1x, 2x and 3x their
size and turned by 90 degrees; the quality tests use every photograph in ``data/`` and degraded
copies of one.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.constants import RETINA_UM_PER_DEGREE, WORKING_FOV_DIAMETER
from runtime.errors import UserInputError
from runtime.fov import estimate_fov
from runtime.imageio import read_binary, read_rgb, write_png
from runtime.measurements import MEASUREMENTS, measure_map
from runtime.provenance import is_product_output
from runtime.quality import BLURRED, NO_FOV, NOT_FUNDUS, OVEREXPOSED, TOO_DARK, assess
from runtime.units import Scale, scale_from_options
from tests.conftest import DRIVE, REPO, fundus_like

SHIPPED = REPO / "saved_models" / "any_camera_unet_w16" / "any_camera_unet_w16.onnx"
LENGTHS = ("skeleton_length", "mean_width")


def resized(image: np.ndarray, factor: int) -> np.ndarray:
    height, width = image.shape[:2]
    return cv2.resize(image, (width * factor, height * factor), interpolation=cv2.INTER_CUBIC)


# ------------------------------------------------------------------------------------ units


def test_scale_converts_working_pixels_to_micrometres():
    scale = Scale()  # 45 degrees.
    um_per_pixel = 45 * RETINA_UM_PER_DEGREE / WORKING_FOV_DIAMETER
    assert um_per_pixel == pytest.approx(24.04, abs=0.01)
    assert scale.convert("width", 3.0, WORKING_FOV_DIAMETER, 1.0) == pytest.approx(3 * um_per_pixel)
    length = scale.convert("length", 10_000.0, WORKING_FOV_DIAMETER, 0.5)
    assert length == pytest.approx(10_000 * um_per_pixel / 1000)  # mm; factor plays no part.
    # A known pixel size refers to the photograph's pixels: 2x larger photo, half the factor.
    pixel = Scale(fov_degrees=None, pixel_size_um=10.0)
    assert pixel.convert("width", 4.0, WORKING_FOV_DIAMETER, 0.5) == pytest.approx(80.0)
    relative = Scale.relative()
    assert relative.convert("length", 1078.0, 539.0, 1.0) == pytest.approx(2.0)
    assert relative.convert("width", 5.39, 539.0, 1.0) == pytest.approx(10.0)  # per mille
    assert [scale.unit(d).symbol for d in ("length", "width")] == ["mm", "µm"]
    assert relative.unit("width").symbol == "‰ FOV diameter"


def test_scale_options_and_their_errors():
    assert scale_from_options() == Scale(fov_degrees=45.0)
    assert scale_from_options(50.0).describe().startswith("50° field of view")
    assert scale_from_options(pixel_size_um=6.5).describe() == "pixel size 6.5 µm"
    assert not scale_from_options(relative=True).physical
    for bad in (0.0, -3.0, math.nan, 400.0):
        with pytest.raises(UserInputError, match="field of view"):
            Scale(fov_degrees=bad)
    with pytest.raises(UserInputError, match="FOV-relative"):
        scale_from_options(45.0, relative=True)
    assert Scale.from_dict(Scale(fov_degrees=None, pixel_size_um=3.0).as_dict()).pixel_size_um == 3


def test_every_measurement_names_its_unit_in_the_csv_and_the_panel():
    physical, relative = Scale(), Scale.relative()
    columns = {m.key: m.column(physical) for m in MEASUREMENTS}
    assert columns["vessel_density"] == "vessel_density_pct"
    assert columns["skeleton_length"] == "skeleton_length_mm"
    assert columns["mean_width"] == "mean_width_um"
    assert {m.key: m.column(relative) for m in MEASUREMENTS}["mean_width"].endswith("_fovd")
    for m in MEASUREMENTS:
        assert m.unit(physical) or m.dimension == "", m.key
        assert m.title(physical).startswith(m.label)


def test_manual_annotation_measured_at_the_working_scale_is_rotation_invariant():
    """The DRIVE manual map of 02_test and the same map turned by 90 degrees."""
    manual = read_binary(DRIVE / "test" / "1st_manual" / "02_manual1.gif").astype(np.float32)
    fov = read_binary(DRIVE / "test" / "mask" / "02_test_mask.gif")
    base = measure_map(manual, fov, 0.5)
    turned = measure_map(np.rot90(manual).copy(), np.rot90(fov).copy(), 0.5)
    for m in MEASUREMENTS:
        assert turned[m.key] == pytest.approx(base[m.key], rel=0.02), m.key
    assert base["vessel_density"] == pytest.approx(15.0, abs=0.1)  # % of the FOV.
    assert 60 < base["mean_width"] < 90  # µm: DRIVE's vessels are 1-10 px of about 24 µm.


def test_measurements_do_not_depend_on_the_models_working_scale():
    """A model working at 768 px and one at DRIVE's 539 px that draw the same vessels report
    the same numbers: maps are measured at ``MEASUREMENT_FOV_DIAMETER``, where the pixel
    constants (spurs, junction merges) were chosen, not at the model's scale."""
    from runtime.engine import VesselEngine
    from runtime.model_card import ModelCard
    from runtime.predictors import CallablePredictor

    manual = read_binary(DRIVE / "test" / "1st_manual" / "02_manual1.gif")
    fov = read_binary(DRIVE / "test" / "mask" / "02_test_mask.gif")
    photo = np.zeros((*manual.shape, 3), np.uint8)  # Red FOV, vessels dark in green.
    photo[fov] = (200, 120, 50)
    photo[manual & fov, 1] = 20

    def model(batch: np.ndarray) -> np.ndarray:  # Follows the vessels at any scale.
        red, green = batch[..., 0], batch[..., 1]
        drawn = np.clip((120.0 - green) / 100.0, 0.0, 1.0) * (red > 150)
        return drawn[..., None].astype(np.float32)

    values = {}
    for diameter in (WORKING_FOV_DIAMETER, 768.0):
        card = ModelCard(threshold=0.5, model={"multiple": 16})
        card.data["working_fov_diameter"] = diameter
        engine = VesselEngine(CallablePredictor("fake", 16, model), card)
        result = engine.segment(photo, fov)
        assert result.scale == pytest.approx(diameter / WORKING_FOV_DIAMETER, rel=0.01)
        values[diameter] = result.measure()
    base, large = values[WORKING_FOV_DIAMETER], values[768.0]
    # Measured at the model's 768 px instead (the 539 px constants meaning less there), the
    # fractal dimension moved by 0.026 and the branch points by +11.5 %; the round trip through
    # 768 px alone moves them by 0.001 and -3 %.
    assert abs(large["fractal_dimension"] - base["fractal_dimension"]) < 0.01
    assert large["branch_points"] == pytest.approx(base["branch_points"], rel=0.06)
    for key in ("vessel_density", "skeleton_length", "mean_width", "tortuosity"):
        assert large[key] == pytest.approx(base[key], rel=0.05), key


@pytest.mark.e2e
@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not in the checkout")
@pytest.mark.parametrize("image_id", ["02", "19"])
def test_same_photograph_at_1x_2x_3x_and_turned_gives_the_same_measurements(image_id):
    from runtime.engine import VesselEngine

    engine = VesselEngine.open(SHIPPED, provider="cpu")
    photo = read_rgb(DRIVE / "test" / "images" / f"{image_id}_test.tif")
    base = engine.segment(photo).measure()
    assert base["skeleton_length"] > 100 and base["mean_width"] > 30  # mm, µm
    for factor in (2, 3):
        bigger = engine.segment(resized(photo, factor))
        assert bigger.scale == pytest.approx(1 / factor, rel=0.05)
        values = bigger.measure()
        for key in LENGTHS:
            assert values[key] == pytest.approx(base[key], rel=0.05), (factor, key)
        assert abs(values["fractal_dimension"] - base["fractal_dimension"]) < 0.03
        assert values["vessel_density"] == pytest.approx(base["vessel_density"], rel=0.05)
    turned = engine.segment(np.rot90(photo).copy()).measure()
    for key in (*LENGTHS, "vessel_density", "fractal_dimension", "tortuosity"):
        assert turned[key] == pytest.approx(base[key], rel=0.02), key


@pytest.mark.e2e
@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped model is not in the checkout")
def test_with_tta_every_measurement_of_a_turned_or_mirrored_photograph_is_within_2_percent():
    """TTA makes the map turn with the photograph; branch points are then exactly equal."""
    from runtime.engine import VesselEngine

    engine = VesselEngine.open(SHIPPED, provider="cpu", tta=True)
    photo = read_rgb(DRIVE / "test" / "images" / "02_test.tif")
    base = engine.segment(photo).measure()
    for view in (np.rot90(photo), photo[:, ::-1]):
        values = engine.segment(np.ascontiguousarray(view)).measure()
        assert values["branch_points"] == base["branch_points"]
        for m in MEASUREMENTS:
            assert values[m.key] == pytest.approx(base[m.key], rel=0.02), m.key


# ---------------------------------------------------------------------------------- quality


def _real_photographs() -> list[Path]:
    data = REPO / "data"
    return (
        sorted(
            [*(DRIVE / "test" / "images").glob("*.tif"), *(data / "STARE" / "images").glob("*")]
        )[::3]
        + sorted((data / "HRF" / "images").glob("*"))[::9]
    )


@pytest.mark.parametrize("path", _real_photographs(), ids=lambda p: p.name)
def test_real_fundus_photographs_pass_the_quality_gate(path):
    image = read_rgb(path)
    quality = assess(image, estimate_fov(image))
    assert quality.ok, (path.name, quality)
    assert quality.flag == "ok"


def test_the_quality_gate_rejects_what_is_not_a_gradable_fundus_photograph(tmp_path):
    photo = read_rgb(DRIVE / "test" / "images" / "01_test.tif")
    manual = read_binary(DRIVE / "test" / "1st_manual" / "01_manual1.gif")
    logo = np.full((300, 400, 3), 255, np.uint8)
    cv2.putText(logo, "LOGO", (40, 180), cv2.FONT_HERSHEY_SIMPLEX, 4, (20, 60, 200), 12)
    cases = {
        "black": (np.zeros((400, 400, 3), np.uint8), {NO_FOV, TOO_DARK, NOT_FUNDUS}),
        "dark": ((photo * 0.15).astype(np.uint8), {TOO_DARK}),
        "overexposed": (np.clip(photo.astype(int) * 3, 0, 255).astype(np.uint8), {OVEREXPOSED}),
        "blurred": (cv2.GaussianBlur(photo, (0, 0), 3), {BLURRED}),
        "grey": (np.repeat(photo[..., 1:2], 3, axis=2), {NOT_FUNDUS}),
        "own mask": (np.repeat(manual[..., None], 3, axis=2).astype(np.uint8) * 255, {NOT_FUNDUS}),
        "logo": (logo, {NO_FOV}),
    }
    for name, (image, expected) in cases.items():
        quality = assess(image, estimate_fov(image))
        assert expected <= set(quality.problems), (name, quality)
        assert quality.flag.startswith("rejected: ")
    assert assess(fundus_like(), estimate_fov(fundus_like())).ok


def test_a_rejected_photograph_gets_no_measurements():
    from tests.test_desktop_core import fake_engine

    result = fake_engine().segment(np.zeros((64, 64, 3), np.uint8))
    assert not result.accepted and result.measure() == {}


def test_the_products_own_outputs_are_recognised(tmp_path):
    image = fundus_like(64)
    write_png(tmp_path / "eye_overlay.png", image)
    write_png(tmp_path / "renamed.png", image, {"Software": "drive-vessel-unet"})
    write_png(tmp_path / "photo.png", image)
    assert is_product_output(tmp_path / "eye_overlay.png")
    assert is_product_output(tmp_path / "renamed.png")
    assert not is_product_output(tmp_path / "photo.png")


def test_resume_needs_the_same_model_backend_threshold_and_scale():
    from dataclasses import replace

    from runtime.provenance import RunSettings

    base = RunSettings(
        model="m.onnx",
        model_name="m",
        model_version="1",
        model_sha256="ab" * 32,
        threshold=0.5,
        tta=False,
        rescale=True,
        scale=Scale().describe(),
        runtime="onnxruntime CPU",
    )
    recorded = base.as_dict()
    assert base.matches(recorded)
    assert base.matches({**recorded, "model_version": "2", "training_sets": ["X"]})  # Not results.
    for change in (
        {"model_sha256": "cd" * 32},
        {"runtime": "openvino CPU bf16"},  # Another backend/precision: slightly other maps.
        {"threshold": 0.4},
        {"tta": True},
        {"rescale": False},
        {"scale": Scale.relative().describe()},
    ):
        assert not replace(base, **change).matches(recorded), change
    assert not base.matches(None)
    assert not base.matches({key: value for key, value in recorded.items() if key != "runtime"})
