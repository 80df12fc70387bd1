"""A cohort run's manifest: which images are done and which failed, written as they finish.

``measurements.json`` is written once, when a batch ends; a cohort of 100,000 photographs needs a
record that survives a killed worker, a lost node, Ctrl+C or a killed driver. The manifest is an
append-only JSON-lines file in the output folder, ``cohort_manifest.jsonl``, one record per image
as it finishes::

    {"image": "a/b.png", "state": "done", "row": {...measurements.csv row...}}
    {"image": "c.tif", "state": "failed", "error": "c.tif: cannot read the image (...)"}

Records are flushed and synced to disk as they come, so a run killed at any moment loses at most
the images in flight. The last record of an image wins (a failed image retried and done is
done); a half-written last line (the process died while writing it) is ignored. No extra
dependency: plain JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: File name of the manifest in the output folder.
MANIFEST_NAME = "cohort_manifest.jsonl"

#: States a record can have.
DONE, FAILED = "done", "failed"


def read_manifest(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The last record of every image in ``out_dir``'s manifest (empty when there is none).

    Lines that are not a JSON object with ``image`` and a known ``state`` (a line cut short by
    a killed process) are skipped.
    """
    path = Path(out_dir) / MANIFEST_NAME
    records: dict[str, dict[str, Any]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return records
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if (
            isinstance(record, dict)
            and isinstance(record.get("image"), str)
            and record.get("state") in (DONE, FAILED)
            and (record["state"] != DONE or isinstance(record.get("row"), dict))
        ):
            records[record["image"]] = record
    return records


class ManifestWriter:
    """Appends records to ``out_dir``'s manifest, synced to disk after each :meth:`add`.

    Use as a context manager; the file is opened for appending, so earlier records are kept.
    """

    def __init__(self, out_dir: Path) -> None:
        self.path = Path(out_dir) / MANIFEST_NAME
        self._handle = None

    def __enter__(self) -> ManifestWriter:
        self._handle = open(self.path, "a", encoding="utf-8")
        if self._handle.tell() > 0:
            # A killed run may have left its last line unfinished: start on a fresh line.
            with open(self.path, "rb") as tail:
                tail.seek(-1, os.SEEK_END)
                if tail.read(1) != b"\n":
                    self._handle.write("\n")
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def add(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append ``records`` (each with ``image``, ``state`` and ``row`` or ``error``)."""
        if self._handle is None:
            raise RuntimeError("ManifestWriter used outside its with block")
        for record in records:
            self._handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())


def done_record(image: str, row: Mapping[str, Any]) -> dict[str, Any]:
    """The record of an image segmented with its measurements row."""
    return {"image": image, "state": DONE, "row": dict(row)}


def failed_record(image: str, error: str) -> dict[str, Any]:
    """The record of an image that failed, with the one-line reason (it names the file)."""
    return {"image": image, "state": FAILED, "error": error}
