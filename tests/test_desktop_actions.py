"""Every action of the main window and the batch window, triggered as a user does.

Menus, the toolbar, the colour menu, the recent-files menu and keyboard shortcuts; modal
dialogs (file choosers, number inputs, the colour picker, About Qt) are answered at once by
patching their static functions, and every exception that reaches ``sys.excepthook`` (an
exception in a slot) fails the test.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")
pytest.importorskip("onnxruntime")

from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QColor, QDesktopServices, QKeySequence
from PySide6.QtTest import QTest
from PySide6.QtWidgets import (
    QApplication,
    QColorDialog,
    QFileDialog,
    QInputDialog,
    QMessageBox,
    QPushButton,
    QToolBar,
)

from desktop.batch import Status
from desktop.main_window import MainWindow
from runtime.calibration import Calibration, model_identity
from runtime.provenance import SOFTWARE
from runtime.units import Scale
from tests.test_desktop_window import (  # noqa: F401 - fixtures used by name.
    IMAGE_01,
    IMAGE_02,
    TIMEOUT_MS,
    make_window,
    private_settings,
)

pytestmark = pytest.mark.e2e

MASK_01 = IMAGE_01.parents[1] / "mask" / "01_test_mask.gif"


class Dialogs:
    """Answers for the static dialog functions, and what each was asked."""

    def __init__(self, tmp_path: Path, model: Path) -> None:
        self.clinic = tmp_path / "clinic"
        self.clinic.mkdir()
        for source in (IMAGE_01, IMAGE_02):
            shutil.copy(source, self.clinic / source.name)
        self.results = tmp_path / "chosen_results"
        self.model = model
        self.calibration = tmp_path / "camera.json"
        self.window: MainWindow | None = None  # Set once the window exists.
        self.asked: list[tuple[str, tuple]] = []
        self.opened_urls: list[str] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        def open_names(parent, caption, *rest, **kw):
            self.asked.append(("open files", (caption, *rest)))
            return [str(self.clinic / IMAGE_01.name), str(self.clinic / IMAGE_02.name)], ""

        def open_name(parent, caption, *rest, **kw):
            self.asked.append(("open file", (caption, *rest)))
            if caption == "Camera calibration":  # Made for the model loaded now.
                file, sha256 = model_identity(self.window.engine.model_path)
                calibration = (0.3, "camera", "m", file, sha256, False, ("a",), 0.8, 0.5, 0.7, "")
                Calibration(*calibration).save(self.calibration)
                return str(self.calibration), ""
            return (str(self.model) if caption == "Open model" else str(MASK_01)), ""

        def save_name(parent, caption, default="", *rest, **kw):
            self.asked.append(("save", (caption, default, *rest)))
            return str(Path(default).with_suffix("")), ""  # The app adds ".png".

        def directory(parent, caption, *rest, **kw):
            self.asked.append(("folder", (caption, *rest)))
            return str(self.results if caption == "Output folder" else self.clinic)

        def number(parent, title, label, value, *rest, **kw):
            self.asked.append(("number", (title, value)))
            return (12.5 if "Pixel" in title else 50.0), True

        monkeypatch.setattr(QFileDialog, "getOpenFileNames", staticmethod(open_names))
        monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(open_name))
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(save_name))
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(directory))
        monkeypatch.setattr(QInputDialog, "getDouble", staticmethod(number))
        monkeypatch.setattr(
            QColorDialog, "getColor", staticmethod(lambda *a, **k: QColor(255, 0, 0))
        )
        monkeypatch.setattr(QMessageBox, "aboutQt", staticmethod(lambda *a, **k: None))
        monkeypatch.setattr(
            QDesktopServices, "openUrl", staticmethod(lambda url: self.opened_urls.append(url))
        )


@pytest.fixture
def excepthook(monkeypatch):
    """Every exception that reaches ``sys.excepthook`` (raised inside a slot)."""
    caught: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: caught.append(value))
    return caught


def settle(qtbot, window: MainWindow) -> None:
    """Wait until nothing runs, then close the message boxes the action opened."""
    qtbot.waitUntil(
        lambda: (
            not window.busy and window._measure_worker is None and not window.batch_dialog.running
        ),
        timeout=TIMEOUT_MS,
    )
    QApplication.processEvents()
    for widget in QApplication.topLevelWidgets():
        if isinstance(widget, QMessageBox) and widget.isVisible():
            widget.close()


def menu_actions(window: MainWindow) -> list[QAction]:
    """Every action reachable from the menus (sub-menus included) and the toolbars."""
    found: list[QAction] = []

    def walk(actions):
        for action in actions:
            if action.menu() is not None:
                action.menu().aboutToShow.emit()  # Fills the recent-files menu.
                walk(action.menu().actions())
            elif not action.isSeparator() and action not in found:
                found.append(action)

    walk(window.menuBar().actions())
    for toolbar in window.findChildren(QToolBar):
        walk(toolbar.actions())
    walk(window.side.controls.colour_button.menu().actions())
    return found


def test_every_action_of_both_windows_runs_without_an_exception(
    qtbot, tiny_model, tmp_path, monkeypatch, excepthook
):
    dialogs = Dialogs(tmp_path, tiny_model)
    dialogs.install(monkeypatch)
    window = make_window(qtbot, tiny_model)
    dialogs.window = window
    qtbot.waitUntil(lambda: window.engine is not None, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        window.open_action.trigger()
    settle(qtbot, window)

    actions = menu_actions(window)
    shortcut_actions = [a for a in window.findChildren(QAction) if not a.shortcut().isEmpty()]
    assert set(shortcut_actions) <= set(actions), "a shortcut is not in any menu"
    texts = [a.text() for a in actions]
    for expected in ("&Batch…", "&Segment again", "Export &mask…", "&Keyboard shortcuts"):
        assert expected in texts
    triggered = []
    for action in actions:
        if action is window.quit_action:
            continue
        if window.image_list.count() < 2:  # An Open Recent entry opened a single file.
            window.open_action.trigger()
            settle(qtbot, window)
        if not action.isEnabled():  # Cancel: enabled only while a segmentation runs.
            assert action is window.cancel_action, action.text()
            continue
        action.trigger()
        triggered.append(action.text())
        settle(qtbot, window)
        assert not excepthook, f"{action.text()}: {excepthook[0]!r}"
    assert len(triggered) >= 30
    assert {"Camera &calibration…", "Clear camera calibration"} <= set(triggered)

    # The batch window: every button, in the order a user presses them.
    dialog = window.batch_dialog
    assert dialog.isVisible()
    buttons = {b.text(): b for b in dialog.findChildren(QPushButton)}
    choose_input, choose_output = [
        b for b in dialog.findChildren(QPushButton) if b.text() == "Choose…"
    ]
    qtbot.mouseClick(choose_input, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(choose_output, Qt.MouseButton.LeftButton)
    assert dialog.output_edit.text() == str(dialogs.results)
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT_MS):
        qtbot.mouseClick(buttons["Start"], Qt.MouseButton.LeftButton)
    assert [dialog.row_status(r) for r in range(2)] == ["done", "done"]
    qtbot.mouseClick(buttons["Open output folder"], Qt.MouseButton.LeftButton)
    assert dialogs.opened_urls and dialogs.opened_urls[0].toLocalFile() == str(dialogs.results)
    qtbot.mouseClick(buttons["Cancel"], Qt.MouseButton.LeftButton)  # Disabled: nothing runs.
    qtbot.mouseClick(buttons["Close"], Qt.MouseButton.LeftButton)
    assert not dialog.isVisible()
    settle(qtbot, window)

    # The toolbar's buttons, clicked.
    (toolbar,) = window.findChildren(QToolBar)
    clicked: list[str] = []
    for action in toolbar.actions():
        button = toolbar.widgetForAction(action)
        if action.isSeparator() or button is None:
            continue
        action.triggered.connect(lambda _=False, a=action: clicked.append(a.text()))
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        settle(qtbot, window)
        window.batch_dialog.hide()
        assert not excepthook, f"{action.text()}: {excepthook[0]!r}"
    assert "&Batch…" in clicked and "&Segment again" in clicked and len(clicked) >= 9

    window.quit_action.trigger()
    assert not window.isVisible()
    assert not excepthook, repr(excepthook)
    asked = {kind for kind, _ in dialogs.asked}
    assert asked == {"open files", "open file", "save", "folder", "number"}


def test_every_shortcut_triggers_its_action(qtbot, tiny_model, tmp_path, monkeypatch, excepthook):
    dialogs = Dialogs(tmp_path, tiny_model)
    dialogs.install(monkeypatch)
    window = make_window(qtbot, tiny_model)
    qtbot.waitUntil(lambda: window.engine is not None, timeout=TIMEOUT_MS)
    window.activateWindow()
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS):
        qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)  # Open.
    settle(qtbot, window)
    fired: list[str] = []
    actions = [
        a
        for a in window.findChildren(QAction)
        if not a.shortcut().isEmpty() and a not in (window.quit_action, window.cancel_action)
    ]
    keyed = {
        window.open_action,
        window.open_folder_action,
        window.export_mask_action,
        window.export_overlay_action,
        window.batch_action,
        window.resegment_action,
        window.next_action,
        window.previous_action,
        window.shortcuts_action,
        *window.mode_actions.values(),
    }
    assert keyed <= set(actions)  # None of them lost its key on this platform.
    for action in actions:
        action.triggered.connect(lambda _=False, a=action: fired.append(a.text()))
    for action in actions:
        before = len(fired)
        QTest.keySequence(window, action.shortcut())
        settle(qtbot, window)
        assert fired[before:] == [action.text()], action.shortcut().toString()
        window.batch_dialog.hide()  # Ctrl+B showed the batch window, which took the focus.
        window.activateWindow()
        qtbot.waitUntil(window.isActiveWindow, timeout=5_000)
    assert not excepthook, repr(excepthook)
    assert len(fired) == len(actions) >= 15
    quit_key = window.quit_action.shortcut()
    assert quit_key.toString() == "Ctrl+Q"  # StandardKey.Quit is empty on Windows.
    QTest.keySequence(window, quit_key)
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=5_000)


def test_key_flows_open_segment_again_export_batch(qtbot, tiny_model, tmp_path, monkeypatch):
    """Open (Ctrl+O), segment again (F5), export (Ctrl+E, Ctrl+Shift+E), batch (Ctrl+B)."""
    dialogs = Dialogs(tmp_path, tiny_model)
    dialogs.install(monkeypatch)
    window = make_window(qtbot, tiny_model)
    qtbot.waitUntil(lambda: window.engine is not None, timeout=TIMEOUT_MS)
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS) as opened:
        qtbot.keyClick(window, Qt.Key.Key_O, Qt.KeyboardModifier.ControlModifier)
    first = opened.args[0]
    assert first.path == dialogs.clinic / IMAGE_01.name and window.image_list.count() == 2
    with qtbot.waitSignal(window.image_segmented, timeout=TIMEOUT_MS) as again:
        QTest.keySequence(window, QKeySequence(QKeySequence.StandardKey.Refresh))
    assert again.args[0].path == first.path and again.args[0] is not first
    settle(qtbot, window)

    qtbot.keyClick(window, Qt.Key.Key_E, Qt.KeyboardModifier.ControlModifier)
    kind, (_caption, default, *_) = dialogs.asked[-1]
    assert kind == "save" and Path(default).parent == tmp_path / "clinic_vessels"
    exported = Path(default)
    assert exported.is_file() and not list(dialogs.clinic.glob("*_mask.png"))
    text = Image.open(exported).text
    assert text["Software"] == SOFTWARE and window.engine.card.name in text["Model"]
    assert float(text["Threshold"]) == pytest.approx(window.display.threshold, abs=1e-4)
    assert text["Scale"] == Scale().describe() and text["Creation Time"]
    assert "not a medical device" in text["Disclaimer"]
    qtbot.keyClick(
        window,
        Qt.Key.Key_E,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert (tmp_path / "clinic_vessels" / "01_test_overlay.png").is_file()

    qtbot.keyClick(window, Qt.Key.Key_P, Qt.KeyboardModifier.ControlModifier)  # Save report.
    report = tmp_path / "clinic_vessels" / "01_test_report.pdf"
    assert (
        report.read_bytes().startswith(b"%PDF") and report.read_bytes().count(b"/Type /Page\n") == 1
    )

    qtbot.keyClick(window, Qt.Key.Key_B, Qt.KeyboardModifier.ControlModifier)
    dialog = window.batch_dialog
    qtbot.waitUntil(dialog.isVisible, timeout=5_000)
    assert dialog.input_edit.text() == str(dialogs.clinic)
    assert window.engine.card.name in dialog.settings_label.text()
    assert f"threshold {window.engine.threshold:.4f}" in dialog.settings_label.text()
    with qtbot.waitSignal(dialog.batch_finished, timeout=TIMEOUT_MS) as finished:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    assert [i.status for i in finished.args[0].items] == [Status.DONE, Status.DONE]
    # The exported mask in clinic_vessels/ is the batch's output folder: never an input.
    assert finished.args[0].out_dir == tmp_path / "clinic_vessels"
