"""What every output says about how it was made, and how to recognise the product's own outputs.

One :class:`RunSettings` (model name, version and file hash, threshold, TTA, scale) is recorded in
``measurements.json``, in the CSV's columns, in the PNG text chunks of every exported image and
on every report page; a batch resumes only from outputs whose recorded settings equal the
current ones (:meth:`RunSettings.matches`). :func:`is_product_output` keeps a batch from taking
its own masks, probability maps and overlays for photographs.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from runtime import __version__
from runtime.outputs import OUTPUT_KINDS
from runtime.units import Scale

if TYPE_CHECKING:
    from runtime.engine import VesselEngine

#: The ``Software`` PNG text chunk of every image the product writes.
SOFTWARE = "drive-vessel-unet"
#: What the product is for; every report, the About box and the README carry it, followed by
#: the data sets the model was trained on (:func:`intended_use`).
INTENDED_USE = "For research use only; not a medical device and not for diagnosis."
#: Settings whose change makes earlier outputs stale (a batch redoes them).
RESUME_KEYS: tuple[str, ...] = (
    "software_version",
    "model_sha256",
    "runtime",
    "threshold",
    "tta",
    "rescale",
    "scale",
)


def intended_use(datasets: list[str] | None = None) -> str:
    """The intended-use statement, naming the training sets when known."""
    if not datasets:
        return INTENDED_USE
    return f"{INTENDED_USE} Model trained on {', '.join(datasets)}."


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file in hex (the model file, so a retrained model is not taken as the same)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class RunSettings:
    """The settings a result depends on.

    Attributes:
        model: Model file name.
        model_name: Name from the model card.
        model_version: Version from the model card.
        model_sha256: Hash of the model file (``""`` for a model without a file).
        threshold: Vessel threshold used.
        tta: Test-time augmentation (the eight turns and mirrors).
        rescale: Images resampled to the working scale.
        scale: The scale of lengths and widths in words (:meth:`runtime.units.Scale.describe`).
        training_sets: Data sets the model was trained on.
        runtime: What ran the model (the predictor's name: backend, precision, provider), since
            backends and precisions give slightly different maps from the same file.
        software_version: The product's version: another version may compute maps or
            measurements differently, so its outputs are redone rather than mixed in.
    """

    model: str
    model_name: str
    model_version: str
    model_sha256: str
    threshold: float
    tta: bool
    rescale: bool
    scale: str
    training_sets: tuple[str, ...] = ()
    runtime: str = ""
    software_version: str = __version__

    @classmethod
    def of(
        cls, engine: VesselEngine, threshold: float | None = None, scale: Scale | None = None
    ) -> RunSettings:
        """The settings an engine runs with (``threshold``: override of the model's)."""
        path = engine.model_path
        return cls(
            model=path.name if path is not None else engine.predictor.name,
            model_name=str(engine.card.name),
            model_version=str(engine.card.version),
            model_sha256=file_sha256(path) if path is not None and path.is_file() else "",
            threshold=float(engine.threshold if threshold is None else threshold),
            tta=bool(engine.tta),
            rescale=bool(engine.rescale),
            scale=(scale or Scale()).describe(),
            training_sets=tuple(engine.card.datasets),
            runtime=str(engine.predictor.name),
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (``training_sets`` as a list)."""
        values = asdict(self)
        values["training_sets"] = list(self.training_sets)
        return values

    def matches(self, recorded: Mapping[str, Any] | None) -> bool:
        """Whether outputs recorded with ``recorded`` settings are what these would produce."""
        if not recorded:
            return False
        mine = self.as_dict()
        return all(recorded.get(key) == mine[key] for key in RESUME_KEYS)

    def png_text(self, date: str | None = None) -> dict[str, str]:
        """PNG ``tEXt`` chunks for an exported image."""
        return {
            "Software": SOFTWARE,
            "Model": f"{self.model_name} {self.model_version} ({self.model})",
            "Model SHA-256": self.model_sha256,
            "Threshold": f"{self.threshold:.4f}",
            "Scale": self.scale,
            "Creation Time": date or now(),
            "Disclaimer": intended_use(list(self.training_sets)),
        }


def now() -> str:
    """The local date and time with its UTC offset (ISO 8601), as outputs record it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def is_product_output(path: str | Path) -> bool:
    """Whether ``path`` is an image this product wrote (never a photograph to segment).

    True for the names outputs get (``<stem>_mask.png``, ``_probability.png``, ``_overlay.png``)
    and for any PNG whose ``Software`` text chunk is :data:`SOFTWARE`.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        return False
    if any(path.name.endswith(f"_{kind}.png") for kind in OUTPUT_KINDS):
        return True
    try:
        from PIL import Image

        with Image.open(path) as image:
            return getattr(image, "text", {}).get("Software") == SOFTWARE
    except (OSError, ValueError):
        return False
