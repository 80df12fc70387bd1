"""A camera's threshold from a few annotated photographs (runtime.calibration, vessel-calibrate)
and its use by vessel-segment --calibration, run as a user runs them: subprocesses elsewhere."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from runtime.calibration import CALIBRATION_FORMAT, Calibration, calibrate
from runtime.datasets import find_samples
from runtime.errors import UserInputError
from runtime.metrics import binary_scores, confusion
from tests.conftest import DRIVE, REPO

MODEL = REPO / "saved_models" / "any_camera_unet_w16" / "any_camera_unet_w16.int8.onnx"
OTHER_MODEL = REPO / "saved_models" / "drive_unet_w16" / "drive_unet_w16.int8.onnx"


def _camera_folder(root, ids=("21", "22"), masks=True):
    """A user's folder: DRIVE training photographs with their manuals (uniform layout)."""
    for sub in ("images", "manual", "mask"):
        (root / sub).mkdir(parents=True)
    for sid in ids:
        shutil.copy(DRIVE / "training" / "images" / f"{sid}_training.tif", root / "images")
        manual = Image.open(DRIVE / "training" / "1st_manual" / f"{sid}_manual1.gif")
        manual.convert("L").save(root / "manual" / f"{sid}_training.png")
        if masks:
            mask = Image.open(DRIVE / "training" / "mask" / f"{sid}_training_mask.gif")
            mask.convert("L").save(root / "mask" / f"{sid}_training.png")
    return root


def _run(module, *args, cwd):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_calibration_picks_the_best_threshold_of_the_photographs(tmp_path):
    from runtime.engine import VesselEngine

    engine = VesselEngine.open(MODEL, provider="cpu", precision="int8", backend="onnxruntime")
    samples = find_samples(_camera_folder(tmp_path / "cam"), require_mask=False)
    calibration = calibrate(engine, samples, camera="DRIVE's Canon CR5")
    assert calibration.photographs == ("21", "22") and calibration.tta is False
    assert calibration.model_threshold == pytest.approx(engine.threshold)
    assert calibration.f1 >= calibration.model_threshold_f1 > 0.7
    # No other threshold does better on these photographs' FOV pixels.
    probabilities, truths = [], []
    for paths in samples:
        image = np.asarray(Image.open(paths.image).convert("RGB"))
        fov = np.asarray(Image.open(paths.mask)) > 127
        probabilities.append(engine.probability(image, fov).probability[fov])
        truths.append(np.asarray(Image.open(paths.manual)) > 127)
        truths[-1] = truths[-1][fov]
    probability, truth = np.concatenate(probabilities), np.concatenate(truths)
    for other in (0.2, 0.3, 0.4, 0.5, 0.6):
        f1 = binary_scores(confusion(probability >= other, truth))["f1"]
        assert calibration.f1 >= f1 - 1e-3
    path = tmp_path / "cam.json"
    calibration.save(path)
    assert json.loads(path.read_text())["format"] == CALIBRATION_FORMAT
    assert Calibration.load(path) == calibration


def test_calibration_file_errors_name_the_file(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(UserInputError, match=re.escape(f"{missing}: calibration file not found")):
        Calibration.load(missing)
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    with pytest.raises(UserInputError, match=re.escape(f"{garbage}: not a calibration file")):
        Calibration.load(garbage)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something else", "threshold": 0.4}))
    with pytest.raises(UserInputError, match=re.escape(f"{other}: not a calibration file")):
        Calibration.load(other)
    damaged = tmp_path / "damaged.json"
    damaged.write_text(json.dumps({"format": CALIBRATION_FORMAT, "threshold": 0.4}))
    with pytest.raises(UserInputError, match=re.escape(f"{damaged}: damaged calibration file")):
        Calibration.load(damaged)


def test_annotations_without_vessels_are_refused(tmp_path):
    from runtime.engine import VesselEngine

    folder = _camera_folder(tmp_path / "cam", ids=("21",))
    Image.new("L", Image.open(folder / "manual" / "21_training.png").size).save(
        folder / "manual" / "21_training.png"
    )
    engine = VesselEngine.open(MODEL, provider="cpu", precision="int8", backend="onnxruntime")
    with pytest.raises(UserInputError, match="no vessel pixel inside the FOV"):
        calibrate(engine, find_samples(folder, require_mask=False))


@pytest.mark.e2e
def test_calibrate_then_segment_with_it_as_a_user(tmp_path):
    cam = _camera_folder(tmp_path / "my camera", masks=False)  # FOV found by the engine.
    out = tmp_path / "cam.json"
    model = ("--model", MODEL, "--backend", "onnxruntime", "--precision", "int8")
    done = _run(
        "runtime.calibrate", cam, "--out", out, "--camera", "Canon CR5", *model, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    calibration = json.loads(out.read_text())
    assert done.stdout.startswith(f"threshold {calibration['threshold']:.4f} for Canon CR5: ")
    assert "note: 2 photograph(s) only" in done.stderr
    # Bound to the model's fp32 file, so it holds for the gated int8 variant that ran.
    assert calibration["model_file"] == "any_camera_unet_w16.onnx"
    assert calibration["photographs"] == ["21", "22"]

    again = _run("runtime.calibrate", cam, "--out", out, *model, cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.strip().endswith("--overwrite to replace it)")
    assert json.loads(out.read_text()) == calibration  # Not overwritten.

    photo = cam / "images" / "21_training.tif"
    fp32 = ("--model", MODEL, "--backend", "onnxruntime", "--precision", "fp32")
    seg = _run(
        "runtime.segment",
        photo,
        "--out",
        tmp_path / "seg",
        "--calibration",
        out,
        *fp32,  # The fp32 variant of the model it was calibrated on (int8).
        cwd=tmp_path,
    )
    assert seg.returncode == 0, seg.stderr
    start = seg.stderr.splitlines()[0]
    assert f"threshold {calibration['threshold']:.4f} (calibrated: Canon CR5)" in start
    settings = json.loads((tmp_path / "seg" / "measurements.json").read_text())["settings"]
    assert settings["threshold"] == pytest.approx(calibration["threshold"])

    both = _run(
        "runtime.segment",
        photo,
        "--out",
        tmp_path / "x",
        "--calibration",
        out,
        "--threshold",
        "0.5",
        *model,
        cwd=tmp_path,
    )
    assert both.returncode == 2
    assert (
        both.stderr.strip() == "error: --threshold and --calibration both set a threshold: pass one"
    )
    other = _run(
        "runtime.segment",
        photo,
        "--out",
        tmp_path / "y",
        "--calibration",
        out,
        "--model",
        OTHER_MODEL,
        "--backend",
        "onnxruntime",
        "--precision",
        "int8",
        cwd=tmp_path,
    )
    assert other.returncode == 2
    assert len(other.stderr.strip().splitlines()) == 1
    assert "made for any_camera_unet_w16.onnx" in other.stderr
    assert not (tmp_path / "y").exists() or not any((tmp_path / "y").rglob("*.png"))
