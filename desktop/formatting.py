"""Text the window shows: measurement rows, image facts, the About box (Qt-free).

Numbers are formatted with :func:`runtime.reports.fmt` (``–`` for missing or undefined
values), so the app and the reports agree.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from runtime.measurements import MEASUREMENT_BY_KEY, MEASUREMENTS
from runtime.metrics import METRIC_NAMES
from runtime.provenance import intended_use
from runtime.providers import provider_label
from runtime.reports import fmt
from runtime.symmetry import TTA_LABEL
from runtime.units import Scale

if TYPE_CHECKING:
    from desktop.state import ImageDocument


def measurement_value(key: str, value: Any, scale: Scale | None = None) -> str:
    """One measurement with its unit (:data:`runtime.measurements.MEASUREMENTS`)."""
    return MEASUREMENT_BY_KEY[key].text(value, scale)


def measurement_rows(
    measurements: Mapping[str, Any], scale: Scale | None = None
) -> list[tuple[str, str, str]]:
    """``(label, value with unit, tooltip)`` rows for the side panel (``–`` where not measured).

    Every value names its unit (``14.4 %``, ``234.2 mm``, ``80.5 µm``); the tooltip says what
    the measurement is and its unit.
    """
    scale = scale or Scale()
    rows = []
    for m in MEASUREMENTS:
        unit = m.unit(scale)
        tip = f"{m.description} ({unit})" if unit else f"{m.description} (no unit)"
        rows.append((m.label, m.text(measurements.get(m.key), scale), tip))
    return rows


#: Rows of the image panel, in order.
FACT_LABELS: tuple[str, ...] = ("File", "Size", "FOV", "FOV area", "Provider", "Inference")


def image_facts(document: ImageDocument) -> list[tuple[str, str]]:
    """``(label, value)`` rows (:data:`FACT_LABELS`) describing an image and its segmentation.

    Args:
        document: The image and its result (facts about the run are ``–`` before inference).
    """
    width, height = document.size
    values = {"File": document.path.name, "Size": f"{width} × {height} px"}
    result = document.result
    if result is not None:
        if result.fov_source == "given":
            name = document.fov_path.name if document.fov_path else "given with the image"
            values["FOV"] = f"loaded: {name}"
        else:
            values["FOV"] = "found automatically"
        values["FOV area"] = f"{100.0 * result.fov.mean():.0f} % of the image"
        values["Provider"] = provider_label(result.provider)
        scale = "as is" if result.scale == 1.0 else f"resized × {result.scale:.2f}"
        tiles = "1 tile" if result.tiles == 1 else f"{result.tiles} tiles"
        tta = f", {TTA_LABEL}" if result.tta else ""
        values["Inference"] = f"{result.seconds:.2f} s ({scale}, {tiles}{tta})"
    return [(label, values.get(label, "–")) for label in FACT_LABELS]


def about_html(description: Mapping[str, Any], versions: Mapping[str, str]) -> str:
    """The About box: the model's metadata and the software versions.

    Args:
        description: ``OnnxPredictor.describe()`` (file, provider and the model card's facts).
        versions: Software name -> version.

    Returns:
        Rich text (HTML subset Qt renders).
    """

    def esc(value: Any) -> str:
        return html.escape(fmt(value))

    lines = [
        f"<h3>{esc(description.get('model_name'))} "
        f"<small>version {esc(description.get('model_version'))}</small></h3>",
        "<table cellspacing='0' cellpadding='2'>",
    ]
    facts = [
        ("Model file", description.get("path")),
        ("Precision", description.get("precision")),
        ("Runs on", provider_label(str(description.get("provider", "")))),
        ("Threshold", fmt(description.get("threshold"), 4)),
        ("Chosen by", description.get("threshold_source")),
        ("Trained on", description.get("training_data")),
    ]
    lines += [
        f"<tr><td><b>{html.escape(label)}</b></td><td>{esc(value)}</td></tr>"
        for label, value in facts
        if value not in (None, "")
    ]
    lines.append("</table>")
    validation, test = description.get("validation_metrics"), description.get("test_metrics")
    lines.append(_metrics_table(validation, test))
    software = ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in versions.items())
    lines.append(f"<p>{software}</p>")
    sets = description.get("training_sets") or []
    lines.append(f"<p><b>{html.escape(intended_use(list(sets)))}</b></p>")
    return "\n".join(lines)


def _metrics_table(validation: Any, test: Any) -> str:
    """Validation and DRIVE-test metrics side by side (FOV protocol, pooled)."""
    validation = validation if isinstance(validation, Mapping) else {}
    test = test if isinstance(test, Mapping) else {}
    if not validation and not test:
        return "<p>No evaluation metrics in the model's metadata.</p>"
    head = "<tr><th align='left'>Metric</th><th>Validation</th><th>DRIVE test</th></tr>"
    rows = [
        f"<tr><td>{label}</td><td align='right'>{fmt(validation.get(key))}</td>"
        f"<td align='right'>{fmt(test.get(key))}</td></tr>"
        for key, label in METRIC_NAMES.items()
        if key in validation or key in test
    ]
    note = "" if test else "<p><i>Not evaluated on the DRIVE test set.</i></p>"
    return (
        "<p><b>Metrics</b> (inside the field of view, all images pooled)</p>"
        f"<table cellspacing='0' cellpadding='2'>{head}{''.join(rows)}</table>{note}"
    )


def shortcuts_html(actions: Iterable[Any]) -> str:
    """Help ▸ Keyboard shortcuts: a table of the actions that have one (``QAction`` duck-typed).

    Args:
        actions: Objects with ``text()`` and ``shortcut().toString()``.
    """
    rows = []
    for action in actions:
        key = action.shortcut().toString()
        if key:
            name = html.escape(action.text().replace("&", "").rstrip("…"))
            rows.append(f"<tr><td><b>{html.escape(key)}</b></td><td>{name}</td></tr>")
    return "<table cellspacing='0' cellpadding='3'>" + "".join(sorted(set(rows))) + "</table>"
