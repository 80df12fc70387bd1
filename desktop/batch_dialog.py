"""The batch window: segment a folder with a per-image progress table and Cancel.

The run itself is :func:`desktop.batch.run_batch` (the segment CLI's batch) in a worker; this
window only chooses the folders, shows each image's status as it changes and sums up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QUrl, Signal
from PySide6.QtGui import QBrush, QCloseEvent, QColor, QDesktopServices
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.batch import (
    BatchItem,
    BatchOutcome,
    Status,
    batch_jobs,
    check_output_folder,
    default_output_folder,
    run_batch,
)
from desktop.formatting import measurement_value
from desktop.workers import Worker, WorkerPool
from runtime.errors import UserInputError
from runtime.measurements import MEASUREMENTS
from runtime.units import Scale

if TYPE_CHECKING:
    from runtime.batch import Job
    from runtime.engine import VesselEngine

#: Table columns: title and the measurement key shown (``None``: not a measurement); the
#: measurement titles are their ``short`` names in :data:`runtime.measurements.MEASUREMENTS`.
COLUMNS: tuple[tuple[str, str | None], ...] = (
    ("Image", None),
    ("Status", None),
    ("Time", None),
    *((m.short, m.key) for m in MEASUREMENTS if m.short),
    ("Message", None),
)
MEASUREMENT_COLUMNS = {m.key: m for m in MEASUREMENTS}
_STATUS_COLOURS = {
    Status.RUNNING: QColor(40, 110, 220),
    Status.DONE: QColor(20, 140, 60),
    Status.SKIPPED: QColor(110, 110, 110),
    Status.FAILED: QColor(200, 30, 30),
    Status.REJECTED: QColor(200, 30, 30),
    Status.CANCELLED: QColor(200, 120, 0),
}


class BatchDialog(QDialog):
    """Choose an input and an output folder, run, watch, cancel, open the results.

    Signals:
        batch_finished(object): The :class:`~desktop.batch.BatchOutcome` of a run.
        batch_failed(str): The run stopped with an error (e.g. the output folder is not
            writable).
    """

    batch_finished = Signal(object)
    batch_failed = Signal(str)

    def __init__(self, pool: WorkerPool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch segmentation")
        self.resize(820, 480)
        self._pool = pool
        self._engine: VesselEngine | None = None
        self._threshold: float | None = None
        self._scale = Scale()
        self._jobs: list[Job] = []
        self._items: list[BatchItem] = []
        self._worker: Worker | None = None
        self.last_outcome: BatchOutcome | None = None

        self.input_edit = QLineEdit()
        self.input_edit.setReadOnly(True)
        self.input_edit.setPlaceholderText("folder of fundus photographs")
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("where masks, overlays and measurements.csv go")
        input_button = QPushButton("Choose…")
        input_button.clicked.connect(self._choose_input)
        output_button = QPushButton("Choose…")
        output_button.clicked.connect(self._choose_output)
        self.force_box = QCheckBox("Redo images already done")
        self.force_box.setToolTip(
            "Without this, images whose results exist (same model, threshold and scale) are skipped"
        )
        self.settings_label = QLabel()
        self.settings_label.setWordWrap(True)

        self.table = QTableWidget(0, len(COLUMNS))
        self._set_headers()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)

        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m images")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open output folder")
        self.open_button.clicked.connect(self._open_output)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)

        form = QFormLayout()
        form.addRow("Input folder", _row(self.input_edit, input_button))
        form.addRow("Output folder", _row(self.output_edit, output_button))
        form.addRow("", self.force_box)
        form.addRow("Settings", self.settings_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.summary, 1)
        for button in (self.open_button, self.start_button, self.cancel_button, close_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.progress)
        layout.addLayout(buttons)
        self._set_running(False)

    @property
    def running(self) -> bool:
        """Whether a batch is running."""
        return self._worker is not None

    def set_engine(self, engine: VesselEngine | None, threshold: float | None = None) -> None:
        """The engine and threshold (``None``: the model's) the next run uses."""
        self._engine, self._threshold = engine, threshold
        self._show_settings()
        self._set_running(self.running)

    def set_scale(self, scale: Scale) -> None:
        """The units of lengths and widths of the next run."""
        self._scale = scale
        self._set_headers()
        self._show_settings()

    def _set_headers(self) -> None:
        titles = [
            MEASUREMENT_COLUMNS[key].title(self._scale, short=True) if key else title
            for title, key in COLUMNS
        ]
        self.table.setHorizontalHeaderLabels(titles)

    def _show_settings(self) -> None:
        """Model, threshold and scale the next run uses, said before it starts."""
        engine = self._engine
        if engine is None:
            self.settings_label.setText("No model loaded")
            return
        threshold = engine.threshold if self._threshold is None else self._threshold
        own = "the model's" if self._threshold is None else f"model's: {engine.threshold:.4f}"
        self.settings_label.setText(
            f"Model {engine.card.name} {engine.card.version} · threshold {threshold:.4f} "
            f"({own}) · TTA {'on' if engine.tta else 'off'} · scale: {self._scale.describe()}"
        )

    def set_folder(self, folder: str | Path) -> bool:
        """List the images of ``folder`` and suggest an output folder.

        Returns:
            Whether the folder holds images (otherwise the summary says why not).
        """
        folder = Path(folder)
        try:
            self._jobs = batch_jobs(folder)
        except UserInputError as exc:
            self._jobs = []
            self._say(str(exc), error=True)
        self.input_edit.setText(str(folder))
        if not self.output_edit.text():
            self.output_edit.setText(str(default_output_folder(folder)))
        self._fill_table([BatchItem(str(job.relative), job.source) for job in self._jobs])
        if self._jobs:
            self._say(f"{len(self._jobs)} image(s) in {folder.name}")
        elif not self.summary.text():
            self._say(f"{folder}: no image files in this folder", error=True)
        self._set_running(False)
        return bool(self._jobs)

    def set_output(self, folder: str | Path) -> None:
        """Write the results to ``folder``."""
        self.output_edit.setText(str(folder))

    def start(self) -> None:
        """Start the run (the summary says why when it cannot start)."""
        if self.running:
            return
        if self._engine is None:
            self._say("No model is loaded: choose one in the main window first.", error=True)
            return
        if not self._jobs:
            self._say("Choose a folder that holds images first.", error=True)
            return
        out_dir = Path(self.output_edit.text().strip() or default_output_folder(self._folder()))
        try:
            check_output_folder(self._folder(), out_dir, self._jobs)
        except UserInputError as exc:
            self._say(str(exc), error=True)
            return
        self.output_edit.setText(str(out_dir))
        self._fill_table([BatchItem(str(job.relative), job.source) for job in self._jobs])
        worker = Worker(
            run_batch,
            self._engine,
            self._jobs,
            out_dir,
            force=self.force_box.isChecked(),
            threshold=self._threshold,
            scale=self._scale,
            cancellable=True,
            reports_progress=True,
        )
        worker.signals.progress.connect(self._update_rows)
        worker.signals.finished.connect(self._finished)
        worker.signals.failed.connect(self._failed)
        self._worker = worker
        self._set_running(True)
        self._say(f"Segmenting {len(self._jobs)} image(s) into {out_dir} …")
        self._pool.start(worker)

    def cancel(self) -> None:
        """Stop after the image being segmented (the results so far are kept)."""
        if self._worker is not None:
            self._worker.cancel()
            self.cancel_button.setEnabled(False)
            self._say("Cancelling after the current image…")

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt override.
        """Closing the window cancels a running batch."""
        self.cancel()
        super().closeEvent(event)

    def row_status(self, row: int) -> str:
        """The status text of a table row (for tests and screenshots)."""
        return self.table.item(row, 1).text()

    def _folder(self) -> Path:
        return Path(self.input_edit.text())

    def _fill_table(self, items: list[BatchItem]) -> None:
        self._items = list(items)
        self.table.setRowCount(len(items))
        for row, item in enumerate(items):
            self._show_item(row, item)
        self.progress.setRange(0, max(len(items), 1))
        self.progress.setValue(0)

    def _show_item(self, row: int, item: BatchItem) -> None:
        values = item.row or {}
        seconds = values.get("seconds")
        texts = [
            item.name,
            item.status.value,
            "" if seconds is None or item.status is Status.SKIPPED else f"{seconds:.2f} s",
        ]
        texts += [measurement_value(key, values.get(key), self._scale) for _, key in COLUMNS if key]
        texts.append(item.problem)
        for column, text in enumerate(texts):
            cell = QTableWidgetItem(text)
            if column == 1 and item.status in _STATUS_COLOURS:
                cell.setForeground(QBrush(_STATUS_COLOURS[item.status]))
            if column == len(texts) - 1:
                cell.setToolTip(item.message)
            self.table.setItem(row, column, cell)

    def _update_rows(self, changed: list[tuple[int, BatchItem]]) -> None:
        for row, item in changed:
            self._items[row] = item
            self._show_item(row, item)
            if item.status is Status.RUNNING:
                self.table.scrollToItem(self.table.item(row, 0))
        self.progress.setValue(sum(item.status.finished for item in self._items))

    def _finished(self, outcome: BatchOutcome) -> None:
        self._worker = None
        self.last_outcome = outcome
        self._set_running(False)
        self.progress.setValue(self.progress.maximum())
        prefix = "Cancelled: " if outcome.cancelled else "Finished: "
        where = ""
        if outcome.csv_path.is_file():
            where = f". Results in {outcome.out_dir.name}/ ({outcome.csv_path.name})"
        self._say(prefix + outcome.summary() + where)
        self.summary.setToolTip(str(outcome.csv_path))
        self.batch_finished.emit(outcome)

    def _failed(self, message: str) -> None:
        self._worker = None
        self._set_running(False)
        self._say(f"Batch stopped: {message}", error=True)
        self.batch_failed.emit(message)

    def _set_running(self, running: bool) -> None:
        self.start_button.setEnabled(not running and self._engine is not None and bool(self._jobs))
        self.cancel_button.setEnabled(running)
        self.force_box.setEnabled(not running)
        self.output_edit.setEnabled(not running)
        self.open_button.setEnabled(not running and Path(self.output_edit.text()).is_dir())

    def _say(self, text: str, error: bool = False) -> None:
        self.summary.setText(text)
        self.summary.setStyleSheet("color: rgb(200, 30, 30);" if error else "")

    def _choose_input(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of images", self.input_edit.text())
        if folder:
            self.output_edit.clear()
            self.set_folder(folder)

    def _choose_output(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Output folder", self.output_edit.text() or self.input_edit.text()
        )
        if folder:
            self.set_output(folder)
            self._set_running(self.running)

    def _open_output(self) -> None:
        QDesktopServices.openUrl(QUrl.fromLocalFile(self.output_edit.text()))


def _row(*widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(widgets[0], 1)
    for widget in widgets[1:]:
        layout.addWidget(widget)
    return box
