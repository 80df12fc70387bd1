"""Retinal vessel segmentation with a Keras 3 U-Net trained on DRIVE.

The package root imports nothing heavy: ``runtime.imageio``, ``runtime.metrics``,
``runtime.tiling`` and ``runtime.constants`` are usable without TensorFlow, which only
``keras_unet.data``, ``keras_unet.model``, ``keras_unet.train`` and the Keras predictor load.
"""

__version__ = "0.1.0"
