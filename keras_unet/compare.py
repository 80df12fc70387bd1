"""Compare finished runs for model selection: ``python -m keras_unet.compare --help``.

For each run: parameters, training time, patches seen, validation F1/AUC (from its card; this is
what selection uses), DRIVE test F1/AUC (reported, never used to choose), and the full-image CPU
latency of Keras inference on one DRIVE test image (584x565, padded). Writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from runtime.errors import UserInputError, cli_errors
from runtime.model_card import CARD_NAME
from runtime.reports import markdown_table, write_report


def compare_runs(run_dirs: list[Path], data_dir: Path, repeats: int = 5) -> list[dict]:
    """Measure every run (see module docstring)."""
    from keras_unet.evaluate import evaluate
    from keras_unet.predictors import load_predictor
    from runtime.imageio import read_rgb
    from runtime.timing import measure_latency

    image = read_rgb(data_dir / "test" / "images" / "01_test.tif")
    rows = []
    for run_dir in run_dirs:
        card_file = run_dir / CARD_NAME
        if not (run_dir / "model.keras").is_file() or not card_file.is_file():
            raise UserInputError(f"{run_dir}: not a finished run (needs model.keras, {CARD_NAME})")
        card = json.loads(card_file.read_text())
        training = card["training"]
        predictor = load_predictor(run_dir / "model.keras")
        test = evaluate(predictor, data_dir / "test", progress=False)["pooled"]["at_threshold"]
        val = card.get("validation", {}).get("at_threshold", {})
        latency = measure_latency(
            lambda p=predictor: p.probability(image), warmup=2, repeats=repeats
        )
        rows.append(
            {
                "run": run_dir.name,
                "filters": training["filters"],
                "depth": training["depth"],
                "patch_size": training["patch_size"],
                "loss": training["loss"],
                "epochs": training["epochs"],
                "patches_seen": training["epochs"] * training["patches_per_epoch"],
                "parameters": card["model"]["parameters"],
                "train_minutes": round(card.get("train_seconds", 0.0) / 60.0, 1),
                "best_epoch": card.get("best_epoch"),
                "threshold": card.get("threshold"),
                "val_f1": val.get("f1"),
                "val_auc": val.get("auc_roc"),
                "test_f1": test["f1"],
                "test_auc": test["auc_roc"],
                "test_acc": test["accuracy"],
                "keras_latency_ms_p50": round(latency["p50_ms"], 1),
            }
        )
    return rows


def to_markdown(rows: list[dict]) -> str:
    """The comparison as a Markdown table."""
    headers = [
        "run",
        "width",
        "depth",
        "patch",
        "loss",
        "params",
        "patches seen",
        "train min (2 CPU)",
        "val F1",
        "val AUC",
        "test F1",
        "test AUC",
        "Keras CPU ms / image",
    ]
    return markdown_table(
        headers,
        [
            [
                r["run"],
                r["filters"],
                r["depth"],
                r["patch_size"],
                r["loss"],
                r["parameters"],
                r["patches_seen"],
                f"{r['train_minutes']:.1f}",
                r["val_f1"],
                r["val_auc"],
                r["test_f1"],
                r["test_auc"],
                f"{r['keras_latency_ms_p50']:.0f}",
            ]
            for r in rows
        ],
    )


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m keras_unet.compare``."""
    p = argparse.ArgumentParser(
        prog="python -m keras_unet.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", help="finished run folders")
    p.add_argument("--data", default="data/DRIVE", help="DRIVE-layout root")
    p.add_argument("--out", default="results/comparison", help="output folder")
    p.add_argument("--repeats", type=int, default=5, help="timed inferences per model")
    args = p.parse_args(argv)
    rows = compare_runs([Path(r) for r in args.runs], Path(args.data), args.repeats)
    table = to_markdown(rows)
    write_report(Path(args.out) / "comparison", rows, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
