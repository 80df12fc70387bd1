"""``vessel-segment`` / ``python -m runtime.segment --help``: segment photographs (no TensorFlow).

Files, folders and glob patterns in; masks, probability maps, overlays and a CSV/JSON of vessel
measurements out (see :mod:`runtime.batch`). Images already done are skipped (resume) unless
``--force``; a bad file is reported and skipped, the batch goes on, and the exit code is 1 when
any image failed. Inputs are never written to.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from runtime import cli, cohort
from runtime.batch import ImageEvent, ImageState, check_output_dir, collect_jobs, segment_batch
from runtime.calibration import Calibration
from runtime.errors import UserInputError, cli_errors
from runtime.symmetry import TTA_LABEL


def print_progress(event: ImageEvent) -> None:
    """The CLI's progress bar on stderr, as an ``on_image`` callback (starts are not shown)."""
    if event.state is ImageState.STARTED:
        return
    width = 24
    done = int(width * event.index / max(event.total, 1))
    bar = "#" * done + "-" * (width - done)
    line = f"[{bar}] {event.index}/{event.total} {event.name}: {event.status}"
    keep = event.index == event.total or event.state is ImageState.FAILED
    end = "\n" if not sys.stderr.isatty() or keep else "\r"
    print(line.ljust(100) if end == "\r" else line, end=end, file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="vessel-segment",
        description="Segment fundus photographs with an exported ONNX vessel model: masks, "
        "probability maps, overlays and a CSV/JSON of vessel measurements.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("--out", required=True, help="output folder (mirrors the input tree)")
    cli.add_model_option(p)
    p.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    p.add_argument("--force", action="store_true", help="redo images already done")
    cli.add_threshold_option(p)
    p.add_argument(
        "--calibration",
        default=None,
        help="threshold from a calibration file for this camera (made by vessel-calibrate)",
    )
    cli.add_tta_option(p)
    p.add_argument(
        "--no-rescale",
        action="store_true",
        help="do not resample images to the model's working scale (FOV diameter)",
    )
    cli.add_provider_options(p)
    cli.add_backend_options(p)
    p.add_argument("--tile", type=int, default=1024, help="largest window run at once")
    cli.add_scale_options(p)
    p.add_argument(
        "--report",
        action="store_true",
        help="also write report.pdf: one page per image (photograph, overlay, measurements, "
        'quality, model, threshold, date); needs pip install "drive-vessel-unet[report]"',
    )
    cli.add_quiet_option(p)
    cohort.add_engine_options(p)
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``vessel-segment`` / ``python -m runtime.segment``."""
    args = build_parser().parse_args(argv)
    threshold = cli.threshold_of(args)
    calibration = None
    if args.calibration is not None:
        if threshold is not None:
            raise UserInputError("--threshold and --calibration both set a threshold: pass one")
        calibration = Calibration.load(args.calibration)
    scale = cli.scale_of(args)
    cluster = cohort.cluster_options(args)
    jobs = collect_jobs(args.inputs, args.recursive)
    if not jobs:
        raise UserInputError("no image files found in the inputs")
    out_dir = Path(args.out)
    check_output_dir(out_dir, args.inputs, jobs)
    if args.report:
        from runtime.eye_report import check_available

        check_available()  # Before any work: fpdf2 missing is said at once.
    engine = cli.open_engine(args, tile=args.tile, rescale=not args.no_rescale)
    if calibration is not None:
        calibration.check_model(engine.model_path, args.calibration)
        threshold = calibration.threshold
    if not args.quiet:
        tta = TTA_LABEL if engine.tta else "no TTA"
        calibrated = (
            f" (calibrated: {calibration.camera or args.calibration})" if calibration else ""
        )
        print(
            f"model {engine.card.name} ({engine.model_path.name}) on {engine.predictor.name} "
            f"({engine.choice.reason}), threshold {threshold or engine.threshold:.4f}{calibrated}, "
            f"scale: {scale.describe()}, "
            f"{tta}, "
            f"{len(jobs)} image(s)",
            file=sys.stderr,
        )
    if cluster is not None:
        report = cohort.segment_cohort(
            engine,
            jobs,
            out_dir,
            args.force,
            threshold,
            cluster=cluster,
            on_image=None if args.quiet else print_progress,
            on_start=None if args.quiet else lambda line: print(line, file=sys.stderr),
            scale=scale,
        )
    else:
        report = segment_batch(
            engine,
            jobs,
            out_dir,
            args.force,
            threshold,
            on_image=None if args.quiet else print_progress,
            scale=scale,
        )
    done = len(report["rows"])
    rejected = sum(row.get("status") == "rejected" for row in report["rows"])
    print(
        f"{done} segmented ({report['skipped']} already done, {rejected} rejected by the "
        f"quality gate), {len(report['failed'])} failed; results in {out_dir} (measurements.csv)"
    )
    if args.report:
        from runtime.eye_report import batch_pages, write_report

        sources = {str(job.relative): job.source for job in jobs}
        pages = batch_pages(report, sources, out_dir)
        if pages:
            written = write_report(pages, out_dir / "report.pdf")
            print(f"report: {written} ({len(pages)} page(s))")
    for failure in report["failed"]:
        print(f"failed: {failure['error']}", file=sys.stderr)
    return 1 if report["failed"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
