"""The desktop window end to end: real workers, the real engine, the tiny exported model.

Runs offscreen (``QT_QPA_PLATFORM=offscreen`` in conftest). Every wait is on a signal or a
condition with a timeout; no test sleeps. Settings go to a temporary folder.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("onnxruntime")

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QWheelEvent

from desktop.batch import Status
from desktop.image_view import ZOOM_STEP
from desktop.main_window import MainWindow
from desktop.preferences import Preferences
from desktop.settings import (
    configure_application,
    load_preferences,
    save_preferences,
    use_settings_folder,
)
from desktop.state import ViewMode
from runtime.imageio import read_binary, read_rgb
from runtime.tiling import probability_to_uint8
from tests.conftest import DRIVE

pytestmark = pytest.mark.e2e

#: Longest wait for a model load or a segmentation (the CI machine is slow and shared).
TIMEOUT_MS = 120_000
IMAGE_01 = DRIVE / "test" / "images" / "01_test.tif"
IMAGE_02 = DRIVE / "test" / "images" / "02_test.tif"


@pytest.fixture(autouse=True)
def private_settings(qapp, tmp_path: Path) -> Path:
    """Keep QSettings in a temporary folder: tests never touch the user's settings."""
    folder = tmp_path / "settings"
    configure_application(qapp)
    use_settings_folder(folder)
    return folder


def make_window(qtbot, model: Path | None, prefs: Preferences | None = None) -> MainWindow:
    window = MainWindow(prefs or Preferences(provider="cpu"), model=model)
    qtbot.addWidget(window)
    window.show()
    return window


@pytest.fixture
def window(qtbot, tiny_model: Path) -> MainWindow:
    win = make_window(qtbot, tiny_model)
    qtbot.waitUntil(lambda: win.engine is not None, timeout=TIMEOUT_MS)
    return win


def open_and_wait(qtbot, window: MainWindow, path: Path):
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS) as blocker:
        window.open_paths([path])
    return blocker.args[0]


