"""Segmenting many photographs into an output folder: the batch library (no TensorFlow, no Qt).

For every input image writes ``<stem>_mask.png``, ``<stem>_probability.png`` and
``<stem>_overlay.png`` (:mod:`runtime.outputs`) into an output folder that mirrors the input
tree, plus one ``measurements.csv`` and ``measurements.json`` with the vessel measurements and
the run settings. Images already done are skipped (resume) unless ``force``; a bad file is
recorded and the batch goes on. Inputs are never written to.

:func:`segment_batch` is what the segment CLI (:mod:`runtime.segment`) and the desktop app's
batch both run: it reports every image to an ``on_image`` callback and can be stopped between
images (``should_stop``).
"""

from __future__ import annotations

import csv
import enum
import glob
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import UserInputError
from runtime.imageio import is_image_file
from runtime.outputs import OUTPUT_KINDS, output_path
from runtime.reports import write_json

#: Reason recorded for the images a stopped batch did not reach.
CANCELLED_PROBLEM = "cancelled before it was segmented"


@dataclass(frozen=True)
class Job:
    """One image to segment and where its outputs go."""

    source: Path
    relative: Path  # path of the image relative to its input root (mirrored under the output)

    def output(self, out_dir: Path, kind: str) -> Path:
        """Where this image's ``kind`` output goes under ``out_dir``."""
        return output_path(out_dir, self.relative, kind)


def collect_jobs(inputs: Iterable[str], recursive: bool = False) -> list[Job]:
    """Expand files, folders and glob patterns into jobs (sorted, without duplicates).

    Raises:
        UserInputError: An input matches nothing.
    """
    jobs: dict[Path, Job] = {}
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            for item in sorted(path.glob(pattern)):
                if item.is_file() and is_image_file(item):
                    jobs.setdefault(item.resolve(), Job(item, item.relative_to(path)))
        elif path.is_file():
            jobs.setdefault(path.resolve(), Job(path, Path(path.name)))
        elif glob.has_magic(raw):
            matches = [Path(m) for m in sorted(glob.glob(raw, recursive=recursive))]
            files = [m for m in matches if m.is_file()]
            if not files:
                raise UserInputError(f"{raw}: pattern matches no files")
            for item in files:
                jobs.setdefault(item.resolve(), Job(item, Path(item.name)))
        else:
            raise UserInputError(f"{raw}: no such file or folder")
    return list(jobs.values())


def check_output_dir(out_dir: Path, inputs: Iterable[str], jobs: list[Job]) -> None:
    """Refuse an output folder inside an input folder, or outputs that would overwrite inputs.

    Args:
        out_dir: The output folder (need not exist yet).
        inputs: The files, folders or patterns the jobs were collected from.
        jobs: From :func:`collect_jobs`.

    Raises:
        UserInputError: Names the folder or file to change.
    """
    for folder in (out_dir, *out_dir.parents):
        if folder.exists() and not folder.is_dir():
            raise UserInputError(
                f"{out_dir}: {folder} is a file, not a folder; choose another --out"
            )
    out = out_dir.resolve()
    for raw in inputs:
        path = Path(raw)
        root = path.resolve() if path.is_dir() else path.resolve().parent
        if path.is_dir() and (out == root or out.is_relative_to(root)):
            raise UserInputError(
                f"{out_dir}: output folder is inside the input folder {raw}; choose another --out"
            )
    sources = {job.source.resolve() for job in jobs}
    for job in jobs:
        for kind in OUTPUT_KINDS:
            if job.output(out_dir, kind).resolve() in sources:
                raise UserInputError(f"{job.output(out_dir, kind)}: would overwrite an input image")


class ImageState(enum.Enum):
    """What :func:`segment_batch` reports about one image (see :class:`ImageEvent`)."""

    STARTED = "started"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class ImageEvent:
    """One call of :func:`segment_batch`'s ``on_image`` callback.

    Every image gets exactly one final event (``DONE``, ``SKIPPED``, ``FAILED`` or
    ``CANCELLED``); an image the engine is run on gets ``STARTED`` before it.

    Attributes:
        index: 1-based position of the image in the jobs.
        total: How many jobs the batch has.
        job: The image.
        state: What happened.
        message: The error of a failed or cancelled image (it names the file), else empty.
        row: The image's row of ``measurements.csv`` once done or skipped, else ``None``.
    """

    index: int
    total: int
    job: Job
    state: ImageState
    message: str = ""
    row: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        """The image's path relative to its input root (the CSV's ``image`` column)."""
        return str(self.job.relative)

    @property
    def status(self) -> str:
        """The status as the CLI's progress line shows it."""
        if self.state is ImageState.DONE and self.row is not None:
            return f"ok ({self.row['seconds']:.2f} s)"
        if self.state is ImageState.SKIPPED:
            return "already done, skipped"
        if self.state is ImageState.FAILED:
            return f"FAILED: {self.message}"
        return self.state.value


