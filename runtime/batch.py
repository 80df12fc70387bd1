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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import UserInputError
from runtime.imageio import is_image_file
from runtime.outputs import OUTPUT_KINDS, output_path
from runtime.provenance import RunSettings, is_product_output, now
from runtime.reports import write_json
from runtime.units import Scale

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

    Folders and patterns leave out the product's own outputs (masks, probability maps,
    overlays: :func:`runtime.provenance.is_product_output`); a file named on its own is kept.

    Raises:
        UserInputError: An input matches nothing.
    """
    jobs: dict[Path, Job] = {}
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            for item in sorted(path.glob(pattern)):
                if item.is_file() and is_image_file(item) and not is_product_output(item):
                    jobs.setdefault(item.resolve(), Job(item, item.relative_to(path)))
        elif path.is_file():
            jobs.setdefault(path.resolve(), Job(path, Path(path.name)))
        elif glob.has_magic(raw):
            matches = [Path(m) for m in sorted(glob.glob(raw, recursive=recursive))]
            files = [m for m in matches if m.is_file() and not is_product_output(m)]
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
            if self.row.get("status") == "rejected":
                return f"REJECTED ({self.row['quality'].removeprefix('rejected: ')})"
            return f"ok ({self.row['seconds']:.2f} s)"
        if self.state is ImageState.SKIPPED:
            return "already done, skipped"
        if self.state is ImageState.FAILED:
            return f"FAILED: {self.message}"
        return self.state.value


def make_output_dir(out_dir: Path) -> None:
    """Create the output folder (and its parents).

    Raises:
        UserInputError: It cannot be created (one line naming the folder and the reason).
    """
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise UserInputError(f"{out_dir}: cannot create the output folder ({problem})") from None


def segment_batch(
    engine,  # VesselEngine
    jobs: list[Job],
    out_dir: Path,
    force: bool = False,
    threshold: float | None = None,
    *,
    on_image: Callable[[ImageEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    scale: Scale | None = None,
    overlap: bool = True,
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
            run resumes with them); images already done are still taken over (with ``force``
            too: a cancelled redo keeps the rows of the outputs still on disk, so the tables
            always describe the folder), and the tables of the images done are written as
            usual. The image being segmented is finished.
        scale: Units of lengths and widths (default: a 45° field of view).
        overlap: Read the next images and write the previous ones while the model runs
            (:class:`runtime.pipeline.Pipeline`; same outputs). An image's ``DONE`` then
            follows once its outputs are written, possibly after the next image's ``STARTED``.

    Images are taken over from an earlier run only when its recorded settings (model file
    hash, backend and precision, threshold, TTA, rescaling, scale: :meth:`RunSettings.matches`)
    equal these ones; otherwise every image is redone.

    Returns:
        ``{"rows": [...], "failed": [{"file", "image", "error"}], "skipped": n,
        "settings": {...}}``; the same is written as ``measurements.json`` and the rows as
        ``measurements.csv``.
    """
    from runtime.errors import ImageReadError
    from runtime.pipeline import Pipeline

    make_output_dir(out_dir)
    scale = scale or Scale()
    settings = RunSettings.of(engine, threshold, scale)
    previous = _previous_rows(out_dir, settings)
    rows: dict[int, dict[str, Any]] = {}
    failed: dict[int, dict[str, Any]] = {}
    skipped, stopped = 0, False

    def tell(
        index: int,
        job: Job,
        state: ImageState,
        message: str = "",
        row: Mapping[str, Any] | None = None,
    ) -> None:
        if on_image is not None:
            on_image(ImageEvent(index, len(jobs), job, state, message, row))

    def outputs_of(job: Job) -> dict[str, Path]:
        return {kind: job.output(out_dir, kind) for kind in OUTPUT_KINDS}

    def handle(index: int, job: Job, row: dict[str, Any] | None, error: Exception | None) -> None:
        if error is not None:
            failed[index] = {
                "file": str(job.source),
                "image": str(job.relative),
                "error": str(error),
            }
            tell(index, job, ImageState.FAILED, str(error))
        else:
            rows[index] = row
            tell(index, job, ImageState.DONE, row=row)

    def done_before(job: Job) -> bool:
        outputs = outputs_of(job).values()
        return str(job.relative) in previous and all(p.is_file() for p in outputs)

    # Every job that may be segmented, in order (the pipeline reads ahead among them; one
    # skipped after a cancelled redo is simply never submitted).
    todo = [(index, job) for index, job in enumerate(jobs, 1) if force or not done_before(job)]
    position = {index: at for at, (index, _) in enumerate(todo)}
    pipe = Pipeline(
        todo,
        lambda item: read_job(item[1]),
        lambda item, read: infer_job(engine, item[1], read, threshold),
        lambda item, read, result: finish_job(
            item[1], read[0], result, outputs_of(item[1]), threshold, scale, settings
        ),
        errors=(ImageReadError, OSError, ValueError),
    )
    with pipe:
        for index, job in enumerate(jobs, 1):
            for outcome in pipe.ready():  # Report what has been written meanwhile.
                handle(*outcome.item, outcome.value, outcome.error)
            key = str(job.relative)
            stopped = stopped or (force and should_stop is not None and should_stop())
            if done_before(job) and (not force or stopped):
                # Resumed, or a cancelled redo: the files on disk are the ones this row describes.
                rows[index] = previous[key]
                skipped += 1
                tell(index, job, ImageState.SKIPPED, row=previous[key])
                continue
            stopped = stopped or (should_stop is not None and should_stop())
            if stopped:
                error = f"{job.source}: {CANCELLED_PROBLEM}"
                failed[index] = {"file": str(job.source), "image": key, "error": error}
                tell(index, job, ImageState.CANCELLED, error)
                continue
            tell(index, job, ImageState.STARTED)
            if overlap:
                pipe.submit(position[index])
                for outcome in pipe.ready():
                    handle(*outcome.item, outcome.value, outcome.error)
                continue
            try:
                row = _segment_job(engine, job, outputs_of(job), threshold, scale, settings)
            except (ImageReadError, OSError, ValueError) as exc:
                handle(index, job, None, exc)
                continue
            handle(index, job, row, None)
        for outcome in pipe.drain():
            handle(*outcome.item, outcome.value, outcome.error)
    report = {
        "settings": run_settings(engine, threshold, scale, settings),
        "rows": [rows[index] for index in sorted(rows)],
        "failed": [failed[index] for index in sorted(failed)],
        "skipped": skipped,
    }
    _write_tables(out_dir, report)
    return report


