"""The Keras U-Net: model, losses, tf.data pipeline, training, evaluation, shipping, comparison.

Needs TensorFlow (the ``train`` extra) for everything but its package root; stands on
:mod:`runtime` (image I/O, data sets, the engine, metrics). Importing the package sets
TensorFlow's C++ log level (:data:`TF_LOG_LEVEL`, unless the user set one) before anything
loads TensorFlow, so every command logs alike.
"""

import os

from runtime import __version__

__all__ = ["__version__"]
#: ``TF_CPP_MIN_LOG_LEVEL`` used when the user has not set it: warnings and errors only.
TF_LOG_LEVEL = "2"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
