"""The loss-curve figure of a training run (the seed's "statistics of the loss during training")."""

from __future__ import annotations

import csv
from pathlib import Path


def read_history(csv_path: str | Path) -> dict[str, list[float]]:
    """Read Keras' CSVLogger file into columns of floats."""
    columns: dict[str, list[float]] = {}
    with open(csv_path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for key, value in row.items():
                try:
                    columns.setdefault(key, []).append(float(value))
                except (TypeError, ValueError):
                    columns.setdefault(key, []).append(float("nan"))
    return columns


def plot_history(csv_path: str | Path, png_path: str | Path, title: str = "") -> None:
    """Plot training/validation loss and validation Dice/AUC per epoch into a PNG.

    Args:
        csv_path: ``history.csv`` written during training.
        png_path: Output image.
        title: Figure title (the run name).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    history = read_history(csv_path)
    if not history.get("epoch"):
        return
    epochs = [e + 1 for e in history["epoch"]]
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(11, 4), dpi=100)
    ax_loss.plot(epochs, history["loss"], label="training loss")
    if "val_loss" in history:
        ax_loss.plot(epochs, history["val_loss"], label="validation loss (FOV)")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_yscale("log")
    ax_loss.grid(alpha=0.3)
    ax_loss.legend()
    for key, label in (
        ("dice", "training Dice"),
        ("val_dice", "validation Dice"),
        ("val_auc", "validation AUC"),
    ):
        if key in history:
            ax_metric.plot(epochs, history[key], label=label)
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylabel("score")
    ax_metric.grid(alpha=0.3)
    ax_metric.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    Path(png_path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
