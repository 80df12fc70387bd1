"""DRIVE-style data: finding image / manual / FOV-mask triples, loading them, splitting them.

This part is TensorFlow-free; the tf.data training pipeline lives in
:mod:`keras_unet.data.pipeline`.
"""

from keras_unet.data.drive import (
    Sample,
    SamplePaths,
    channel_statistics,
    find_fov_mask,
    find_samples,
    load_sample,
    load_samples,
    validation_split,
)

__all__ = [
    "Sample",
    "SamplePaths",
    "channel_statistics",
    "find_fov_mask",
    "find_samples",
    "load_sample",
    "load_samples",
    "validation_split",
]
