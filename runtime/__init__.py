"""The clinic-side runtime: everything between a photograph file and its vessel map and numbers.

TensorFlow-free and Qt-free (import-linter holds the rule, see ``docs/ARCHITECTURE.md``): image
I/O, the field of view, the working scale, tiling and TTA, the predictor protocol and its
onnxruntime backend, the engine, measurements, metrics, reports, the batch-segment library and
the ``vessel-segment`` command. Training (:mod:`keras_unet`), export (:mod:`export`) and the app
(:mod:`desktop`) stand on it.
"""

#: The product's version (one source of truth: packaging, model cards, the About box).
__version__ = "0.3.0"
