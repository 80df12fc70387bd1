"""tf.data pipelines: random FOV patches with augmentation for training, full images for validation.

Every random choice uses TensorFlow's *stateless* random ops seeded by ``(seed, element index)``,
so a pipeline yields the same batches for the same seed, whatever the thread count, and a
resumed run continues exactly where the interrupted one stopped (``start_index``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from runtime.datasets import Sample
from runtime.tiling import padded_size


@dataclass(frozen=True)
class Augmentation:
    """Random transforms applied to each training patch.

    Attributes:
        flips: Random horizontal and vertical flips.
        rotations: Random multiples of 90 degrees.
        brightness: Multiplicative brightness jitter, factor in ``[1 - b, 1 + b]``.
        contrast: Contrast jitter around the patch mean, factor in ``[1 - c, 1 + c]``.
        gamma: Gamma jitter, exponent in ``[1 - g, 1 + g]``.
        colour: Per-channel gain jitter, factors in ``[1 - c, 1 + c]``.
    """

    flips: bool = True
    rotations: bool = True
    brightness: float = 0.1
    contrast: float = 0.1
    gamma: float = 0.1
    colour: float = 0.05

    @classmethod
    def none(cls) -> Augmentation:
        """No augmentation at all."""
        return cls(False, False, 0.0, 0.0, 0.0, 0.0)


def _stack(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack images (zero-padded to a common size), labels, sizes and the FOV pixel table."""
    height = max(s.image.shape[0] for s in samples)
    width = max(s.image.shape[1] for s in samples)
    images = np.zeros((len(samples), height, width, 3), np.uint8)
    labels = np.zeros((len(samples), height, width, 1), np.uint8)
    sizes = np.zeros((len(samples), 2), np.int32)
    coords = []
    for i, s in enumerate(samples):
        h, w = s.image.shape[:2]
        images[i, :h, :w] = s.image
        labels[i, :h, :w, 0] = s.vessels
        sizes[i] = (h, w)
        ys, xs = np.nonzero(s.fov)
        coords.append(np.stack([np.full_like(ys, i), ys, xs], axis=1))
    return images, labels, sizes, np.concatenate(coords).astype(np.int32)


def _augment(image: tf.Tensor, label: tf.Tensor, seed: tf.Tensor, aug: Augmentation):
    """Apply :class:`Augmentation` to a float32 0-255 patch and its label."""

    def sub(k: int) -> tf.Tensor:
        return tf.stack([seed[0], seed[1] * 16 + k])

    def uniform(k: int, spread: float, shape=()) -> tf.Tensor:
        return tf.random.stateless_uniform(shape, sub(k), 1.0 - spread, 1.0 + spread)

    if aug.flips:
        both = tf.concat([image, label], axis=-1)
        both = tf.image.stateless_random_flip_left_right(both, sub(1))
        both = tf.image.stateless_random_flip_up_down(both, sub(2))
        image, label = both[..., :3], both[..., 3:]
    if aug.rotations:
        k = tf.random.stateless_uniform((), sub(3), 0, 4, dtype=tf.int32)
        image, label = tf.image.rot90(image, k), tf.image.rot90(label, k)
    if aug.colour > 0:
        image = image * uniform(4, aug.colour, (3,))
    if aug.brightness > 0:
        image = image * uniform(5, aug.brightness)
    if aug.contrast > 0:
        mean = tf.reduce_mean(image, axis=(0, 1), keepdims=True)
        image = (image - mean) * uniform(6, aug.contrast) + mean
    image = tf.clip_by_value(image, 0.0, 255.0)
    if aug.gamma > 0:
        image = 255.0 * tf.pow(image / 255.0, uniform(7, aug.gamma))
    return image, label


