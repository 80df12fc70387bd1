"""An exported ONNX model in onnxruntime: session, metadata, checked raw calls (no TensorFlow).

:class:`OnnxModel` is the raw session wrapper: it refuses inputs the graph cannot take (wrong
rank, channels, dtype, or height/width not multiples of ``input_multiple``) with a clear message
instead of onnxruntime's Concat error. Padding, tiling and everything else a user's image needs
happens one level up (:mod:`runtime.tiling`, the engine).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from export.metadata import parse_metadata
from runtime.errors import ModelFileError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: Provider preferences users choose from (CLI flags, desktop settings).
PROVIDER_CHOICES: tuple[str, ...] = ("auto", "cuda", "cpu")


def available_providers() -> list[str]:
    """Execution providers this onnxruntime build offers."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(preference: str = "auto") -> list[str]:
    """Providers to ask for: CUDA first when offered (``auto``/``cuda``), CPU always last.

    Args:
        preference: ``auto``, ``cuda`` or ``cpu``.
    """
    if preference not in PROVIDER_CHOICES:
        raise ValueError(
            f"provider preference must be one of {', '.join(PROVIDER_CHOICES)}, "
            f"received {preference!r}"
        )
    providers = [CPU]
    if preference in ("auto", "cuda") and CUDA in available_providers():
        providers.insert(0, CUDA)
    return providers


class OnnxModel:
    """An ONNX vessel model loaded in onnxruntime.

    Attributes:
        path: The ``.onnx`` file.
        metadata: Decoded ``metadata_props`` (see :mod:`export.metadata`).
        multiple: Required input multiple.
        threshold: Recommended threshold.
        providers: Providers that actually run (from ``session.get_providers()``).
    """

    def __init__(
        self, path: str | Path, providers: list[str] | None = None, threads: int = 0
    ) -> None:
        """Load ``path``.

        Args:
            path: ONNX file exported by this project.
            providers: Execution providers in order of preference (default: CUDA if offered,
                then CPU). If creating the session with CUDA fails, it falls back to CPU with a
                warning.
            threads: Intra-op threads (0 lets onnxruntime use the physical cores).

        Raises:
            ModelFileError: Missing, corrupt, lacking metadata, or not one input / one output.
        """
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: model file not found")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        wanted = providers or choose_providers()
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=wanted)
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises several exception types.
            if wanted != [CPU] and CPU in wanted:
                warnings.warn(
                    f"{self.path}: {wanted[0]} failed ({_first_line(exc)}); using CPU",
                    RuntimeWarning,
                    stacklevel=2,
                )
                try:
                    self.session = ort.InferenceSession(str(self.path), options, providers=[CPU])
                except Exception as exc2:  # noqa: BLE001
                    raise ModelFileError(
                        f"{self.path}: cannot load ONNX model ({_first_line(exc2)})"
                    ) from None
            else:
                raise ModelFileError(
                    f"{self.path}: cannot load ONNX model ({_first_line(exc)})"
                ) from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise ModelFileError(
                f"{self.path}: expected one input and one output, found "
                f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}"
            )
        try:
            self.metadata = parse_metadata(
                dict(self.session.get_modelmeta().custom_metadata_map), str(self.path)
            )
        except ValueError as exc:
            raise ModelFileError(str(exc)) from None
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.multiple: int = self.metadata["input_multiple"]
        self.threshold: float = self.metadata["threshold"]
        self.providers: list[str] = list(self.session.get_providers())

    @property
    def provider(self) -> str:
        """The provider that runs the graph (the first one onnxruntime kept)."""
        return self.providers[0]

    def check_input(self, batch: np.ndarray) -> None:
        """Refuse a batch the graph cannot take, with a message that says why.

        Raises:
            ValueError: Not ``float32 (N, H, W, 3)``, or H/W not multiples of ``multiple``.
        """
        if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
            raise ValueError(
                f"{self.path.name}: input must be a float32 numpy array, got "
                f"{getattr(batch, 'dtype', type(batch).__name__)}"
            )
        if batch.ndim != 4 or batch.shape[3] != 3:
            raise ValueError(
                f"{self.path.name}: input must have shape (N, H, W, 3), got {batch.shape}"
            )
        height, width = batch.shape[1:3]
        if height % self.multiple or width % self.multiple:
            raise ValueError(
                f"{self.path.name}: input height and width must be multiples of "
                f"{self.multiple}, got {height}x{width} (pad the image first)"
            )

    def run(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, H, W, 1)`` of a checked raw-RGB batch (see :meth:`check_input`)."""
        self.check_input(batch)
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def describe(self) -> dict[str, Any]:
        """Facts to show a user: name, version, provider, threshold, multiple, metrics."""
        return {
            "path": str(self.path),
            "provider": self.provider,
            "model_name": self.metadata.get("model_name"),
            "model_version": self.metadata.get("model_version"),
            "precision": self.metadata.get("precision"),
            "threshold": self.threshold,
            "input_multiple": self.multiple,
            "validation_metrics": self.metadata.get("validation_metrics"),
            "test_metrics": self.metadata.get("test_metrics"),
        }


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
