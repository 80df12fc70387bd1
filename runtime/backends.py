"""The inference backends the runtime can run an ONNX model with: one table, chosen like a provider.

A **variant** is a backend with a precision: onnxruntime fp32/int8, OpenVINO fp32/bf16/int8.
fp32 and bf16 run the model's fp32 ONNX file (bf16 is OpenVINO's inference-precision hint), int8
runs the static QDQ file beside it (``<name>.int8.onnx``). Every variant other than the
reference (onnxruntime fp32) must pass the accuracy gate (:mod:`runtime.gate`) before ``auto``
takes it, and one that failed is refused when asked for by name.

To add a backend, add a :class:`Backend` row to :data:`BACKENDS`; ``--backend``, ``--precision``,
the gate, the benchmark and the app's Model ▸ Backend menu follow from the table.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from runtime.errors import UserInputError, require
from runtime.predictors import Predictor

#: Suffix of the static-QDQ int8 file beside a model's fp32 ONNX file.
INT8_SUFFIX = ".int8.onnx"
#: Every precision a variant can have, in the order tables list them.
PRECISIONS: tuple[str, ...] = ("fp32", "bf16", "int8")
#: The variant every other one is compared with by the accuracy gate.
REFERENCE: tuple[str, str] = ("onnxruntime", "fp32")


@dataclass(frozen=True)
class Backend:
    """One way to run an ONNX file.

    Attributes:
        key: What users type and settings store (``--backend openvino``).
        label: How the app and reports name it.
        menu: The app's menu entry (with its ``&`` mnemonic).
        module: The Python package it needs.
        extra: The pip extra that installs it.
        precisions: The precisions it runs, from :data:`PRECISIONS`.
        factory: ``(path, precision, threads, provider) -> Predictor``.
    """

    key: str
    label: str
    menu: str
    module: str
    extra: str
    precisions: tuple[str, ...]
    factory: Callable[[Path, str, int, str], Predictor]

    def available(self) -> bool:
        """Whether its package is installed."""
        return importlib.util.find_spec(self.module) is not None

    def require(self) -> None:
        """Raise a one-line :class:`MissingDependencyError` naming the extra when it is missing."""
        require(self.module, self.extra)


def _onnxruntime(path: Path, precision: str, threads: int, provider: str) -> Predictor:
    from runtime.onnx_session import OnnxPredictor
    from runtime.providers import choose_providers

    return OnnxPredictor(path, providers=choose_providers(provider), threads=threads)


def _openvino(path: Path, precision: str, threads: int, provider: str) -> Predictor:
    from runtime.openvino_session import OpenVinoPredictor

    return OpenVinoPredictor(path, precision=precision, threads=threads)


#: Backends in order of preference when nothing has been measured (the reference first).
BACKENDS: dict[str, Backend] = {
    b.key: b
    for b in (
        Backend(
            "onnxruntime",
            "onnxruntime",
            "&onnxruntime",
            "onnxruntime",
            "desktop",
            ("fp32", "int8"),
            _onnxruntime,
        ),
        Backend(
            "openvino",
            "OpenVINO",
            "Open&VINO",
            "openvino",
            "openvino",
            ("fp32", "bf16", "int8"),
            _openvino,
        ),
    )
}
#: What users choose from: ``auto`` (the fastest gated variant) or one backend.
BACKEND_CHOICES: tuple[str, ...] = ("auto", *BACKENDS)
#: ``auto`` (the fastest gated precision) or one precision.
PRECISION_CHOICES: tuple[str, ...] = ("auto", *PRECISIONS)
#: The app's menu entry of ``auto``.
AUTO_BACKEND_MENU = "&Automatic (fastest that passed the accuracy gate)"


def variant_name(backend: str, precision: str) -> str:
    """``openvino bf16``: how tables and messages name a variant."""
    return f"{backend} {precision}"


def fp32_file(path: str | Path) -> Path:
    """The fp32 ONNX file of a model, given it or its int8 file."""
    path = Path(path)
    if path.name.endswith(INT8_SUFFIX):
        return path.with_name(path.name[: -len(INT8_SUFFIX)] + ".onnx")
    return path


def int8_file(path: str | Path) -> Path:
    """The static-QDQ int8 file beside a model's fp32 ONNX file."""
    fp32 = fp32_file(path)
    return fp32.with_name(fp32.name[: -len(".onnx")] + INT8_SUFFIX)


def variant_file(path: str | Path, precision: str) -> Path:
    """The ONNX file a variant of this model runs (int8: the QDQ file; else the fp32 file)."""
    return int8_file(path) if precision == "int8" else fp32_file(path)


def check_choice(backend: str, precision: str) -> None:
    """Refuse an unknown backend or precision, or a precision the backend cannot run.

    Raises:
        UserInputError: Names the choices.
    """
    if backend not in BACKEND_CHOICES:
        raise UserInputError(
            f"backend must be one of {', '.join(BACKEND_CHOICES)}, received {backend!r}"
        )
    if precision not in PRECISION_CHOICES:
        raise UserInputError(
            f"precision must be one of {', '.join(PRECISION_CHOICES)}, received {precision!r}"
        )
    if backend != "auto" and precision != "auto" and precision not in BACKENDS[backend].precisions:
        raise UserInputError(
            f"the {BACKENDS[backend].label} backend runs "
            f"{', '.join(BACKENDS[backend].precisions)}, not {precision}"
        )


def open_predictor(
    path: str | Path, backend: str, precision: str, threads: int = 0, provider: str = "auto"
) -> Predictor:
    """Load one variant of a model (no gate check: see :func:`runtime.gate.choose_variant`).

    Raises:
        UserInputError: Unknown or unsupported choice, or the backend's package is missing.
        ModelFileError: The file is missing or not a model of this project.
    """
    check_choice(backend, precision)
    entry = BACKENDS[backend]
    entry.require()
    return entry.factory(variant_file(path, precision), precision, threads, provider)
