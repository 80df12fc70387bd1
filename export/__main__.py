"""``python -m export``: write SavedModel, ONNX fp32/int8/fp16 and LiteRT files and prove parity."""

from __future__ import annotations

import argparse

from export.exporter import FORMATS, export_all, to_markdown
from runtime.cli import comma_list
from runtime.constants import DATA_ROOT
from runtime.errors import cli_errors


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m export",
        description="Export a trained .keras vessel model for deployment and check every "
        "artifact against Keras on real DRIVE images (export_report.json/.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", required=True, help=".keras file with its config.json beside it")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument(
        "--formats",
        default=",".join(FORMATS),
        help=f"comma-separated subset of {','.join(FORMATS)}",
    )
    p.add_argument(
        "--data",
        default=DATA_ROOT,
        help="data root: DRIVE test for parity and metrics, the model's train splits to calibrate",
    )
    p.add_argument(
        "--calibration-images", type=int, default=5, help="training images that calibrate int8"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="allow an existing output folder (only exported files are replaced)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m export``."""
    args = build_parser().parse_args(argv)
    formats = tuple(comma_list(args.formats))
    report = export_all(
        args.model,
        args.out,
        formats,
        args.data,
        args.calibration_images,
        args.overwrite,
        progress=not args.quiet,
    )
    print(to_markdown(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
