"""Overlay gallery of held-out photographs, one or more per data set: ``docs/gallery/``.

Usage::

    python scripts/gallery.py                          # the default model, 2 test images a set
    python scripts/gallery.py --model m.onnx --per-set 3

For each set, the first ``--per-set`` images of its **test** split (never seen in training or
selection) go through the engine exactly as ``vessel-segment`` runs them (the set's FOV mask,
the model's threshold), and a JPEG shows the photograph beside an error map against the first
annotator: green = vessel found and annotated, red = found but not annotated (false positive),
blue = annotated but missed (false negative). Each panel names the set, the image and its F1.
Also writes ``docs/gallery/README.md`` with the pictures and the per-image numbers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Width of one panel (photograph or error map) in the gallery images.
PANEL_WIDTH = 640
COLOURS = {"tp": (40, 220, 60), "fp": (235, 40, 40), "fn": (40, 120, 255)}


def error_map(image: np.ndarray, mask: np.ndarray, truth: np.ndarray, fov: np.ndarray):
    """The photograph darkened, with true/false positives and misses painted (FOV only)."""
    out = (image.astype(np.float32) * 0.45).astype(np.uint8)
    out[~fov] = 0
    for name, where in (
        ("tp", mask & truth),
        ("fp", mask & ~truth & fov),
        ("fn", ~mask & truth & fov),
    ):
        out[where] = COLOURS[name]
    return out


def panel(array: np.ndarray) -> np.ndarray:
    """``array`` resized to :data:`PANEL_WIDTH` (area averaging)."""
    import cv2

    height, width = array.shape[:2]
    size = (PANEL_WIDTH, round(height * PANEL_WIDTH / width))
    return cv2.resize(array, size, interpolation=cv2.INTER_AREA)


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    from PIL import Image

    from runtime.datasets import DATASETS, load_sample, split_samples
    from runtime.engine import VesselEngine
    from runtime.metrics import binary_scores, confusion
    from runtime.models import default_model
    from runtime.reports import markdown_table

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="ONNX model (default: the default model)")
    p.add_argument("--data", default=str(REPO / "data"), help="data root")
    p.add_argument("--per-set", type=int, default=2, help="test images per set")
    p.add_argument("--out", default=str(REPO / "docs" / "gallery"), help="output folder")
    args = p.parse_args(argv)
    engine = VesselEngine.open(args.model or default_model(), provider="cpu")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, pictures = [], []
    for name in DATASETS:
        for paths in split_samples(args.data, name, "test")[: args.per_set]:
            sample = load_sample(paths)
            result = engine.segment(sample.image, sample.fov)
            scores = binary_scores(confusion(result.mask[sample.fov], sample.vessels[sample.fov]))
            both = np.concatenate(
                [
                    panel(sample.image),
                    panel(error_map(sample.image, result.mask, sample.vessels, sample.fov)),
                ],
                axis=1,
            )
            file = out / f"{name}_{paths.sample_id}.jpg"
            Image.fromarray(both).save(file, quality=88)
            pictures.append(
                f"**{name} {paths.sample_id}** (F1 {scores['f1']:.3f})\n\n![]({file.name})"
            )
            rows.append(
                [
                    name,
                    paths.sample_id,
                    f"{sample.image.shape[1]}×{sample.image.shape[0]}",
                    round(result.scale, 3),
                    scores["f1"],
                    scores["sensitivity"],
                    scores["precision"],
                ]
            )
            print(f"{file.name}: F1 {scores['f1']:.4f}", file=sys.stderr)
    table = markdown_table(["set", "image", "size", "scale", "F1", "Se", "Pr"], rows)
    text = (
        f"# Held-out photographs: {engine.card.name}\n\n"
        f"Made by `python scripts/gallery.py` with `{engine.model_path.name}` (threshold "
        f"{engine.threshold:.4f}, working FOV {engine.card.working_fov_diameter:g} px). Test "
        "splits only. Left: the photograph; right: green = vessel found and annotated, "
        "red = found, not annotated; blue = annotated, missed.\n\n"
        f"{table}\n\n" + "\n\n".join(pictures) + "\n"
    )
    (out / "README.md").write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
