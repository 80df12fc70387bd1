"""Segmenting a folder with per-image progress and Cancel (Qt-free).

The app's batch *is* the segment CLI's batch: :func:`run_batch` calls
:func:`runtime.batch.segment_batch`, so the app writes the same files (``<stem>_mask.png``,
``<stem>_probability.png``, ``<stem>_overlay.png``, one ``measurements.csv`` and
``measurements.json``), skips images already done and goes on past bad files exactly as the CLI
does, and either can resume the other's run.

``segment_batch`` reports each image as it starts and ends to :class:`BatchProgress`, which keeps
the per-image status the progress table shows, and stops between images once Cancel is pressed
(the images it did not reach are recorded as failed with the reason
:data:`runtime.batch.CANCELLED_PROBLEM`, and the tables of the images done are still written).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime.batch import (
    ImageEvent,
    ImageState,
    Job,
    check_output_dir,
    collect_jobs,
    segment_batch,
)
from runtime.cancellation import CancelToken
from runtime.units import Scale

if TYPE_CHECKING:
    from runtime.engine import VesselEngine


class Status(enum.Enum):
    """Where one image of a batch stands."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    REJECTED = "rejected"
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
        message: Error message of a failed image, or why a cancelled one was not segmented.
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

_STATUS_OF = {
    ImageState.STARTED: Status.RUNNING,
    ImageState.DONE: Status.DONE,
    ImageState.SKIPPED: Status.SKIPPED,
    ImageState.FAILED: Status.FAILED,
    ImageState.CANCELLED: Status.CANCELLED,
}


class BatchProgress:
    """Per-image status of a batch run, in the order ``segment_batch`` visits the images."""

    def __init__(self, jobs: Iterable[Job]) -> None:
        self.items = [BatchItem(str(job.relative), Path(job.source)) for job in jobs]

    def update(self, event: ImageEvent) -> tuple[int, BatchItem]:
        """Record one of ``segment_batch``'s events; returns the item's index and new state."""
        index = event.index - 1
        status, message = _STATUS_OF[event.state], event.message
        if event.row is not None and event.row.get("status") == "rejected":
            status, message = Status.REJECTED, str(event.row.get("quality", ""))
        self.items[index] = replace(
            self.items[index], status=status, message=message, row=event.row
        )
        return index, self.items[index]

    def counts(self) -> Counter[Status]:
        """How many images are in each state."""
        return Counter(item.status for item in self.items)

    @property
    def finished_count(self) -> int:
        """Images that need no more work (for the progress bar)."""
        return sum(item.status.finished for item in self.items)


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
        if counts[Status.REJECTED]:
            parts.append(f"{counts[Status.REJECTED]} rejected by the quality gate")
        if counts[Status.CANCELLED]:
            parts.append(f"{counts[Status.CANCELLED]} cancelled")
        return ", ".join(parts)


def batch_jobs(folder: str | Path) -> list[Job]:
    """The images directly inside ``folder``, as the segment CLI collects them.

    Raises:
        UserInputError: The folder does not exist.
    """
    return collect_jobs([str(folder)])


def check_output_folder(folder: str | Path, out_dir: str | Path, jobs: list[Job]) -> None:
    """Refuse an output folder inside the input folder, or outputs that would overwrite inputs.

    Raises:
        UserInputError: Says which folder to change.
    """
    check_output_dir(Path(out_dir), [str(folder)], jobs)


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
    scale: Scale | None = None,
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
        scale: Units of lengths and widths (default: a 45° field of view).
        token: Cancel between images (the image being segmented is finished).
        on_update: Called from the running thread with the items that changed.

    Returns:
        The report and the final per-image status.
    """
    token = token or CancelToken()
    progress = BatchProgress(jobs)

    def on_image(event: ImageEvent) -> None:
        changed = progress.update(event)
        if on_update is not None:
            on_update([changed])

    report = segment_batch(
        engine,
        jobs,
        Path(out_dir),
        force,
        threshold,
        on_image=on_image,
        should_stop=token.is_cancelled,
        scale=scale,
    )
    return BatchOutcome(report, list(progress.items), Path(out_dir), token.is_cancelled())
