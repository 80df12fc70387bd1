"""Export a trained ``.keras`` model to every deployment format and prove each one against Keras.

For each artifact the report holds its size, the max |Δ| of its probabilities against Keras on
real DRIVE images at several sizes (the padded full image, a 1024x1024 resize, a batch of two),
and its DRIVE test F1/AUC (FOV protocol), so the accuracy cost of int8/fp16 is visible.

Gates (the export fails loudly when one breaks): SavedModel, ONNX fp32 and LiteRT max |Δ| ≤ 1e-4;
int8 and fp16 F1 within 0.005 of ONNX fp32 on the test set.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.constants import DATA_ROOT, MAX_F1_DROP
from runtime.errors import MissingDependencyError, UserInputError
from runtime.model_card import ModelCard
from runtime.providers import CPU
from runtime.reports import markdown_table, write_report

#: Largest allowed max |Δ| against Keras for float32 artifacts.
MAX_ABS_DIFF = 1e-4
#: Side of the square resize used as the second parity size.
PARITY_SIDE = 1024


class ExportGateError(UserInputError):
    """An artifact failed its parity gate (the report is still written)."""


@dataclass
class Artifact:
    """One exported file and what was measured on it."""

    format: str
    path: Path
    size_bytes: int = 0
    parity: dict[str, float] = field(default_factory=dict)
    test: dict[str, float] = field(default_factory=dict)
    gate: str = ""
    passed: bool | None = None

    @property
    def max_abs_diff(self) -> float:
        return max(self.parity.values()) if self.parity else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "path": str(self.path),
            "size_bytes": self.size_bytes,
            "max_abs_diff": self.max_abs_diff,
            "parity": self.parity,
            "test": self.test,
            "gate": self.gate,
            "passed": self.passed,
        }


@dataclass
class ExportJob:
    """What every format's builder may need."""

    model: Any  # keras.Model
    card: ModelCard
    paths: dict[str, Path]
    calibration: Callable[[], list[np.ndarray]]


@dataclass(frozen=True)
class ExportFormat:
    """One deployment format.

    Attributes:
        key: Its name (``--formats``).
        suffix: Appended to the model name to name the artifact.
        build: Writes the artifact (``paths[key]``) from the job.
        runner: Opens the artifact as a batch function (for parity and scoring).
        gate: ``parity`` (max |Δ| against Keras ≤ :data:`MAX_ABS_DIFF`) or ``f1`` (F1 within
            :data:`MAX_F1_DROP` of ONNX fp32 on the test set).
        committed: Shipped in the repository (``saved_models/``), else a build output.
    """

    key: str
    suffix: str
    build: Callable[[ExportJob], object]
    runner: Callable[[Path], Callable[[np.ndarray], np.ndarray]]
    gate: str
    committed: bool


def _onnx_runner(path: Path, providers: list[str] | None = None):
    from runtime.onnx_session import OnnxPredictor

    return OnnxPredictor(path, providers=providers).predict


def _formats() -> dict[str, ExportFormat]:
    from export import convert

    def metadata(job: ExportJob, precision: str) -> dict[str, str]:
        return job.card.to_onnx_metadata(precision)

    rows = (
        ExportFormat(
            "savedmodel",
            "_savedmodel",
            lambda j: convert.write_savedmodel(j.model, j.paths["savedmodel"]),
            convert.savedmodel_predictor,
            "parity",
            committed=False,
        ),
        ExportFormat(
            "onnx",
            ".onnx",
            lambda j: convert.keras_to_onnx(j.model, metadata(j, "fp32"), j.paths["onnx"]),
            _onnx_runner,
            "parity",
            committed=True,
        ),
        ExportFormat(
            "int8",
            ".int8.onnx",
            lambda j: convert.onnx_to_int8(
                j.paths["onnx"],
                j.paths["int8"],
                j.calibration(),
                int(j.card.multiple or 1),
                metadata(j, "int8"),
            ),
            lambda path: _onnx_runner(path, [CPU]),
            "f1",
            committed=True,
        ),
        ExportFormat(
            "fp16",
            ".fp16.onnx",
            lambda j: convert.onnx_to_fp16(j.paths["onnx"], j.paths["fp16"], metadata(j, "fp16")),
            _onnx_runner,
            "f1",
            committed=False,
        ),
        ExportFormat(
            "tflite",
            ".tflite",
            lambda j: convert.keras_to_tflite(j.model, j.paths["tflite"]),
            convert.tflite_predictor,
            "parity",
            committed=False,
        ),
    )
    return {row.key: row for row in rows}


#: Formats in the order they are built (the table's order); ``onnx`` (fp32) is needed by
#: ``int8`` and ``fp16``.
FORMATS: tuple[str, ...] = tuple(_formats())
#: Formats built from the ONNX fp32 file.
NEEDS_ONNX: tuple[str, ...] = ("int8", "fp16")


def artifact_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """Where each format is written."""
    return {key: out_dir / f"{stem}{fmt.suffix}" for key, fmt in _formats().items()}


