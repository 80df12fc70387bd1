"""Report files: atomic JSON, Markdown tables, number formatting (evaluation, export, benchmark)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically (temporary file + rename), so a crash never leaves half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def fmt(value: object, digits: int = 4) -> str:
    """Format a number for a table (``–`` for missing/NaN), anything else with ``str``."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "–" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], digits: int = 4
) -> str:
    """A GitHub-flavoured Markdown table.

    Args:
        headers: Column titles.
        rows: Cells; numbers are formatted with :func:`fmt`.
        digits: Decimals for floats.

    Returns:
        The table, lines joined by newlines (no trailing newline).
    """
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(fmt(cell, digits) for cell in row) + " |")
    return "\n".join(lines)


def write_report(path_stem: str | Path, data: Any, markdown: str) -> None:
    """Write a report as ``<stem>.json`` (atomically) and ``<stem>.md``, creating the folder.

    Args:
        path_stem: Destination without suffix, e.g. ``results/demo/evaluation/metrics``.
        data: JSON-serialisable content.
        markdown: The same as Markdown.
    """
    path_stem = Path(path_stem)
    write_json(path_stem.with_name(path_stem.name + ".json"), data)
    path_stem.with_name(path_stem.name + ".md").write_text(markdown + "\n", encoding="utf-8")
