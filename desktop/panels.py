"""The side panels: display controls, vessel measurements, image facts, the list of images.

They show values and emit what the user changed; the main window decides what happens.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QColorDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop.formatting import FACT_LABELS, measurement_rows
from desktop.preferences import PRESET_COLOURS, colour_to_hex
from runtime.quality import Quality
from runtime.units import Scale

#: Threshold slider resolution: steps between 0 and 1.
THRESHOLD_STEPS = 1000


def colour_icon(colour: tuple[int, int, int], size: int = 14) -> QIcon:
    """A filled square of ``colour`` (for the colour button and menu)."""
    pixmap = QPixmap(size, size)
    pixmap.fill(QColor(*colour))
    return QIcon(pixmap)


class DisplayControls(QGroupBox):
    """Threshold, opacity and overlay colour.

    Signals:
        threshold_changed(float): The user moved the threshold slider or typed a value.
        threshold_reset(): The user asked for the model's own threshold.
        opacity_changed(float): New overlay opacity in [0, 1].
        colour_changed(object): New overlay colour as an RGB tuple.
    """

    threshold_changed = Signal(float)
    threshold_reset = Signal()
    opacity_changed = Signal(float)
    colour_changed = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Display", parent)
        self.threshold_slider = QSlider(Qt.Orientation.Horizontal)
        self.threshold_slider.setRange(1, THRESHOLD_STEPS - 1)
        self.threshold_slider.setPageStep(THRESHOLD_STEPS // 20)
        self.threshold_slider.setToolTip("Probability at or above which a pixel counts as vessel")
        self.threshold_box = QDoubleSpinBox()
        self.threshold_box.setRange(1 / THRESHOLD_STEPS, 1 - 1 / THRESHOLD_STEPS)
        self.threshold_box.setDecimals(4)
        self.threshold_box.setSingleStep(0.01)
        self.threshold_box.setKeyboardTracking(False)
        self.reset_button = QToolButton()
        self.reset_button.setText("Model")
        self.reset_button.setToolTip("Use the threshold the model was tuned to")
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setToolTip("Opacity of the vessel colour in the overlay")
        self.opacity_label = QLabel()
        self.opacity_label.setMinimumWidth(40)
        self.opacity_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.colour_button = QPushButton()
        self.colour_button.setToolTip("Colour of the vessels in the overlay")
        menu = QMenu(self.colour_button)
        for name, rgb in PRESET_COLOURS.items():
            action = menu.addAction(colour_icon(rgb), name)
            action.triggered.connect(lambda _=False, rgb=rgb: self._pick(rgb))
        menu.addSeparator()
        menu.addAction("Other colour…").triggered.connect(self._pick_other)
        self.colour_button.setMenu(menu)
        self._colour: tuple[int, int, int] = next(iter(PRESET_COLOURS.values()))
        self.custom_threshold = False

        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.threshold_slider, 1)
        threshold_row.addWidget(self.threshold_box)
        threshold_row.addWidget(self.reset_button)
        opacity_row = QHBoxLayout()
        opacity_row.addWidget(self.opacity_slider, 1)
        opacity_row.addWidget(self.opacity_label)
        form = QFormLayout(self)
        form.addRow("Threshold", threshold_row)
        form.addRow("Opacity", opacity_row)
        form.addRow("Colour", self.colour_button)

        self.threshold_slider.valueChanged.connect(self._slider_moved)
        self.threshold_box.valueChanged.connect(self._box_changed)
        self.reset_button.clicked.connect(self.threshold_reset)
        self.opacity_slider.valueChanged.connect(self._opacity_moved)

    @property
    def threshold(self) -> float:
        """The threshold shown."""
        return self.threshold_box.value()

    @property
    def opacity(self) -> float:
        """The opacity shown, in [0, 1]."""
        return self.opacity_slider.value() / 100.0

    @property
    def colour(self) -> tuple[int, int, int]:
        """The overlay colour shown."""
        return self._colour

    def set_threshold(
        self, threshold: float, model_threshold: float | None = None, camera: bool = False
    ) -> None:
        """Show ``threshold`` without emitting ``threshold_changed``.

        Args:
            threshold: The threshold in use.
            model_threshold: Where the reset button goes (``None``: unchanged).
            camera: ``model_threshold`` is a camera calibration's, not the model's own.
        """
        for widget in (self.threshold_slider, self.threshold_box):
            widget.blockSignals(True)
        self.threshold_box.setValue(threshold)
        self.threshold_slider.setValue(round(threshold * THRESHOLD_STEPS))
        for widget in (self.threshold_slider, self.threshold_box):
            widget.blockSignals(False)
        if model_threshold is not None:
            self.reset_button.setText("Camera" if camera else "Model")
            whose = "your camera's calibration" if camera else "the model was tuned to"
            self.reset_button.setToolTip(f"Use the threshold {whose} ({model_threshold:.3f})")

    def mark_custom(self, custom: bool) -> None:
        """Highlight the threshold box when the threshold is not the model's own."""
        self.threshold_box.setStyleSheet(
            "background: rgb(255, 200, 120); font-weight: bold;" if custom else ""
        )
        self.custom_threshold = custom

    def set_opacity(self, opacity: float) -> None:
        """Show ``opacity`` without emitting ``opacity_changed``."""
        self.opacity_slider.blockSignals(True)
        self.opacity_slider.setValue(round(opacity * 100))
        self.opacity_slider.blockSignals(False)
        self.opacity_label.setText(f"{self.opacity_slider.value()} %")

    def set_colour(self, colour: tuple[int, int, int]) -> None:
        """Show ``colour`` without emitting ``colour_changed``."""
        self._colour = tuple(colour)  # type: ignore[assignment]
        self.colour_button.setIcon(colour_icon(self._colour))
        names = {rgb: name for name, rgb in PRESET_COLOURS.items()}
        self.colour_button.setText(names.get(self._colour, colour_to_hex(self._colour)))

    def _slider_moved(self, value: int) -> None:
        self.threshold_box.blockSignals(True)
        self.threshold_box.setValue(value / THRESHOLD_STEPS)
        self.threshold_box.blockSignals(False)
        self.threshold_changed.emit(value / THRESHOLD_STEPS)

    def _box_changed(self, value: float) -> None:
        self.threshold_slider.blockSignals(True)
        self.threshold_slider.setValue(round(value * THRESHOLD_STEPS))
        self.threshold_slider.blockSignals(False)
        self.threshold_changed.emit(value)

    def _opacity_moved(self, value: int) -> None:
        self.opacity_label.setText(f"{value} %")
        self.opacity_changed.emit(value / 100.0)

    def _pick(self, colour: tuple[int, int, int]) -> None:
        self.set_colour(colour)
        self.colour_changed.emit(self._colour)

    def _pick_other(self) -> None:
        chosen = QColorDialog.getColor(QColor(*self._colour), self, "Vessel colour")
        if chosen.isValid():
            self._pick((chosen.red(), chosen.green(), chosen.blue()))


