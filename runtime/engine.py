"""The onnxruntime engine: one session, any fundus image in, probability / mask / overlay out.

TensorFlow-free and Qt-free: the segment CLI, the benchmark, the evaluation of exported models
and the desktop app all call :class:`VesselEngine`.

Per image: read any common format (see :mod:`runtime.imageio`), take the FOV mask given or
estimate one (:mod:`runtime.fov`), rescale the image so its FOV is DRIVE-sized (the scale the
model was trained at) and map the result back, pad to the model's multiple or tile large images
with blended seams, optional flip TTA, threshold (from the model's metadata unless overridden),
restrict the mask to the FOV. :meth:`VesselEngine.segment` reports each tile it has run and can
stop between tiles (:class:`Cancelled`), so a caller can show progress and offer Cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.constants import DRIVE_FOV_DIAMETER, RESCALE_TOLERANCE
from runtime.onnx_session import OnnxModel, choose_providers
from runtime.tiling import TileCallback, binary_mask, overlay, predict_tiled, tile_count


class Cancelled(Exception):  # noqa: N818 - a state, like ``asyncio.CancelledError``.
    """A run stopped because its caller asked it to (``should_stop`` returned True)."""


@dataclass
class SegmentationResult:
    """What the engine returns for one image (all arrays at the image's original size)."""

    probability: np.ndarray  # (H, W) float32 in [0, 1]
    mask: np.ndarray  # (H, W) bool, inside the FOV only
    fov: np.ndarray  # (H, W) bool
    fov_source: str  # "given" or "estimated"
    threshold: float
    scale: float  # factor the image was resized by for inference (1.0: not resized)
    tiles: int
    seconds: float  # inference time (resize + model + resize back), not reading
    provider: str
    extra: dict[str, Any] = field(default_factory=dict)

    def rethreshold(self, threshold: float) -> np.ndarray:
        """The mask at another threshold, from the cached probabilities (no inference)."""
        return binary_mask(self.probability, threshold, self.fov)

    def overlay(
        self, image: np.ndarray, colour: tuple[int, int, int] = (0, 255, 0), opacity: float = 0.6
    ) -> np.ndarray:
        """The image with the vessel mask painted over it."""
        return overlay(image, self.mask, colour, opacity)


class VesselEngine:
    """Segments fundus images with an exported ONNX vessel model.

    Args:
        model_path: ``.onnx`` file exported by this project (its metadata supplies the input
            multiple and the threshold).
        provider: ``auto`` (CUDA when onnxruntime offers it, else CPU), ``cuda`` or ``cpu``.
        threads: onnxruntime intra-op threads (0: onnxruntime's default).
        tile: Largest window side run at once; larger (rescaled) images are tiled.
        overlap: Overlap of neighbouring tiles in pixels.
        rescale: Resize images whose FOV is not DRIVE-sized to DRIVE's scale and back.
        tta: Flip test-time augmentation (4 passes).

    Raises:
        ModelFileError: The model is missing, corrupt or lacks the metadata.
    """

    def __init__(
        self,
        model_path: str | Path,
        provider: str = "auto",
        threads: int = 0,
        tile: int = 1024,
        overlap: int = 64,
        rescale: bool = True,
        tta: bool = False,
    ) -> None:
        self.model = OnnxModel(model_path, providers=choose_providers(provider), threads=threads)
        self.tile, self.overlap, self.rescale, self.tta = tile, overlap, rescale, tta

    @property
    def provider(self) -> str:
        """The execution provider that actually runs the model."""
        return self.model.provider

    @property
    def threshold(self) -> float:
        """The model's recommended threshold (chosen on validation data)."""
        return self.model.threshold

    @property
    def metadata(self) -> dict[str, Any]:
        """The model's decoded ONNX metadata."""
        return self.model.metadata

    def scale_for(self, fov: np.ndarray) -> float:
        """Resize factor that brings this FOV to DRIVE's diameter (1.0 when close enough)."""
        from runtime.fov import fov_diameter

        if not self.rescale:
            return 1.0
        diameter = fov_diameter(fov)
        if diameter <= 0:
            return 1.0
        scale = DRIVE_FOV_DIAMETER / diameter
        return 1.0 if abs(scale - 1.0) <= RESCALE_TOLERANCE else scale

    def segment(
        self,
        image: np.ndarray,
        fov: np.ndarray | None = None,
        threshold: float | None = None,
        *,
        progress: TileCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> SegmentationResult:
        """Segment one RGB image.

        Args:
            image: ``(H, W, 3)`` uint8 RGB.
            fov: Field-of-view mask of the same size, or ``None`` to estimate it.
            threshold: Override of the model's threshold.
            progress: Called after each tile the model has run with ``(done, total)`` tiles
                (once with ``(1, 1)`` for an image run in one piece), from the calling thread.
            should_stop: Checked before the first tile and between tiles; when it returns True
                the run stops with :class:`Cancelled` (the tile running is finished first).

        Returns:
            The result at the image's original size.

        Raises:
            ValueError: The image is not ``(H, W, 3)``, is smaller than 8x8 pixels, or the FOV
                mask's size differs from the image's.
            Cancelled: ``should_stop`` returned True.
        """
        import cv2

        from runtime.fov import estimate_fov

        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        height, width = image.shape[:2]
        if min(height, width) < 8:
            raise ValueError(f"image is too small to segment ({width}x{height} px; need 8x8)")
        if fov is None:
            fov, fov_source = estimate_fov(image), "estimated"
        else:
            if fov.shape != (height, width):
                raise ValueError(
                    f"FOV mask is {fov.shape[1]}x{fov.shape[0]}, image is {width}x{height}"
                )
            fov, fov_source = fov.astype(bool), "given"
        threshold = self.threshold if threshold is None else float(threshold)

        def stop_if_asked() -> None:
            if should_stop is not None and should_stop():
                raise Cancelled

        def on_tile(done: int, total: int) -> None:
            if progress is not None:
                progress(done, total)
            if done < total:
                stop_if_asked()

        stop_if_asked()  # After the FOV estimate, which takes seconds for huge photographs.
        start = time.perf_counter()
        scale = self.scale_for(fov)
        work = image
        if scale != 1.0:
            size = (max(8, round(width * scale)), max(8, round(height * scale)))
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
            work = cv2.resize(image, size, interpolation=interpolation)
        probability = predict_tiled(
            self.model.run,
            work,
            self.model.multiple,
            self.tile,
            self.overlap,
            tta=self.tta,
            on_tile=on_tile,
        )
        if scale != 1.0:
            probability = cv2.resize(probability, (width, height), interpolation=cv2.INTER_LINEAR)
            probability = np.clip(probability, 0.0, 1.0)
        seconds = time.perf_counter() - start
        return SegmentationResult(
            probability=probability.astype(np.float32, copy=False),
            mask=binary_mask(probability, threshold, fov),
            fov=fov,
            fov_source=fov_source,
            threshold=threshold,
            scale=scale,
            tiles=tile_count(*work.shape[:2], self.model.multiple, self.tile, self.overlap),
            seconds=seconds,
            provider=self.provider,
        )

    def segment_file(
        self, path: str | Path, fov_path: str | Path | None = None, threshold: float | None = None
    ) -> tuple[np.ndarray, SegmentationResult]:
        """Read and segment an image file with its FOV mask.

        The mask is ``fov_path`` if given, else the DRIVE-layout mask beside the image
        (``.../images/x`` with ``.../mask/``, see :func:`runtime.datasets.find_fov_mask`), else
        estimated from the image.

        Returns:
            ``(image, result)``: the RGB image as read, and its segmentation.

        Raises:
            ImageReadError: A file cannot be read, or its size does not suit (names the file).
        """
        from runtime.datasets import find_fov_mask
        from runtime.errors import ImageReadError
        from runtime.imageio import read_binary, read_rgb

        image = read_rgb(path)
        fov_path = fov_path if fov_path is not None else find_fov_mask(path)
        fov = read_binary(fov_path) if fov_path is not None else None
        try:
            return image, self.segment(image, fov, threshold)
        except ValueError as exc:
            raise ImageReadError(path, str(exc)) from None
