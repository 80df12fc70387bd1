"""Command-line options every CLI shares, defined once (data root, threshold, provider, output).

Each CLI builds its own parser and adds these groups, so ``--data``, ``--dataset``, ``--split``,
``--threshold`` and ``--provider`` mean the same everywhere and are checked the same way.
"""

from __future__ import annotations

import argparse

from runtime.backends import BACKEND_CHOICES, PRECISION_CHOICES
from runtime.constants import DATA_ROOT, DEFAULT_FOV_DEGREES, RETINA_UM_PER_DEGREE
from runtime.datasets import DATASETS, SPLITS
from runtime.model_card import check_threshold
from runtime.providers import PROVIDER_CHOICES
from runtime.units import Scale, scale_from_options


def comma_list(text: str) -> list[str]:
    """``"DRIVE, STARE,"`` -> ``["DRIVE", "STARE"]``: the comma-separated values of a flag."""
    return [item.strip() for item in text.split(",") if item.strip()]


def add_data_options(
    parser: argparse.ArgumentParser, split: str | None = "test", dataset: str = "DRIVE"
) -> None:
    """``--data`` (root), ``--dataset`` and, unless ``split`` is ``None``, ``--split``."""
    parser.add_argument(
        "--data", default=DATA_ROOT, help="data root with the sets' folders and splits.json"
    )
    parser.add_argument(
        "--dataset", default=dataset, choices=tuple(DATASETS), help="data set to use"
    )
    if split is not None:
        parser.add_argument("--split", default=split, choices=SPLITS, help="split of the set")


def add_threshold_option(parser: argparse.ArgumentParser) -> None:
    """``--threshold``: an override of the model's validation threshold, in (0, 1)."""
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="override the model's threshold (chosen on validation data), in (0, 1)",
    )


def add_tta_option(parser: argparse.ArgumentParser) -> None:
    """``--tta``: average the model over the eight turns and mirrors of each image."""
    parser.add_argument(
        "--tta",
        action="store_true",
        help="test-time augmentation: average the 8 turns and mirrors (8x the model time)",
    )


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """``--model``: the ONNX model a runtime CLI runs (default: the shipped one)."""
    parser.add_argument(
        "--model", default=None, help="ONNX model (default: the shipped model in saved_models/)"
    )


def open_engine(args: argparse.Namespace, **options):
    """The engine of a runtime CLI from its ``--model``, provider, backend and ``--tta`` flags.

    Args:
        args: Parsed flags of :func:`add_model_option`, :func:`add_provider_options`,
            :func:`add_backend_options` and :func:`add_tta_option`.
        **options: Further keywords of :class:`runtime.engine.VesselEngine` (``tile``...).

    Returns:
        The :class:`runtime.engine.VesselEngine`.
    """
    from runtime.engine import VesselEngine
    from runtime.models import default_model

    return VesselEngine.open(
        args.model or default_model(),
        provider=args.provider,
        threads=args.threads,
        backend=args.backend,
        precision=args.precision,
        tta=args.tta,
        **options,
    )


def add_provider_options(parser: argparse.ArgumentParser) -> None:
    """``--provider`` (:data:`runtime.providers.PROVIDER_CHOICES`) and ``--threads``."""
    parser.add_argument(
        "--provider",
        default="auto",
        choices=PROVIDER_CHOICES,
        help="onnxruntime execution provider (auto: the best one offered)",
    )
    parser.add_argument("--threads", type=int, default=0, help="inference threads (0: default)")


#: What ``--backend auto`` / ``--precision auto`` mean where a CLI runs one model.
AUTO_BACKEND_HELP = (
    "the fastest variant that passed this machine's accuracy gate (python -m runtime.gate); "
    "onnxruntime in the file's precision when none is recorded"
)


def add_backend_options(
    parser: argparse.ArgumentParser, default: str = "auto", auto_help: str = AUTO_BACKEND_HELP
) -> None:
    """``--backend`` (:data:`runtime.backends.BACKEND_CHOICES`) and ``--precision``.

    Args:
        parser: The CLI's parser.
        default: ``--backend``'s default.
        auto_help: What ``auto`` means for this CLI.
    """
    parser.add_argument(
        "--backend", default=default, choices=BACKEND_CHOICES, help=f"backend (auto: {auto_help})"
    )
    parser.add_argument(
        "--precision",
        default="auto",
        choices=PRECISION_CHOICES,
        help="precision (int8 runs the model's .int8.onnx file; bf16 is OpenVINO's)",
    )


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """``--fov-degrees`` / ``--pixel-size`` / ``--relative-units``: the units of lengths and
    widths (:class:`runtime.units.Scale`; one of the three, 45° when none is given)."""
    group = parser.add_argument_group("scale of the measurements").add_mutually_exclusive_group()
    group.add_argument(
        "--fov-degrees",
        type=float,
        default=None,
        metavar="DEG",
        help=f"camera field of view across the FOV disc, in degrees (default "
        f"{DEFAULT_FOV_DEGREES:g}; {RETINA_UM_PER_DEGREE:g} µm of retina per degree)",
    )
    group.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        metavar="UM",
        help="size of one photograph pixel on the retina in µm (instead of the field of view)",
    )
    group.add_argument(
        "--relative-units",
        action="store_true",
        help="no physical scale: lengths in FOV diameters, widths in ‰ of the FOV diameter",
    )


def scale_of(args: argparse.Namespace) -> Scale:
    """The :class:`~runtime.units.Scale` of :func:`add_scale_options`' flags.

    Raises:
        UserInputError: A value is not positive (or the FOV is wider than 220°).
    """
    return scale_from_options(args.fov_degrees, args.pixel_size, args.relative_units)


def add_quiet_option(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: no per-image progress lines."""
    parser.add_argument("--quiet", action="store_true", help="no progress output")


def threshold_of(args: argparse.Namespace) -> float | None:
    """The parsed ``--threshold``, checked (``None`` when not given).

    Raises:
        UserInputError: Not in (0, 1).
    """
    if args.threshold is None:
        return None
    return check_threshold(args.threshold, "--threshold")
