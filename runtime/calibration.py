"""A camera's own threshold, chosen on a few of its photographs that someone has annotated.

The model's threshold was chosen on the validation photographs of the cameras it was trained
on. On a camera it never saw, the probabilities rank vessel pixels nearly as well (AUC), but the
threshold that gives the best F1 can be far from the model's: it follows how that camera's
images look *and* how finely its annotators draw (measured in the README's leave-one-out
section: 0.15 for DRIVE, 0.70 for LES-AV, against 0.35–0.49 chosen without them). A per-image
rule cannot see the annotators' style; three or four annotated photographs of the camera can.

:func:`calibrate` runs the model over annotated photographs of one camera and keeps the single
threshold with the best pooled F1 over their FOV pixels; :class:`Calibration` is that choice as a
small JSON file bound to the model it was made with (the SHA-256 of its fp32 ONNX file, so it
holds for the model's gated int8 and bf16 variants too, whose F1 is within 0.005 of fp32), which
``vessel-segment --calibration`` and the app apply. ``python -m runtime.calibrate`` is the
command.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from runtime.backends import fp32_file
from runtime.datasets import SamplePaths, load_sample
from runtime.errors import UserInputError
from runtime.model_card import check_threshold
from runtime.provenance import file_sha256, now
from runtime.reports import write_json

#: The ``format`` field of a calibration file; another value is refused.
CALIBRATION_FORMAT = "vessel-calibration/1"


@dataclass(frozen=True)
class Calibration:
    """One camera's threshold for one model file.

    Attributes:
        threshold: The pooled-F1-best threshold on the photographs.
        camera: What the user calls the camera (free text; may be empty).
        model: The model's name (its card).
        model_file: The model's fp32 ONNX file name when calibrated.
        model_sha256: That file's SHA-256; the calibration is valid for that model only.
        tta: Whether the eight turns and mirrors were averaged.
        photographs: The photographs' ids.
        f1: Pooled F1 of the photographs at ``threshold``.
        model_threshold: The model's own threshold.
        model_threshold_f1: Pooled F1 of the photographs at ``model_threshold``.
        created: When (ISO 8601).
    """

    threshold: float
    camera: str
    model: str
    model_file: str
    model_sha256: str
    tta: bool
    photographs: tuple[str, ...]
    f1: float
    model_threshold: float
    model_threshold_f1: float
    created: str

    def save(self, path: str | Path) -> None:
        """Write the calibration as JSON (atomically)."""
        write_json(path, {"format": CALIBRATION_FORMAT, **asdict(self)})

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        """Read a calibration file.

        Raises:
            UserInputError: The file is missing, not JSON, or not a calibration file.
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserInputError(f"{path}: calibration file not found") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise UserInputError(f"{path}: not a calibration file ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
            raise UserInputError(
                f"{path}: not a calibration file (expected format {CALIBRATION_FORMAT!r}; "
                "make one with python -m runtime.calibrate)"
            )
        try:
            data.pop("format")
            data["photographs"] = tuple(data["photographs"])
            calibration = cls(**data)
            check_threshold(float(calibration.threshold), "threshold")
        except (TypeError, KeyError, ValueError) as exc:
            raise UserInputError(f"{path}: damaged calibration file ({exc})") from None
        return calibration

    def check_model(self, model_path: str | Path, source: str | Path) -> None:
        """Refuse to apply the calibration to another model file than the one it was made with.

        Args:
            model_path: The model file the engine runs.
            source: The calibration file (for the message).

        Raises:
            UserInputError: The model file's SHA-256 differs.
        """
        file, sha256 = model_identity(model_path)
        if sha256 != self.model_sha256:
            raise UserInputError(
                f"{source}: made for {self.model_file} (SHA-256 {self.model_sha256[:12]}…), not "
                f"for {file}; calibrate this model with vessel-calibrate"
            )


def model_identity(model_path: str | Path) -> tuple[str, str]:
    """The name and SHA-256 of a model's fp32 ONNX file (given it or its int8 file).

    The fp32 file identifies the model whichever gated variant runs; a file without an fp32
    sibling identifies itself.
    """
    path = fp32_file(model_path)
    if not path.is_file():
        path = Path(model_path)
    return path.name, file_sha256(path)


def calibrate(
    engine,
    samples: Sequence[SamplePaths],
    camera: str = "",
    on_image: Callable[[int, int, str], None] | None = None,
) -> Calibration:
    """Choose the threshold with the best pooled F1 on annotated photographs of one camera.

    Each photograph's FOV is its mask where one is given, otherwise the engine's estimate (as
    when it segments); only FOV pixels count.

    Args:
        engine: A :class:`runtime.engine.VesselEngine` (its TTA setting applies).
        samples: Photographs with manual annotations (masks optional).
        camera: What the user calls the camera.
        on_image: Called with ``(done, total, image name)`` after each photograph.

    Returns:
        The calibration (not yet saved).

    Raises:
        UserInputError: No photographs, or their annotations hold no vessel pixel.
        MissingDependencyError: scikit-learn (the ``evaluate`` extra) is missing.
    """
    from runtime.fov import estimate_fov
    from runtime.metrics import best_f1_threshold, binary_scores, confusion

    if not samples:
        raise UserInputError("no annotated photographs to calibrate on")
    probabilities, truths = [], []
    for done, paths in enumerate(samples, 1):
        sample = load_sample(paths)
        fov = sample.fov if paths.mask is not None else estimate_fov(sample.image)
        probabilities.append(engine.probability(sample.image, fov).probability[fov])
        truths.append(sample.vessels[fov])
        if on_image is not None:
            on_image(done, len(samples), paths.image.name)
    probability, truth = np.concatenate(probabilities), np.concatenate(truths)
    if not truth.any():
        folder = samples[0].image.parent
        raise UserInputError(f"{folder}: the annotations hold no vessel pixel inside the FOV")
    threshold, f1 = best_f1_threshold(probability, truth)
    threshold = float(np.clip(threshold, 0.01, 0.99))  # Strictly inside (0, 1), as flags are.
    at_model = binary_scores(confusion(probability >= engine.threshold, truth))["f1"]
    model_file, model_sha256 = model_identity(engine.model_path) if engine.model_path else ("", "")
    return Calibration(
        threshold=round(threshold, 4),
        camera=camera,
        model=engine.card.name,
        model_file=model_file,
        model_sha256=model_sha256,
        tta=bool(engine.tta),
        photographs=tuple(paths.sample_id for paths in samples),
        f1=round(float(f1), 4),
        model_threshold=float(engine.threshold),
        model_threshold_f1=round(float(at_model), 4),
        created=now(),
    )
