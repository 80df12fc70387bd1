"""Deployment: converters (SavedModel, ONNX fp32/int8/fp16, LiteRT), parity report, benchmark.

Needs TensorFlow for conversion (the ``export`` extra). Stands on :mod:`keras_unet` (the model,
evaluation) and :mod:`runtime` (the engine, the ONNX predictor, the model card that becomes the
ONNX metadata).
"""

import keras_unet  # noqa: F401 - sets TensorFlow's log level before anything loads it.
