"""The U-Net (Ronneberger et al. 2015) as a Keras 3 functional model.

Defaults reproduce the seed's PyTorch ``U_Net`` exactly: conv blocks of two (3x3 conv -> BatchNorm
-> ReLU), channels 64-128-256-512-1024, four 2x2 max-pools, an up path of 2x nearest up-sampling +
3x3 conv (+BN+ReLU) to half the channels, concatenation with the skip (skip first), a conv block, a
1x1 conv to one channel and a sigmoid (34,527,041 trainable parameters).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from runtime.constants import (
    DRIVE_RGB_MEAN,
    DRIVE_RGB_STD,
    INPUT_NAME,
    OUTPUT_NAME,
    SEED_DEPTH,
    SEED_FILTERS,
    input_multiple,
)

#: Up-sampling modes: the seed's nearest up-sampling + 3x3 conv, or a 2x2 transposed conv.
UPSAMPLING_MODES: tuple[str, ...] = ("upsample", "transpose")
#: Deepest supported U-Net (2**7 = 128 px multiple).
MAX_DEPTH = 7


def _conv_block(
    x: keras.KerasTensor, filters: int, name: str, dropout: float, batch_norm: bool
) -> keras.KerasTensor:
    """Two (3x3 conv -> BatchNorm -> ReLU), with optional dropout between them."""
    for i in (1, 2):
        if i == 2 and dropout > 0:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
        x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv{i}")(x)
        if batch_norm:
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
        x = layers.ReLU(name=f"{name}_relu{i}")(x)
    return x


def _up_block(
    x: keras.KerasTensor, filters: int, name: str, mode: str, batch_norm: bool
) -> keras.KerasTensor:
    """Double the spatial size and halve the channels (the seed's ``up_conv``)."""
    if mode == "upsample":
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"{name}_upsample")(x)
        x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_conv")(x)
    else:
        x = layers.Conv2DTranspose(filters, 2, strides=2, name=f"{name}_transpose")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def _check_stats(name: str, values: Sequence[float], positive: bool) -> list[float]:
    values = [float(v) for v in values]
    if len(values) != 3:
        raise ValueError(f"{name} must have 3 values (R, G, B), received {len(values)}: {values}")
    if positive and min(values) <= 0:
        raise ValueError(f"{name} values must be > 0, received {values}")
    return values


def build_unet(
    filters: int = SEED_FILTERS,
    depth: int = SEED_DEPTH,
    upsampling: str = "upsample",
    dropout: float = 0.0,
    batch_norm: bool = True,
    mean: Sequence[float] = DRIVE_RGB_MEAN,
    std: Sequence[float] = DRIVE_RGB_STD,
    name: str = "unet",
) -> keras.Model:
    """Build the U-Net.

    The model takes **raw RGB** ``float32`` images with values in [0, 255], shape
    ``(batch, height, width, 3)``, and normalises them inside the graph with a per-channel
    ``Rescaling`` (``(x - mean) / std``), so every runtime feeds the same pixels. Height and width
    must be multiples of ``2**depth`` (16 for the default depth 4); pad the image first.

    Args:
        filters: Channels of the first level; level ``i`` has ``filters * 2**i``. 64 is the seed.
        depth: Number of max-pooling steps (1 to 7). 4 is the seed.
        upsampling: ``"upsample"`` (nearest 2x + 3x3 conv, the seed) or ``"transpose"``
            (2x2 transposed conv).
        dropout: Dropout rate between the two convs of every block, in [0, 1).
        batch_norm: Use BatchNorm after every conv (the seed does).
        mean: Per-channel RGB mean (0-255 scale) subtracted inside the graph.
        std: Per-channel RGB standard deviation the centred input is divided by.
        name: Model name.

    Returns:
        An uncompiled functional model with input ``image`` and a one-channel sigmoid output
        ``vessel_probability`` (float32 even under mixed precision).

    Raises:
        ValueError: An argument is out of range; the message says what was received.
    """
    if isinstance(filters, bool) or not isinstance(filters, int) or filters < 1:
        raise ValueError(f"filters must be a positive integer, received {filters!r}")
    if isinstance(depth, bool) or not isinstance(depth, int) or not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be an integer in [1, {MAX_DEPTH}], received {depth!r}")
    if upsampling not in UPSAMPLING_MODES:
        raise ValueError(f"upsampling must be one of {UPSAMPLING_MODES}, received {upsampling!r}")
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1), received {dropout!r}")
    mean = _check_stats("mean", mean, positive=False)
    std = _check_stats("std", std, positive=True)

    inputs = keras.Input(shape=(None, None, 3), dtype="float32", name=INPUT_NAME)
    x = layers.Rescaling(
        scale=[1.0 / s for s in std],
        offset=[-m / s for m, s in zip(mean, std, strict=True)],
        name="normalize",
    )(inputs)
    skips = []
    for level in range(depth):
        x = _conv_block(x, filters * 2**level, f"enc{level + 1}", dropout, batch_norm)
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{level + 1}_pool")(x)
    x = _conv_block(x, filters * 2**depth, "bottleneck", dropout, batch_norm)
    for level in reversed(range(depth)):
        width = filters * 2**level
        x = _up_block(x, width, f"up{level + 1}", upsampling, batch_norm)
        x = layers.Concatenate(name=f"dec{level + 1}_concat")([skips[level], x])
        x = _conv_block(x, width, f"dec{level + 1}", dropout, batch_norm)
    x = layers.Conv2D(1, 1, name="head_conv")(x)
    outputs = layers.Activation("sigmoid", dtype="float32", name=OUTPUT_NAME)(x)
    return keras.Model(inputs, outputs, name=name)


def model_depth(model: keras.Model) -> int:
    """Number of max-pooling steps of a U-Net built by :func:`build_unet`."""
    return sum(isinstance(layer, layers.MaxPooling2D) for layer in model.layers)


def model_multiple(model: keras.Model) -> int:
    """The spatial multiple the model's input height and width need."""
    return input_multiple(model_depth(model))
