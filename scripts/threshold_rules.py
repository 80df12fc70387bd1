"""Does a per-photograph threshold help on a camera the model never saw?

Usage::

    python scripts/threshold_rules.py --model runs/lodo_without_STARE/model.keras \\
        --dataset STARE --splits validation,test --out results/threshold_rules/STARE

Segments every photograph of the given splits with the model (through the engine, at its working
scale and the set's FOV protocol) and binarises each probability map by every rule of
:data:`RULES`: the model's one threshold (chosen on its validation splits), Otsu's threshold of
that photograph's FOV probabilities, and their mean. Writes pooled F1, sensitivity and precision
per rule and split (``threshold_rules.json`` / ``.md``), and, for reference, the best single
threshold of each split, found with its labels (what annotating a few photographs of a camera
could set); on every later split, also the first split's best threshold, which is what
``vessel-calibrate`` on those photographs would choose for the camera. Meant for
leave-one-data-set-out models (``python -m keras_unet.lodo``), whose held-out set's validation
split is as unseen as its test split: choose a rule on ``validation``, read ``test`` for
information.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _otsu(probability: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    return float(threshold_otsu(probability))


#: Rule name -> threshold of one photograph from (its FOV probabilities, the model's threshold).
RULES: dict[str, Callable[[np.ndarray, float], float]] = {
    "model threshold (validation)": lambda fov_probability, model: model,
    "Otsu, per photograph": lambda fov_probability, model: _otsu(fov_probability),
    "mean of the two": lambda fov_probability, model: 0.5 * (model + _otsu(fov_probability)),
}

#: The reference row: the one threshold that is best for the split, found with its labels.
BEST = "best for this split (with its labels)"
#: The first split's best threshold on the later splits: a camera calibrated on a few photographs.
CALIBRATED = "calibrated on the first split (vessel-calibrate)"


def main(argv: list[str] | None = None) -> int:
    """Score every rule on every split and write the tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", required=True, help=".keras or .onnx model (or a run's model.keras)")
    p.add_argument("--dataset", required=True, help="registered data set (DRIVE, STARE, ...)")
    p.add_argument("--splits", default="validation,test", help="comma-separated splits")
    p.add_argument("--data", default=str(REPO / "data"), help="data root")
    p.add_argument("--out", default="results/threshold_rules", help="output folder")
    args = p.parse_args(argv)

    from keras_unet.predictors import load_engine
    from runtime.datasets import load_sample, split_samples
    from runtime.metrics import Confusion, best_f1_threshold, binary_scores, confusion
    from runtime.reports import markdown_table, write_report

    engine = load_engine(args.model)
    rows, data = [], {"model": args.model, "dataset": args.dataset, "splits": {}}
    calibrated: tuple[str, float] | None = None
    for split in args.splits.split(","):
        samples = split_samples(args.data, args.dataset, split)
        counts = dict.fromkeys(RULES, Confusion(0, 0, 0, 0))
        thresholds: dict[str, list[float]] = {rule: [] for rule in RULES}
        probabilities, truths = [], []
        for paths in samples:
            sample = load_sample(paths)
            fov_probability = engine.probability(sample.image, sample.fov).probability[sample.fov]
            truth = sample.vessels[sample.fov]
            probabilities.append(fov_probability)
            truths.append(truth)
            for rule, threshold_of in RULES.items():
                threshold = threshold_of(fov_probability, engine.threshold)
                thresholds[rule].append(threshold)
                counts[rule] = counts[rule] + confusion(fov_probability >= threshold, truth)
        probability, truth = np.concatenate(probabilities), np.concatenate(truths)
        best, _ = best_f1_threshold(probability, truth)
        counts[BEST] = confusion(probability >= best, truth)
        thresholds[BEST] = [best]
        if calibrated is None:  # The first split calibrates the camera, as vessel-calibrate does.
            calibrated = (split, best)
        else:
            counts[CALIBRATED] = confusion(probability >= calibrated[1], truth)
            thresholds[CALIBRATED] = [calibrated[1]]
        data["splits"][split] = {}
        for rule, rule_counts in counts.items():
            scores = binary_scores(rule_counts)
            data["splits"][split][rule] = {**scores, "thresholds": thresholds[rule]}
            low, high = min(thresholds[rule]), max(thresholds[rule])
            shown = f"{low:.3f}" if low == high else f"{low:.3f}–{high:.3f}"
            rows.append(
                [
                    f"{args.dataset} {split} ({len(samples)})",
                    rule,
                    shown,
                    scores["f1"],
                    scores["sensitivity"],
                    scores["precision"],
                ]
            )
    headers = ["photographs", "rule", "thresholds", "F1", "Se", "Pr"]
    model = Path(args.model)
    shown = model.parent.name if model.name == "model.keras" else model.name  # A run folder.
    markdown = f"## Threshold rules: {shown} on {args.dataset}\n\n"
    markdown += markdown_table(headers, rows)
    write_report(Path(args.out) / "threshold_rules", data, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
