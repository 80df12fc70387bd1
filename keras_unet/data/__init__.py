"""Training data: the pixel statistics of the normalisation and the tf.data pipeline.

Finding and loading samples is TensorFlow-free and lives in :mod:`runtime.datasets` (the
evaluation of exported models needs it too); :mod:`keras_unet.data.pipeline` needs TensorFlow
and is imported only where training runs.
"""

from keras_unet.data.statistics import channel_statistics

__all__ = ["channel_statistics"]