def run_settings(
    engine,  # VesselEngine
    threshold: float | None,
    scale: Scale | None = None,
    settings: RunSettings | None = None,
) -> dict[str, Any]:
    """The ``settings`` of ``measurements.json``: the model and options a batch ran with.

    Args:
        engine: The engine that ran.
        threshold: Override of the model's threshold, or ``None``.
        scale: Units of lengths and widths (default: a 45° field of view).
        settings: The :class:`RunSettings` already computed for this run (else computed).
    """
    scale = scale or Scale()
    settings = settings or RunSettings.of(engine, threshold, scale)
    return {
        **settings.as_dict(),
        "model_path": str(engine.model_path),
        **scale.as_dict(),
        "provider": engine.provider,
        "tile": engine.tile,
        "finished": now(),
    }


def _segment_job(
    engine,  # VesselEngine
    job: Job,
    outputs: dict[str, Path],
    threshold: float | None,
    scale: Scale,
    settings: RunSettings,
) -> dict[str, Any]:
    """Segment one image, write its outputs and return its measurements row (sequentially).

    Raises:
        ImageReadError: The image cannot be read or used, or the engine failed on it.
        OSError: An output cannot be written.
    """
    read = read_job(job)
    result = infer_job(engine, job, read, threshold)
    return finish_job(job, read[0], result, outputs, threshold, scale, settings)


def read_job(job: Job) -> tuple:
    """The image, its FOV mask (or ``None``) and the mask file (the pipeline's read step)."""
    from runtime.engine import read_photograph

    return read_photograph(job.source)


def infer_job(engine, job: Job, read: tuple, threshold: float | None):
    """The engine's result on a read image (the pipeline's inference step).

    Raises:
        ImageReadError: The image does not suit, or the engine failed on it.
    """
    from runtime.errors import ImageReadError

    try:
        return engine.segment_read(job.source, read[0], read[1], threshold)
    except (ImageReadError, OSError, ValueError):
        raise
    except Exception as exc:
        # Anything else (out of memory, an onnxruntime error) is this image's failure too.
        problem = f"segmentation failed ({type(exc).__name__}: {exc})"
        raise ImageReadError(job.source, problem) from exc


def finish_job(
    job: Job,
    image,
    result,
    outputs: dict[str, Path],
    threshold: float | None,
    scale: Scale,
    settings: RunSettings,
) -> dict[str, Any]:
    """Write the image's PNGs and return its measurements row (the pipeline's write step).

    A photograph the quality gate rejects still gets its images written (to see why), but its
    row has ``status`` ``rejected``, the reasons in ``quality`` and no measurements.

    Raises:
        OSError: An output cannot be written.
    """
    write_outputs(image, result, outputs, settings.png_text())
    return measurement_row(job, image, result, threshold, scale)


