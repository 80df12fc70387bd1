"""Converters from a Keras vessel U-Net to deployment formats (needs TensorFlow and tf2onnx).

Every format keeps the Keras model's contract: one input ``image`` (raw RGB float32 0-255, NHWC,
dynamic batch/height/width; height and width multiples of ``2**depth``) and one output
``vessel_probability`` (N, H, W, 1).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from runtime.constants import INPUT_NAME, OUTPUT_NAME
from runtime.errors import MissingDependencyError, require
from runtime.tiling import BatchPredictor, pad_to_multiple

#: ONNX opset of every exported graph.
OPSET = 17
#: Conversions tried before giving up on a malformed graph (see ``keras_to_onnx``).
CONVERT_ATTEMPTS = 3
#: Names given to the dynamic dimensions of the ONNX input and output.
DYNAMIC_DIMS = ("batch", "height", "width")


def serving_function(model):  # -> tf.types.experimental.GenericFunction
    """A ``tf.function`` taking ``image`` and returning ``{"vessel_probability": ...}``."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, None, None, 3), tf.float32, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def serve(image):
        return {OUTPUT_NAME: model(image, training=False)}

    return serve


# --- TensorFlow SavedModel -------------------------------------------------------------------


def write_savedmodel(model, out_dir: str | Path) -> Path:
    """Write a SavedModel with a ``serving_default`` signature and verify it reloads.

    Raises:
        RuntimeError: The reloaded signature does not have the expected names.
    """
    import tensorflow as tf

    out_dir = Path(out_dir)
    module = tf.Module()
    module.model = model
    module.serve = serving_function(model)
    tf.saved_model.save(module, str(out_dir), signatures={"serving_default": module.serve})
    signature = tf.saved_model.load(str(out_dir)).signatures["serving_default"]
    inputs = list(signature.structured_input_signature[1])
    outputs = list(signature.structured_outputs)
    if inputs != [INPUT_NAME] or outputs != [OUTPUT_NAME]:
        raise RuntimeError(f"{out_dir}: SavedModel signature is {inputs} -> {outputs}")
    return out_dir


def savedmodel_predictor(out_dir: str | Path) -> BatchPredictor:
    """Batch function running a SavedModel's ``serving_default`` signature."""
    import tensorflow as tf

    signature = tf.saved_model.load(str(out_dir)).signatures["serving_default"]

    def predict(batch: np.ndarray) -> np.ndarray:
        return signature(**{INPUT_NAME: tf.constant(batch)})[OUTPUT_NAME].numpy()

    return predict


# --- ONNX --------------------------------------------------------------------------------------


def set_metadata(proto, metadata: dict[str, str]) -> None:
    """Replace an ONNX model's ``metadata_props`` with ``metadata``."""
    del proto.metadata_props[:]
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value


def _name_dynamic_dims(proto) -> None:
    for value in list(proto.graph.input) + list(proto.graph.output):
        dims = value.type.tensor_type.shape.dim
        for dim, name in zip(dims, DYNAMIC_DIMS, strict=False):
            dim.dim_param = name


def keras_to_onnx(model, metadata: dict[str, str], path: str | Path) -> Path:
    """Convert with tf2onnx (opset 17), name the dynamic dims, add metadata, check, save.

    Raises:
        MissingDependencyError: tf2onnx or onnx is not installed.
        RuntimeError: The graph does not have exactly one input and one output.
    """
    require("tf2onnx", "export")
    require("onnx", "export")
    import onnx
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, None, None, 3), tf.float32, name=INPUT_NAME),)
    # tf2onnx 1.17 now and then (seen under heavy CPU load, not reproducible on demand) drops
    # the Squeeze that follows the head's Reshape, leaving a rank-5 output. Such a graph is
    # refused here and converted again from a fresh trace.
    for _attempt in range(CONVERT_ATTEMPTS):
        proto, _ = tf2onnx.convert.from_function(
            serving_function(model), input_signature=spec, opset=OPSET
        )
        rank = len(proto.graph.output[0].type.tensor_type.shape.dim)
        if rank == 4:
            break
    else:
        raise RuntimeError(
            f"ONNX output has rank {rank} after {CONVERT_ATTEMPTS} conversions, "
            "expected 4 (N, H, W, 1)"
        )
    names = ([i.name for i in proto.graph.input], [o.name for o in proto.graph.output])
    if names != ([INPUT_NAME], [OUTPUT_NAME]):
        raise RuntimeError(f"ONNX graph has inputs/outputs {names}, expected one of each")
    _name_dynamic_dims(proto)
    proto.producer_name = "keras_unet (tf2onnx)"
    set_metadata(proto, metadata)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return Path(path)


