"""What the app's workers run: load a model, segment an image, measure a mask (Qt-free).

Each function is a plain call into the engine, the image reader and the measurements; the
workers in :mod:`desktop.workers` run them off the GUI thread and turn their return values and
exceptions into signals.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from desktop.state import ImageDocument
from runtime.cancellation import CancelToken
from runtime.units import Scale

if TYPE_CHECKING:
    from runtime.engine import SegmentationResult, VesselEngine


class TileProgress(NamedTuple):
    """How far the model is through an image: ``done`` of ``total`` tiles have run."""

    done: int
    total: int


def load_engine(
    model_path: str | Path, provider: str = "auto", backend: str = "auto", tta: bool = False
) -> VesselEngine:
    """Open an ONNX model in ``backend`` (``auto``: the fastest that passed the accuracy gate).

    ``tta``: average the eight turns and mirrors of every photograph.

    Raises:
        ModelFileError: The file is missing, corrupt or not a model exported by this project.
        UserInputError: The backend is not installed, or it failed the accuracy gate.
    """
    from runtime.engine import VesselEngine

    return VesselEngine.open(model_path, provider=provider, backend=backend, tta=tta)


def segment_image(
    engine: VesselEngine,
    path: str | Path,
    *,
    threshold: float | None = None,
    fov_path: str | Path | None = None,
    scale: Scale | None = None,
    token: CancelToken | None = None,
    on_update: Callable[[ImageDocument | TileProgress], None] | None = None,
) -> ImageDocument:
    """Read, segment and measure one image.

    Args:
        engine: The loaded engine.
        path: The image file.
        threshold: Threshold for the mask and the measurements (default: the model's).
        fov_path: FOV mask file; default: the DRIVE-layout mask next to the image if there is
            one, else the engine estimates the FOV (:meth:`VesselEngine.segment_file`).
        scale: Units of lengths and widths (default: a 45° field of view).
        token: Checked before reading and between tiles.
        on_update: Receives the document without a result as soon as the image is read, so the
            window can show the photograph while the model runs, then a :class:`TileProgress`
            after each tile the model has run.

    Returns:
        The document with its result and measurements.

    Raises:
        ImageReadError: The image or the mask cannot be read or used (names the file).
        Cancelled: ``token`` was cancelled.
    """
    token = token or CancelToken()
    path = Path(path)

    def shown(image) -> None:
        if on_update is not None:
            on_update(ImageDocument(path=path, image=image))

    def progress(done: int, total: int) -> None:
        if on_update is not None:
            on_update(TileProgress(done, total))

    image, result, used_mask = engine.segment_file(
        path,
        fov_path,
        threshold,
        on_read=shown,
        progress=progress,
        should_stop=token.is_cancelled,
    )
    return ImageDocument(
        path=path,
        image=image,
        result=result,
        fov_path=used_mask if result.fov_source == "given" else None,
        measurements=measure_result(result, result.threshold, scale),
        measured_threshold=result.threshold,
        measured_scale=scale or Scale(),
    )


def read_image(path: str | Path) -> ImageDocument:
    """Read an image without segmenting it (to show it while no model is loaded).

    Raises:
        ImageReadError: The file cannot be read (names the file).
    """
    from runtime.imageio import read_rgb

    return ImageDocument(path=Path(path), image=read_rgb(path))


def measure_result(
    result: SegmentationResult, threshold: float, scale: Scale | None = None
) -> dict[str, Any]:
    """Vessel measurements at ``threshold`` in the units of ``scale`` (empty when the quality
    gate rejected the photograph): :meth:`runtime.engine.SegmentationResult.measure`."""
    return result.measure(threshold, scale)


def image_files(folder: str | Path) -> list[Path]:
    """The image files directly inside ``folder``, sorted (as the batch run finds them).

    Raises:
        UserInputError: The folder does not exist.
    """
    from desktop.batch import batch_jobs

    return [job.source for job in batch_jobs(folder)]
