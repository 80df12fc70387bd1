"""An exported ONNX model in OpenVINO: a :class:`runtime.predictors.Predictor` for x86 CPUs.

OpenVINO reads the same ONNX file as onnxruntime (the model card comes from its
``metadata_props``, which OpenVINO keeps in the model's ``framework`` runtime info). The model
is **compiled once per static input shape** and the compiled models are cached: compiled with
dynamic shapes, the int8 QDQ model gave garbage on this CPU (max |Δ| 1.0 against onnxruntime,
DRIVE test F1 0.106), reshaped to the batch's static shape first it agrees with onnxruntime.
The engine's shapes are few after scaling and padding, so the cache stays small.

Precisions: ``fp32`` and ``bf16`` set OpenVINO's inference-precision hint (``f32``/``bf16``) on the
fp32 file; ``int8`` runs the static QDQ file with OpenVINO's default precision for the layers
that stay in floating point. ``bf16`` is refused on CPUs without bf16 support.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import ModelFileError, UserInputError
from runtime.model_card import ModelCard

#: OpenVINO's inference-precision hint of each precision (``None``: the plugin's default).
PRECISION_HINTS: dict[str, str | None] = {"fp32": "f32", "bf16": "bf16", "int8": None}
#: Compiled input shapes kept per predictor (least recently used ones are dropped).
MAX_COMPILED_SHAPES = 8


def _openvino():
    """The ``openvino`` module, or a one-line error naming the extra to install."""
    try:
        import openvino
    except ImportError:
        raise UserInputError(
            "the OpenVINO backend needs the 'openvino' package: "
            'pip install "drive-vessel-unet[openvino]"'
        ) from None
    return openvino


def openvino_version() -> str:
    """The installed OpenVINO's version (``""`` when it is not installed)."""
    try:
        import openvino
    except ImportError:
        return ""
    return str(openvino.__version__).split("-")[0]


def cpu_supports(precision: str) -> bool:
    """Whether OpenVINO's CPU plugin on this machine runs ``precision`` natively."""
    if precision != "bf16":
        return True
    core = _openvino().Core()
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


class OpenVinoPredictor:
    """An ONNX vessel model compiled by OpenVINO for the CPU, one compiled model per shape.

    Attributes:
        path: The ``.onnx`` file.
        card: The model card from the ONNX metadata.
        multiple: Required input multiple.
        precision: ``fp32``, ``bf16`` or ``int8``.
        provider: What runs it (``OpenVINO CPU bf16``), for users and reports.
        name: ``openvino CPU <precision>``.
    """

    def __init__(self, path: str | Path, precision: str = "fp32", threads: int = 0) -> None:
        """Read ``path`` (compiling waits for the first batch of each shape).

        Args:
            path: ONNX file exported by this project (the QDQ file for ``int8``).
            precision: A key of :data:`PRECISION_HINTS`.
            threads: Inference threads (0: OpenVINO's default, the physical cores).

        Raises:
            UserInputError: OpenVINO is missing, or the precision is unknown or not supported
                by this CPU.
            ModelFileError: Missing or unreadable file, no model card, not one input/output.
        """
        ov = _openvino()
        if precision not in PRECISION_HINTS:
            raise UserInputError(
                f"OpenVINO precision must be one of {', '.join(PRECISION_HINTS)}, "
                f"received {precision!r}"
            )
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: model file not found")
        self._core = ov.Core()
        if not cpu_supports(precision):
            raise UserInputError(f"{precision}: this CPU has no {precision} support in OpenVINO")
        try:
            self._model = self._core.read_model(str(self.path))
        except Exception as exc:  # noqa: BLE001 - OpenVINO raises RuntimeError and others.
            raise ModelFileError(
                f"{self.path}: cannot load ONNX model ({_first_line(exc)})"
            ) from None
        if len(self._model.inputs) != 1 or len(self._model.outputs) != 1:
            raise ModelFileError(
                f"{self.path}: expected one input and one output, found "
                f"{len(self._model.inputs)} -> {len(self._model.outputs)}"
            )
        self.metadata = _framework_metadata(self._model)
        self.card = ModelCard.from_onnx_metadata(self.metadata, str(self.path))
        self.multiple: int = int(self.card.multiple or 1)
        self.precision = precision
        self.threads = threads
        self.provider = f"OpenVINO CPU {precision}"
        self.name = f"openvino CPU {precision}"
        self._input = self._model.inputs[0].any_name
        self._compiled: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._lock = threading.Lock()

    def _config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
        hint = PRECISION_HINTS[self.precision]
        if hint is not None:
            config["INFERENCE_PRECISION_HINT"] = hint
        if self.threads > 0:
            config["INFERENCE_NUM_THREADS"] = self.threads
        return config

    def request_for(self, shape: tuple[int, ...]):
        """The infer request of a model compiled for exactly ``shape`` (compiled on first use).

        The model is reshaped to the static shape before compiling (see the module docstring).
        """
        with self._lock:
            if shape in self._compiled:
                self._compiled.move_to_end(shape)
                return self._compiled[shape]
            model = self._core.read_model(str(self.path))
            model.reshape({self._input: list(shape)})
            compiled = self._core.compile_model(model, "CPU", self._config())
            request = compiled.create_infer_request()
            self._compiled[shape] = request
            while len(self._compiled) > MAX_COMPILED_SHAPES:
                self._compiled.popitem(last=False)
            return request

    @property
    def compiled_shapes(self) -> list[tuple[int, ...]]:
        """The static input shapes compiled so far (least recently used first)."""
        return list(self._compiled)

    def check_input(self, batch: np.ndarray) -> None:
        """Refuse a batch the graph cannot take (see :meth:`OnnxPredictor.check_input`).

        Raises:
            ValueError: Not ``float32 (N, H, W, 3)``, or H/W not multiples of ``multiple``.
        """
        from runtime.onnx_session import check_batch

        check_batch(self.path.name, batch, self.multiple)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, H, W, 1)`` of a checked raw-RGB batch."""
        self.check_input(batch)
        request = self.request_for(tuple(int(d) for d in batch.shape))
        with self._lock:  # One infer request per shape: one caller at a time.
            request.infer({0: np.ascontiguousarray(batch)})
            return request.get_output_tensor(0).data.copy()

    def describe(self) -> dict[str, Any]:
        """Facts to show a user (as :meth:`OnnxPredictor.describe`)."""
        card = self.card
        return {
            "path": str(self.path),
            "provider": self.provider,
            "model_name": card.name,
            "model_version": card.version,
            "precision": self.precision,
            "threshold": card.threshold,
            "threshold_source": card.threshold_source,
            "input_multiple": self.multiple,
            "working_fov_diameter": card.working_fov_diameter,
            "training_data": card.training_description(),
            "validation_metrics": card.validation_summary,
            "test_metrics": card.test_summary,
        }


def _framework_metadata(model) -> dict[str, str]:
    """The ONNX ``metadata_props`` as OpenVINO keeps them (runtime info ``framework``)."""
    info = model.get_rt_info()
    if "framework" not in info:
        return {}
    framework = info["framework"]
    framework = framework.astype(dict) if hasattr(framework, "astype") else framework
    return {str(key): str(value.astype(str)) for key, value in dict(framework).items()}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