def segment_batch(
    engine,  # VesselEngine
    jobs: list[Job],
    out_dir: Path,
    force: bool = False,
    threshold: float | None = None,
    *,
    on_image: Callable[[ImageEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Segment ``jobs`` into ``out_dir`` (see module docstring).

    An image fails (recorded, and the batch goes on) when it cannot be read or used, its outputs
    cannot be written, or the engine raises on it (e.g. out of memory).

    Args:
        engine: The loaded :class:`~runtime.engine.VesselEngine`.
        jobs: From :func:`collect_jobs`.
        out_dir: Output folder (created if needed).
        force: Redo images already done instead of taking over their rows.
        threshold: Override of the model's threshold.
        on_image: Called from the calling thread when an image starts and when it ends (see
            :class:`ImageEvent`); :func:`print_progress` is the CLI's.
        should_stop: Checked before each image that needs segmenting. Once it returns True,
            that image and every later one not already done is recorded as failed with the
            reason :data:`CANCELLED_PROBLEM` (so ``measurements.json`` lists them, and a later
            run resumes with them); images already done are still taken over, and the tables
            of the images done are written as usual. The image being segmented is finished.

    Returns:
        ``{"rows": [...], "failed": [{"file", "error"}], "skipped": n, "settings": {...}}``;
        the same is written as ``measurements.json`` and the rows as ``measurements.csv``.
    """
    from runtime.errors import ImageReadError

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise UserInputError(f"{out_dir}: cannot create the output folder ({problem})") from None
    previous = _previous_rows(out_dir)
    rows, failed, skipped, stopped = [], [], 0, False

    def tell(
        index: int,
        job: Job,
        state: ImageState,
        message: str = "",
        row: Mapping[str, Any] | None = None,
    ) -> None:
        if on_image is not None:
            on_image(ImageEvent(index, len(jobs), job, state, message, row))

    for index, job in enumerate(jobs, 1):
        key = str(job.relative)
        outputs = {kind: job.output(out_dir, kind) for kind in OUTPUT_KINDS}
        if not force and all(p.is_file() for p in outputs.values()) and key in previous:
            rows.append(previous[key])
            skipped += 1
            tell(index, job, ImageState.SKIPPED, row=previous[key])
            continue
        stopped = stopped or (should_stop is not None and should_stop())
        if stopped:
            error = f"{job.source}: {CANCELLED_PROBLEM}"
            failed.append({"file": str(job.source), "error": error})
            tell(index, job, ImageState.CANCELLED, error)
            continue
        tell(index, job, ImageState.STARTED)
        try:
            row = _segment_job(engine, job, outputs, threshold)
        except (ImageReadError, OSError, ValueError) as exc:
            failed.append({"file": str(job.source), "error": str(exc)})
            tell(index, job, ImageState.FAILED, str(exc))
            continue
        rows.append(row)
        tell(index, job, ImageState.DONE, row=row)
    report = {
        "settings": run_settings(engine, threshold),
        "rows": rows,
        "failed": failed,
        "skipped": skipped,
    }
    _write_tables(out_dir, report)
    return report


def run_settings(engine, threshold: float | None) -> dict[str, Any]:  # engine: VesselEngine
    """The ``settings`` of ``measurements.json``: the model and options a batch ran with."""
    return {
        "model": str(engine.model_path),
        "model_name": engine.card.name,
        "model_version": engine.card.version,
        "provider": engine.provider,
        "threshold": engine.threshold if threshold is None else threshold,
        "tta": engine.tta,
        "rescale": engine.rescale,
        "tile": engine.tile,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _segment_job(
    engine,  # VesselEngine
    job: Job,
    outputs: dict[str, Path],
    threshold: float | None,
) -> dict[str, Any]:
    """Segment one image, write its outputs and return its measurements row.

    Raises:
        ImageReadError: The image cannot be read or used, or the engine failed on it.
        OSError: An output cannot be written.
    """
    from runtime.errors import ImageReadError
    from runtime.imageio import write_png
    from runtime.measurements import measure, rounded_row
    from runtime.outputs import output_images

    try:
        image, result, _ = engine.segment_file(job.source, threshold=threshold)
    except (ImageReadError, OSError, ValueError):
        raise
    except Exception as exc:
        # Anything else (out of memory, an onnxruntime error) is this image's failure too.
        problem = f"segmentation failed ({type(exc).__name__}: {exc})"
        raise ImageReadError(job.source, problem) from exc
    for kind, array in output_images(image, result.probability, result.mask).items():
        write_png(outputs[kind], array)
    return {
        "image": str(job.relative),
        "width": image.shape[1],
        "height": image.shape[0],
        "fov": result.fov_source,
        "scale": round(result.scale, 4),
        "tiles": result.tiles,
        "threshold": result.threshold,
        "seconds": round(result.seconds, 3),
        **rounded_row(measure(result.mask, result.fov).as_dict()),
    }


def _previous_rows(out_dir: Path) -> dict[str, dict[str, Any]]:
    path = out_dir / "measurements.json"
    if not path.is_file():
        return {}
    try:
        return {row["image"]: row for row in json.loads(path.read_text())["rows"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _write_tables(out_dir: Path, report: dict[str, Any]) -> None:
    """``measurements.json`` and ``measurements.csv`` (atomically).

    The CSV's columns are the union of every row's, in first-seen order, so rows taken over
    from a folder written by another version (other measurements) still fit; a row lacking a
    column leaves it empty.
    """
    write_json(out_dir / "measurements.json", report)
    rows = report["rows"]
    if not rows:
        return
    columns = list(dict.fromkeys(key for row in rows for key in row))
    tmp = out_dir / ".measurements.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out_dir / "measurements.csv")


# The per-image step and the tables, for engines that spread a batch over processes or machines
# (runtime.cohort): the same output files, rows and tables as segment_batch writes.


def segment_one(
    engine,  # VesselEngine
    job: Job,
    out_dir: Path,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Segment one job into ``out_dir`` exactly as :func:`segment_batch` does; its CSV row.

    Raises:
        ImageReadError: The image cannot be read or used, or the engine failed on it.
        OSError: An output cannot be written.
    """
    outputs = {kind: job.output(out_dir, kind) for kind in OUTPUT_KINDS}
    return _segment_job(engine, job, outputs, threshold)


previous_rows = _previous_rows
write_tables = _write_tables
