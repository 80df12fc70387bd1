"""The engine: the one path from a photograph (file or array) to its vessel map.

TensorFlow-free and Qt-free: the segment CLI, the batch library, the evaluation and the desktop
app all call :class:`VesselEngine`; it runs any :class:`runtime.predictors.Predictor` (onnxruntime
in the clinic, Keras when evaluating a ``.keras`` file).

Per image: read any common format (:mod:`runtime.imageio`), take the FOV mask given, the
DRIVE-layout mask beside the file, or estimate one (:mod:`runtime.fov`), resample the image so
its FOV has the model's working diameter (:mod:`runtime.scaling`) and map the result back, pad
to the model's multiple or tile large images with blended seams, optional TTA over the eight
turns and mirrors, threshold (the model card's unless overridden), restrict the mask to the
FOV. :meth:`VesselEngine.segment` reports each tile it has run and can stop between tiles
(:class:`Cancelled`), so a caller can show progress and offer Cancel.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from runtime.model_card import ModelCard, check_threshold
from runtime.predictors import Predictor
from runtime.preparation import model_input
from runtime.quality import Quality
from runtime.scaling import resize_back, working_scale
from runtime.tiling import TileCallback, binary_mask, overlay, predict_tiled, tile_count
from runtime.units import Scale


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
    working_probability: np.ndarray | None = None  # as the model gave it, at ``scale``
    quality: Quality = field(default_factory=Quality)  # the quality gate's verdict
    tta: bool = False  # averaged over the eight turns and mirrors

    @property
    def accepted(self) -> bool:
        """Whether the photograph passed the quality gate (its measurements are reported)."""
        return self.quality.ok

    def rethreshold(self, threshold: float) -> np.ndarray:
        """The mask at another threshold, from the cached probabilities (no inference)."""
        return binary_mask(self.probability, threshold, self.fov)

    def measure(self, threshold: float | None = None, scale: Scale | None = None) -> dict:
        """Vessel measurements at the measurement scale, in the units of ``scale`` (default 45°).

        Measured on the probability map the model produced at its working scale (not on the
        map brought back to the photograph's size), resampled so the FOV is exactly
        :data:`~runtime.constants.MEASUREMENT_FOV_DIAMETER` across and thresholded there
        (:func:`runtime.measurements.measure_map`), so the values depend on neither the
        photograph's pixel count nor the model's working scale.

        Args:
            threshold: Default: the result's.
            scale: How lengths and widths get units (:class:`runtime.units.Scale`).

        Returns:
            ``{key: value}`` of :data:`runtime.measurements.MEASUREMENTS` in the units shown;
            empty for a photograph the quality gate rejected (:mod:`runtime.quality`).
        """
        if not self.accepted:
            return {}
        from runtime.measurements import measure_map
        from runtime.scaling import resize_mask

        threshold = self.threshold if threshold is None else threshold
        if self.working_probability is None or self.scale == 1.0:
            probability, fov = self.probability, self.fov
        else:
            probability, fov = self.working_probability, resize_mask(self.fov, self.scale)
        return measure_map(probability, fov, threshold, scale, prior_factor=self.scale)

    def overlay(
        self, image: np.ndarray, colour: tuple[int, int, int] = (0, 255, 0), opacity: float = 0.6
    ) -> np.ndarray:
        """The image with the vessel mask painted over it."""
        return overlay(image, self.mask, colour, opacity)


@dataclass(frozen=True)
class Probability:
    """Raw output of :meth:`VesselEngine.probability`."""

    probability: np.ndarray  # (H, W) float32 at the image's size
    scale: float
    tiles: int
    working: np.ndarray | None = None  # the model's output at the working scale


class VesselEngine:
    """Segments fundus images with a vessel model.

    Args:
        predictor: The model (any backend).
        card: Its model card (threshold, working FOV diameter).
        tile: Largest window side run at once; larger (rescaled) images are tiled.
        overlap: Overlap of neighbouring tiles in pixels.
        rescale: Resample images to the model's working scale and back.
        tta: Test-time augmentation over the eight turns and mirrors (8 passes).

    Raises:
        UserInputError: The card's threshold is not in (0, 1).
    """

    def __init__(
        self,
        predictor: Predictor,
        card: ModelCard,
        *,
        tile: int = 1024,
        overlap: int = 64,
        rescale: bool = True,
        tta: bool = False,
    ) -> None:
        self.predictor, self.card = predictor, card
        check_threshold(card.threshold, "the model's threshold")
        self.tile, self.overlap, self.rescale, self.tta = tile, overlap, rescale, tta
        self.choice = None  # The runtime.gate.Choice that opened it (set by ``open``).

    @classmethod
    def open(
        cls,
        model_path: str | Path,
        provider: str = "auto",
        threads: int = 0,
        *,
        backend: str = "auto",
        precision: str = "auto",
        **options,
    ) -> VesselEngine:
        """An engine on an exported ONNX model, in the backend and precision chosen.

        Args:
            model_path: ``.onnx`` file exported by this project (fp32 or its ``.int8.onnx``).
            provider: ``auto`` or a key of :data:`runtime.providers.PROVIDERS` (onnxruntime).
            threads: Inference threads (0: the backend's default).
            backend: ``auto`` (the fastest variant that passed this machine's accuracy gate,
                see :func:`runtime.gate.choose_variant`) or a key of
                :data:`runtime.backends.BACKENDS`.
            precision: ``auto`` or ``fp32``, ``bf16``, ``int8``.
            **options: Keyword arguments of the constructor (``tile``, ``tta``...).

        Raises:
            ModelFileError: The model is missing, corrupt or lacks the metadata.
            UserInputError: The backend is not installed, or the variant failed the gate.
        """
        from runtime.backends import open_predictor
        from runtime.gate import choose_variant

        choice = choose_variant(model_path, backend, precision, provider)
        predictor = open_predictor(choice.path, choice.backend, choice.precision, threads, provider)
        engine = cls(predictor, predictor.card, **options)
        engine.choice = choice
        return engine

    @property
    def provider(self) -> str:
        """What actually runs the model (onnxruntime's provider name, or the predictor's)."""
        return getattr(self.predictor, "provider", self.predictor.name)

    @property
    def threshold(self) -> float:
        """The model's recommended threshold (chosen on validation data)."""
        return self.card.threshold

    @property
    def model_path(self) -> Path | None:
        """The model file, when the predictor came from one."""
        path = getattr(self.predictor, "path", None)
        return Path(path) if path is not None else None

    def scale_for(self, fov: np.ndarray) -> float:
        """Resize factor that brings this FOV to the model's working scale (1.0 when close)."""
        return working_scale(fov, self.card.working_fov_diameter) if self.rescale else 1.0

    def probability(
        self, image: np.ndarray, fov: np.ndarray, on_tile: TileCallback | None = None
    ) -> Probability:
        """Vessel probability of an RGB image at its own size (no threshold, no checks).

        The image is resampled to the working scale for the model and the probabilities are
        brought back, so any camera's photograph is seen at the scale the model learnt.

        Args:
            image: ``(H, W, 3)`` raw RGB.
            fov: Its FOV mask (decides the working scale).
            on_tile: Called after each tile (see :func:`runtime.tiling.predict_tiled`).
        """
        height, width = image.shape[:2]
        scale = self.scale_for(fov)
        work = model_input(image, fov, scale, self.card.input_preparation)
        probability = predict_tiled(
            self.predictor.predict,
            work,
            self.predictor.multiple,
            self.tile,
            self.overlap,
            tta=self.tta,
            on_tile=on_tile,
        )
        working = probability
        probability = resize_back(probability, height, width).astype(np.float32, copy=False)
        tiles = tile_count(*work.shape[:2], self.predictor.multiple, self.tile, self.overlap)
        return Probability(probability, scale, tiles, working)

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
            UserInputError: ``threshold`` is not in (0, 1).
            Cancelled: ``should_stop`` returned True.
        """
        from runtime.fov import estimate_fov
        from runtime.quality import assess

        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"expected an (H, W, 3) RGB image, got shape {image.shape}")
        height, width = image.shape[:2]
        if min(height, width) < 8:
            raise ValueError(f"image is too small to segment ({width}x{height} px; need 8x8)")
        threshold = self.threshold if threshold is None else check_threshold(threshold)
        if fov is None:
            fov, fov_source = estimate_fov(image), "estimated"
        else:
            if fov.shape != (height, width):
                raise ValueError(
                    f"FOV mask is {fov.shape[1]}x{fov.shape[0]}, image is {width}x{height}"
                )
            fov, fov_source = fov.astype(bool), "given"

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
        raw = self.probability(image, fov, on_tile)
        return SegmentationResult(
            probability=raw.probability,
            mask=binary_mask(raw.probability, threshold, fov),
            fov=fov,
            fov_source=fov_source,
            threshold=threshold,
            scale=raw.scale,
            tiles=raw.tiles,
            seconds=time.perf_counter() - start,
            provider=self.provider,
            working_probability=raw.working,
            quality=assess(image, fov, fov_source),
            tta=self.tta,
        )

    def segment_file(
        self,
        path: str | Path,
        fov_path: str | Path | None = None,
        threshold: float | None = None,
        *,
        on_read: Callable[[np.ndarray], None] | None = None,
        progress: TileCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> tuple[np.ndarray, SegmentationResult, Path | None]:
        """Read and segment an image file with its FOV mask.

        The mask is ``fov_path`` if given, else the DRIVE-layout mask beside the image
        (``.../images/x`` with ``.../mask/``, see :func:`runtime.datasets.find_fov_mask`), else
        estimated from the image.

        Args:
            path: The photograph.
            fov_path: Its FOV mask file, if the user has one.
            threshold: Override of the model's threshold.
            on_read: Called with the image as soon as it is read (to show it while the model
                runs).
            progress: See :meth:`segment`.
            should_stop: See :meth:`segment`; also checked before reading.

        Returns:
            ``(image, result, mask file used or None)``.

        Raises:
            ImageReadError: A file cannot be read, or its size does not suit (names the file).
            Cancelled: ``should_stop`` returned True.
        """
        if should_stop is not None and should_stop():
            raise Cancelled
        image, fov, fov_path = read_photograph(path, fov_path, on_read)
        result = self.segment_read(path, image, fov, threshold, progress, should_stop)
        return image, result, fov_path

    def segment_read(
        self,
        path: str | Path,
        image: np.ndarray,
        fov: np.ndarray | None,
        threshold: float | None = None,
        progress: TileCallback | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> SegmentationResult:
        """:meth:`segment` of a photograph read by :func:`read_photograph` from ``path``.

        Raises:
            ImageReadError: The image or its mask does not suit (names the file).
        """
        from runtime.errors import ImageReadError

        try:
            return self.segment(image, fov, threshold, progress=progress, should_stop=should_stop)
        except ValueError as exc:
            raise ImageReadError(path, str(exc)) from None


def read_photograph(
    path: str | Path,
    fov_path: str | Path | None = None,
    on_read: Callable[[np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray | None, Path | None]:
    """Read a photograph and its FOV mask, as :meth:`VesselEngine.segment_file` does.

    The mask is ``fov_path`` if given, else the DRIVE-layout mask beside the image, else
    ``None`` (the engine estimates it).

    Returns:
        ``(image, fov or None, mask file used or None)``.

    Raises:
        ImageReadError: A file cannot be read (names the file).
    """
    from runtime.datasets import find_fov_mask
    from runtime.imageio import read_binary, read_rgb

    fov_path = Path(fov_path) if fov_path is not None else find_fov_mask(path)
    image = read_rgb(path)
    if on_read is not None:
        on_read(image)
    fov = read_binary(fov_path) if fov_path is not None else None
    return image, fov, fov_path
