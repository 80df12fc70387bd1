"""The app's Model ▸ Backend menu: onnxruntime, OpenVINO or the gated automatic choice."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from desktop.settings import load_preferences
from runtime.backends import BACKEND_CHOICES
from tests.conftest import REPO
from tests.test_desktop_window import (  # noqa: F401 - private_settings is an autouse fixture
    IMAGE_01,
    TIMEOUT_MS,
    make_window,
    open_and_wait,
    private_settings,
)

DRIVE_W16 = REPO / "saved_models" / "drive_unet_w16" / "drive_unet_w16.onnx"


def _menu_actions(window, title: str) -> list[str]:
    for action in window.menuBar().actions():
        if action.text() == "&Model":
            for item in action.menu().actions():
                if item.menu() is not None and item.text() == title:
                    return [a.text() for a in item.menu().actions()]
    return []


def test_model_menu_switches_the_backend_and_remembers_it(qtbot):
    pytest.importorskip("openvino")
    window = make_window(qtbot, DRIVE_W16)
    qtbot.waitUntil(lambda: window.engine is not None, timeout=TIMEOUT_MS)
    assert len(_menu_actions(window, "&Backend")) == len(BACKEND_CHOICES)
    assert window.backend_actions["auto"].isChecked()
    assert window.engine.predictor.name.startswith("onnxruntime")  # No gate record yet.
    first = window.engine
    window.backend_actions["openvino"].trigger()
    qtbot.waitUntil(lambda: window.engine is not first and not window.busy, timeout=TIMEOUT_MS)
    assert window.engine.predictor.name == "openvino CPU fp32"
    assert window.backend_actions["openvino"].isChecked()
    document = open_and_wait(qtbot, window, IMAGE_01)
    assert document.result.provider == "OpenVINO CPU fp32"
    assert "OpenVINO" in window.model_label.text()
    window.close()
    assert load_preferences().backend == "openvino"


def test_model_menu_turns_tta_off_and_remembers_it(qtbot, tiny_model):
    window = make_window(qtbot, tiny_model)
    qtbot.waitUntil(lambda: window.engine is not None, timeout=TIMEOUT_MS)
    assert window.engine.tta and window.tta_action.isChecked()  # On by default in the app.
    assert (
        "TTA" in window.model_label.text() and "TTA on" in window.batch_dialog.settings_label.text()
    )
    first = window.engine
    window.tta_action.trigger()
    qtbot.waitUntil(lambda: window.engine is not first and not window.busy, timeout=TIMEOUT_MS)
    assert not window.engine.tta and not window.tta_action.isChecked()
    assert "TTA" not in window.model_label.text()
    assert "TTA off" in window.batch_dialog.settings_label.text()
    document = open_and_wait(qtbot, window, IMAGE_01)
    assert document.result is not None
    window.close()
    assert load_preferences().tta is False
