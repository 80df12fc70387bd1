"""The app's Model ▸ Camera calibration…: the camera's threshold, remembered, and refused for
another model; driven through the menu actions with the file dialog answered."""

from __future__ import annotations

import dataclasses

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from desktop.settings import load_preferences
from runtime.calibration import Calibration, model_identity
from tests.conftest import REPO
from tests.test_desktop_window import (  # noqa: F401 - private_settings is an autouse fixture
    IMAGE_01,
    TIMEOUT_MS,
    make_window,
    open_and_wait,
    private_settings,
)

pytestmark = pytest.mark.e2e

MODEL = REPO / "saved_models" / "drive_unet_w16" / "drive_unet_w16.onnx"


def _calibration(path, model=MODEL, threshold=0.3):
    file, sha256 = model_identity(model)
    Calibration(
        threshold=threshold,
        camera="Clinic camera",
        model="drive_unet_w16",
        model_file=file,
        model_sha256=sha256,
        tta=False,
        photographs=("a", "b", "c"),
        f1=0.8,
        model_threshold=0.47,
        model_threshold_f1=0.78,
        created="2026-12-02T10:00:00+0000",
    ).save(path)
    return path


def _answer(monkeypatch, path):
    asked = []

    def open_name(parent, caption, *rest, **kw):
        asked.append(caption)
        return str(path), ""

    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(open_name))
    return asked


def test_camera_calibration_sets_the_threshold_and_is_remembered(qtbot, tmp_path, monkeypatch):
    calibration = _calibration(tmp_path / "clinic.json")
    window = make_window(qtbot, MODEL)
    qtbot.waitUntil(lambda: window.engine is not None, timeout=TIMEOUT_MS)
    model_threshold = window.engine.threshold
    assert not window.clear_calibration_action.isEnabled()
    asked = _answer(monkeypatch, calibration)
    window.calibration_action.trigger()
    assert asked == ["Camera calibration"]
    assert window.side.controls.threshold == pytest.approx(0.3)
    assert "calibrated: Clinic camera" in window.model_label.text()
    assert not window.threshold_label.isVisible()  # The camera's threshold is not a custom one.
    assert window.clear_calibration_action.isEnabled()
    document = open_and_wait(qtbot, window, IMAGE_01)
    controls = window.side.controls
    assert controls.reset_button.text() == "Camera"
    controls.threshold_box.setValue(0.5)  # The user types 0.5: marked against the camera's.
    assert window.threshold_label.text() == "⚠ Threshold 0.500 (camera's: 0.300)"
    qtbot.mouseClick(controls.reset_button, Qt.MouseButton.LeftButton)
    assert controls.threshold == pytest.approx(0.3) and not window.threshold_label.isVisible()
    lower = document.result.rethreshold(0.3).sum()
    assert lower > document.result.rethreshold(model_threshold).sum()  # 0.3 < the model's.
    window.close()
    assert load_preferences().calibration == str(calibration)

    again = make_window(qtbot, MODEL, dataclasses.replace(load_preferences(), provider="cpu"))
    qtbot.waitUntil(lambda: again.engine is not None, timeout=TIMEOUT_MS)
    assert again.side.controls.threshold == pytest.approx(0.3)  # Remembered.
    assert "calibrated: Clinic camera" in again.model_label.text()
    again.clear_calibration_action.trigger()
    assert again.side.controls.threshold == pytest.approx(model_threshold)
    assert "calibrated" not in again.model_label.text()
    assert again.side.controls.reset_button.text() == "Model"
    assert not again.clear_calibration_action.isEnabled()
    again.close()
    assert load_preferences().calibration == ""


def test_calibration_for_another_model_is_refused(qtbot, tmp_path, monkeypatch):
    other = REPO / "saved_models" / "any_camera_unet_w16" / "any_camera_unet_w16.onnx"
    calibration = _calibration(tmp_path / "other.json", model=other)
    window = make_window(qtbot, MODEL)
    qtbot.waitUntil(lambda: window.engine is not None, timeout=TIMEOUT_MS)
    _answer(monkeypatch, calibration)
    with qtbot.waitSignal(window.error_shown, timeout=TIMEOUT_MS) as shown:
        window.calibration_action.trigger()
    assert shown.args[0].startswith(f"{calibration}: made for any_camera_unet_w16.onnx")
    assert window.side.controls.threshold == pytest.approx(window.engine.threshold)
    assert "calibrated" not in window.model_label.text()
    (tmp_path / "broken.json").write_text("{")
    _answer(monkeypatch, tmp_path / "broken.json")
    with qtbot.waitSignal(window.error_shown, timeout=TIMEOUT_MS) as shown:
        window.calibration_action.trigger()
    assert "not a calibration file" in shown.args[0]
    window.close()
    assert load_preferences().calibration == ""