class _CalibrationReader:
    """Feeds padded training images to onnxruntime's calibrator, one per call."""

    def __init__(self, images: Sequence[np.ndarray], multiple: int) -> None:
        self._items: Iterator[dict[str, np.ndarray]] = iter(
            [
                {INPUT_NAME: pad_to_multiple(img.astype(np.float32), multiple)[None]}
                for img in images
            ]
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._items, None)

    def rewind(self) -> None:  # Not needed for MinMax; required by newer ORT interfaces.
        pass


def onnx_to_int8(
    fp32_path: str | Path,
    out_path: str | Path,
    calibration_images: Sequence[np.ndarray],
    multiple: int,
    metadata: dict[str, str],
) -> Path:
    """Static int8 quantisation (QDQ, per-channel weights) calibrated on ``calibration_images``.

    Pre-processes the graph first (``quant_pre_process``, symbolic shapes skipped because H and
    W are dynamic). Activations are uint8, weights int8 (the x86 U8S8 path).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quant_pre_process,
        quantize_static,
    )

    class Reader(_CalibrationReader, CalibrationDataReader):
        pass

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(
            str(prepared),
            str(out_path),
            Reader(calibration_images, multiple),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    proto = onnx.load(str(out_path))
    set_metadata(proto, {**metadata, "precision": "int8"})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out_path))
    return Path(out_path)


def onnx_to_fp16(fp32_path: str | Path, out_path: str | Path, metadata: dict[str, str]) -> Path:
    """Half-precision weights and compute (for the CUDA provider); float32 input and output.

    Raises:
        MissingDependencyError: onnxruntime's transformer tools are unavailable.
    """
    try:
        from onnxruntime.transformers.float16 import convert_float_to_float16
        from onnxruntime.transformers.onnx_model import OnnxModel as GraphEditor
    except ImportError:
        raise MissingDependencyError("onnxruntime.transformers", "export") from None
    import onnx

    proto = convert_float_to_float16(onnx.load(str(fp32_path)), keep_io_types=True)
    GraphEditor(proto).topological_sort()  # The converter appends its input casts at the end.
    set_metadata(proto, {**metadata, "precision": "fp16"})
    onnx.checker.check_model(proto)
    onnx.save(proto, str(out_path))
    return Path(out_path)


# --- LiteRT (TFLite) ---------------------------------------------------------------------------


def _tflite_friendly_clone(model):
    """Copy of ``model`` whose nearest up-sampling keeps a static channel count.

    Keras' ``UpSampling2D`` repeats rows and columns with ``tf.repeat``, which loses the channel
    dimension under dynamic height/width; LiteRT then cannot lower the next Conv2D. A resize to
    twice the size is the same operation (nearest, integer factor) with static channels. Weights
    are copied; the exporter's parity check proves the two graphs agree.
    """
    import keras
    import tensorflow as tf

    class ResizeNearest2x(keras.layers.Layer):
        def call(self, x):
            return tf.image.resize(x, tf.shape(x)[1:3] * 2, method="nearest")

        def compute_output_shape(self, shape):
            twice = [None if d is None else 2 * d for d in shape[1:3]]
            return (shape[0], *twice, shape[3])

    def swap(layer):
        if isinstance(layer, keras.layers.UpSampling2D):
            return ResizeNearest2x(name=layer.name)
        return layer.__class__.from_config(layer.get_config())

    clone = keras.models.clone_model(model, clone_function=swap)
    clone.set_weights(model.get_weights())
    return clone


def keras_to_tflite(model, out_path: str | Path) -> Path:
    """Convert to a LiteRT flatbuffer (float32) with dynamic batch/height/width.

    The serving function is frozen first (variables -> constants): without that the converter
    keeps Keras 3 variables as resource reads the interpreter does not initialise.

    Raises:
        MissingDependencyError: TensorFlow has no ``tf.lite`` converter.
    """
    import tensorflow as tf

    if not hasattr(tf, "lite"):
        raise MissingDependencyError("tensorflow.lite", "train")
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    serve = serving_function(_tflite_friendly_clone(model))
    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    converter = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    Path(out_path).write_bytes(converter.convert())
    return Path(out_path)


def tflite_predictor(path: str | Path, threads: int | None = None) -> BatchPredictor:
    """Batch function running a LiteRT model, resizing its input to each batch's shape."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter  # noqa: N806 - the class, named as upstream does.

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    state = {"shape": None}

    def predict(batch: np.ndarray) -> np.ndarray:
        index = interpreter.get_input_details()[0]["index"]
        if state["shape"] != batch.shape:
            interpreter.resize_tensor_input(index, batch.shape, strict=False)
            interpreter.allocate_tensors()
            state["shape"] = batch.shape
        interpreter.set_tensor(index, batch)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy()

    return predict


def remove_artifact(path: Path) -> None:
    """Delete a previous export artifact (a file or a SavedModel folder) before rewriting it."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()
