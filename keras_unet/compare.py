"""Compare finished runs for model selection: ``python -m keras_unet.compare --help``.

Default table, for each run: parameters, training time, patches seen, validation F1/AUC (from
its card; this is what selection uses), DRIVE test F1/AUC (reported, never used to choose), and
the full-image CPU latency of Keras inference on one DRIVE test image (584x565, padded).

With ``--datasets``: each run scored on the given split (``validation`` by default) of each
set, at the set's own FOV protocol, through the engine (so at each model's working scale), with
the mean over the sets and the mean engine time per image; this is the table that chooses
between recipes meant for every camera (working scale, augmentation, labels, loss).
Writes JSON and Markdown.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from runtime.cli import comma_list
from runtime.constants import DATA_ROOT
from runtime.datasets import SPLITS
from runtime.errors import UserInputError, cli_errors
from runtime.model_card import CARD_NAME, ModelCard
from runtime.reports import fmt, markdown_table, write_report


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


def score_runs(run_dirs: list[Path], data_dir: Path, datasets: list[str], split: str) -> list[dict]:
    """Every run on ``split`` of every set in ``datasets`` (see module docstring)."""
    import numpy as np

    from keras_unet.evaluate import evaluate_split
    from keras_unet.predictors import load_engine

    rows = []
    for run_dir in run_dirs:
        model = run_dir if run_dir.is_file() else run_dir / "model.keras"
        if not model.is_file():
            raise UserInputError(f"{run_dir}: neither a model file nor a finished run")
        engine = load_engine(model)
        card = engine.card
        row: dict = {
            "run": run_dir.name if model.name == "model.keras" else model.name,
            "trained_on": card.datasets,
            "working_fov_diameter": card.working_fov_diameter,
            "augmentation": card.training.get("augmentation"),
            "label_resampling": card.data.get("label_resampling"),
            "loss": card.training.get("loss"),
            "train_minutes": round(card.train_seconds / 60.0, 1) if card.train_seconds else None,
            "sets": {},
        }
        seconds = []
        for name in datasets:
            result = evaluate_split(engine, data_dir, name, split, progress=False)
            pooled = result["pooled"]["at_threshold"]
            row["sets"][name] = {"f1": pooled["f1"], "auc_roc": pooled["auc_roc"]}
            seconds.append(result["seconds_per_image"])
        row["mean_f1"] = float(np.mean([v["f1"] for v in row["sets"].values()]))
        row["mean_auc"] = float(np.mean([v["auc_roc"] for v in row["sets"].values()]))
        row["engine_ms_per_image"] = 1000.0 * float(np.mean(seconds))
        rows.append(row)
    return rows


def scores_to_markdown(rows: list[dict], split: str) -> str:
    """:func:`score_runs` as a Markdown table (F1 / AUC per set)."""
    sets = list(rows[0]["sets"]) if rows else []
    headers = ["run", "FOV px", "augmentation", "labels", "loss", "train min"]
    headers += [f"{name} F1 / AUC" for name in sets] + ["mean F1", "mean AUC", "ms / image"]
    body = [
        [
            r["run"],
            f"{r['working_fov_diameter']:g}",
            r["augmentation"],
            r["label_resampling"],
            r["loss"],
            fmt(r["train_minutes"], 1),
            *(f"{r['sets'][n]['f1']:.4f} / {r['sets'][n]['auc_roc']:.4f}" for n in sets),
            r["mean_f1"],
            r["mean_auc"],
            f"{r['engine_ms_per_image']:.0f}",
        ]
        for r in rows
    ]
    return f"## Runs on the {split} split of each set (FOV protocol)\n\n" + markdown_table(
        headers, body
    )


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
    p.add_argument("runs", nargs="+", help="finished run folders (with --datasets: or model files)")
    p.add_argument("--data", default=DATA_ROOT, help="data root (the DRIVE test set is scored)")
    p.add_argument("--out", default="results/comparison", help="output folder")
    p.add_argument("--repeats", type=int, default=5, help="timed inferences per model")
    p.add_argument(
        "--datasets",
        default=None,
        help="comma-separated sets: score every run on each set's --split instead",
    )
    p.add_argument(
        "--split", default="validation", choices=SPLITS, help="split scored with --datasets"
    )
    args = p.parse_args(argv)
    runs = [Path(r) for r in args.runs]
    if args.datasets:
        rows = score_runs(runs, Path(args.data), comma_list(args.datasets), args.split)
        table = scores_to_markdown(rows, args.split)
    else:
        rows = compare_runs(runs, Path(args.data), args.repeats)
        table = to_markdown(rows)
    write_report(Path(args.out) / "comparison", rows, table)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
