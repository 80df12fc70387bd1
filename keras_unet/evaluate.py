"""Evaluate a model on any data set's split: ``python -m keras_unet.evaluate --help``.

The protocol (DESIGN.md §3), applied to every set at its own resolution: ground truth the first
annotator; only pixels inside the set's FOV mask count; all images pooled. AUC-ROC and AUC-PR from
the probabilities; F1 (Dice), accuracy, sensitivity, specificity, precision, IoU and MCC from the
mask at the threshold chosen on validation data (stored with the model) and at 0.5; a per-image
table; the second annotator against the first beside the model where the set has one. The model
runs through the engine (:class:`runtime.engine.VesselEngine`), so every photograph is seen at
the model's working scale exactly as the clinic side sees it. Writes ``metrics.json``,
``metrics.md`` and per image ``<id>_probability.png``, ``<id>_mask.png``, ``<id>_overlay.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime import cli
from runtime.constants import DEFAULT_THRESHOLD
from runtime.datasets import Sample, SamplePaths, load_sample, split_samples
from runtime.engine import VesselEngine
from runtime.errors import UserInputError, cli_errors
from runtime.imageio import write_png
from runtime.metrics import (
    BINARY_METRICS,
    METRIC_LABELS,
    Confusion,
    binary_scores,
    confusion,
    evaluate_probabilities,
)
from runtime.outputs import output_images, output_name
from runtime.reports import markdown_table, write_report
from runtime.tiling import binary_mask


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
    engine: VesselEngine,
    samples: Sequence[SamplePaths],
    out_dir: str | Path | None = None,
    *,
    label: str = "",
    threshold: float | None = None,
    progress: bool = True,
    save_images: bool = True,
) -> dict[str, Any]:
    """Run the model over samples and score it with the FOV protocol.

    Args:
        engine: The model in the engine (its ``tta`` and ``rescale`` settings apply).
        samples: Images with first-annotator labels and FOV masks.
        out_dir: Where the JSON, Markdown and prediction PNGs go (``None``: nothing written).
        label: What was scored, for the report (``DRIVE test``).
        threshold: Override the model's validation threshold.
        progress: Print one line per image to stderr.
        save_images: Write the probability/mask/overlay PNGs (with ``out_dir``).

    Returns:
        The metrics dict that ``metrics.json`` holds.
    """
    threshold = engine.threshold if threshold is None else float(threshold)
    out = Path(out_dir) if out_dir is not None else None
    pooled_prob, pooled_truth, per_image, kept = [], [], [], []
    seconds = 0.0
    for index, sample_paths in enumerate(samples, 1):
        sample = load_sample(sample_paths)
        start = time.perf_counter()
        probability = engine.probability(sample.image, sample.fov).probability
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
            for kind, array in output_images(sample.image, probability, mask).items():
                write_png(out / output_name(sample.sample_id, kind), array)
        sample.image = None  # type: ignore[assignment]  # Keep only what the observer row needs.
        kept.append(sample)
        if progress:
            print(
                f"[{index}/{len(samples)}] {sample_paths.image.name}: F1 "
                f"{report.scores['f1']:.4f} AUC {report.auc_roc:.4f}",
                file=sys.stderr,
            )
    probability = np.concatenate(pooled_prob)
    truth = np.concatenate(pooled_truth)
    pooled = evaluate_probabilities(probability, truth, threshold)
    at_threshold = pooled.as_dict()
    aucs = (pooled.auc_roc, pooled.auc_pr)
    at_half = evaluate_probabilities(probability, truth, DEFAULT_THRESHOLD, aucs).as_dict()
    model_path = engine.model_path
    result = {
        "model": str(model_path) if model_path else engine.card.name,
        "runtime": engine.predictor.name,
        "split": label,
        "images": len(samples),
        "fov_pixels": int(truth.size),
        "vessel_pixels": int(truth.sum()),
        "tta": engine.tta,
        "working_fov_diameter": engine.card.working_fov_diameter,
        "threshold": threshold,
        "threshold_source": "override"
        if threshold != engine.threshold
        else engine.card.threshold_source,
        "pooled": {"at_threshold": at_threshold, "at_0.5": at_half},
        "per_image": per_image,
        "second_observer": second_observer(kept),
        "seconds_per_image": seconds / max(len(samples), 1),
    }
    if out is not None:
        write_report(out / "metrics", result, to_markdown(result))
    return result


def evaluate_split(
    engine: VesselEngine,
    data_root: str | Path,
    dataset: str,
    split: str,
    out_dir: str | Path | None = None,
    **options: Any,
) -> dict[str, Any]:
    """:func:`evaluate` on one split of a registered data set (``options`` as its keywords)."""
    samples = split_samples(data_root, dataset, split)
    return evaluate(engine, samples, out_dir, label=f"{dataset} {split}", **options)


def to_markdown(result: dict[str, Any]) -> str:
    """The evaluation as Markdown: pooled table with observer row, then the per-image table."""
    headers = ["", "threshold", "AUC-ROC", "AUC-PR"] + [METRIC_LABELS[k] for k in BINARY_METRICS]
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
        f"{', TTA' if result['tta'] else ''})"
    )
    per_image = markdown_table(
        ["image", "AUC-ROC"] + [METRIC_LABELS[k] for k in BINARY_METRICS],
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
        description="Score a model (.keras or .onnx) on a data set's split with the FOV "
        "protocol; writes metrics.json, metrics.md and probability/mask/overlay PNGs.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help="model file (.keras with config.json, or .onnx)")
    cli.add_data_options(p)
    p.add_argument(
        "--out", default=None, help="output folder (default: results/<model>_<dataset>_<split>)"
    )
    cli.add_tta_option(p)
    cli.add_threshold_option(p)
    cli.add_backend_options(
        p,
        default="onnxruntime",
        auto_help="the fastest backend that passed this machine's accuracy gate; "
        "precision auto: the file's own",
    )
    p.add_argument("--no-images", action="store_true", help="write only the metrics files")
    cli.add_quiet_option(p)
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m keras_unet.evaluate``."""
    from keras_unet.predictors import load_engine

    args = build_parser().parse_args(argv)
    threshold = cli.threshold_of(args)
    samples = split_samples(args.data, args.dataset, args.split)
    engine = load_engine(args.model, args.backend, args.precision, tta=args.tta)
    name = engine.card.name or Path(args.model).stem
    out = (
        Path(args.out)
        if args.out
        else Path("results") / f"{name}_{args.dataset}_{args.split}".replace("-", "")
    )
    if out.resolve().is_relative_to(Path(args.data).resolve()):
        raise UserInputError(f"{out}: refusing to write results inside the data folder")
    result = evaluate(
        engine,
        samples,
        out,
        label=f"{args.dataset} {args.split}",
        threshold=threshold,
        progress=not args.quiet,
        save_images=not args.no_images,
    )
    print(to_markdown(result).split("### Per image")[0].rstrip())
    print(f"\nwritten: {out / 'metrics.json'}, {out / 'metrics.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
