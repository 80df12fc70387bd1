"""The model card: one schema for what a model is, written beside it and into its ONNX metadata.

A run folder and a shipped-model folder keep it as ``config.json`` beside the ``.keras`` file;
export copies the fields a runtime needs into the ONNX ``metadata_props``
(:meth:`ModelCard.to_onnx_metadata`, keys in :data:`METADATA_KEYS`), and the runtime reads them
back (:meth:`ModelCard.from_onnx_metadata`), so nothing downstream hard-codes a threshold, an
input multiple or a working scale. Train, ship, compare, export, the engine and the app all
read and write cards through this class.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runtime.constants import (
    DEFAULT_THRESHOLD,
    INPUT_NAME,
    INPUT_VALUE_RANGE,
    OUTPUT_NAME,
    WORKING_FOV_DIAMETER,
)
from runtime.errors import ModelFileError, UserInputError
from runtime.preparation import DEFAULT_PREPARATION, PREPARATIONS
from runtime.reports import write_json

CARD_NAME = "config.json"

#: Keys every exported ONNX model carries in ``metadata_props``, and what they hold.
METADATA_KEYS: dict[str, str] = {
    "model_name": "name of the model",
    "model_version": "version of the model / package that trained it",
    "input_name": "name of the single graph input",
    "output_name": "name of the single graph output",
    "input_layout": "layout and colour order of the input",
    "input_multiple": "height and width must be multiples of this (2**depth)",
    "input_value_range": "JSON [low, high] of the raw input values",
    "working_fov_diameter": "FOV diameter in pixels the model sees photographs at",
    "input_preparation": "what is done to a photograph before the model (runtime.preparation)",
    "threshold": "recommended probability threshold (chosen on validation data)",
    "threshold_source": "how the threshold was chosen",
    "training_sets": "JSON list of the data sets the model was trained on",
    "training_data": "data the model was trained on, in words",
    "validation_metrics": "JSON pooled FOV metrics on the validation images",
    "test_metrics": "JSON pooled FOV metrics on the DRIVE test set ({} if not evaluated)",
    "test_metrics_tta": "JSON the same with TTA over the eight turns and mirrors",
    "precision": "fp32, int8 (static QDQ) or fp16",
}
#: Keys without which a runtime cannot use an ONNX model.
REQUIRED_METADATA: tuple[str, ...] = ("input_multiple", "threshold", "input_name", "output_name")


def check_threshold(value: float, what: str = "threshold") -> float:
    """``value`` as a float when it is a usable threshold (strictly between 0 and 1).

    Raises:
        UserInputError: Outside (0, 1); the message names ``what`` (e.g. ``--threshold``).
    """
    value = float(value)
    if not 0.0 < value < 1.0:
        raise UserInputError(f"{what} must be in (0, 1), received {value}")
    return value


@dataclass
class ModelCard:
    """What is known about a trained model.

    Attributes:
        name: Model name (the shipped folder's name).
        version: Version of the package that trained it.
        threshold: Operating threshold chosen on validation data.
        threshold_source: How the threshold was chosen.
        model: Architecture: ``filters``, ``depth``, ``multiple``, ``parameters``,
            ``normalization``...
        training: The training configuration (:class:`keras_unet.config.TrainConfig`).
        data: Data sets, image ids per split, ``working_fov_diameter``, label resampling.
        validation: Validation scores (pooled, at 0.5, per set).
        validation_summary: Rounded validation scores at the threshold.
        test_summary: Rounded DRIVE test scores (written by ``ship``).
        test_summary_tta: The same with TTA (eight turns and mirrors).
        best_epoch: Epoch picked by the validation metric.
        train_seconds: Training time.
        run: Run folder it was shipped from.
        precision: Numeric precision of an exported graph (``fp32`` for Keras).
    """

    name: str = "unet"
    version: str = "0"
    threshold: float = DEFAULT_THRESHOLD
    threshold_source: str = "default"
    model: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] = field(default_factory=dict)
    validation_summary: dict[str, float] = field(default_factory=dict)
    test_summary: dict[str, float] = field(default_factory=dict)
    test_summary_tta: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None
    train_seconds: float | None = None
    run: str | None = None
    precision: str = "fp32"

    @property
    def multiple(self) -> int | None:
        """Input multiple (``2**depth``), when the card knows it."""
        value = self.model.get("multiple")
        return int(value) if value is not None else None

    @property
    def working_fov_diameter(self) -> float:
        """FOV diameter the model was trained at (DRIVE's for cards that predate the field)."""
        return float(self.data.get("working_fov_diameter", WORKING_FOV_DIAMETER))

    @property
    def input_preparation(self) -> str:
        """Preparation the model was trained with (``none`` for cards that predate the field)."""
        return str(self.data.get("input_preparation", DEFAULT_PREPARATION))

    @property
    def datasets(self) -> list[str]:
        """Data sets the model was trained on."""
        return list(self.data.get("datasets", ["DRIVE"]))

    def training_description(self) -> str:
        """The training data in words (for reports and the About box)."""
        if "description" in self.data:
            return str(self.data["description"])
        train = self.data.get("train_ids", [])
        validation = self.data.get("validation_ids", [])
        if isinstance(train, list):  # Cards written before the multi-set data layer: DRIVE.
            train, validation = {"DRIVE": train}, {"DRIVE": validation}
        parts = [
            f"{name} {len(ids)} fit + {len(validation.get(name, []))} validation"
            for name, ids in train.items()
        ]
        scale = f"FOV {self.working_fov_diameter:g} px"
        if self.input_preparation != DEFAULT_PREPARATION:
            scale += f", {self.input_preparation}"
        return f"{', '.join(parts) or 'unknown'} images ({scale})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly copy (the content of ``config.json``)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelCard:
        """Rebuild from :meth:`to_dict`, ignoring unknown keys."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def load(cls, model_path: str | Path) -> ModelCard | None:
        """The card beside ``model_path``, or ``None`` when there is none or it is unreadable."""
        path = card_path(model_path)
        try:
            return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def save(self, path: str | Path) -> None:
        """Write the card as JSON (atomically) to ``path`` (a ``config.json``)."""
        write_json(path, self.to_dict())

    def to_onnx_metadata(self, precision: str = "fp32") -> dict[str, str]:
        """ONNX ``metadata_props`` for an exported copy of this model.

        Raises:
            ValueError: The card lacks ``model.multiple`` (not trained by this project).
        """
        if self.multiple is None:
            raise ValueError("model card has no 'model.multiple' (was the model trained here?)")
        validation = self.validation_summary or self.validation.get("at_threshold", {})
        return {
            "model_name": self.name,
            "model_version": str(self.version),
            "input_name": INPUT_NAME,
            "output_name": OUTPUT_NAME,
            "input_layout": "NHWC float32 RGB",
            "input_multiple": str(self.multiple),
            "input_value_range": json.dumps(list(INPUT_VALUE_RANGE)),
            "working_fov_diameter": repr(self.working_fov_diameter),
            "input_preparation": self.input_preparation,
            "threshold": repr(float(self.threshold)),
            "threshold_source": self.threshold_source,
            "training_sets": json.dumps(self.datasets),
            "training_data": self.training_description(),
            "validation_metrics": json.dumps(_numbers(validation)),
            "test_metrics": json.dumps(_numbers(self.test_summary)),
            "test_metrics_tta": json.dumps(_numbers(self.test_summary_tta)),
            "precision": precision,
        }

    @classmethod
    def from_onnx_metadata(cls, props: dict[str, str], source: str = "model") -> ModelCard:
        """The card an exported ONNX model carries.

        Args:
            props: ``metadata_props`` (onnxruntime's ``custom_metadata_map``).
            source: Name used in error messages (the file).

        Raises:
            ModelFileError: A required key is missing, malformed or out of range.
        """
        missing = [k for k in REQUIRED_METADATA if k not in props]
        if missing:
            raise ModelFileError(
                f"{source}: ONNX metadata lacks {', '.join(missing)} "
                "(not exported by this project's exporter?)"
            )
        try:
            multiple = int(props["input_multiple"])
            threshold = float(props["threshold"])
            diameter = float(props.get("working_fov_diameter", WORKING_FOV_DIAMETER))
            sets = json.loads(props.get("training_sets", '["DRIVE"]'))
            metrics = {
                key: json.loads(props.get(key, "{}"))
                for key in ("validation_metrics", "test_metrics", "test_metrics_tta")
            }
        except (ValueError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{source}: malformed ONNX metadata ({exc})") from None
        preparation = props.get("input_preparation", DEFAULT_PREPARATION)
        if preparation not in PREPARATIONS:
            raise ModelFileError(
                f"{source}: unknown input_preparation {preparation!r} in the ONNX metadata "
                f"(known: {', '.join(PREPARATIONS)}; a model from a newer version?)"
            )
        if multiple < 1 or not 0.0 < threshold < 1.0 or diameter <= 0:
            raise ModelFileError(
                f"{source}: ONNX metadata out of range (input_multiple {multiple}, "
                f"threshold {threshold}, working_fov_diameter {diameter})"
            )
        data: dict[str, Any] = {
            "datasets": sets,
            "working_fov_diameter": diameter,
            "input_preparation": preparation,
        }
        if "training_data" in props:
            data["description"] = props["training_data"]
        return cls(
            name=props.get("model_name", Path(source).stem),
            version=props.get("model_version", "0"),
            threshold=threshold,
            threshold_source=props.get("threshold_source", "ONNX metadata"),
            model={"multiple": multiple},
            data=data,
            validation_summary=metrics["validation_metrics"],
            test_summary=metrics["test_metrics"],
            test_summary_tta=metrics["test_metrics_tta"],
            precision=props.get("precision", "fp32"),
        )


def card_path(model_path: str | Path) -> Path:
    """The model card that belongs to ``model_path`` (same folder)."""
    return Path(model_path).parent / CARD_NAME


def _numbers(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in metrics.items() if isinstance(v, int | float)}