def drop(window: MainWindow, *paths: Path) -> bool:
    """Drag ``paths`` onto the window and drop them; returns whether the drag was accepted."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    buttons, modifiers = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, buttons, modifiers)
    window.dragEnterEvent(enter)
    if enter.isAccepted():
        event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, buttons, modifiers)
        window.dropEvent(event)
    return enter.isAccepted()


# ---------------------------------------------------------------------------------- viewing


def test_open_image_runs_the_worker_and_fills_the_panels(qtbot, window):
    assert window.stack.currentWidget() is window.welcome
    with qtbot.waitSignal(window.image_shown, timeout=TIMEOUT_MS):
        window.open_paths([IMAGE_01])
        assert window.busy  # open_paths returned at once: the model runs in the worker.
    document = window.document
    if document.result is None:  # The photograph is shown first, the vessels follow.
        with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS) as blocker:
            pass
        document = blocker.args[0]
    assert not window.busy and window.stack.currentWidget() is window.view
    result = document.result
    assert result.provider == "CPUExecutionProvider" and result.fov_source == "given"
    facts = window.side.facts
    assert facts.value("File") == "01_test.tif" and facts.value("Size") == "565 × 584 px"
    assert facts.value("FOV") == "loaded: 01_test_mask.gif" and facts.value("Provider") == "CPU"
    assert facts.value("Inference").endswith("s (as is, 1 tile, TTA: 8 views)")  # TTA: default
    assert window.side.measurements.value("Vessel density").endswith("%")
    assert window.side.measurements.value("Branch points") != "–"
    overlay = window.displayed_array()
    assert overlay.shape == (584, 565, 3)
    assert "01_test.tif" in window.windowTitle()
    assert window.prefs.recent_files[0] == str(IMAGE_01.resolve())
    qtbot.waitUntil(lambda: not window._inference.busy, timeout=TIMEOUT_MS)  # Workers released.


def test_threshold_slider_rethresholds_the_cached_map(qtbot, window):
    document = open_and_wait(qtbot, window, IMAGE_01)
    result = document.result
    window.set_view_mode(ViewMode.MASK)
    slider = window.side.controls.threshold_slider
    shown = {}
    for value in (200, 800):
        with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
            slider.setValue(value)
        shown[value] = window.displayed_array().copy()
        assert window.side.controls.threshold_box.value() == pytest.approx(value / 1000)
        np.testing.assert_array_equal(shown[value] > 0, result.rethreshold(value / 1000))
    assert (shown[800] <= shown[200]).all() and (shown[800] < shown[200]).any()
    assert window.document.result is result and window._segment_worker is None  # No inference.
    with qtbot.waitSignal(window.measurements_updated, timeout=TIMEOUT_MS):
        pass
    assert document.measured_threshold == pytest.approx(0.8)
    expected = result.measure(0.8, window.prefs.scale)
    assert document.measurements == pytest.approx(expected, nan_ok=True)
    assert document.measurements["vessel_density"] < result.measure(0.2)["vessel_density"]
    assert window.side.measurements.note.text().endswith("threshold 0.8")


def test_opacity_slider_and_colour_repaint_the_overlay(qtbot, window):
    document = open_and_wait(qtbot, window, IMAGE_01)
    image, vessels = document.image, document.result.rethreshold(window.display.threshold)
    window.set_colour((255, 0, 200))
    with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
        window.side.controls.opacity_slider.setValue(100)
    solid = window.displayed_array()
    assert (solid[vessels] == [255, 0, 200]).all()
    np.testing.assert_array_equal(solid[~vessels], image[~vessels])
    with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
        window.side.controls.opacity_slider.setValue(0)
    np.testing.assert_array_equal(window.displayed_array(), image)
    assert window.side.controls.opacity_label.text() == "0 %"


def test_view_modes_show_original_probability_mask(qtbot, window):
    document = open_and_wait(qtbot, window, IMAGE_01)
    for mode, expected in (
        (ViewMode.ORIGINAL, document.image),
        (ViewMode.PROBABILITY, probability_to_uint8(document.result.probability)),
    ):
        with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
            window.mode_actions[mode].trigger()
        np.testing.assert_array_equal(window.displayed_array(), expected)
        assert window.mode_actions[mode].isChecked()


def test_zoom_and_pan_view(qtbot, window):
    open_and_wait(qtbot, window, IMAGE_01)
    view = window.view
    assert view.fitting
    fitted = view.zoom
    view.zoom_by(2.0)
    assert view.zoom == pytest.approx(2 * fitted) and not view.fitting
    centre = QPointF(view.viewport().width() / 2, view.viewport().height() / 2)
    wheel = QWheelEvent(
        centre,
        view.viewport().mapToGlobal(centre),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    view.wheelEvent(wheel)
    assert view.zoom == pytest.approx(2 * fitted * ZOOM_STEP)
    with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
        window.set_threshold(0.3)  # A new picture of the same size keeps the zoom.
    assert view.zoom == pytest.approx(2 * fitted * ZOOM_STEP)
    window.fit_action.trigger()
    assert view.fitting and view.zoom == pytest.approx(fitted)


def test_export_current_mask_and_overlay(qtbot, window, tmp_path):
    document = open_and_wait(qtbot, window, IMAGE_01)
    with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
        window.set_threshold(0.6)
    mask_path = window.export_current(ViewMode.MASK, tmp_path / "out" / "mask.png")
    np.testing.assert_array_equal(read_binary(mask_path), document.result.rethreshold(0.6))
    overlay_path = window.export_current(ViewMode.OVERLAY, tmp_path / "overlay.png")
    np.testing.assert_array_equal(read_rgb(overlay_path), window.displayed_array())


def test_open_folder_lists_images_and_steps_through_them(qtbot, window, tmp_path):
    folder = tmp_path / "eyes"
    folder.mkdir()
    for source in (IMAGE_01, IMAGE_02):
        shutil.copy(source, folder / source.name)
    (folder / "notes.txt").write_text("not an image")
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        assert window.open_folder(folder)
    assert window.image_list.count() == 2 and window.list_dock.isVisible()
    assert window.side.facts.value("FOV") == "found automatically"
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        window.next_action.trigger()
    assert window.document.path.name == "02_test.tif"
    with qtbot.waitSignal(window.image_shown, timeout=TIMEOUT_MS):
        window.previous_action.trigger()  # Cached: shown without running the model.
    assert window.document.path.name == "01_test.tif" and not window.busy


# ----------------------------------------------------------------------------------- errors


def test_non_image_drop_shows_a_message_and_changes_nothing(qtbot, window, tmp_path):
    document = open_and_wait(qtbot, window, IMAGE_01)
    shown = window.displayed_array().copy()
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    with qtbot.waitSignal(window.error_shown, timeout=TIMEOUT_MS) as blocker:
        assert drop(window, notes)
    assert "notes.txt: not an image file" in blocker.args[0]
    assert window.document is document and not window.busy
    np.testing.assert_array_equal(window.displayed_array(), shown)


def test_dropped_image_is_segmented(qtbot, window):
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        assert drop(window, IMAGE_02)
    assert window.document.path == IMAGE_02


def test_corrupt_image_reports_the_file_and_keeps_the_current_one(qtbot, window, tmp_path):
    document = open_and_wait(qtbot, window, IMAGE_01)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with qtbot.waitSignal(window.segmentation_failed, timeout=TIMEOUT_MS) as blocker:
        window.open_paths([broken])
    assert "broken.png" in blocker.args[0]
    assert "broken.png" in window.last_error
    assert window.document is document and not window.busy


def test_cancel_stops_a_tiled_run_and_the_engine_still_works(qtbot, window):
    window.engine.tile = 16  # Thousands of tiles: the run cannot end before Cancel.
    window.open_paths([IMAGE_01])
    worker = window._segment_worker
    with qtbot.waitSignal(worker.signals.cancelled, timeout=TIMEOUT_MS):
        window.cancel_action.trigger()
        assert not window.busy  # The window is free at once.
    assert window.document is None or window.document.result is None
    window.engine.tile = 1024
    assert open_and_wait(qtbot, window, IMAGE_01).result.tiles == 1


def test_large_image_is_segmented_in_the_worker(qtbot, window, tmp_path):
    import cv2

    big = cv2.resize(read_rgb(IMAGE_01), (565 * 3, 584 * 3), interpolation=cv2.INTER_CUBIC)
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 90])
    window.engine.tile = 256  # The rescaled image (DRIVE-sized) goes through in tiles.
    shown = []  # The status bar's percentage: (tiles done, tiles in all).
    window.progress.valueChanged.connect(
        lambda done: shown.append((done, window.progress.maximum()))
    )
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS) as blocker:
        window.open_paths([path])
        assert window.busy
    result = blocker.args[0].result
    assert result.probability.shape == (584 * 3, 565 * 3)
    assert result.scale < 0.4 and result.tiles > 1
    assert window.side.facts.value("Inference").endswith(f"{result.tiles} tiles, TTA: 8 views)")
    assert (result.tiles, result.tiles) in shown and (1, result.tiles) in shown


def test_no_model_found_says_so_and_offers_to_choose_one(qtbot, monkeypatch, tiny_model):
    import runtime.models
    from runtime.errors import UserInputError

    def no_model():
        raise UserInputError("none shipped")

    monkeypatch.setattr(runtime.models, "default_model", no_model)
    window = make_window(qtbot, None)
    assert window.engine is None and not window.busy
    assert "No vessel model is loaded" in window.welcome_text.text()
    assert window.choose_model_button.isVisible() and window.model_label.text() == "No model"
    with qtbot.waitSignal(window.image_shown, timeout=TIMEOUT_MS):  # Shown, not segmented.
        window.open_paths([IMAGE_01])
    assert window.document.result is None
    np.testing.assert_array_equal(window.displayed_array(), window.document.image)
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        drop(window, tiny_model)  # A dropped model loads and segments the image shown.
    assert window.prefs.model_path == str(tiny_model.resolve())


def test_broken_model_file_is_reported(qtbot, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    window = MainWindow(Preferences(provider="cpu"), model=broken)
    qtbot.addWidget(window)
    with qtbot.waitSignal(window.model_failed, timeout=TIMEOUT_MS) as blocker:
        pass
    assert "broken.onnx" in blocker.args[0]
    assert window.engine is None and "No vessel model" in window.welcome_text.text()


# ------------------------------------------------------------------------------------ batch


def test_batch_folder_with_a_corrupt_file(qtbot, window, tmp_path):
    folder = tmp_path / "clinic"
    folder.mkdir()
    for source in (IMAGE_01, IMAGE_02):
        shutil.copy(source, folder / source.name)
    (folder / "01b_broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    dialog = window.batch_dialog_open(folder)
    assert dialog.table.rowCount() == 3 and dialog.start_button.isEnabled()
    dialog.set_output(tmp_path / "results")
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT_MS) as blocker:
        dialog.start()
        assert dialog.running and dialog.cancel_button.isEnabled()
    outcome = blocker.args[0]
    assert [dialog.row_status(r) for r in range(3)] == ["done", "failed", "done"]
    message = dialog.table.item(1, 6)
    assert message.text() and "01b_broken.png" in message.toolTip()
    assert dialog.progress.value() == 3 and "1 failed" in dialog.summary.text()
    for stem in ("01_test", "02_test"):
        for kind in ("mask", "probability", "overlay"):
            assert (tmp_path / "results" / f"{stem}_{kind}.png").is_file()
    with open(outcome.csv_path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(row["image"], row["status"]) for row in rows] == [
        ("01_test.tif", "ok"),
        ("02_test.tif", "ok"),
        ("01b_broken.png", "failed"),
    ]
    assert {row["fov"] for row in rows[:2]} == {"estimated"}  # Not a DRIVE layout folder.
    assert float(rows[0]["mean_width_um"]) > 0 and rows[0]["quality"] == "ok"

    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT_MS) as blocker:
        dialog.start()  # Resume: done images are skipped.
    statuses = [item.status for item in blocker.args[0].items]
    assert statuses == [Status.SKIPPED, Status.FAILED, Status.SKIPPED]
    assert dialog.row_status(0) == "already done"


def test_batch_refuses_an_output_inside_the_input_and_can_be_cancelled(qtbot, window, tmp_path):
    folder = tmp_path / "clinic"
    folder.mkdir()
    for i in range(3):
        shutil.copy(IMAGE_01, folder / f"{i}.tif")
    dialog = window.batch_dialog_open(folder)
    dialog.set_output(folder / "out")
    dialog.start()
    assert not dialog.running and "inside the input folder" in dialog.summary.text()
    dialog.set_output(tmp_path / "out")
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT_MS) as blocker:
        dialog.start()
        dialog.cancel()
    outcome = blocker.args[0]
    assert outcome.cancelled
    assert [item.status for item in outcome.items].count(Status.CANCELLED) >= 1
    assert "Cancelled" in dialog.summary.text()


# -------------------------------------------------------------------- settings and About


def test_settings_persist_in_the_settings_folder(qtbot, window, private_settings, tiny_model):
    window.set_opacity(0.3)
    window.set_colour((0, 230, 255))
    window.set_threshold(0.7)
    window.set_provider("cpu")
    window.close()
    assert list(private_settings.rglob("*.ini"))  # Written here, not in the user's settings.
    prefs = load_preferences()
    assert (prefs.opacity, prefs.colour, prefs.threshold) == (0.3, (0, 230, 255), 0.7)
    again = make_window(qtbot, tiny_model, prefs)
    qtbot.waitUntil(lambda: again.engine is not None, timeout=TIMEOUT_MS)
    controls = again.side.controls
    assert controls.opacity_slider.value() == 30 and controls.colour == (0, 230, 255)
    # A threshold moved in an earlier session is not carried over silently.
    assert controls.threshold == pytest.approx(again.engine.threshold)
    assert again.prefs.threshold is None and not again.threshold_label.isVisible()
    again.set_threshold(0.7)  # A threshold of one's own is shown prominently.
    assert again.threshold_label.isVisible() and "0.700" in again.threshold_label.text()
    assert controls.custom_threshold
    again.reset_threshold()
    assert controls.threshold == again.display.threshold == again.engine.threshold
    assert again.prefs.threshold is None and not again.threshold_label.isVisible()
    save_preferences(again.prefs)
    assert load_preferences().threshold is None


def test_about_box_shows_the_model_metadata(window):
    text = window.about_text()
    card = window.engine.card
    assert card.name in text and card.version in text
    assert "Validation" in text and "onnxruntime" in text
    assert "not a medical device" in text and "Model trained on DRIVE" in text


def test_recent_files_menu(qtbot, window):
    open_and_wait(qtbot, window, IMAGE_01)
    window._fill_recent_menu()
    names = [action.text() for action in window.recent_menu.actions()]
    assert "01_test.tif" in names


def test_segment_again_and_batch_through_their_actions_and_shortcuts(qtbot, window):
    """As a user does it: toolbar/menu actions and keyboard shortcuts, not method calls.

    ``QAction.triggered`` passes ``checked``; a slot that took it as its optional argument failed
    (``resegment(fov_path=False)``, ``batch_dialog_open(folder=False)``). pytest-qt fails the test
    on any exception raised inside a slot.
    """
    from PySide6.QtGui import QKeySequence
    from PySide6.QtTest import QTest

    first = open_and_wait(qtbot, window, IMAGE_01)
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS) as again:
        window.resegment_action.trigger()
    assert again.args[0].path == first.path and again.args[0].result is not None
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.Refresh))
    qtbot.waitUntil(lambda: not window.busy, timeout=TIMEOUT_MS)
    window.batch_action.trigger()
    qtbot.waitUntil(lambda: window.batch_dialog.isVisible(), timeout=5_000)
    assert window.batch_dialog.input_edit.text() == str(IMAGE_01.parent)
    window.batch_dialog.hide()
    qtbot.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.batch_dialog.isVisible(), timeout=5_000)
    for action in (window.previous_action, window.next_action, window.fit_action):
        action.trigger()  # No argument reaches a slot that does not take one.


# --------------------------------------------------------------------------- patient safety


def test_the_list_always_shows_the_image_on_screen(qtbot, window, tmp_path):
    folder = tmp_path / "eyes"
    folder.mkdir()
    shutil.copy(IMAGE_01, folder / "a.tif")
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        window.open_folder(folder)
    with qtbot.waitSignal(window.segmentation_failed, timeout=TIMEOUT_MS):
        window.next_action.trigger()  # PgDown onto a corrupt file.
    assert window.document.path == folder / "a.tif"
    assert window.image_list.currentItem().text() == "a.tif"  # Not the broken one.
    recent = [Path(p).name for p in window.prefs.recent_files]
    assert "a.tif" in recent and "b.png" not in recent  # Open Recent: only files that opened.


def test_a_wrong_size_fov_mask_is_refused_and_the_result_kept(qtbot, window, tmp_path):
    from runtime.imageio import write_png

    document = open_and_wait(qtbot, window, IMAGE_01)
    small = tmp_path / "small_mask.png"
    write_png(small, np.ones((100, 100), bool))
    with qtbot.waitSignal(window.error_shown, timeout=TIMEOUT_MS) as blocker:
        assert not window.load_fov_mask(small)
    assert "100 × 100 px" in blocker.args[0] and "565 × 584 px" in blocker.args[0]
    assert window.document is document and document.result is not None and not window.busy
    assert window._cache[IMAGE_01] is document


def test_the_probability_view_has_a_colour_bar(qtbot, window):
    open_and_wait(qtbot, window, IMAGE_01)
    with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
        window.mode_actions[ViewMode.PROBABILITY].trigger()
    bar = window.side.colour_bar
    assert bar.isVisible() and f"{window.display.threshold:.3f}" in bar.threshold_text.text()
    with qtbot.waitSignal(window.rendered, timeout=TIMEOUT_MS):
        window.mode_actions[ViewMode.OVERLAY].trigger()
    assert not bar.isVisible()


def test_a_rejected_photograph_shows_no_measurements(qtbot, window, tmp_path):
    from runtime.imageio import write_png

    grey = tmp_path / "grey.png"
    write_png(grey, np.repeat(read_rgb(IMAGE_01)[..., 1:2], 3, axis=2))
    document = open_and_wait(qtbot, window, grey)
    assert not document.result.accepted and document.measurements == {}
    panel = window.side.measurements
    assert panel.value("Quality").startswith("rejected: not a colour fundus photograph")
    assert panel.value("Vessel density") == "–" and "quality gate" in panel.note.text()
    assert panel.value("Scale").startswith("45° field of view")


def test_the_scale_menu_changes_the_units_of_the_panel(qtbot, window, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    from runtime.units import Scale

    document = open_and_wait(qtbot, window, IMAGE_01)
    width45 = document.measurements["mean_width"]
    assert window.side.measurements.value("Mean width").endswith(" µm")
    monkeypatch.setattr(QInputDialog, "getDouble", staticmethod(lambda *a, **k: (90.0, True)))
    with qtbot.waitSignal(window.measurements_updated, timeout=TIMEOUT_MS):
        window.scale_fov_action.trigger()
    assert window.prefs.scale == Scale(fov_degrees=90.0)
    assert document.measurements["mean_width"] == pytest.approx(2 * width45, abs=0.15)
    assert window.side.measurements.value("Scale").startswith("90° field of view")
    with qtbot.waitSignal(window.measurements_updated, timeout=TIMEOUT_MS):
        window.scale_actions[Scale.relative()].trigger()
    assert window.side.measurements.value("Mean width").endswith("‰ FOV diameter")
