"""Compare finished runs for model selection: ``python -m keras_unet.compare --help``.

For each run: parameters, training time, patches seen, validation F1/AUC (from its card; this is
what selection uses), DRIVE test F1/AUC (reported, never used to choose), and the full-image CPU
latency of Keras inference on one DRIVE test image (584x565, padded). Writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runtime.constants import DATA_ROOT
from runtime.errors import UserInputError, cli_errors
from runtime.model_card import CARD_NAME, ModelCard
from runtime.reports import markdown_table, write_report


def compare_runs(run_dirs: list[Path], data_dir: Path, repeats: int = 5) -> list[dict]:
    """Measure every run (see module docstring)."""
    from keras_unet.evaluate import evaluate
    from keras_unet.predictors import load_engine
    from runtime.datasets import load_sample, split_samples
    from runtime.timing import measure_latency

    test_samples = split_samples(data_dir, "DRIVE", "test")
    first = load_sample(test_samples[0])
    rows = []
    for run_dir in run_dirs:
        card = ModelCard.load(run_dir / "model.keras")
        if not (run_dir / "model.keras").is_file() or card is None:
            raise UserInputError(f"{run_dir}: not a finished run (needs model.keras, {CARD_NAME})")
        training = card.training
        engine = load_engine(run_dir / "model.keras")
        test = evaluate(engine, test_samples, progress=False)["pooled"]["at_threshold"]
        val = card.validation.get("at_threshold", {})
        latency = measure_latency(
            lambda e=engine: e.probability(first.image, first.fov), warmup=2, repeats=repeats
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
                "parameters": card.model["parameters"],
                "train_minutes": round((card.train_seconds or 0.0) / 60.0, 1),
                "best_epoch": card.best_epoch,
                "threshold": card.threshold,
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
    p.add_argument("--data", default=DATA_ROOT, help="data root (the DRIVE test set is scored)")
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