def patch_dataset(
    samples: Sequence[Sample],
    patch_size: int,
    batch_size: int,
    seed: int,
    augmentation: Augmentation = Augmentation(),
    patches_per_epoch: int = 1024,
    start_epoch: int = 0,
) -> tf.data.Dataset:
    """An endless dataset of random training patches centred on FOV pixels.

    Each patch is centred on a pixel drawn uniformly from all FOV pixels of all images (so larger
    fields of view give more patches) and shifted, where needed, to lie inside its image. Patch
    ``i`` depends only on ``(seed, i)``; the order of the patches of each epoch is shuffled with a
    per-epoch seed, so epoch ``e`` is the same whether training started at 0 or resumed at ``e``.

    Args:
        samples: Training samples (with annotations).
        patch_size: Side of the square patches in pixels.
        batch_size: Patches per batch.
        seed: Seed of every random choice.
        augmentation: Transforms applied to each patch.
        patches_per_epoch: Patches per epoch (a multiple of ``batch_size`` keeps batches aligned).
        start_epoch: First epoch to produce (when resuming).

    Returns:
        Batches of ``(image float32 [B, P, P, 3] in 0-255, label float32 [B, P, P, 1] in {0, 1})``.
    """
    smallest = min(min(s.image.shape[:2]) for s in samples)
    if patch_size > smallest:
        raise ValueError(f"patch size {patch_size} exceeds the smallest image side ({smallest} px)")
    if any(s.vessels is None for s in samples):
        raise ValueError("every training sample needs a manual annotation")
    images, labels, sizes, coords = _stack(samples)
    images_t = tf.constant(images)
    labels_t = tf.constant(labels)
    sizes_t = tf.constant(sizes)
    coords_t = tf.constant(coords)
    count = tf.constant(len(coords), tf.int64)
    half = patch_size // 2

    def make_patch(index: tf.Tensor):
        base = tf.stack([tf.constant(seed, tf.int64), index])
        pick = tf.random.stateless_uniform((), base, 0, count, dtype=tf.int64)
        img, y, x = tf.unstack(tf.gather(coords_t, pick))
        top = tf.clip_by_value(y - half, 0, sizes_t[img, 0] - patch_size)
        left = tf.clip_by_value(x - half, 0, sizes_t[img, 1] - patch_size)
        image = tf.cast(images_t[img, top : top + patch_size, left : left + patch_size], tf.float32)
        label = tf.cast(labels_t[img, top : top + patch_size, left : left + patch_size], tf.float32)
        image, label = _augment(image, label, base, augmentation)
        image = tf.ensure_shape(image, (patch_size, patch_size, 3))
        label = tf.ensure_shape(label, (patch_size, patch_size, 1))
        return image, label

    options = tf.data.Options()
    options.deterministic = True
    per_epoch = tf.constant(patches_per_epoch, tf.int64)

    def epoch_indices(epoch: tf.Tensor) -> tf.data.Dataset:
        indices = tf.data.Dataset.range(epoch * per_epoch, (epoch + 1) * per_epoch)
        return indices.shuffle(patches_per_epoch, seed=seed * 100_003 + epoch)

    return (
        tf.data.Dataset.counter(start_epoch)
        .flat_map(epoch_indices)
        .map(make_patch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
        .with_options(options)
    )


def full_image_dataset(
    samples: Sequence[Sample], multiple: int, batch_size: int = 1
) -> tf.data.Dataset:
    """Whole images zero-padded to a common size, with the FOV as per-pixel sample weight.

    Every image is padded to the largest padded size among ``samples`` (so images of different
    sizes batch together), and the list is completed with zero-weight blank images up to a
    multiple of ``batch_size`` (so each replica of a distribution strategy gets a full share).
    Padding and pixels outside the FOV weigh 0 and do not change any metric.

    Args:
        samples: Samples with annotations (validation images).
        multiple: The model's spatial multiple.
        batch_size: Images per batch (the number of replicas under a strategy).

    Returns:
        Batches of ``(image, label, fov_weight)``, each ``float32 [B, H, W, C]``.
    """
    height, width = padded_size(
        max(s.image.shape[0] for s in samples), max(s.image.shape[1] for s in samples), multiple
    )
    count = -(-len(samples) // batch_size) * batch_size

    def padded(array: np.ndarray) -> np.ndarray:
        out = np.zeros((height, width, array.shape[2]), np.float32)
        out[: array.shape[0], : array.shape[1]] = array
        return out

    def generator():
        for s in samples:
            yield (
                padded(s.image.astype(np.float32)),
                padded(s.vessels[..., None].astype(np.float32)),
                padded(s.fov[..., None].astype(np.float32)),
            )
        blank = np.zeros((height, width, 1), np.float32)
        for _ in range(count - len(samples)):
            yield np.zeros((height, width, 3), np.float32), blank, blank

    spec = (
        tf.TensorSpec((height, width, 3), tf.float32),
        tf.TensorSpec((height, width, 1), tf.float32),
        tf.TensorSpec((height, width, 1), tf.float32),
    )
    return (
        tf.data.Dataset.from_generator(generator, output_signature=spec)
        .apply(tf.data.experimental.assert_cardinality(count))
        .batch(batch_size)
        .cache()
        .prefetch(tf.data.AUTOTUNE)
    )
