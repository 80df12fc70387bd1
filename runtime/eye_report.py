"""A PDF report per eye: one page per photograph (fpdf2; no Qt, no TensorFlow).

Each page shows the photograph and its vessel overlay, the measurements with their units and the
scale they come from, the quality gate's verdict, the model (name, version, file hash),
threshold and date, and the intended-use statement. ``vessel-segment --report`` writes one for
a batch (``report.pdf`` in the output folder); the app's File ▸ Save report writes one for the
image shown.

fpdf2 is an optional dependency (``pip install "drive-vessel-unet[report]"``); without it
:func:`write_report` raises a :class:`~runtime.errors.UserInputError` that says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import UserInputError
from runtime.measurements import MEASUREMENTS
from runtime.provenance import intended_use
from runtime.units import Scale

#: What to install when fpdf2 is missing.
INSTALL_HINT = 'PDF reports need fpdf2: pip install "drive-vessel-unet[report]"'
#: Longest side, in pixels, of the pictures embedded in a page (keeps the PDF small).
PICTURE_SIDE = 900
#: Characters the PDF's built-in fonts cannot draw, and what is written instead.
_REPLACEMENTS = {"‰": " per mille", "⚠": "!", "→": "->", "–": "-", "—": "-", "×": "x"}


@dataclass
class ReportPage:
    """What one page of the report shows.

    Attributes:
        name: The photograph's file name (or path relative to the batch's input).
        photograph: ``(H, W, 3)`` uint8 RGB.
        overlay: ``(H, W, 3)`` uint8 RGB, the vessel map over the photograph.
        values: Measurements in the units shown (:func:`runtime.measurements.shown_values`);
            empty for a rejected photograph.
        quality: The quality gate's flag (``ok`` or ``rejected: ...``).
        scale: The scale the units come from.
        settings: :meth:`runtime.provenance.RunSettings.as_dict` of the run.
        date: When it was segmented.
        facts: Other ``label: value`` lines (image size, FOV source...).
    """

    name: str
    photograph: np.ndarray
    overlay: np.ndarray
    values: Mapping[str, Any]
    quality: str
    scale: Scale
    settings: Mapping[str, Any]
    date: str
    facts: Mapping[str, str] = field(default_factory=dict)


def _text(value: Any) -> str:
    text = str(value)
    for char, replacement in _REPLACEMENTS.items():
        text = text.replace(char, replacement)
    return text.encode("latin-1", "replace").decode("latin-1")


def _picture(array: np.ndarray):
    from PIL import Image

    image = Image.fromarray(array)
    image.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
    return image


def check_available() -> None:
    """Raise before any work when fpdf2 is missing.

    Raises:
        UserInputError: Says what to install.
    """
    _fpdf()


def _fpdf():
    try:
        from fpdf import FPDF
    except ImportError:
        raise UserInputError(INSTALL_HINT) from None
    return FPDF


def write_report(pages: Sequence[ReportPage], path: str | Path) -> Path:
    """Write ``pages`` as one PDF, one A4 page each.

    Raises:
        UserInputError: fpdf2 is not installed, there is nothing to report, or the file
            cannot be written (names it).
    """
    fpdf_class = _fpdf()
    if not pages:
        raise UserInputError(f"{path}: no segmented image to report")
    pdf = fpdf_class(orientation="portrait", unit="mm", format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title("Retinal vessel report")
    pdf.set_creator("drive-vessel-unet")
    for page in pages:
        _draw_page(pdf, page)
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pdf.output(str(path))
    except OSError as exc:
        raise UserInputError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    return path


def _draw_page(pdf, page: ReportPage) -> None:
    settings = page.settings
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 15)
    pdf.cell(0, 9, _text(f"Retinal vessel report: {page.name}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "I", 8.5)
    statement = _text(intended_use(list(settings.get("training_sets", []))))
    pdf.multi_cell(0, 4.5, statement, align="L", new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y() + 3
    width = 90.0
    for index, (title, array) in enumerate(
        (("Photograph", page.photograph), ("Vessels (overlay)", page.overlay))
    ):
        left = pdf.l_margin + index * (width + 10)
        height = width * array.shape[0] / array.shape[1]
        pdf.image(_picture(array), x=left, y=top + 5, w=width, h=height)
        pdf.set_xy(left, top)
        pdf.set_font("Helvetica", "B", 9)
        pdf.cell(width, 5, title)
    pdf.set_y(top + 8 + width * page.photograph.shape[0] / page.photograph.shape[1])

    rejected = not page.quality.startswith("ok")
    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 7, "Quality", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B" if rejected else "", 10)
    if rejected:
        pdf.set_text_color(200, 30, 30)
    verdict = _text(page.quality + (": no measurements" if rejected else ""))
    pdf.multi_cell(0, 5, verdict, align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.set_text_color(0, 0, 0)

    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, "Vessel measurements", new_x="LMARGIN", new_y="NEXT")
    rows = [(m.label, m.text(page.values.get(m.key), page.scale)) for m in MEASUREMENTS]
    rows.append(("Scale", page.scale.describe()))
    _rows(pdf, rows)

    pdf.set_font("Helvetica", "B", 11)
    pdf.cell(0, 8, "How it was made", new_x="LMARGIN", new_y="NEXT")
    sha = str(settings.get("model_sha256", ""))[:16]
    made = [
        (
            "Model",
            f"{settings.get('model_name')} {settings.get('model_version')} "
            f"({settings.get('model')}, SHA-256 {sha}...)",
        ),
        ("Threshold", f"{float(settings.get('threshold', 0)):.4f}"),
        ("TTA (turns and mirrors)", "yes" if settings.get("tta") else "no"),
        *page.facts.items(),
        ("Date", page.date),
    ]
    _rows(pdf, made)


def _rows(pdf, rows: Sequence[tuple[str, str]]) -> None:
    for label, value in rows:
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(55, 5.5, _text(label))
        pdf.multi_cell(0, 5.5, _text(value), align="L", new_x="LMARGIN", new_y="NEXT")


def batch_pages(report: Mapping[str, Any], sources: Mapping[str, Path], out_dir: Path) -> list:
    """Pages for the images of a batch (``segment_batch``'s report), read back from disk.

    Args:
        report: ``segment_batch``'s report (rows and settings).
        sources: The photograph of each row's ``image`` name.
        out_dir: The batch's output folder (the overlays are read from there).

    Returns:
        One :class:`ReportPage` per row whose photograph and overlay can be read.
    """
    from runtime.errors import ImageReadError
    from runtime.imageio import read_rgb
    from runtime.outputs import output_path

    settings = report["settings"]
    scale = Scale.from_dict(settings)
    pages = []
    for row in report["rows"]:
        name = row["image"]
        try:
            photograph = read_rgb(sources[name])
            overlay = read_rgb(output_path(out_dir, Path(name), "overlay"))
        except (KeyError, ImageReadError, OSError):
            continue
        facts = {
            "Image": f"{row.get('width')} x {row.get('height')} px",
            "Field of view": f"{row.get('fov')} (resized x {row.get('resize_factor')})",
        }
        pages.append(
            ReportPage(
                name=name,
                photograph=photograph,
                overlay=overlay,
                values=row,
                quality=str(row.get("quality", "ok")),
                scale=scale,
                settings=settings,
                date=str(settings.get("finished", "")),
                facts=facts,
            )
        )
    return pages
