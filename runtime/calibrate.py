"""``vessel-calibrate`` / ``python -m runtime.calibrate``: a threshold for your camera.

Usage::

    vessel-calibrate my_camera/ --out my_camera.json --camera "Clinic X, Topcon NW400"
    vessel-segment photographs/ --out results/ --calibration my_camera.json

``my_camera/`` holds a few photographs of one camera with their manual vessel annotations, in
either data layout (``images/`` with ``manual/`` or ``1st_manual/``; FOV masks in ``mask/`` are
optional, the engine finds the FOV otherwise). See :mod:`runtime.calibration`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime import cli
from runtime.calibration import calibrate
from runtime.datasets import find_samples
from runtime.errors import UserInputError, cli_errors


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="vessel-calibrate",
        description="Choose the threshold for one camera from a few of its photographs with "
        "manual vessel annotations; writes a calibration file for vessel-segment "
        "--calibration.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument(
        "folder", help="folder with images/ and manual/ (or 1st_manual/), mask/ optional"
    )
    p.add_argument("--out", required=True, help="calibration file to write (.json)")
    p.add_argument("--camera", default="", help="name of the camera, kept in the file")
    cli.add_model_option(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    cli.add_tta_option(p)
    cli.add_provider_options(p)
    cli.add_backend_options(p)
    cli.add_quiet_option(p)
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vessel-calibrate``."""
    from runtime.errors import require

    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise UserInputError(f"{out}: already exists (pass --overwrite to replace it)")
    require("sklearn", "evaluate")  # Before the model runs: the threshold search needs it.
    samples = find_samples(args.folder, require_manual=True, require_mask=False)
    engine = cli.open_engine(args)

    def progress(done: int, total: int, name: str) -> None:
        if not args.quiet:
            print(f"[{done}/{total}] {name}", file=sys.stderr, flush=True)

    calibration = calibrate(engine, samples, camera=args.camera, on_image=progress)
    calibration.save(out)
    print(
        f"threshold {calibration.threshold:.4f} for {args.camera or 'this camera'}: pooled F1 "
        f"{calibration.f1:.4f} on {len(samples)} photograph(s) (the model's own threshold "
        f"{calibration.model_threshold:.4f}: F1 {calibration.model_threshold_f1:.4f}); "
        f"written: {out}\nuse it: vessel-segment <photographs> --out <folder> --calibration {out}"
    )
    if len(samples) < 3:
        print(
            f"note: {len(samples)} photograph(s) only; three or more give a steadier threshold",
            file=sys.stderr,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
