"""Segmenting a folder with per-image progress and Cancel (Qt-free).

The app's batch *is* the segment CLI's batch: :func:`run_batch` calls
:func:`export.segment.segment_batch`, so the app writes the same files (``<stem>_mask.png``,
``<stem>_probability.png``, ``<stem>_overlay.png``, one ``measurements.csv`` and
``measurements.json``), skips images already done and goes on past bad files exactly as the CLI
does, and either can resume the other's run.

To follow the run, ``segment_batch`` gets the engine through a thin wrapper that reports when
each image starts and ends and, once Cancel is pressed, turns the remaining images down one by
one (recorded as failed with the reason "cancelled", so the tables of the images done are still
written). :class:`BatchProgress` keeps the per-image status the progress table shows; at the end
it is reconciled with the report ``segment_batch`` returns, which has the last word.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop.cancellation import CancelToken
from keras_unet.data import find_fov_mask
from keras_unet.errors import ImageReadError

if TYPE_CHECKING:
    from export.engine import SegmentationResult, VesselEngine
    from export.segment import Job

#: Reason recorded for the images a cancelled batch did not reach.
CANCELLED_PROBLEM = "cancelled before it was segmented"


class Status(enum.Enum):
    """Where one image of a batch stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "already done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        """Whether the image needs no more work in this run."""
        return self not in (Status.QUEUED, Status.RUNNING)


@dataclass(frozen=True)
class BatchItem:
    """One image of a batch as the progress table shows it.

    Attributes:
        name: Path relative to the input folder (the CSV's ``image`` column).
        source: The image file.
        status: Where it stands.
        message: Error message of a failed image.
        row: Its row of ``measurements.csv`` once done or skipped.
    """

    name: str
    source: Path
    status: Status = Status.QUEUED
    message: str = ""
    row: Mapping[str, Any] | None = None

    @property
    def problem(self) -> str:
        """The error without the file name in front (the table row already names the file)."""
        return self.message.removeprefix(f"{self.source}: ")


#: Receives ``(index, item)`` pairs of the items that changed.
UpdateCallback = Callable[[list[tuple[int, BatchItem]]], None]


class BatchProgress:
    """Per-image status of a batch run, in the order ``segment_batch`` visits the images."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.items = [BatchItem(str(job.relative), Path(job.source)) for job in jobs]
        self._index = {item.source: i for i, item in enumerate(self.items)}

    def _set(self, index: int, **changes: Any) -> tuple[int, BatchItem]:
        self.items[index] = replace(self.items[index], **changes)
        return index, self.items[index]

    def started(self, source: Path) -> list[tuple[int, BatchItem]]:
        """``source`` is being segmented; earlier images never started were skipped as done."""
        index = self._index[Path(source)]
        changed = [
            self._set(i, status=Status.SKIPPED)
            for i in range(index)
            if self.items[i].status is Status.QUEUED
        ]
        return [*changed, self._set(index, status=Status.RUNNING)]

    def ended(self, source: Path, error: str | None = None) -> list[tuple[int, BatchItem]]:
        """``source`` was segmented, or failed with ``error``."""
        index = self._index[Path(source)]
        if error is None:
            return [self._set(index, status=Status.DONE)]
        return [self._set(index, status=Status.FAILED, message=error)]

    def cancelled(self, source: Path) -> list[tuple[int, BatchItem]]:
        """``source`` was turned down because the user cancelled."""
        return [self._set(self._index[Path(source)], status=Status.CANCELLED)]

    def finish(self, report: Mapping[str, Any]) -> list[tuple[int, BatchItem]]:
        """Reconcile with ``segment_batch``'s report (it has the last word)."""
        rows = {row["image"]: row for row in report.get("rows", [])}
        failures = {Path(f["file"]): f["error"] for f in report.get("failed", [])}
        changed = []
        for i, item in enumerate(self.items):
            if item.name in rows:
                done = item.status in (Status.DONE, Status.RUNNING)
                status = Status.DONE if done else Status.SKIPPED
                changed.append(self._set(i, status=status, row=rows[item.name], message=""))
            elif item.source in failures and item.status is not Status.CANCELLED:
                changed.append(self._set(i, status=Status.FAILED, message=failures[item.source]))
        return changed

    def counts(self) -> Counter[Status]:
        """How many images are in each state."""
        return Counter(item.status for item in self.items)

    @property
    def finished_count(self) -> int:
        """Images that need no more work (for the progress bar)."""
        return sum(item.status.finished for item in self.items)


class _ObservedEngine:
    """The engine as ``segment_batch`` sees it: reports each image and honours Cancel."""

    def __init__(
        self,
        engine: VesselEngine,
        progress: BatchProgress,
        token: CancelToken,
        notify: UpdateCallback,
    ) -> None:
        self._engine = engine
        self._progress = progress
        self._token = token
        self._notify = notify

    def __getattr__(self, name: str) -> Any:
        return getattr(self._engine, name)

    def segment_file(
        self,
        path: Path,
        fov_path: Path | None = None,
        threshold: float | None = None,
    ) -> tuple[Any, SegmentationResult]:
        if self._token.cancelled:
            self._notify(self._progress.cancelled(path))
            raise ImageReadError(path, CANCELLED_PROBLEM)
        self._notify(self._progress.started(path))
        try:
            # Same FOV rule as the single-image view, so the table and the panel agree.
            fov_path = fov_path if fov_path is not None else find_fov_mask(path)
            out = self._engine.segment_file(path, fov_path, threshold)
        except ImageReadError as exc:
            self._notify(self._progress.ended(path, str(exc)))
            raise
        except Exception as exc:
            # Anything else (out of memory, a runtime error) is this image's failure too: the
            # batch goes on with the next one.
            error = ImageReadError(path, f"segmentation failed ({type(exc).__name__}: {exc})")
            self._notify(self._progress.ended(path, str(error)))
            raise error from exc
        self._notify(self._progress.ended(path))
        return out


@dataclass(frozen=True)
class BatchOutcome:
    """What a batch run produced.

    Attributes:
        report: ``segment_batch``'s report (rows, failed, skipped, settings).
        items: Final per-image status.
        out_dir: Where the files and ``measurements.csv`` are.
        cancelled: Whether the user cancelled.
    """

    report: Mapping[str, Any]
    items: list[BatchItem]
    out_dir: Path
    cancelled: bool

    @property
    def csv_path(self) -> Path:
        """The measurements table (absent when no image succeeded)."""
        return self.out_dir / "measurements.csv"

    def summary(self) -> str:
        """One line for the status bar."""
        counts = Counter(item.status for item in self.items)
        parts = [
            f"{counts[Status.DONE]} segmented",
            f"{counts[Status.SKIPPED]} already done",
            f"{counts[Status.FAILED]} failed",
        ]
        if counts[Status.CANCELLED]:
            parts.append(f"{counts[Status.CANCELLED]} cancelled")
        return ", ".join(parts)


def batch_jobs(folder: str | Path) -> list[Job]:
    """The images directly inside ``folder``, as the segment CLI collects them.

    Raises:
        UserInputError: The folder does not exist.
    """
    from export.segment import collect_jobs

    return collect_jobs([str(folder)])


def check_output_folder(folder: str | Path, out_dir: str | Path, jobs: list[Job]) -> None:
    """Refuse an output folder inside the input folder, or outputs that would overwrite inputs.

    Raises:
        UserInputError: Says which folder to change.
    """
    from export.segment import _check_output_dir

    _check_output_dir(Path(out_dir), [str(folder)], jobs)


def default_output_folder(folder: str | Path) -> Path:
    """Suggested output folder: ``<folder>_vessels`` beside the input folder."""
    folder = Path(folder).resolve()
    return folder.with_name(f"{folder.name}_vessels")


def run_batch(
    engine: VesselEngine,
    jobs: list[Job],
    out_dir: str | Path,
    *,
    force: bool = False,
    threshold: float | None = None,
    token: CancelToken | None = None,
    on_update: UpdateCallback | None = None,
) -> BatchOutcome:
    """Segment ``jobs`` into ``out_dir`` like the segment CLI, reporting each image.

    Args:
        engine: The loaded engine.
        jobs: From :func:`batch_jobs`.
        out_dir: Output folder (created if needed).
        force: Redo images already done.
        threshold: Override of the model's threshold.
        token: Cancel between images (the image being segmented is finished).
        on_update: Called from the running thread with the items that changed.

    Returns:
        The report and the final per-image status.
    """
    from export.segment import segment_batch

    token = token or CancelToken()
    progress = BatchProgress(jobs)
    notify = on_update or (lambda changed: None)
    observed = _ObservedEngine(engine, progress, token, notify)
    report = segment_batch(observed, jobs, Path(out_dir), force, threshold, progress=False)
    notify(progress.finish(report))
    return BatchOutcome(report, list(progress.items), Path(out_dir), token.cancelled)