class _FormPanel(QGroupBox):
    """A titled two-column list of labels and values."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(title, parent)
        self._form = QFormLayout(self)
        self._form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self._values: dict[str, QLabel] = {}

    def _show_rows(self, rows: Sequence[tuple[str, str, str]]) -> None:
        for label, value, tip in rows:
            if label not in self._values:
                widget = QLabel()
                widget.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                widget.setWordWrap(True)
                name = QLabel(label)
                self._form.addRow(name, widget)
                self._values[label] = widget
            self._values[label].setText(value)
            self._values[label].setToolTip(tip)
            self._form.labelForField(self._values[label]).setToolTip(tip)

    def value(self, label: str) -> str:
        """The text shown for ``label`` (``""`` when absent)."""
        widget = self._values.get(label)
        return widget.text() if widget is not None else ""


class MeasurementsPanel(_FormPanel):
    """Vessel measurements of the current image, with the threshold they belong to."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Vessel measurements", parent)
        self.note = QLabel()
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: palette(mid);")
        self._form.addRow(self.note)
        self.show_measurements({}, None)

    def show_measurements(
        self,
        measurements: dict,
        threshold: float | None,
        scale: Scale | None = None,
        quality: Quality | None = None,
    ) -> None:
        """Show ``measurements`` (empty: dashes) measured at ``threshold`` with ``scale``.

        The ``Quality`` row says whether the photograph passed the quality gate (in red, with
        the reasons, when it did not: then no value is shown); the ``Scale`` row says where the
        units come from.
        """
        scale = scale or Scale()
        rejected = quality is not None and not quality.ok
        self._show_rows(measurement_rows({} if rejected else measurements, scale))
        quality_text = "–" if quality is None else quality.flag
        self._show_rows(
            [
                ("Quality", quality_text, "Quality gate: FOV, exposure, sharpness, colour"),
                ("Scale", scale.describe(), "Where the units of lengths and widths come from"),
            ]
        )
        self._values["Quality"].setStyleSheet(
            "color: rgb(200, 30, 30); font-weight: bold;" if rejected else ""
        )
        if threshold is None or (not measurements and not rejected):
            self.note.setText("no segmentation yet")
        elif rejected:
            self.note.setText("not measured: the photograph failed the quality gate")
        else:
            self.note.setText(f"at the measurement scale, in the FOV, threshold {threshold:.4g}")

    def show_updating(self) -> None:
        """Say the values are being recomputed for a new threshold."""
        self.note.setText("updating…")


