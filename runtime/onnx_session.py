"""An exported ONNX model in onnxruntime: the :class:`runtime.predictors.Predictor` of the runtime.

:class:`OnnxPredictor` wraps the session: it reads the model card from the ONNX metadata, says
which execution provider actually runs (:mod:`runtime.providers`), and refuses inputs the graph
cannot take (wrong rank, channels, dtype, or height/width not multiples of ``multiple``) with a
clear message instead of onnxruntime's Concat error. Padding, tiling and everything else a
user's image needs happens one level up (:mod:`runtime.tiling`, the engine).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from runtime.errors import ModelFileError, require
from runtime.model_card import ModelCard
from runtime.providers import CPU, choose_providers, provider_label


class OnnxPredictor:
    """An ONNX vessel model loaded in onnxruntime.

    Attributes:
        path: The ``.onnx`` file.
        card: The model card from the ONNX metadata (threshold, working scale, metrics).
        multiple: Required input multiple.
        providers: Providers that actually run (from ``session.get_providers()``).
        name: ``onnxruntime <provider label>``.
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
        require("onnxruntime", "desktop")
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
        self.metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)
        self.card = ModelCard.from_onnx_metadata(self.metadata, str(self.path))
        self.input_name = inputs[0].name
        self.output_name = outputs[0].name
        self.multiple: int = int(self.card.multiple or 1)
        self.providers: list[str] = list(self.session.get_providers())
        self.name = f"onnxruntime {provider_label(self.provider)}"

    @property
    def provider(self) -> str:
        """The provider that runs the graph (the first one onnxruntime kept)."""
        return self.providers[0]

    def check_input(self, batch: np.ndarray) -> None:
        """Refuse a batch the graph cannot take, with a message that says why.

        Raises:
            ValueError: Not ``float32 (N, H, W, 3)``, or H/W not multiples of ``multiple``.
        """
        check_batch(self.path.name, batch, self.multiple)

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """Probabilities ``(N, H, W, 1)`` of a checked raw-RGB batch (see :meth:`check_input`)."""
        self.check_input(batch)
        return self.session.run([self.output_name], {self.input_name: batch})[0]

    def describe(self) -> dict[str, Any]:
        """Facts to show a user: file, provider, name, version, precision, threshold, metrics."""
        card = self.card
        return {
            "path": str(self.path),
            "provider": self.provider,
            "model_name": card.name,
            "model_version": card.version,
            "precision": card.precision,
            "threshold": card.threshold,
            "threshold_source": card.threshold_source,
            "input_multiple": self.multiple,
            "working_fov_diameter": card.working_fov_diameter,
            "training_data": card.training_description(),
            "validation_metrics": card.validation_summary,
            "test_metrics": card.test_summary,
        }


def check_batch(name: str, batch: np.ndarray, multiple: int) -> None:
    """Refuse a batch a vessel graph cannot take, naming the model file ``name``.

    Raises:
        ValueError: Not ``float32 (N, H, W, 3)``, or H/W not multiples of ``multiple``.
    """
    if not isinstance(batch, np.ndarray) or batch.dtype != np.float32:
        raise ValueError(
            f"{name}: input must be a float32 numpy array, got "
            f"{getattr(batch, 'dtype', type(batch).__name__)}"
        )
    if batch.ndim != 4 or batch.shape[3] != 3:
        raise ValueError(f"{name}: input must have shape (N, H, W, 3), got {batch.shape}")
    height, width = batch.shape[1:3]
    if height % multiple or width % multiple:
        raise ValueError(
            f"{name}: input height and width must be multiples of "
            f"{multiple}, got {height}x{width} (pad the image first)"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
