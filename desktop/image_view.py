"""A zoom-and-pan image view: wheel zooms under the cursor, dragging pans, fit to window.

The view shows one numpy image (gray or RGB). It keeps "fit to window" on while the user has
not zoomed, so resizing the window keeps the whole image visible; once the user zooms, the zoom
and position stay as they are when the picture changes (switching views or moving a slider
never jumps).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPixmap, QResizeEvent, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

#: Zoom factor of one wheel notch / zoom step.
ZOOM_STEP = 1.25
#: Zoom range relative to the image's pixels.
MIN_ZOOM, MAX_ZOOM = 0.02, 40.0
#: From this zoom on, pixels are drawn as sharp squares (to inspect the mask pixel by pixel).
SHARP_PIXELS_FROM = 3.0


def array_to_qimage(array: np.ndarray) -> QImage:
    """A deep-copied ``QImage`` of an ``(H, W)`` gray or ``(H, W, 3)`` RGB uint8 array.

    Raises:
        ValueError: Another shape or dtype.
    """
    gray = array.ndim == 2
    rgb = array.ndim == 3 and array.shape[2] == 3
    if array.dtype != np.uint8 or not (gray or rgb):
        raise ValueError(f"expected (H, W) or (H, W, 3) uint8, got {array.shape} {array.dtype}")
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    if gray:
        image = QImage(array.data, width, height, width, QImage.Format.Format_Grayscale8)
    else:
        image = QImage(array.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy()  # The QImage above borrows the array's memory.


class ImageView(QGraphicsView):
    """Shows an image with wheel zoom under the cursor, drag to pan and fit to window.

    Signals:
        zoom_changed(float): The scale of image pixels on screen (1.0: one to one).
    """

    zoom_changed = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self._item = QGraphicsPixmapItem()
        self._scene.addItem(self._item)
        self.setScene(self._scene)
        self.setBackgroundBrush(QColor(32, 32, 32))
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        # Panning is by dragging; hidden scroll bars also keep "fit" the same size whether or
        # not the image was zoomed before.
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setAcceptDrops(False)  # Dropped files go to the main window.
        self._fit = True
        self.zoom_changed.connect(self._choose_smoothing)
        self._choose_smoothing(1.0)

    @property
    def has_image(self) -> bool:
        """Whether an image is shown."""
        return not self._item.pixmap().isNull()

    @property
    def zoom(self) -> float:
        """Screen pixels per image pixel."""
        return self.transform().m11()

    @property
    def fitting(self) -> bool:
        """Whether the view keeps the whole image fitted to the window."""
        return self._fit

    def set_array(self, array: np.ndarray) -> None:
        """Show ``array`` (gray or RGB uint8), keeping the zoom unless the size changed."""
        pixmap = QPixmap.fromImage(array_to_qimage(array))
        resized = pixmap.size() != self._item.pixmap().size()
        self._item.setPixmap(pixmap)
        if resized:
            self._scene.setSceneRect(QRectF(pixmap.rect()))
            self.fit_to_window()

    def fit_to_window(self) -> None:
        """Scale the image to fit the view and keep it fitted on resize."""
        self._fit = True
        if self.has_image:
            self.fitInView(self._item, Qt.AspectRatioMode.KeepAspectRatio)
            self.zoom_changed.emit(self.zoom)

    def actual_size(self) -> None:
        """One image pixel per screen pixel."""
        self.set_zoom(1.0)

    def zoom_by(self, factor: float) -> None:
        """Zoom by ``factor`` around the cursor (or the centre), within the zoom range."""
        self.set_zoom(self.zoom * factor)

    def set_zoom(self, zoom: float) -> None:
        """Set the scale of image pixels on screen (clamped to the zoom range)."""
        if not self.has_image:
            return
        zoom = min(max(zoom, MIN_ZOOM), MAX_ZOOM)
        factor = zoom / self.zoom
        if factor != 1.0:
            self.scale(factor, factor)
        self._fit = False
        self.zoom_changed.emit(self.zoom)

    def _choose_smoothing(self, zoom: float) -> None:
        smooth = zoom < SHARP_PIXELS_FROM
        mode = Qt.TransformationMode
        self._item.setTransformationMode(
            mode.SmoothTransformation if smooth else mode.FastTransformation
        )
        self.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, smooth)

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override.
        """Zoom under the cursor: one notch is one :data:`ZOOM_STEP`."""
        steps = event.angleDelta().y() / 120.0
        if steps and self.has_image:
            self.zoom_by(ZOOM_STEP**steps)
            event.accept()
        else:
            super().wheelEvent(event)

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override.
        """Keep the image fitted while the user has not zoomed."""
        super().resizeEvent(event)
        if self._fit:
            self.fit_to_window()