def parity_batches(images: list[np.ndarray], multiple: int) -> dict[str, np.ndarray]:
    """Real images at several sizes: padded full image, square resize, batch of two."""
    import cv2

    from runtime.tiling import pad_to_multiple, padded_size

    first = pad_to_multiple(images[0].astype(np.float32), multiple)
    side = padded_size(PARITY_SIDE, PARITY_SIDE, multiple)[0]
    resized = cv2.resize(images[0], (side, side), interpolation=cv2.INTER_LINEAR)
    height = max(i.shape[0] for i in images[:2])
    width = max(i.shape[1] for i in images[:2])
    h, w = padded_size(height, width, multiple)
    pair = np.zeros((2, h, w, 3), np.float32)
    for k, image in enumerate(images[:2]):
        pair[k, : image.shape[0], : image.shape[1]] = image
    return {
        f"{first.shape[0]}x{first.shape[1]}": first[None],
        f"{side}x{side}": resized.astype(np.float32)[None],
        f"batch2_{h}x{w}": pair,
    }


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def export_all(
    model_path: str | Path,
    out_dir: str | Path,
    formats: tuple[str, ...] = FORMATS,
    data_dir: str | Path = DATA_ROOT,
    calibration_count: int = 5,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Export ``model_path`` to ``formats`` in ``out_dir``, check parity, write the report.

    Args:
        model_path: A ``.keras`` file with its ``config.json`` (model card) beside it.
        out_dir: Output folder. If it exists, ``overwrite`` must be given; only the files this
            exporter writes are replaced, nothing else in the folder is touched.
        formats: Subset of :data:`FORMATS`; ``int8``/``fp16`` imply ``onnx``.
        data_dir: Data root: the DRIVE test set gives parity images and test metrics, the
            train splits of the model's sets the int8 calibration images (never test images).
        calibration_count: Training images used to calibrate int8.
        overwrite: Allow an existing output folder.
        progress: Print a line per step to stderr.

    Returns:
        The report (also written as ``export_report.json`` and ``.md``).

    Raises:
        UserInputError: Bad model, existing folder, unknown format, missing converter.
        ExportGateError: An artifact missed its gate.
    """
    import sys

    from export import convert
    from keras_unet.evaluate import evaluate
    from keras_unet.model import model_multiple
    from keras_unet.predictors import keras_engine, load_keras_model
    from runtime.datasets import split_samples
    from runtime.engine import VesselEngine
    from runtime.imageio import read_rgb
    from runtime.predictors import CallablePredictor

    table = _formats()
    unknown = [f for f in formats if f not in table]
    if unknown:
        raise UserInputError(
            f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(table)}"
        )
    if set(NEEDS_ONNX) & set(formats) and "onnx" not in formats:
        formats = ("onnx", *formats)
    formats = tuple(f for f in table if f in formats)
    model_path, out_dir = Path(model_path), Path(out_dir)
    model = load_keras_model(model_path)
    card = ModelCard.load(model_path)
    if card is None:
        raise UserInputError(
            f"{model_path}: no config.json (model card) beside the model; "
            "export needs its threshold and input multiple"
        )
    if out_dir.exists() and not overwrite:
        raise UserInputError(
            f"{out_dir}: output folder exists; pass --overwrite to replace "
            "the exported files in it (other files are left alone)"
        )
    multiple = model_multiple(model)
    stem = card.name or model_path.stem
    paths = artifact_paths(out_dir, stem)
    test_samples = split_samples(data_dir, "DRIVE", "test")
    images = [read_rgb(p.image) for p in test_samples[:2]]
    batches = parity_batches(images, multiple)
    reference = {name: np.asarray(model(b, training=False)) for name, b in batches.items()}

    def log(message: str) -> None:
        if progress:
            print(f"[export] {message}", file=sys.stderr)

    log("scoring Keras on the test set")
    keras_test = evaluate(keras_engine(model, card, model_path), test_samples, progress=False)
    report: dict[str, Any] = {
        "model": str(model_path),
        "name": stem,
        "metadata": card.to_onnx_metadata(),
        "parity_inputs": {k: list(v.shape) for k, v in batches.items()},
        "keras": {"size_bytes": _size(model_path), "test": _pooled(keras_test)},
        "artifacts": [],
        "skipped": [],
    }
    job = ExportJob(
        model, card, paths, lambda: calibration_images(card, data_dir, calibration_count)
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Artifact] = {}
    for key in formats:
        fmt, path = table[key], paths[key]
        convert.remove_artifact(path)
        start = time.perf_counter()
        try:
            fmt.build(job)
            predict = fmt.runner(path)
        except MissingDependencyError as exc:
            log(f"{key}: skipped ({exc})")
            report["skipped"].append({"format": key, "reason": str(exc)})
            continue
        log(f"{key}: written {path} in {time.perf_counter() - start:.1f} s")
        artifact = Artifact(key, path, _size(path))
        artifact.parity = {
            name: _max_abs_diff(predict(b), reference[name]) for name, b in batches.items()
        }
        engine = VesselEngine(CallablePredictor(key, multiple, predict), card)
        log(f"{key}: max abs Δ {artifact.max_abs_diff:.2e}; scoring on the test set")
        artifact.test = _pooled(evaluate(engine, test_samples, progress=False))
        artifacts[key] = artifact
    for key, artifact in artifacts.items():
        if table[key].gate == "f1" and "onnx" in artifacts:
            drop = artifacts["onnx"].test["f1"] - artifact.test["f1"]
            artifact.gate = f"F1 drop vs ONNX fp32 ≤ {MAX_F1_DROP} (is {drop:.4f})"
            artifact.passed = drop <= MAX_F1_DROP
        else:
            artifact.gate = f"max abs Δ ≤ {MAX_ABS_DIFF:g}"
            artifact.passed = artifact.max_abs_diff <= MAX_ABS_DIFF
        report["artifacts"].append(artifact.as_dict())
    if "onnx" in artifacts:
        from runtime.gate import run_gate

        log("gating the backends (onnxruntime, OpenVINO) and precisions on the test set")
        report["backends"] = run_gate(paths["onnx"], data_dir, save=False)
    write_report(out_dir / "export_report", report, to_markdown(report))
    failed = [a for a in artifacts.values() if not a.passed]
    if failed:
        raise ExportGateError(
            "parity gate failed: "
            + "; ".join(f"{a.format} ({a.gate}, max abs Δ {a.max_abs_diff:.2e})" for a in failed)
            + f" (see {out_dir / 'export_report.md'})"
        )
    return report


def _max_abs_diff(output: np.ndarray, reference: np.ndarray) -> float:
    """max |output - reference|; infinite when the shapes differ (a broken export)."""
    output = np.asarray(output)
    if output.shape != reference.shape:
        return float("inf")
    return float(np.abs(output - reference).max())


def _pooled(result: dict[str, Any]) -> dict[str, float]:
    pooled = result["pooled"]["at_threshold"]
    return {
        "threshold": result["threshold"],
        "f1": pooled["f1"],
        "auc_roc": pooled["auc_roc"],
        "accuracy": pooled["accuracy"],
        "seconds_per_image": result["seconds_per_image"],
    }


def calibration_images(card: ModelCard, data_root: str | Path, count: int) -> list[np.ndarray]:
    """``count`` training images of the model's sets, at its working scale (never test images).

    Taken round-robin over the sets the model was trained on, so int8 ranges cover every
    camera; each is resampled as the engine will resample it at inference.

    Raises:
        UserInputError: No training image found.
    """
    from itertools import chain, zip_longest

    from runtime.datasets import load_sample, split_samples
    from runtime.preparation import model_input
    from runtime.scaling import working_scale

    per_set = [split_samples(data_root, name, "train") for name in card.datasets]
    ordered = [s for s in chain.from_iterable(zip_longest(*per_set)) if s is not None]
    if not ordered:
        raise UserInputError(f"{data_root}: no calibration images in {card.datasets}")
    images = []
    for paths in ordered[:count]:
        sample = load_sample(paths)
        scale = working_scale(sample.fov, card.working_fov_diameter)
        images.append(model_input(sample.image, sample.fov, scale, card.input_preparation))
    return images


def to_markdown(report: dict[str, Any]) -> str:
    """The export report as Markdown."""
    keras_row = [
        "Keras (.keras)",
        report["keras"]["size_bytes"] / 1e6,
        "–",
        report["keras"]["test"]["f1"],
        report["keras"]["test"]["auc_roc"],
        report["keras"]["test"]["seconds_per_image"] * 1000,
        "reference",
        "–",
    ]
    rows = [keras_row]
    for a in report["artifacts"]:
        rows.append(
            [
                a["format"],
                a["size_bytes"] / 1e6,
                f"{a['max_abs_diff']:.1e}",
                a["test"]["f1"],
                a["test"]["auc_roc"],
                a["test"]["seconds_per_image"] * 1000,
                a["gate"],
                "pass" if a["passed"] else "FAIL",
            ]
        )
    lines = [
        f"## Export report: {report['name']}",
        f"Parity inputs (real DRIVE test images): "
        f"{', '.join(f'{k} {v}' for k, v in report['parity_inputs'].items())}. "
        f"Test metrics: DRIVE test, FOV protocol, threshold "
        f"{report['keras']['test']['threshold']:.4f} (from validation).",
        markdown_table(
            [
                "artifact",
                "size MB",
                "max abs Δ vs Keras",
                "test F1",
                "test AUC",
                "ms / image (eval loop)",
                "gate",
                "result",
            ],
            rows,
        ),
    ]
    if report["skipped"]:
        lines.append(
            "Skipped: " + "; ".join(f"{s['format']}: {s['reason']}" for s in report["skipped"])
        )
    parity = markdown_table(
        ["artifact", *report["parity_inputs"]],
        [
            [a["format"], *(f"{a['parity'][k]:.2e}" for k in report["parity_inputs"])]
            for a in report["artifacts"]
        ],
    )
    lines += ["### max abs Δ against Keras, per input", parity]
    if report.get("backends"):
        from runtime.gate import to_markdown as gate_markdown

        lines.append("#" + gate_markdown(report["backends"]))
    return "\n\n".join(lines)
