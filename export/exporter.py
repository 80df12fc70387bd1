"""Export a trained ``.keras`` model to every deployment format and prove each one against Keras.

For each artifact the report holds its size, the max |Δ| of its probabilities against Keras on
real DRIVE images at several sizes (the padded full image, a 1024x1024 resize, a batch of two),
and its DRIVE test F1/AUC (FOV protocol), so the accuracy cost of int8/fp16 is visible.

Gates (the export fails loudly when one breaks): SavedModel, ONNX fp32 and LiteRT max |Δ| ≤ 1e-4;
int8 and fp16 F1 within 0.005 of ONNX fp32 on the test set.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from export.metadata import build_metadata
from keras_unet.predictors import Predictor
from runtime.errors import UserInputError
from runtime.model_card import read_card
from runtime.reports import markdown_table, write_report

#: Formats in the order they are built; ``onnx`` (fp32) is needed by ``int8`` and ``fp16``.
FORMATS: tuple[str, ...] = ("savedmodel", "onnx", "int8", "fp16", "tflite")
#: Largest allowed max |Δ| against Keras for float32 artifacts.
MAX_ABS_DIFF = 1e-4
#: Largest allowed F1 drop of int8/fp16 against ONNX fp32 on the test set.
MAX_F1_DROP = 0.005
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


def artifact_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """Where each format is written."""
    return {
        "savedmodel": out_dir / f"{stem}_savedmodel",
        "onnx": out_dir / f"{stem}.onnx",
        "int8": out_dir / f"{stem}.int8.onnx",
        "fp16": out_dir / f"{stem}.fp16.onnx",
        "tflite": out_dir / f"{stem}.tflite",
    }


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
    data_dir: str | Path = "data/DRIVE",
    calibration_images: int = 5,
    overwrite: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    """Export ``model_path`` to ``formats`` in ``out_dir``, check parity, write the report.

    Args:
        model_path: A ``.keras`` file with its ``config.json`` (model card) beside it.
        out_dir: Output folder. If it exists, ``overwrite`` must be given; only the files this
            exporter writes are replaced, nothing else in the folder is touched.
        formats: Subset of :data:`FORMATS`; ``int8``/``fp16`` imply ``onnx``.
        data_dir: DRIVE-layout root: ``test/`` gives parity images and test metrics,
            ``training/`` the int8 calibration images (never ``test/``).
        calibration_images: Training images used to calibrate int8.
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
    from keras_unet.predictors import keras_predictor, load_keras_model, onnx_predictor
    from runtime.datasets import find_samples
    from runtime.imageio import read_rgb

    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise UserInputError(
            f"unknown format(s) {', '.join(unknown)}; choose from {', '.join(FORMATS)}"
        )
    if {"int8", "fp16"} & set(formats) and "onnx" not in formats:
        formats = ("onnx", *formats)
    formats = tuple(f for f in FORMATS if f in formats)
    model_path, out_dir, data_dir = Path(model_path), Path(out_dir), Path(data_dir)
    model = load_keras_model(model_path)
    card = read_card(model_path)
    if not card:
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
    metadata = build_metadata(card)
    stem = str(card.get("name") or model_path.stem)
    paths = artifact_paths(out_dir, stem)
    test_paths = find_samples(data_dir / "test")
    images = [read_rgb(p.image) for p in test_paths[:2]]
    batches = parity_batches(images, multiple)
    reference = {name: np.asarray(model(b, training=False)) for name, b in batches.items()}

    def log(message: str) -> None:
        if progress:
            print(f"[export] {message}", file=sys.stderr)

    keras_pred = keras_predictor(model, model_path, card)
    log("scoring Keras on the test set")
    keras_test = evaluate(keras_pred, data_dir / "test", progress=False)
    report: dict[str, Any] = {
        "model": str(model_path),
        "name": stem,
        "metadata": metadata,
        "parity_inputs": {k: list(v.shape) for k, v in batches.items()},
        "keras": {"size_bytes": _size(model_path), "test": _pooled(keras_test)},
        "artifacts": [],
        "skipped": [],
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    artifacts: dict[str, Artifact] = {}
    for fmt in formats:
        path = paths[fmt]
        convert.remove_artifact(path)
        start = time.perf_counter()
        try:
            if fmt == "savedmodel":
                convert.write_savedmodel(model, path)
                predict = convert.savedmodel_predictor(path)
            elif fmt == "onnx":
                convert.keras_to_onnx(model, metadata, path)
                predict = onnx_predictor(path).predict_batch
            elif fmt == "int8":
                calib = _calibration_images(card, data_dir, calibration_images)
                convert.onnx_to_int8(paths["onnx"], path, calib, multiple, metadata)
                predict = onnx_predictor(path, providers=["CPUExecutionProvider"]).predict_batch
            elif fmt == "fp16":
                convert.onnx_to_fp16(paths["onnx"], path, metadata)
                predict = onnx_predictor(path).predict_batch
            else:
                convert.keras_to_tflite(model, path)
                predict = convert.tflite_predictor(path)
        except convert.ConverterMissingError as exc:
            log(f"{fmt}: skipped ({exc})")
            report["skipped"].append({"format": fmt, "reason": str(exc)})
            continue
        log(f"{fmt}: written {path} in {time.perf_counter() - start:.1f} s")
        artifact = Artifact(fmt, path, _size(path))
        artifact.parity = {
            name: _max_abs_diff(predict(b), reference[name]) for name, b in batches.items()
        }
        predictor = Predictor(path, fmt, multiple, keras_pred.threshold, predict, card)
        log(f"{fmt}: max abs Δ {artifact.max_abs_diff:.2e}; scoring on the test set")
        artifact.test = _pooled(evaluate(predictor, data_dir / "test", progress=False))
        artifacts[fmt] = artifact
    for fmt, artifact in artifacts.items():
        if fmt in ("int8", "fp16") and "onnx" in artifacts:
            drop = artifacts["onnx"].test["f1"] - artifact.test["f1"]
            artifact.gate = f"F1 drop vs ONNX fp32 ≤ {MAX_F1_DROP} (is {drop:.4f})"
            artifact.passed = drop <= MAX_F1_DROP
        else:
            artifact.gate = f"max abs Δ ≤ {MAX_ABS_DIFF:g}"
            artifact.passed = artifact.max_abs_diff <= MAX_ABS_DIFF
        report["artifacts"].append(artifact.as_dict())
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


def _calibration_images(card: dict[str, Any], data_dir: Path, count: int) -> list[np.ndarray]:
    """The first ``count`` images the model was fitted on (training split, never test)."""
    from runtime.datasets import find_samples
    from runtime.imageio import read_rgb

    samples = find_samples(data_dir / "training")
    train_ids = card.get("data", {}).get("train_ids", [])
    if isinstance(train_ids, dict):
        train_ids = [i for ids in train_ids.values() for i in ids]
    fitted = set(train_ids)
    chosen = [s for s in samples if not fitted or s.sample_id in fitted][:count]
    if not chosen:
        raise UserInputError(f"{data_dir / 'training'}: no calibration images")
    return [read_rgb(s.image) for s in chosen]


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
    return "\n\n".join(lines)


def load_report(out_dir: str | Path) -> dict[str, Any]:
    """Read ``export_report.json`` from an export folder."""
    return json.loads((Path(out_dir) / "export_report.json").read_text())