class FactsPanel(_FormPanel):
    """Facts about the current image and how it was segmented."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Image", parent)
        self.show_facts([(label, "–") for label in FACT_LABELS])

    def show_facts(self, facts: Sequence[tuple[str, str]]) -> None:
        """Show ``(label, value)`` rows."""
        self._show_rows([(label, value, "") for label, value in facts])


class ColourBar(QGroupBox):
    """The key of the probability view: black is 0, white is 1, a tick at the threshold."""

    WIDTH, HEIGHT = 200, 14

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Vessel probability", parent)
        self.bar = QLabel()
        self.bar.setToolTip("Grey level of the probability view: the model's vessel probability")
        low, high = QLabel("0"), QLabel("1")
        self.threshold_text = QLabel()
        self.threshold_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        row = QHBoxLayout()
        row.addWidget(low)
        row.addWidget(self.bar, 1)
        row.addWidget(high)
        layout = QVBoxLayout(self)
        layout.addLayout(row)
        layout.addWidget(self.threshold_text)
        self.show_threshold(0.5)

    def show_threshold(self, threshold: float) -> None:
        """Draw the gradient with a red tick at ``threshold``."""
        ramp = np.repeat(np.linspace(0, 255, self.WIDTH).astype(np.uint8)[None, :], self.HEIGHT, 0)
        rgb = np.ascontiguousarray(np.repeat(ramp[..., None], 3, axis=2))
        x = min(self.WIDTH - 1, max(0, round(threshold * (self.WIDTH - 1))))
        rgb[:, max(0, x - 1) : x + 1] = (220, 30, 30)
        image = QImage(
            rgb.data, self.WIDTH, self.HEIGHT, 3 * self.WIDTH, QImage.Format.Format_RGB888
        )
        self.bar.setPixmap(QPixmap.fromImage(image.copy()))
        self.threshold_text.setText(f"red tick: threshold {threshold:.3f}")


class SidePanel(QWidget):
    """The right-hand column: display controls, measurements, image facts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls = DisplayControls()
        self.colour_bar = ColourBar()
        self.colour_bar.hide()  # Shown with the probability view.
        self.measurements = MeasurementsPanel()
        self.facts = FactsPanel()
        layout = QVBoxLayout(self)
        layout.addWidget(self.controls)
        layout.addWidget(self.colour_bar)
        layout.addWidget(self.measurements)
        layout.addWidget(self.facts)
        layout.addStretch(1)


class ImageListPanel(QListWidget):
    """The images opened (files or a folder); selecting one shows it.

    Signals:
        image_chosen(object): The ``Path`` the user selected.
    """

    image_chosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(False)
        self.currentItemChanged.connect(self._current_changed)

    def set_paths(self, paths: Sequence[Path]) -> None:
        """Replace the list (nothing selected)."""
        self.blockSignals(True)
        self.clear()
        for path in paths:
            item = QListWidgetItem(path.name)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            item.setToolTip(str(path))
            self.addItem(item)
        self.blockSignals(False)

    def paths(self) -> list[Path]:
        """The listed images, in order."""
        return [Path(self.item(i).data(Qt.ItemDataRole.UserRole)) for i in range(self.count())]

    def select_path(self, path: Path) -> None:
        """Highlight ``path`` without emitting ``image_chosen``."""
        self.blockSignals(True)
        for i in range(self.count()):
            if Path(self.item(i).data(Qt.ItemDataRole.UserRole)) == path:
                self.setCurrentRow(i)
        self.blockSignals(False)

    def _current_changed(self, current: QListWidgetItem | None, _previous: object) -> None:
        if current is not None:
            self.image_chosen.emit(Path(current.data(Qt.ItemDataRole.UserRole)))
