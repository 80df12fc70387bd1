"""The main window: open fundus photographs, see their vessel maps, measure, export, batch.

Everything slow runs in a worker (:mod:`desktop.workers`): loading the model, reading and
segmenting an image (one pool thread, so runs queue instead of competing for the CPU), and
re-measuring after the threshold moved (another thread). The window only composes what is on
screen from the cached result (:func:`desktop.state.compose`), which takes milliseconds for a
DRIVE-sized image, so the sliders act at once and the window never waits for the model.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QCloseEvent,
    QDragEnterEvent,
    QDropEvent,
    QKeySequence,
)
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.batch import default_output_folder
from desktop.batch_dialog import BatchDialog
from desktop.formatting import about_html, image_facts, shortcuts_html
from desktop.image_view import ZOOM_STEP, ImageView
from desktop.model_choice import choose_model
from desktop.panels import ImageListPanel, SidePanel
from desktop.preferences import APPLICATION_TITLE, Preferences, existing_recent
from desktop.state import (
    Display,
    ImageDocument,
    ViewMode,
    compose,
    document_bytes,
    export_array,
    export_name,
)
from desktop.tasks import (
    TileProgress,
    image_files,
    load_engine,
    measure_result,
    read_image,
    segment_image,
)
from desktop.workers import Worker, WorkerPool
from runtime.backends import AUTO_BACKEND_MENU, BACKEND_CHOICES, BACKENDS
from runtime.calibration import Calibration
from runtime.constants import DEFAULT_FOV_DEGREES, DEFAULT_THRESHOLD
from runtime.errors import UserInputError
from runtime.imageio import IMAGE_SUFFIXES, is_image_file, write_png
from runtime.provenance import RunSettings, intended_use
from runtime.providers import AUTO_MENU, PROVIDER_CHOICES, PROVIDERS, provider_label
from runtime.units import MAX_FOV_DEGREES, Scale

if TYPE_CHECKING:
    from runtime.engine import VesselEngine

#: Memory the segmented images kept for going back to them may take (the current one is
#: always kept): 512 MiB, about 60 DRIVE-sized images or 4 photographs of 4000 x 4000 px.
MAX_CACHE_BYTES = 512 * 2**20
#: Pause after the threshold last moved before the measurements are recomputed (ms).
MEASURE_DELAY_MS = 250
#: Camera fields of view offered in Image ▸ Measurement scale (degrees; any other by hand).
CAMERA_FIELDS_OF_VIEW: tuple[float, ...] = (30.0, 45.0, 50.0, 60.0)
#: Suffix of model files that can be opened or dropped.
MODEL_SUFFIX = ".onnx"

_VIEW_SHORTCUTS = {
    ViewMode.ORIGINAL: "Ctrl+1",
    ViewMode.PROBABILITY: "Ctrl+2",
    ViewMode.MASK: "Ctrl+3",
    ViewMode.OVERLAY: "Ctrl+4",
}
_IMAGE_FILTER = "Images ({});;All files (*)".format(
    " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES))
)


class MainWindow(QMainWindow):
    """The vessel segmentation window.

    Args:
        preferences: Settings from the last session (:func:`desktop.settings.load_preferences`).
        model: ONNX model to load; default: the one chosen last time, else the shipped one.
        parent: Parent widget.

    Signals (for whoever needs to wait on the window, e.g. tests and the screenshot script):
        model_loaded(object): The engine is ready.
        model_failed(str): The model could not be loaded (message names the file).
        image_shown(object): An image is on screen (maybe not segmented yet).
        image_segmented(object): The :class:`~desktop.state.ImageDocument` with its result.
        segmentation_failed(str): Reading or segmenting failed (message names the file).
        measurements_updated(object): Measurements recomputed for a new threshold.
        rendered(): The view shows the current settings.
        error_shown(str): An error was reported to the user.
    """

    model_loaded = Signal(object)
    model_failed = Signal(str)
    image_shown = Signal(object)
    image_segmented = Signal(object)
    segmentation_failed = Signal(str)
    measurements_updated = Signal(object)
    rendered = Signal()
    error_shown = Signal(str)

    def __init__(
        self,
        preferences: Preferences | None = None,
        model: str | Path | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        # A threshold moved in an earlier session is not carried over silently: every session
        # starts at the model's own (chosen on validation data).
        self.prefs = dataclasses.replace(preferences or Preferences(), threshold=None)
        self.engine: VesselEngine | None = None
        self.calibration: Calibration | None = None  # prefs.calibration, if made for the model.
        self.document: ImageDocument | None = None
        self.last_error = ""
        self._cache: OrderedDict[Path, ImageDocument] = OrderedDict()
        self._mode = ViewMode.OVERLAY
        self._threshold = DEFAULT_THRESHOLD  # Until a model is loaded.
        self._displayed: np.ndarray | None = None
        self._pending_path: Path | None = None
        self._model_worker: Worker | None = None
        self._segment_worker: Worker | None = None
        self._measure_worker: Worker | None = None
        self._measure_request: tuple[ImageDocument, float, Scale] | None = None
        self._inference = WorkerPool(1, self)  # Model loads and segmentations, one at a time.
        self._background = WorkerPool(1, self)  # Re-measuring after the threshold moved.
        self._batch_pool = WorkerPool(1, self)
        self._render_timer = _single_shot(self, 0, self._render)
        self._measure_timer = _single_shot(self, MEASURE_DELAY_MS, self._measure)

        self.setWindowTitle(APPLICATION_TITLE)
        self.setAcceptDrops(True)
        self.resize(1280, 820)
        self._build_central()
        self._build_docks()
        self._build_actions()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self.batch_dialog = BatchDialog(self._batch_pool, self)
        self.batch_dialog.batch_finished.connect(self._batch_finished)
        self._apply_preferences()
        self._update_actions()

        choice = choose_model(model, self.prefs.model_path)
        self._model_origin = choice.origin
        if choice.path is None:
            self._show_no_model(choice.origin)
        else:
            self.load_model(choice.path)

    # ----------------------------------------------------------------------------- building

    def _build_central(self) -> None:
        self.view = ImageView()
        self.view.zoom_changed.connect(self._zoom_changed)
        self.welcome = QWidget()
        self.welcome_text = QLabel()
        self.welcome_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.welcome_text.setWordWrap(True)
        self.welcome_text.setTextFormat(Qt.TextFormat.RichText)
        self.open_button = QPushButton("Open images…")
        self.open_button.clicked.connect(self.open_dialog)
        self.choose_model_button = QPushButton("Choose model…")
        self.choose_model_button.clicked.connect(self.choose_model_dialog)
        layout = QVBoxLayout(self.welcome)
        layout.addStretch(1)
        layout.addWidget(self.welcome_text)
        for button in (self.open_button, self.choose_model_button):
            button.setMinimumWidth(220)
            layout.addWidget(button, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(1)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.welcome)
        self.stack.addWidget(self.view)
        self.setCentralWidget(self.stack)
        self._show_welcome()

    def _build_docks(self) -> None:
        self.side = SidePanel()
        controls = self.side.controls
        controls.threshold_changed.connect(self.set_threshold)
        controls.threshold_reset.connect(self.reset_threshold)
        controls.opacity_changed.connect(self.set_opacity)
        controls.colour_changed.connect(self.set_colour)
        scroll = QScrollArea()
        scroll.setWidget(self.side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setMinimumWidth(max(380, self.side.sizeHint().width() + 20))
        self.side_dock = QDockWidget("Details", self)
        self.side_dock.setObjectName("details")
        self.side_dock.setWidget(scroll)
        features = QDockWidget.DockWidgetFeature
        # Closable too: View ▸ Details (its toggle action) is disabled on a dock that is not.
        self.side_dock.setFeatures(features.DockWidgetMovable | features.DockWidgetClosable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.side_dock)

        self.image_list = ImageListPanel()
        self.image_list.image_chosen.connect(self.show_image)
        self.list_dock = QDockWidget("Images", self)
        self.list_dock.setObjectName("images")
        self.list_dock.setWidget(self.image_list)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.list_dock)
        self.resizeDocks([self.list_dock], [170], Qt.Orientation.Horizontal)
        self.list_dock.hide()

    def _action(
        self,
        text: str,
        slot: Any,
        shortcut: QKeySequence.StandardKey | Qt.Key | str | None = None,
        icon: QStyle.StandardPixmap | None = None,
    ) -> QAction:
        """An action that calls ``slot()`` with no arguments when triggered.

        ``QAction.triggered`` passes ``checked`` (a bool); slots with optional parameters
        (``resegment(fov_path=None)``, ``batch_dialog_open(folder=None)``) must never receive
        it, so it is dropped here, for every action.
        """
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        key = QKeySequence.StandardKey
        act = self._action
        self.open_action = act("&Open images…", self.open_dialog, key.Open, sp.SP_DialogOpenButton)
        self.open_action.setToolTip("Open one or more fundus photographs (Ctrl+O)")
        self.open_folder_action = act(
            "Open &folder…", self.open_folder_dialog, "Ctrl+Shift+O", sp.SP_DirOpenIcon
        )
        self.open_folder_action.setToolTip("Open every image in a folder (Ctrl+Shift+O)")
        self.fov_action = act("Load FOV &mask…", self.load_fov_dialog)
        self.fov_action.setToolTip("Segment the current image again with a FOV mask file")
        self.export_mask_action = act(
            "Export &mask…", lambda: self.export_dialog(ViewMode.MASK), "Ctrl+E"
        )
        self.export_overlay_action = act(
            "Export &overlay…", lambda: self.export_dialog(ViewMode.OVERLAY), "Ctrl+Shift+E"
        )
        self.report_action = act("Save &report…", self.report_dialog, "Ctrl+P")
        self.report_action.setToolTip(
            "One PDF page: photograph, overlay, measurements, quality, model, threshold, date"
        )
        self.batch_action = act(
            "&Batch…", self.batch_dialog_open, "Ctrl+B", sp.SP_FileDialogDetailedView
        )
        self.batch_action.setToolTip(
            "Segment a whole folder: masks, overlays and one CSV of measurements (Ctrl+B)"
        )
        # Not ``StandardKey.Quit``: Qt binds it to nothing on Windows (and offscreen).
        self.quit_action = act("&Quit", self.close, "Ctrl+Q")
        self.resegment_action = act(
            "&Segment again", self.resegment, key.Refresh, sp.SP_BrowserReload
        )
        self.cancel_action = act("&Cancel", self.cancel, Qt.Key.Key_Escape, sp.SP_BrowserStop)
        self.cancel_action.setToolTip("Stop the running segmentation (Esc)")
        self.next_action = act("&Next image", lambda: self._step(1), key.MoveToNextPage)
        self.previous_action = act(
            "&Previous image", lambda: self._step(-1), key.MoveToPreviousPage
        )
        self.zoom_in_action = act("Zoom &in", lambda: self.view.zoom_by(ZOOM_STEP), key.ZoomIn)
        self.zoom_out_action = act(
            "Zoom &out", lambda: self.view.zoom_by(1 / ZOOM_STEP), key.ZoomOut
        )
        self.fit_action = act("&Fit to window", self.view.fit_to_window, "Ctrl+0")
        self.actual_size_action = act("&Actual size", self.view.actual_size, "Ctrl+Alt+0")
        self.mode_group = QActionGroup(self)
        self.mode_actions: dict[ViewMode, QAction] = {}
        for mode in ViewMode:
            action = self._action(
                mode.label, lambda m=mode: self.set_view_mode(m), _VIEW_SHORTCUTS[mode]
            )
            action.setCheckable(True)
            action.setToolTip(f"{mode.label} view ({_VIEW_SHORTCUTS[mode]})")
            self.mode_group.addAction(action)
            self.mode_actions[mode] = action
        self.open_model_action = act("&Open model…", self.choose_model_dialog, "Ctrl+M")
        self.shipped_model_action = act("Use the &shipped model", self.use_shipped_model)
        self.provider_group = QActionGroup(self)
        self.provider_actions: dict[str, QAction] = {}
        names = {"auto": AUTO_MENU, **{key: p.menu for key, p in PROVIDERS.items()}}
        for provider in PROVIDER_CHOICES:
            action = self._action(names[provider], lambda p=provider: self.set_provider(p))
            action.setCheckable(True)
            self.provider_group.addAction(action)
            self.provider_actions[provider] = action
        self.backend_group = QActionGroup(self)
        self.backend_actions: dict[str, QAction] = {}
        labels = {"auto": AUTO_BACKEND_MENU, **{k: b.menu for k, b in BACKENDS.items()}}
        for backend in BACKEND_CHOICES:
            action = self._action(labels[backend], lambda b=backend: self.set_backend(b))
            action.setCheckable(True)
            self.backend_group.addAction(action)
            self.backend_actions[backend] = action
        self.calibration_action = act("Camera &calibration…", self.choose_calibration_dialog)
        self.calibration_action.setToolTip(
            "Use the threshold chosen for your camera from a few annotated photographs "
            "(a file made by vessel-calibrate)"
        )
        self.clear_calibration_action = act("Clear camera calibration", self.clear_calibration)
        self.tta_action = act("Average &turns and mirrors (TTA)", self.toggle_tta)
        self.tta_action.setCheckable(True)
        self.tta_action.setToolTip(
            "Run the model on the 8 turns and mirrors of each photograph and average them "
            "(8x the time): a turned or mirrored photograph gives the same measurements"
        )
        self.scale_group = QActionGroup(self)
        self.scale_actions: dict[Scale, QAction] = {}
        for degrees in CAMERA_FIELDS_OF_VIEW:
            scale = Scale(fov_degrees=degrees)
            self.scale_actions[scale] = act(
                f"{degrees:g}° camera field of view", lambda s=scale: self.set_scale(s)
            )
        self.scale_actions[Scale.relative()] = act(
            "No scale (FOV-relative units)", lambda: self.set_scale(Scale.relative())
        )
        self.scale_fov_action = act("Other field of &view…", self.scale_fov_dialog)
        self.scale_pixel_action = act("Known &pixel size…", self.pixel_size_dialog)
        for action in (
            *self.scale_actions.values(),
            self.scale_fov_action,
            self.scale_pixel_action,
        ):
            action.setCheckable(True)
            self.scale_group.addAction(action)
        self.shortcuts_action = self._action("&Keyboard shortcuts", self.show_shortcuts, "F1")
        self.about_action = self._action("&About…", self.show_about)
        self.about_qt_action = self._action("About &Qt…", lambda: QMessageBox.aboutQt(self))

    def _build_menus_and_toolbar(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.open_action, self.open_folder_action])
        self.recent_menu = file_menu.addMenu("Open &recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._fill_recent_menu()
        file_menu.addSeparator()
        file_menu.addActions(
            [self.export_mask_action, self.export_overlay_action, self.report_action]
        )
        file_menu.addSeparator()
        file_menu.addAction(self.batch_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        image_menu = menu.addMenu("&Image")
        image_menu.addActions(
            [self.resegment_action, self.cancel_action, self.fov_action, self.next_action]
        )
        image_menu.addAction(self.previous_action)
        image_menu.addSeparator()
        scale_menu = image_menu.addMenu("Measurement &scale")
        scale_menu.addActions(list(self.scale_actions.values()))
        scale_menu.addSeparator()
        scale_menu.addActions([self.scale_fov_action, self.scale_pixel_action])
        view_menu = menu.addMenu("&View")
        view_menu.addActions(list(self.mode_actions.values()))
        view_menu.addSeparator()
        view_menu.addActions(
            [self.zoom_in_action, self.zoom_out_action, self.fit_action, self.actual_size_action]
        )
        view_menu.addSeparator()
        view_menu.addActions([self.side_dock.toggleViewAction(), self.list_dock.toggleViewAction()])
        model_menu = menu.addMenu("&Model")
        model_menu.addActions([self.open_model_action, self.shipped_model_action])
        provider_menu = model_menu.addMenu("&Run on")
        provider_menu.addActions(list(self.provider_actions.values()))
        model_menu.addMenu("&Backend").addActions(list(self.backend_actions.values()))
        model_menu.addSeparator()
        model_menu.addAction(self.tta_action)
        model_menu.addSeparator()
        model_menu.addActions([self.calibration_action, self.clear_calibration_action])
        help_menu = menu.addMenu("&Help")
        help_menu.addActions([self.shortcuts_action, self.about_action, self.about_qt_action])

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("main")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.addActions([self.open_action, self.open_folder_action, self.batch_action])
        toolbar.addSeparator()
        toolbar.addActions(list(self.mode_actions.values()))
        toolbar.addSeparator()
        toolbar.addActions([self.fit_action, self.resegment_action])

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.zoom_label = QLabel()
        self.model_label = QLabel()
        self.threshold_label = QLabel()
        self.threshold_label.setStyleSheet(
            "color: white; background: rgb(200, 100, 0); padding: 1px 6px; font-weight: bold;"
        )
        self.threshold_label.setToolTip(
            "The vessel threshold differs from the one the model was tuned to; measurements "
            "depend on it. Use 'Model' beside the threshold to go back."
        )
        self.threshold_label.hide()
        self.progress = QProgressBar()  # Busy until a tiled image reports its tiles.
        self.progress.setMaximumWidth(160)
        self.progress.setFormat("%p %")
        self.cancel_button = QToolButton()
        self.cancel_button.setDefaultAction(self.cancel_action)
        self.cancel_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        widgets = (
            self.progress,
            self.cancel_button,
            self.threshold_label,
            self.zoom_label,
            self.model_label,
        )
        for widget in widgets:
            bar.addPermanentWidget(widget)
        self._set_busy(None)

    def _apply_preferences(self) -> None:
        controls = self.side.controls
        controls.set_threshold(self._threshold)
        controls.set_opacity(self.prefs.opacity)
        controls.set_colour(self.prefs.colour)
        self.mode_actions[self._mode].setChecked(True)
        self.provider_actions[self.prefs.provider].setChecked(True)
        self.backend_actions[self.prefs.backend].setChecked(True)
        self.tta_action.setChecked(self.prefs.tta)
        self._check_scale()

    # ----------------------------------------------------------------------- public actions

    @property
    def display(self) -> Display:
        """The current view mode, threshold, opacity and colour."""
        return Display(self._mode, self._threshold, self.prefs.opacity, self.prefs.colour)

    @property
    def busy(self) -> bool:
        """Whether a model load or a segmentation is running."""
        return self._segment_worker is not None or self._model_worker is not None

    def displayed_array(self) -> np.ndarray | None:
        """The pixels on screen (for tests and exports)."""
        return self._displayed

    def open_paths(self, paths: Iterable[str | Path]) -> bool:
        """Open dropped or chosen paths: images, folders of images, or an ``.onnx`` model.

        Anything else is refused with a message and changes nothing.

        Returns:
            Whether something was opened.
        """
        images: list[Path] = []
        refused: list[str] = []
        model: Path | None = None
        for raw in paths:
            path = Path(raw)
            if path.is_dir():
                found = image_files(path)
                images += found
                if not found:
                    refused.append(f"{path}: no image files in this folder")
            elif path.suffix.lower() == MODEL_SUFFIX and path.is_file():
                model = path
            elif is_image_file(path) and path.is_file():
                images.append(path)
            elif not path.exists():
                refused.append(f"{path}: file not found")
            else:
                kinds = ", ".join(sorted(IMAGE_SUFFIXES))
                refused.append(f"{path.name}: not an image file (this app opens {kinds})")
        if refused:
            self.report_error("Cannot open", "\n".join(refused))
        if model is not None:
            self.load_model(model, remember=True)
        if images:
            self._set_image_list(images)
            self.show_image(images[0])
        return bool(images) or model is not None

    def open_folder(self, folder: str | Path) -> bool:
        """Open every image directly inside ``folder``."""
        return self.open_paths([folder])

    def show_image(self, path: str | Path) -> None:
        """Show ``path``: from the cache, or read and segment it in the worker."""
        path = Path(path)
        self.image_list.select_path(path)
        if path in self._cache:
            self._cancel_segmentation()
            self._cache.move_to_end(path)
            self._set_document(self._cache[path])
            return
        self._start_segmentation(path)

    def resegment(self, fov_path: str | Path | None = None) -> None:
        """Run the model on the current image again (optionally with a FOV mask file)."""
        if self.document is None:
            return
        # The cached result stays (and on screen) until the new one replaces it, so a run that
        # fails (e.g. a FOV mask of the wrong size) discards nothing.
        self._start_segmentation(self.document.path, fov_path)

    def cancel(self) -> None:
        """Stop the running segmentation (within one tile); the window stays as it was."""
        if self._segment_worker is not None:
            self._cancel_segmentation()
            self.statusBar().showMessage("Cancelled", 5000)

    def load_model(self, path: str | Path, remember: bool = False) -> None:
        """Load ``path`` in the worker (the current model stays until the new one is ready).

        Args:
            path: An exported ``.onnx`` file.
            remember: Load this model again next time (the user chose it).
        """
        path = Path(path)
        if remember:
            self.prefs = dataclasses.replace(self.prefs, model_path=str(path.resolve()))
            self._model_origin = "the model you chose"
        worker = Worker(load_engine, path, self.prefs.provider, self.prefs.backend, self.prefs.tta)
        worker.signals.finished.connect(self._model_ready)
        worker.signals.failed.connect(self._model_error)
        self._model_worker = worker
        self._set_busy(f"Loading model {path.name}…")
        self._inference.start(worker)

    def use_shipped_model(self) -> None:
        """Forget the chosen model and load the shipped one."""
        self.prefs = dataclasses.replace(self.prefs, model_path="")
        choice = choose_model()
        self._model_origin = choice.origin
        if choice.path is None:
            self.report_error("No shipped model", choice.origin)
        else:
            self.load_model(choice.path)

    def set_provider(self, provider: str) -> None:
        """Prefer ``auto``, ``cuda`` or ``cpu`` and reload the model with it."""
        self.prefs = dataclasses.replace(self.prefs, provider=provider)
        self.provider_actions[provider].setChecked(True)
        if self.engine is not None:
            self.load_model(self.engine.model_path)

    def set_backend(self, backend: str) -> None:
        """Prefer ``auto``, ``onnxruntime`` or ``openvino`` and reload the model with it."""
        self.prefs = dataclasses.replace(self.prefs, backend=backend)
        self.backend_actions[backend].setChecked(True)
        if self.engine is not None:
            self.load_model(self.engine.model_path)

    def toggle_tta(self) -> None:
        """Turn test-time augmentation on or off (as the action's check mark says); reload."""
        self.prefs = dataclasses.replace(self.prefs, tta=self.tta_action.isChecked())
        if self.engine is not None:
            self.load_model(self.engine.model_path)

    def set_view_mode(self, mode: ViewMode) -> None:
        """Show the original, the probability map, the mask or the overlay."""
        self._mode = mode
        self.mode_actions[mode].setChecked(True)
        self._schedule_render()

    def set_threshold(self, threshold: float) -> None:
        """Re-threshold the cached probabilities (no inference) and re-measure shortly after."""
        self._threshold = float(threshold)
        self.prefs = dataclasses.replace(self.prefs, threshold=self._threshold)
        if abs(self.side.controls.threshold - self._threshold) > 1e-9:
            self.side.controls.set_threshold(self._threshold)
        self._show_threshold_state()
        if not self.batch_dialog.running:  # The batch window says what its next run uses.
            self.batch_dialog.set_engine(self.engine, self.prefs.threshold)
        self._schedule_render()
        if self.document is not None and self.document.result is not None:
            self.side.measurements.show_updating()
            self._measure_timer.start()

    def reset_threshold(self) -> None:
        """Go back to the model's threshold (chosen on validation data), or the camera's."""
        if self.engine is None:
            return
        self.set_threshold(self.base_threshold)
        self.prefs = dataclasses.replace(self.prefs, threshold=None)
        if not self.batch_dialog.running:
            self.batch_dialog.set_engine(self.engine, self._batch_threshold())

    @property
    def base_threshold(self) -> float:
        """The threshold before the user moves it: the camera calibration's, else the model's."""
        if self.calibration is not None:
            return self.calibration.threshold
        return self.engine.threshold if self.engine is not None else DEFAULT_THRESHOLD

    def _batch_threshold(self) -> float | None:
        """What the batch window runs with (``None``: the model's own threshold)."""
        if self.prefs.threshold is not None:
            return self.prefs.threshold
        return self.calibration.threshold if self.calibration is not None else None

    def choose_calibration_dialog(self) -> None:
        """Choose a camera calibration file (made by ``vessel-calibrate``) and use it."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Camera calibration", self.prefs.last_folder, "Calibration files (*.json)"
        )
        if path:
            self.use_calibration(path)

    def use_calibration(self, path: str | Path) -> bool:
        """Use the threshold of the calibration file ``path`` (remembered between sessions).

        A file that cannot be read, or that was made for another model file, is refused with a
        message; the threshold in use stays.
        """
        calibration = self._read_calibration(path, "Cannot use the calibration")
        if calibration is None:
            return False
        self.prefs = dataclasses.replace(self.prefs, calibration=str(path))
        self.calibration = calibration
        self._threshold_base_changed()
        return True

    def clear_calibration(self) -> None:
        """Stop using the camera calibration: back to the model's threshold."""
        self.prefs = dataclasses.replace(self.prefs, calibration="")
        self.calibration = None
        self._threshold_base_changed()

    def _load_calibration(self) -> None:
        """Apply the remembered calibration to a newly loaded model, if it was made for it."""
        self.calibration = None
        if self.prefs.calibration:
            title = "Camera calibration not used"
            self.calibration = self._read_calibration(self.prefs.calibration, title)

    def _read_calibration(self, path: str | Path, title: str) -> Calibration | None:
        """The calibration file ``path`` if it reads and suits the model loaded (else a message
        under ``title`` and ``None``)."""
        try:
            calibration = Calibration.load(path)
            if self.engine is not None and self.engine.model_path is not None:
                calibration.check_model(self.engine.model_path, path)
        except UserInputError as exc:
            self.report_error(title, str(exc))
            return None
        return calibration

    def _threshold_base_changed(self) -> None:
        """The calibration changed: the threshold goes to the new base, labels follow."""
        self._update_actions()
        if self.engine is None:
            return
        self._show_model_label(self.engine)
        self.side.controls.set_threshold(
            self._threshold, self.base_threshold, camera=self.calibration is not None
        )
        self.reset_threshold()

    def set_scale(self, scale: Scale) -> None:
        """Measure lengths and widths with ``scale`` (re-measures the current image)."""
        self.prefs = self.prefs.with_scale(scale)
        self._check_scale()
        self.batch_dialog.set_scale(scale)
        document = self.document
        if document is not None and document.result is not None:
            self.side.measurements.show_updating()
            self._measure_timer.start()
        self.statusBar().showMessage(f"Measurement scale: {scale.describe()}", 5000)

    def _check_scale(self) -> None:
        scale = self.prefs.scale
        if scale in self.scale_actions:
            self.scale_actions[scale].setChecked(True)
        elif scale.pixel_size_um is not None:
            self.scale_pixel_action.setChecked(True)
        else:
            self.scale_fov_action.setChecked(True)
        self.scale_fov_action.setText(
            f"Other field of &view ({scale.fov_degrees:g}°)…"
            if self.scale_fov_action.isChecked()
            else "Other field of &view…"
        )
        self.scale_pixel_action.setText(
            f"Known &pixel size ({scale.pixel_size_um:g} µm)…"
            if scale.pixel_size_um is not None
            else "Known &pixel size…"
        )

    def scale_fov_dialog(self) -> None:
        """Ask for the camera's field of view in degrees."""
        current = self.prefs.fov_degrees or DEFAULT_FOV_DEGREES
        degrees, ok = QInputDialog.getDouble(
            self,
            "Camera field of view",
            "Field of view across the FOV disc, in degrees:",
            current,
            1.0,
            MAX_FOV_DEGREES,
            1,
        )
        if ok:
            self.set_scale(Scale(fov_degrees=degrees))
        else:
            self._check_scale()

    def pixel_size_dialog(self) -> None:
        """Ask for the photographs' pixel size on the retina in µm."""
        current = self.prefs.pixel_size_um or 10.0
        size, ok = QInputDialog.getDouble(
            self, "Pixel size", "Size of one pixel on the retina, in µm:", current, 0.01, 1000.0, 2
        )
        if ok:
            self.set_scale(Scale(fov_degrees=None, pixel_size_um=size))
        else:
            self._check_scale()

    def show_shortcuts(self) -> None:
        """Help ▸ Keyboard shortcuts: every action that has one."""
        box = QMessageBox(self)
        box.setWindowTitle("Keyboard shortcuts")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(shortcuts_html(self.findChildren(QAction)))
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    def set_opacity(self, opacity: float) -> None:
        """Overlay opacity in [0, 1]."""
        self.prefs = dataclasses.replace(self.prefs, opacity=float(opacity))
        if abs(self.side.controls.opacity - opacity) > 0.005:
            self.side.controls.set_opacity(opacity)
        self._schedule_render()

    def set_colour(self, colour: tuple[int, int, int]) -> None:
        """Overlay colour (RGB)."""
        self.prefs = dataclasses.replace(self.prefs, colour=tuple(colour))
        self.side.controls.set_colour(self.prefs.colour)
        self._schedule_render()

    def export_current(self, kind: ViewMode, path: str | Path) -> Path:
        """Write the current image's mask or overlay (as on screen) to ``path`` as PNG.

        The PNG's text chunks record the model, threshold, scale and date
        (:meth:`runtime.provenance.RunSettings.png_text`).

        Raises:
            ValueError: No segmented image.
        """
        if self.document is None:
            raise ValueError("no image is open")
        text = None
        if self.engine is not None:
            text = RunSettings.of(self.engine, self._threshold, self.prefs.scale).png_text()
        write_png(path, export_array(self.document, self.display, kind), text)
        self.statusBar().showMessage(f"Saved {path}", 5000)
        return Path(path)

    def report_error(self, title: str, message: str) -> None:
        """Tell the user: status line and a dialog that does not block the window."""
        self.last_error = message
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0]}", 15000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        self.error_shown.emit(message)

    def about_text(self) -> str:
        """The About box's rich text (model metadata and versions)."""
        import PySide6
        from PySide6.QtCore import qVersion

        import runtime

        versions = {"app": runtime.__version__, "PySide6": PySide6.__version__}
        versions["Qt"] = qVersion()
        if self.engine is None:
            return (
                f"<h3>{APPLICATION_TITLE}</h3><p>No model loaded.</p>"
                + "".join(f"<p>{k} {v}</p>" for k, v in versions.items())
                + f"<p><b>{intended_use()}</b></p>"
            )
        import onnxruntime

        versions["onnxruntime"] = onnxruntime.__version__
        description = {
            **self.engine.predictor.describe(),
            "training_sets": self.engine.card.datasets,
        }
        return about_html(description, versions)

    def show_about(self) -> None:
        """The About box."""
        box = QMessageBox(self)
        box.setWindowTitle(f"About {APPLICATION_TITLE}")
        box.setTextFormat(Qt.TextFormat.RichText)
        box.setText(self.about_text())
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # ----------------------------------------------------------------------------- dialogs

    def open_dialog(self) -> None:
        """Choose image files."""
        paths, _ = QFileDialog.getOpenFileNames(
            self, "Open fundus photographs", self.prefs.last_folder, _IMAGE_FILTER
        )
        if paths:
            self.open_paths(paths)

    def open_folder_dialog(self) -> None:
        """Choose a folder of images."""
        folder = QFileDialog.getExistingDirectory(self, "Open folder", self.prefs.last_folder)
        if folder:
            self.prefs = dataclasses.replace(self.prefs, last_folder=folder)
            self.open_folder(folder)

    def choose_model_dialog(self) -> None:
        """Choose an ``.onnx`` model."""
        path, _ = QFileDialog.getOpenFileName(
            self, "Open model", self.prefs.last_folder, f"ONNX models (*{MODEL_SUFFIX})"
        )
        if path:
            self.load_model(path, remember=True)

    def load_fov_dialog(self) -> None:
        """Choose a FOV mask for the current image and segment it again."""
        if self.document is None:
            return
        path, _ = QFileDialog.getOpenFileName(
            self, "FOV mask", str(self.document.path.parent), _IMAGE_FILTER
        )
        if path:
            self.load_fov_mask(path)

    def load_fov_mask(self, path: str | Path) -> bool:
        """Segment the current image again with the FOV mask ``path``.

        A mask that cannot be read or whose size differs from the image's is refused with a
        message; the current result stays.

        Returns:
            Whether the segmentation was started.
        """
        from runtime.errors import ImageReadError
        from runtime.imageio import read_binary

        if self.document is None:
            return False
        try:
            mask = read_binary(path)
        except ImageReadError as exc:
            self.report_error("Cannot use this FOV mask", str(exc))
            return False
        width, height = self.document.size
        if mask.shape != (height, width):
            self.report_error(
                "Cannot use this FOV mask",
                f"{Path(path).name}: the mask is {mask.shape[1]} × {mask.shape[0]} px, "
                f"the image {width} × {height} px; the current result is kept",
            )
            return False
        self.resegment(path)
        return True

    def export_dialog(self, kind: ViewMode) -> None:
        """Choose where to save the mask or overlay."""
        if self.document is None or self.document.result is None:
            return
        default = self._results_folder() / export_name(self.document.path, kind)
        path, _ = QFileDialog.getSaveFileName(
            self, f"Export {kind.label.lower()}", str(default), "PNG image (*.png)"
        )
        if path:
            if not path.lower().endswith(".png"):
                path += ".png"
            self.prefs = dataclasses.replace(self.prefs, export_folder=str(Path(path).parent))
            try:
                self.export_current(kind, path)
            except (OSError, ValueError) as exc:
                self.report_error("Cannot export", f"{path}: {exc}")

    def _results_folder(self) -> Path:
        """Where exports and reports are suggested: never the photographs' own folder."""
        photographs = self.document.path.parent.resolve()
        folder = Path(self.prefs.export_folder or default_output_folder(photographs))
        return default_output_folder(photographs) if folder.resolve() == photographs else folder

    def report_dialog(self) -> None:
        """File ▸ Save report: a one-page PDF of the image shown."""
        if self.document is None or self.document.result is None:
            return
        default = self._results_folder() / f"{self.document.path.stem}_report.pdf"
        path, _ = QFileDialog.getSaveFileName(
            self, "Save report", str(default), "PDF document (*.pdf)"
        )
        if path:
            if not path.lower().endswith(".pdf"):
                path += ".pdf"
            self.prefs = dataclasses.replace(self.prefs, export_folder=str(Path(path).parent))
            try:
                self.save_report(path)
            except (OSError, ValueError, UserInputError) as exc:
                self.report_error("Cannot save the report", str(exc))

    def save_report(self, path: str | Path) -> Path:
        """Write the report of the image shown, at the current threshold and scale.

        Raises:
            UserInputError: fpdf2 is missing or the file cannot be written.
            ValueError: No segmented image.
        """
        from runtime.eye_report import ReportPage, write_report
        from runtime.provenance import now
        from runtime.tiling import overlay

        document = self.document
        if document is None or document.result is None or self.engine is None:
            raise ValueError("no segmented image")
        result = document.result
        scale = self.prefs.scale
        measured = document.measured_threshold == self._threshold
        values = document.measurements if measured and document.measured_scale == scale else None
        if values is None:
            values = result.measure(self._threshold, scale)
        width, height = document.size
        page = ReportPage(
            name=document.path.name,
            photograph=document.image,
            overlay=overlay(document.image, result.rethreshold(self._threshold)),
            values=values,
            quality=result.quality.flag,
            scale=scale,
            settings=RunSettings.of(self.engine, self._threshold, scale).as_dict(),
            date=now(),
            facts={
                "Image": f"{width} x {height} px",
                "Field of view": "loaded from a mask file"
                if result.fov_source == "given"
                else "found automatically",
            },
        )
        written = write_report([page], path)
        self.statusBar().showMessage(f"Saved {written}", 5000)
        return written

    def batch_dialog_open(self, folder: str | Path | None = None) -> BatchDialog:
        """Show the batch window (for ``folder``, or the folder of the current image)."""
        dialog = self.batch_dialog
        dialog.set_engine(self.engine, self.prefs.threshold)
        dialog.set_scale(self.prefs.scale)
        if folder is not None:
            dialog.set_folder(folder)
        elif not dialog.input_edit.text() and self.document is not None:
            dialog.set_folder(self.document.path.parent)
        dialog.show()
        dialog.raise_()
        return dialog

    # ------------------------------------------------------------------------------ workers

    def _start_segmentation(self, path: Path, fov_path: str | Path | None = None) -> None:
        self._cancel_segmentation()
        self._pending_path = path
        if self.engine is None:
            if self._model_worker is None:  # No model coming: show the photograph only.
                self._start_reading(path)
            return  # Otherwise segmented when the model is ready.
        worker = Worker(
            segment_image,
            self.engine,
            path,
            threshold=self._threshold,
            fov_path=fov_path,
            scale=self.prefs.scale,
            cancellable=True,
            reports_progress=True,
        )
        worker.signals.progress.connect(self._segment_progress)
        worker.signals.finished.connect(self._segment_done)
        worker.signals.failed.connect(self._segment_failed)
        self._segment_worker = worker
        self._set_busy(f"Segmenting {path.name}…")
        self._inference.start(worker)

    def _start_reading(self, path: Path) -> None:
        worker = Worker(read_image, path)
        worker.signals.finished.connect(self._segment_preview)
        worker.signals.failed.connect(self._segment_failed)
        self._segment_worker = worker
        self._set_busy(f"Reading {path.name}…")
        self._inference.start(worker)

    def _cancel_segmentation(self) -> None:
        if self._segment_worker is not None:
            self._segment_worker.cancel()
            self._segment_worker = None
        self._pending_path = None
        self._set_busy(None)

    def _from_current(self, worker: Worker | None) -> bool:
        """Whether the signal being handled comes from ``worker`` (stale ones are ignored)."""
        return worker is not None and self.sender() is worker.signals

    def _segment_progress(self, update: ImageDocument | TileProgress) -> None:
        if not isinstance(update, TileProgress):
            self._segment_preview(update)
        elif self._from_current(self._segment_worker) and update.total > 1:
            self.progress.setRange(0, update.total)  # A real percentage for a tiled image.
            self.progress.setValue(update.done)

    def _segment_preview(self, document: ImageDocument) -> None:
        if not self._from_current(self._segment_worker):
            return
        current = self.document
        if current is not None and current.path == document.path and current.result is not None:
            return  # Segmenting the image shown again: keep its result until the new one.
        if self.engine is None:  # Only read: nothing more is coming.
            self._segment_worker = None
            self._pending_path = None
            self._set_busy(None)
        self._set_document(document)

    def _segment_done(self, document: ImageDocument) -> None:
        if not self._from_current(self._segment_worker):
            return
        self._segment_worker = None
        self._pending_path = None
        self._set_busy(None)
        self._cache[document.path] = document
        while len(self._cache) > 1 and sum(map(document_bytes, self._cache.values())) > (
            MAX_CACHE_BYTES
        ):
            self._cache.popitem(last=False)  # The least recently shown goes first.
        self._set_document(document)
        result = document.result
        self.statusBar().showMessage(
            f"Segmented {document.path.name} in {result.seconds:.2f} s on "
            f"{provider_label(result.provider)}",
            8000,
        )
        self.image_segmented.emit(document)

    def _segment_failed(self, message: str) -> None:
        if not self._from_current(self._segment_worker):
            return
        path = self._pending_path
        self._segment_worker = None
        self._pending_path = None
        self._set_busy(None)
        if self.document is not None:  # The list goes back to the image still on screen.
            self.image_list.select_path(self.document.path)
        name = path.name if path is not None else "image"
        text = message if path is not None and str(path) in message else f"{name}: {message}"
        self.report_error(f"Cannot segment {name}", text)
        self.segmentation_failed.emit(text)

    def _model_ready(self, engine: VesselEngine) -> None:
        if not self._from_current(self._model_worker):
            return
        self._model_worker = None
        self._set_busy(None)
        self.engine = engine
        self._cache.clear()
        self._load_calibration()
        if self.prefs.threshold is None:
            self._threshold = self.base_threshold
        self.side.controls.set_threshold(
            self._threshold, self.base_threshold, camera=self.calibration is not None
        )
        self._show_threshold_state()
        name = engine.card.name or engine.model_path.stem
        self._show_model_label(engine)
        self.batch_dialog.set_engine(engine, self._batch_threshold())
        self.statusBar().showMessage(
            f"Model {name} loaded ({self._model_origin}); "
            f"runs on {provider_label(engine.provider)}",
            8000,
        )
        self._update_actions()
        self.model_loaded.emit(engine)
        pending = self._pending_path or (self.document.path if self.document else None)
        if pending is not None:
            self._start_segmentation(pending)
        else:
            self._show_welcome()

    def _show_model_label(self, engine: VesselEngine) -> None:
        """The status bar's model box: name, version, provider, TTA, camera calibration."""
        name = engine.card.name or engine.model_path.stem
        version = engine.card.version or "?"
        tta = " · TTA" if engine.tta else ""
        camera = ""
        if self.calibration is not None:
            named = self.calibration.camera or Path(self.prefs.calibration).stem
            camera = f" · calibrated: {named}"
        self.model_label.setText(
            f"Model {name} {version} · {provider_label(engine.provider)}{tta}{camera}"
        )
        self.model_label.setToolTip(f"{engine.model_path} ({self._model_origin})")

    def _model_error(self, message: str) -> None:
        if not self._from_current(self._model_worker):
            return
        self._model_worker = None
        self._set_busy(None)
        self._update_actions()
        if self.engine is None:
            self._show_no_model(message)
        self.report_error("Cannot load the model", message)
        self.model_failed.emit(message)

    def _measure(self) -> None:
        document = self.document
        if document is None or document.result is None:
            return
        if not self._needs_measuring(document):
            self._show_measurements(document)
            return
        if self._measure_worker is not None:
            self._measure_worker.cancel()
        scale = self.prefs.scale
        worker = Worker(measure_result, document.result, self._threshold, scale)
        worker.signals.finished.connect(self._measured)
        worker.signals.failed.connect(self._measure_failed)
        self._measure_worker = worker
        self._measure_request = (document, self._threshold, scale)
        self._background.start(worker)

    def _measured(self, measurements: dict[str, Any]) -> None:
        if not self._from_current(self._measure_worker):
            return
        self._measure_worker = None
        document, threshold, scale = self._measure_request or (None, None, None)
        if document is None:
            return
        document.measurements = measurements
        document.measured_threshold = threshold
        document.measured_scale = scale
        if document is self.document:
            self._show_measurements(document)
            if self._needs_measuring(document):
                self._measure_timer.start()
        self.measurements_updated.emit(document)

    def _measure_failed(self, message: str) -> None:
        if self._from_current(self._measure_worker):
            self._measure_worker = None
            self.report_error("Cannot measure", message)

    def _batch_finished(self, outcome: Any) -> None:
        self.statusBar().showMessage(f"Batch: {outcome.summary()}", 15000)

    # ------------------------------------------------------------------------------ display

    def _set_document(self, document: ImageDocument) -> None:
        self.prefs = self.prefs.with_recent(document.path)  # Open Recent: files that opened.
        self.image_list.select_path(document.path)  # The list always shows what is on screen.
        first = self.document is None or self.document.path != document.path
        self.document = document
        self.stack.setCurrentWidget(self.view)
        self.setWindowTitle(f"{document.path.name} — {APPLICATION_TITLE}")
        self.side.facts.show_facts(image_facts(document))
        if document.result is not None and self._needs_measuring(document):
            self.side.measurements.show_updating()
            self._measure_timer.start()
        else:
            self._show_measurements(document)
        self._render()
        if first:
            self.view.fit_to_window()
        self._update_actions()
        self.image_shown.emit(document)

    def _needs_measuring(self, document: ImageDocument) -> bool:
        """Whether the document's measurements are for another threshold or scale."""
        return (
            document.measured_threshold != self._threshold
            or document.measured_scale != self.prefs.scale
        )

    def _show_measurements(self, document: ImageDocument) -> None:
        result = document.result
        self.side.measurements.show_measurements(
            document.measurements,
            document.measured_threshold,
            document.measured_scale or self.prefs.scale,
            result.quality if result is not None else None,
        )
        self.side.facts.show_facts(image_facts(document))

    def _schedule_render(self) -> None:
        self._render_timer.start()

    def _render(self) -> None:
        self._render_timer.stop()
        self.side.colour_bar.setVisible(self._mode is ViewMode.PROBABILITY)
        self.side.colour_bar.show_threshold(self._threshold)
        if self.document is not None:
            self._displayed = compose(self.document.image, self.document.result, self.display)
            self.view.set_array(self._displayed)
        self.rendered.emit()

    def _set_image_list(self, paths: list[Path]) -> None:
        self.image_list.set_paths(paths)
        self.list_dock.setVisible(len(paths) > 1)
        self._update_actions()

    def _step(self, offset: int) -> None:
        paths = self.image_list.paths()
        if not paths or self.document is None or self.document.path not in paths:
            return
        index = paths.index(self.document.path) + offset
        if 0 <= index < len(paths):
            self.show_image(paths[index])

    def _show_welcome(self) -> None:
        if self.document is not None:
            return
        self.welcome_text.setText(
            f"<h2>{APPLICATION_TITLE}</h2><p>Drop fundus photographs or a folder here,<br>"
            "or open them with Ctrl+O.</p>"
        )
        self.choose_model_button.setVisible(False)
        self.stack.setCurrentWidget(self.welcome)

    def _show_no_model(self, reason: str) -> None:
        self.model_label.setText("No model")
        self.welcome_text.setText(
            f"<h2>{APPLICATION_TITLE}</h2><p><b>No vessel model is loaded.</b></p><p>{reason}</p>"
        )
        self.choose_model_button.setVisible(True)
        self.stack.setCurrentWidget(self.welcome)
        self._update_actions()

    def _set_busy(self, message: str | None) -> None:
        busy = message is not None
        self.progress.setRange(0, 0)  # Busy indicator (no text) until tiles are reported.
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy and self._segment_worker is not None)
        self.cancel_action.setEnabled(self._segment_worker is not None)
        if busy:
            self.statusBar().showMessage(message)
        else:
            self.statusBar().clearMessage()

    def _show_threshold_state(self) -> None:
        """Say prominently (status bar, threshold box) when the threshold is not the model's."""
        model = self.base_threshold if self.engine is not None else None
        custom = model is not None and abs(self._threshold - model) > 5e-5
        self.side.controls.mark_custom(custom)
        self.threshold_label.setVisible(custom)
        if custom:
            whose = "camera's" if self.calibration is not None else "model's"
            self.threshold_label.setText(
                f"⚠ Threshold {self._threshold:.3f} ({whose}: {model:.3f})"
            )

    def _zoom_changed(self, zoom: float) -> None:
        fit = "fit, " if self.view.fitting else ""
        self.zoom_label.setText(f"{fit}{100 * zoom:.0f} %")

    def _update_actions(self) -> None:
        segmented = self.document is not None and self.document.result is not None
        for action in (self.export_mask_action, self.export_overlay_action, self.report_action):
            action.setEnabled(segmented)
        has_image = self.document is not None
        for action in (self.resegment_action, self.fov_action):
            action.setEnabled(has_image and self.engine is not None)
        self.clear_calibration_action.setEnabled(bool(self.prefs.calibration))
        several = self.image_list.count() > 1
        self.next_action.setEnabled(several)
        self.previous_action.setEnabled(several)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        recent = existing_recent(self.prefs.recent_files)
        for path in recent:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.triggered.connect(lambda _=False, p=path: self.open_paths([p]))
        if not recent:
            self.recent_menu.addAction("No recent files").setEnabled(False)
        self.recent_menu.addSeparator()
        clear = self.recent_menu.addAction("Clear list")
        clear.setEnabled(bool(recent))
        clear.triggered.connect(
            lambda: setattr(self, "prefs", dataclasses.replace(self.prefs, recent_files=[]))
        )

    # -------------------------------------------------------------------------- Qt events

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override.
        """Accept dragged files and folders (what they are is checked on drop)."""
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override.
        """Open dropped images, folders or a model; refuse anything else with a message."""
        paths = [url.toLocalFile() for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override.
        """Save the preferences, stop the workers."""
        from desktop.settings import save_preferences

        save_preferences(self.prefs)
        self.batch_dialog.cancel()
        for pool in (self._inference, self._background, self._batch_pool):
            pool.cancel_all()
            pool.wait(5000)
        super().closeEvent(event)


def _single_shot(parent: QObject, msecs: int, slot: Any) -> QTimer:
    timer = QTimer(parent)
    timer.setSingleShot(True)
    timer.setInterval(msecs)
    timer.timeout.connect(slot)
    return timer
