"""How much the measurements move when the same photograph is enlarged or turned.

Usage::

    python scripts/invariance.py --images 5 --out results/invariance
    python scripts/invariance.py --images 5 --tta --out results/invariance_tta

Segments DRIVE test photographs with a model (default: the shipped one) as they are, enlarged
2x and 3x (cubic) and turned by 90 degrees, measures each at the working scale
(:meth:`runtime.engine.SegmentationResult.measure`, 45° scale) and writes the relative change of
every measurement against the original (``invariance.json`` and ``invariance.md``): the largest
absolute change over the images, per variant. The fractal dimension's change is absolute.
``--tta`` runs the model on the eight turns and mirrors of each photograph (``vessel-segment
--tta``), which makes the map of a turned photograph exactly the turned map.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from runtime.cli import add_tta_option  # noqa: E402

VARIANTS = ("2x", "3x", "turned 90°")


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and write the tables."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    p.add_argument("--images", type=int, default=5, help="DRIVE test photographs to use")
    add_tta_option(p)
    p.add_argument("--out", default="results/invariance", help="output folder")
    args = p.parse_args(argv)

    import cv2
    import numpy as np

    from runtime.engine import VesselEngine
    from runtime.imageio import read_rgb
    from runtime.measurements import MEASUREMENTS
    from runtime.models import default_model
    from runtime.reports import markdown_table, write_report

    engine = VesselEngine.open(args.model or default_model(), provider="cpu", tta=args.tta)
    paths = sorted((REPO / "data" / "DRIVE" / "test" / "images").glob("*.tif"))[: args.images]
    keys = [m.key for m in MEASUREMENTS]
    worst = {variant: dict.fromkeys(keys, 0.0) for variant in VARIANTS}
    per_image = []
    for path in paths:
        photo = read_rgb(path)
        height, width = photo.shape[:2]
        base = engine.segment(photo).measure()
        variants = {
            "2x": cv2.resize(photo, (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC),
            "3x": cv2.resize(photo, (3 * width, 3 * height), interpolation=cv2.INTER_CUBIC),
            "turned 90°": np.ascontiguousarray(np.rot90(photo)),
        }
        row = {"image": path.name, "original": base}
        for variant, image in variants.items():
            values = engine.segment(image).measure()
            change = {}
            for key in keys:
                if key == "fractal_dimension":
                    change[key] = values[key] - base[key]
                else:
                    change[key] = values[key] / base[key] - 1.0 if base[key] else 0.0
                worst[variant][key] = max(worst[variant][key], abs(change[key]))
            row[variant] = change
        per_image.append(row)
        print(f"{path.name}: done", file=sys.stderr)
    labels = {m.key: m.label for m in MEASUREMENTS}
    rows = [
        [
            labels[key],
            *(
                f"{worst[v][key]:.3f}"
                if key == "fractal_dimension"
                else f"{100 * worst[v][key]:.1f} %"
                for v in VARIANTS
            ),
        ]
        for key in keys
    ]
    table = markdown_table(["measurement (largest change)", *VARIANTS], rows)
    model = engine.model_path.name
    markdown = (
        f"Same DRIVE test photographs ({len(paths)}) enlarged and turned, model {model}"
        f"{' with TTA' if args.tta else ''}; "
        "fractal dimension: absolute change.\n\n" + table
    )
    write_report(
        Path(args.out) / "invariance",
        {"model": model, "tta": args.tta, "worst": worst, "images": per_image},
        markdown,
    )
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
