"""Leave-one-data-set-out (LODO): ``python -m keras_unet.lodo --help``.

For every held-out set X: train on the train splits of all the other sets (their validation
splits pick the epoch and the threshold; X is never seen), then score the model on X's test split
at X's own FOV protocol (first annotator, FOV pixels, pooled; the second annotator's row where X
has one). This is how a model for any camera is judged: on photographs of a camera it never saw.

The runs go to ``<runs-dir>/lodo_without_<X>``; a finished run is scored again, not retrained, so an
interrupted LODO resumes. Writes ``lodo.json`` and ``lodo.md`` (with the published anchors) and
each set's ``metrics.json`` under ``--out``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from runtime.cli import comma_list
from runtime.datasets import DATASETS
from runtime.errors import cli_errors
from runtime.reports import fmt, markdown_table, write_report

#: Lighter recipes for the LODO runs: overrides of :class:`keras_unet.config.TrainConfig`.
RECIPES: dict[str, dict[str, Any]] = {
    "light": {"epochs": 20, "patches_per_epoch": 4_800},
    "default": {},
}
#: Published leave-one-out results to read the table against (F1, FOV protocol).
ANCHORS: tuple[tuple[str, str], ...] = (
    ("STARE, trained on all other sets (bob.ip.binseg, Idiap)", "0.800–0.806"),
    ("CHASE_DB1, trained on all other sets (bob.ip.binseg, Idiap)", "0.776–0.779"),
    ("CHASE_DB1, DRIVE-only U-Net rescaled to 768 px (bob.ip.binseg)", "0.752"),
    ("CHASE_DB1, DRIVE-only at native resolution (bob.ip.binseg)", "0.55"),
)


def run_name(held_out: str) -> str:
    """The run folder name of the model trained without ``held_out``."""
    return f"lodo_without_{held_out.replace('-', '')}"


def leave_one_out(
    base,  # keras_unet.config.TrainConfig
    held_out: list[str],
    out_dir: str | Path,
    *,
    verbose: int = 2,
) -> list[dict[str, Any]]:
    """Train without each set of ``held_out`` in turn and score on it (see module docstring).

    Args:
        base: The recipe; ``datasets`` lists every set in play, ``name`` is replaced.
        held_out: Sets to hold out one at a time (each must be in ``base.datasets``).
        out_dir: Where each set's metrics and the table go.
        verbose: Keras progress while training.

    Returns:
        One row per held-out set.
    """
    from keras_unet.evaluate import evaluate_split
    from keras_unet.predictors import load_engine
    from keras_unet.train import train
    from runtime.model_card import ModelCard

    rows = []
    for name in held_out:
        others = [s for s in base.datasets if s != name]
        config = dataclasses.replace(
            base,
            name=run_name(name),
            datasets=others,
            dataset_weights={k: v for k, v in base.dataset_weights.items() if k != name},
        )
        model = config.run_dir / "model.keras"
        card = ModelCard.load(model) if model.is_file() else None
        if card is None or card.training.get("datasets") != others:
            resume = (config.run_dir / "last.keras").is_file()
            train(config, resume=resume, overwrite=not resume, verbose=verbose)
            card = ModelCard.load(model)
        result = evaluate_split(
            load_engine(model),
            base.data_dir,
            name,
            "test",
            Path(out_dir) / name,
            progress=False,
            save_images=False,
        )
        pooled = result["pooled"]["at_threshold"]
        observer = (result.get("second_observer") or {}).get("pooled", {})
        rows.append(
            {
                "held_out": name,
                "trained_on": others,
                "images": result["images"],
                "f1": pooled["f1"],
                "auc_roc": pooled["auc_roc"],
                "accuracy": pooled["accuracy"],
                "sensitivity": pooled["sensitivity"],
                "specificity": pooled["specificity"],
                "threshold": result["threshold"],
                "second_observer_f1": observer.get("f1"),
                "train_minutes": round((card.train_seconds or 0.0) / 60.0, 1) if card else None,
                "run": str(config.run_dir),
            }
        )
    return rows


def to_markdown(rows: list[dict[str, Any]], recipe: str) -> str:
    """The LODO table with the anchors."""
    table = markdown_table(
        [
            "held-out set (test split)",
            "trained on",
            "images",
            "F1",
            "AUC",
            "Acc",
            "Se",
            "Sp",
            "2nd annotator F1",
            "train min",
        ],
        [
            [
                r["held_out"],
                ", ".join(r["trained_on"]),
                r["images"],
                r["f1"],
                r["auc_roc"],
                r["accuracy"],
                r["sensitivity"],
                r["specificity"],
                r["second_observer_f1"],
                fmt(r["train_minutes"], 1),
            ]
            for r in rows
        ],
    )
    anchors = markdown_table(["published anchor", "F1"], list(ANCHORS))
    return (
        f"## Leave-one-data-set-out ({recipe} recipe; threshold from the training sets' "
        "validation splits; FOV protocol of the held-out set)\n\n"
        f"{table}\n\n{anchors}"
    )


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m keras_unet.lodo``."""
    from keras_unet.config import TrainConfig
    from keras_unet.train import build_parser as train_parser

    p = argparse.ArgumentParser(
        prog="python -m keras_unet.lodo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[train_parser(add_help=False)],
        conflict_handler="resolve",
    )
    p.add_argument(
        "--held-out",
        default=",".join(DATASETS),
        help="comma-separated sets to hold out in turn (default: every set)",
    )
    p.add_argument("--recipe", default="light", choices=tuple(RECIPES), help="training recipe")
    p.add_argument("--out", default="results/lodo", help="output folder")
    args = vars(p.parse_args(argv))
    held_out = comma_list(args.pop("held_out"))
    recipe, out, verbose = args.pop("recipe"), args.pop("out"), args.pop("verbose")
    for flag in ("resume", "overwrite", "name"):
        args.pop(flag, None)
    given = argv_flags(argv)
    values = {k: v for k, v in args.items() if v is not None}
    values.update({k: v for k, v in RECIPES[recipe].items() if k not in given})
    if "datasets" not in given:
        values["datasets"] = list(DATASETS)
    base = TrainConfig(**values)
    base.validate()
    unknown = [s for s in held_out if s not in base.datasets]
    if unknown:
        from keras_unet.config import ConfigError

        raise ConfigError(f"--held-out: {', '.join(unknown)} not in --datasets {base.datasets}")
    rows = leave_one_out(base, held_out, out, verbose=2 if verbose is None else verbose)
    markdown = to_markdown(rows, recipe)
    write_report(Path(out) / "lodo", {"recipe": recipe, "rows": rows}, markdown)
    print(markdown)
    return 0


def argv_flags(argv: list[str] | None) -> set[str]:
    """The option names given on the command line, as attribute names (``patches_per_epoch``)."""
    import sys

    given = argv if argv is not None else sys.argv[1:]
    return {a.split("=")[0].lstrip("-").replace("-", "_") for a in given if a.startswith("--")}


if __name__ == "__main__":
    raise SystemExit(main())
