"""Evaluate a model on a DRIVE-layout split: ``python -m keras_unet.evaluate --help``.

The protocol (DESIGN.md §3): ground truth ``1st_manual``; only pixels inside the FOV mask count;
all images pooled. AUC-ROC and AUC-PR from the probabilities; F1 (Dice), accuracy, sensitivity,
specificity, precision, IoU and MCC from the mask at the threshold chosen on validation data
(stored with the model) and at 0.5; a per-image table; the second observer against the first
beside the model. Writes ``metrics.json``, ``metrics.md`` and per image
``<id>_probability.png``, ``<id>_mask.png``, ``<id>_overlay.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from keras_unet.predictors import Predictor, load_predictor
from runtime.constants import DEFAULT_THRESHOLD
from runtime.datasets import Sample, find_samples, load_sample
from runtime.errors import UserInputError, cli_errors
from runtime.imageio import write_png
from runtime.metrics import (
    BINARY_METRICS,
    Confusion,
    binary_scores,
    confusion,
    evaluate_probabilities,
)
from runtime.reports import markdown_table, write_report
from runtime.tiling import binary_mask, overlay, probability_to_uint8

LABELS = {
    "f1": "F1",
    "accuracy": "Acc",
    "sensitivity": "Se",
    "specificity": "Sp",
    "precision": "Pr",
    "iou": "IoU",
    "mcc": "MCC",
}


def second_observer(samples: Sequence[Sample]) -> dict[str, Any] | None:
    """Scores of the 2nd manual against the 1st inside the FOV (pooled and per-image mean).

    Returns:
        ``None`` when any sample lacks a second annotation.
    """
    if not samples or any(s.second_observer is None for s in samples):
        return None
    per_image = [
        binary_scores(confusion(s.second_observer[s.fov], s.vessels[s.fov])) for s in samples
    ]
    pooled = sum(
        (confusion(s.second_observer[s.fov], s.vessels[s.fov]) for s in samples),
        Confusion(0, 0, 0, 0),
    )
    return {
        "pooled": binary_scores(pooled),
        "per_image_mean": {k: float(np.mean([p[k] for p in per_image])) for k in BINARY_METRICS},
    }


def evaluate(
    predictor: Predictor,
    split_dir: str | Path,
    out_dir: str | Path | None = None,
    tta: bool = False,
    threshold: float | None = None,
    progress: bool = True,
    save_images: bool = True,
) -> dict[str, Any]:
    """Run the model over a split and score it with the FOV protocol.

    Args:
        predictor: The model (any runtime).
        split_dir: DRIVE-layout folder with ``images/``, ``1st_manual/``, ``mask/``.
        out_dir: Where the JSON, Markdown and prediction PNGs go (``None``: nothing written).
        tta: Flip test-time augmentation.
        threshold: Override the model's validation threshold.
        progress: Print one line per image to stderr.
        save_images: Write the probability/mask/overlay PNGs (with ``out_dir``).

    Returns:
        The metrics dict that ``metrics.json`` holds.
    """
    threshold = predictor.threshold if threshold is None else float(threshold)
    paths = find_samples(split_dir)
    out = Path(out_dir) if out_dir is not None else None
    pooled_prob, pooled_truth, per_image, samples = [], [], [], []
    seconds = 0.0
    for index, sample_paths in enumerate(paths, 1):
        sample = load_sample(sample_paths)
        start = time.perf_counter()
        probability = predictor.probability(sample.image, tta=tta)
        seconds += time.perf_counter() - start
        fov_prob, fov_truth = probability[sample.fov], sample.vessels[sample.fov]
        report = evaluate_probabilities(fov_prob, fov_truth, threshold)
        per_image.append(
            {"id": sample.sample_id, "fov_pixels": int(sample.fov.sum()), **report.as_dict()}
        )
        pooled_prob.append(fov_prob)
        pooled_truth.append(fov_truth)
        if out is not None and save_images:
            mask = binary_mask(probability, threshold, sample.fov)
            stem = out / sample.sample_id
            write_png(f"{stem}_probability.png", probability_to_uint8(probability))
            write_png(f"{stem}_mask.png", mask)
            write_png(f"{stem}_overlay.png", overlay(sample.image, mask))
        sample.image = None  # type: ignore[assignment]  # Keep only what the observer row needs.
        samples.append(sample)
        if progress:
            print(
                f"[{index}/{len(paths)}] {sample_paths.image.name}: F1 {report.scores['f1']:.4f} "
                f"AUC {report.auc_roc:.4f}",
                file=sys.stderr,
            )
    probability = np.concatenate(pooled_prob)
    truth = np.concatenate(pooled_truth)
    at_threshold = evaluate_probabilities(probability, truth, threshold).as_dict()
    at_half = evaluate_probabilities(probability, truth, DEFAULT_THRESHOLD).as_dict()
    result = {
        "model": str(predictor.path),
        "runtime": predictor.runtime,
        "split": str(split_dir),
        "images": len(paths),
        "fov_pixels": int(truth.size),
        "vessel_pixels": int(truth.sum()),
        "tta": tta,
        "threshold": threshold,
        "threshold_source": "override"
        if threshold != predictor.threshold
        else predictor.card.get("threshold_source", "model card" if predictor.card else "default"),
        "pooled": {"at_threshold": at_threshold, "at_0.5": at_half},
        "per_image": per_image,
        "second_observer": second_observer(samples),
        "seconds_per_image": seconds / max(len(paths), 1),
    }
    if out is not None:
        write_report(out / "metrics", result, to_markdown(result))
    return result


def to_markdown(result: dict[str, Any]) -> str:
    """The evaluation as Markdown: pooled table with observer row, then the per-image table."""
    headers = ["", "threshold", "AUC-ROC", "AUC-PR"] + [LABELS[k] for k in BINARY_METRICS]
    pooled = result["pooled"]
    rows = []
    for key, label in (("at_threshold", "model, validation threshold"), ("at_0.5", "model, 0.5")):
        r = pooled[key]
        rows.append(
            [label, r["threshold"], r["auc_roc"], r["auc_pr"]] + [r[k] for k in BINARY_METRICS]
        )
    observer = result.get("second_observer")
    if observer:
        rows.append(
            ["2nd observer (pooled)", None, None, None]
            + [observer["pooled"][k] for k in BINARY_METRICS]
        )
        rows.append(
            ["2nd observer (per-image mean)", None, None, None]
            + [observer["per_image_mean"][k] for k in BINARY_METRICS]
        )
    title = (
        f"## {Path(result['model']).name} on {result['split']} "
        f"({result['images']} images, {result['fov_pixels']:,} FOV pixels, "
        f"{result['vessel_pixels']:,} vessel; FOV protocol"
        f"{', flip TTA' if result['tta'] else ''})"
    )
    per_image = markdown_table(
        ["image", "AUC-ROC"] + [LABELS[k] for k in BINARY_METRICS],
        [[r["id"], r["auc_roc"]] + [r[k] for k in BINARY_METRICS] for r in result["per_image"]],
    )
    return "\n\n".join(
        [
            title,
            markdown_table(headers, rows),
            f"### Per image (threshold {result['threshold']:.4f})",
            per_image,
        ]
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m keras_unet.evaluate",
        description="Score a model on a DRIVE-layout split with the FOV protocol; writes "
        "metrics.json, metrics.md and probability/mask/overlay PNGs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "--model", required=True, help="model file (.keras) with its config.json beside it"
    )
    p.add_argument("--data", default="data/DRIVE", help="DRIVE-layout root")
    p.add_argument("--split", default="test", help="sub-folder of --data to score (test, training)")
    p.add_argument(
        "--out", default=None, help="output folder (default: results/<model name>_<split>)"
    )
    p.add_argument("--tta", action="store_true", help="flip test-time augmentation")
    p.add_argument(
        "--threshold", type=float, default=None, help="override the model's validation threshold"
    )
    p.add_argument("--no-images", action="store_true", help="write only the metrics files")
    p.add_argument("--quiet", action="store_true", help="no per-image progress lines")
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m keras_unet.evaluate``."""
    args = build_parser().parse_args(argv)
    if args.threshold is not None and not 0.0 < args.threshold < 1.0:
        raise UserInputError(f"--threshold must be in (0, 1), received {args.threshold}")
    split_dir = Path(args.data) / args.split
    predictor = load_predictor(args.model)
    name = predictor.card.get("name") or Path(args.model).stem
    out = Path(args.out) if args.out else Path("results") / f"{name}_{args.split}"
    if out.resolve().is_relative_to(Path(args.data).resolve()):
        raise UserInputError(f"{out}: refusing to write results inside the data folder")
    result = evaluate(
        predictor,
        split_dir,
        out,
        tta=args.tta,
        threshold=args.threshold,
        progress=not args.quiet,
        save_images=not args.no_images,
    )
    print(to_markdown(result).split("### Per image")[0].rstrip())
    print(f"\nwritten: {out / 'metrics.json'}, {out / 'metrics.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