def write_outputs(image, result, outputs: dict[str, Path], text: dict[str, str]) -> None:
    """Compose, encode and write the mask, probability and overlay PNGs of one image.

    Raises:
        OSError: An output cannot be written.
    """
    from runtime.imageio import write_png
    from runtime.outputs import output_images

    for kind, array in output_images(image, result.probability, result.mask).items():
        write_png(outputs[kind], array, text)


def measurement_row(job: Job, image, result, threshold: float | None, scale: Scale) -> dict:
    """The image's row of ``measurements.csv``: its facts, quality and vessel measurements."""
    return {
        "image": str(job.relative),
        "status": "ok" if result.accepted else "rejected",
        "quality": result.quality.flag,
        "width": image.shape[1],
        "height": image.shape[0],
        "fov": result.fov_source,
        "resize_factor": round(result.scale, 4),
        "tiles": result.tiles,
        "threshold": result.threshold,
        "seconds": round(result.seconds, 3),
        **result.measure(threshold, scale),
    }


def _previous_rows(out_dir: Path, settings: RunSettings) -> dict[str, dict[str, Any]]:
    """Rows of an earlier run in ``out_dir`` made with the same settings (else none)."""
    path = out_dir / "measurements.json"
    if not path.is_file():
        return {}
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
        if not settings.matches(report.get("settings")):
            return {}
        return {row["image"]: row for row in report["rows"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


#: Columns every CSV row carries from the run's settings (what made the numbers).
SETTING_COLUMNS: tuple[str, ...] = ("model_name", "model_version", "scale")


def csv_rows(report: Mapping[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    """The CSV's header and rows: one row per image, failed ones too.

    Measurement columns are named with their unit (:meth:`Measurement.column`); every row
    carries ``status`` (``ok``, ``rejected``, ``failed``), ``quality``, the model's name and
    version, the threshold, the scale and the date, so a table copied elsewhere still says how
    it was made.
    """
    from runtime.measurements import MEASUREMENT_BY_KEY

    settings = report["settings"]
    scale = Scale.from_dict(settings)
    rows = [dict(row) for row in report["rows"]]
    for failure in report["failed"]:
        rows.append(
            {
                "image": failure.get("image", failure["file"]),
                "status": "failed",
                "error": failure["error"],
            }
        )
    common = {key: settings.get(key) for key in SETTING_COLUMNS}
    common["date"] = settings.get("finished")
    rows = [{**row, **common} for row in rows]
    keys = list(dict.fromkeys(key for row in rows for key in row))
    header = {
        key: MEASUREMENT_BY_KEY[key].column(scale) for key in keys if key in MEASUREMENT_BY_KEY
    }
    renamed = [{header.get(k, k): v for k, v in row.items()} for row in rows]
    return [header.get(k, k) for k in keys], renamed


def _write_tables(out_dir: Path, report: dict[str, Any]) -> None:
    """``measurements.json`` and ``measurements.csv`` (atomically; the CSV in UTF-8 with a BOM
    so Excel on Windows reads ``µm`` and non-ASCII file names right).

    The CSV's columns are the union of every row's, in first-seen order, so rows taken over
    from a folder written by another version (other measurements) still fit; a row lacking a
    column leaves it empty.
    """
    write_json(out_dir / "measurements.json", report)
    columns, rows = csv_rows(report)
    if not rows:
        return
    tmp = out_dir / ".measurements.csv.tmp"
    with open(tmp, "w", newline="", encoding="utf-8-sig") as handle:
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
    scale: Scale | None = None,
    settings: RunSettings | None = None,
) -> dict[str, Any]:
    """Segment one job into ``out_dir`` exactly as :func:`segment_batch` does; its CSV row.

    Args:
        engine: The engine.
        job: The image.
        out_dir: The output folder.
        threshold: Override of the model's threshold, or ``None``.
        scale: Units of lengths and widths (default: a 45° field of view).
        settings: The run's :class:`RunSettings` (computed once per run: it hashes the model).

    Raises:
        ImageReadError: The image cannot be read or used, or the engine failed on it.
        OSError: An output cannot be written.
    """
    scale = scale or Scale()
    settings = settings or RunSettings.of(engine, threshold, scale)
    outputs = {kind: job.output(out_dir, kind) for kind in OUTPUT_KINDS}
    return _segment_job(engine, job, outputs, threshold, scale, settings)


previous_rows = _previous_rows
write_tables = _write_tables
