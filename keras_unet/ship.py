"""Promote a finished run to a shipped model: ``python -m keras_unet.ship --help``.

Copies the run's ``model.keras`` (no optimizer state) to ``saved_models/<name>/<name>.keras`` with
its ``config.json`` (model card), ``history.csv`` and ``loss_curves.png``, then evaluates it on the
DRIVE test set, plain and with TTA (eight turns and mirrors), into ``metrics.json``/``.md`` and
``metrics_tta.*``; the card gets ``test_summary`` and ``test_summary_tta`` for export to put in
the ONNX metadata.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from runtime.constants import DATA_ROOT
from runtime.errors import UserInputError, cli_errors
from runtime.model_card import CARD_NAME, ModelCard
from runtime.models import SHIPPED_MODELS
from runtime.reports import write_report

#: Keys of the pooled metrics copied into the card's test/validation summaries.
SUMMARY_KEYS = ("auc_roc", "auc_pr", "f1", "accuracy", "sensitivity", "specificity", "mcc")


def summary(metrics: dict) -> dict:
    """The headline numbers of a pooled metrics dict (rounded for metadata)."""
    return {k: round(float(metrics[k]), 4) for k in SUMMARY_KEYS}


def ship(
    run_dir: str | Path,
    name: str,
    data_dir: str | Path = DATA_ROOT,
    dest_root: str | Path = SHIPPED_MODELS,
    overwrite: bool = False,
) -> Path:
    """Copy a run's model into ``dest_root/name`` and evaluate it on the DRIVE test set.

    Returns:
        The path of the shipped ``.keras`` file.

    Raises:
        UserInputError: The run is unfinished, or the destination exists without ``overwrite``.
    """
    run_dir, dest = Path(run_dir), Path(dest_root) / name
    if not (run_dir / "model.keras").is_file() or not (run_dir / CARD_NAME).is_file():
        raise UserInputError(f"{run_dir}: not a finished run (needs model.keras and {CARD_NAME})")
    card = ModelCard.load(run_dir / "model.keras")
    if card is None or card.best_epoch is None:
        raise UserInputError(f"{run_dir}: run has no validation threshold yet (unfinished?)")
    if dest.exists() and not overwrite:
        raise UserInputError(f"{dest}: already exists; pass --overwrite to replace it")
    dest.mkdir(parents=True, exist_ok=True)
    model_path = dest / f"{name}.keras"
    shutil.copy2(run_dir / "model.keras", model_path)
    for extra in ("history.csv", "loss_curves.png"):
        if (run_dir / extra).is_file():
            shutil.copy2(run_dir / extra, dest / extra)
    card.name, card.run = name, str(run_dir)
    if "at_threshold" in card.validation:
        card.validation_summary = summary(card.validation["at_threshold"])
    card.save(dest / CARD_NAME)
    score(model_path, data_dir)
    return model_path


def score(model_path: Path, data_dir: str | Path = DATA_ROOT) -> None:
    """Evaluate a shipped model on the DRIVE test set, plain and with TTA, into its folder.

    Writes ``metrics.*`` and ``metrics_tta.*`` beside the model and the summaries into its card
    (run again after a change of the evaluation or of TTA, then export again).
    """
    from keras_unet.evaluate import evaluate_split, to_markdown
    from keras_unet.predictors import load_engine

    dest = model_path.parent
    card = ModelCard.load(model_path)
    if card is None:
        raise UserInputError(f"{model_path}: no model card ({CARD_NAME}) beside it")
    for tta, suffix in ((False, ""), (True, "_tta")):
        engine = load_engine(model_path, tta=tta)
        result = evaluate_split(engine, data_dir, "DRIVE", "test", progress=False)
        result["model"] = model_path.name  # It lies beside it: no machine's path in a shipped file.
        write_report(dest / f"metrics{suffix}", result, to_markdown(result))
        setattr(card, f"test_summary{suffix}", summary(result["pooled"]["at_threshold"]))
    card.save(dest / CARD_NAME)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m keras_unet.ship``."""
    p = argparse.ArgumentParser(
        prog="python -m keras_unet.ship",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", help="finished run folder (runs/<name>)")
    p.add_argument("--name", required=True, help="name of the shipped model")
    p.add_argument("--data", default=DATA_ROOT, help="data root (the DRIVE test set is scored)")
    p.add_argument("--dest", default=str(SHIPPED_MODELS), help="parent folder of shipped models")
    p.add_argument("--overwrite", action="store_true", help="replace an existing shipped model")
    p.add_argument(
        "--rescore",
        action="store_true",
        help="evaluate the shipped model NAME again (no --run); export it again afterwards",
    )
    args = p.parse_args(argv)
    if args.rescore:
        path = Path(args.dest) / args.name / f"{args.name}.keras"
        if not path.is_file():
            raise UserInputError(f"{path}: no such shipped model")
        score(path, args.data)
    elif args.run:
        path = ship(args.run, args.name, args.data, args.dest, args.overwrite)
    else:
        p.error("give --run RUN to ship a run, or --rescore to evaluate NAME again")
    print((path.parent / "metrics.md").read_text().split("### Per image")[0].rstrip())
    print(
        f"\n{'scored' if args.rescore else 'shipped'}: {path} ({path.stat().st_size / 1e6:.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
