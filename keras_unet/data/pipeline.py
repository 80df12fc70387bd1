"""tf.data pipelines: random FOV patches with augmentation for training, full images for validation.

Every random choice uses TensorFlow's *stateless* random ops seeded by ``(seed, element index)``,
so a pipeline yields the same batches for the same seed, whatever the thread count, and a
resumed run continues exactly where the interrupted one stopped (``start_index``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
        colour: Per-channel gain jitter (white balance), factors in ``[1 - c, 1 + c]``.
        scale: Scale jitter: a window ``s`` times the patch side (``s`` log-uniform in
            ``[1 / (1 + scale), 1 + scale]``) is resized to the patch (labels as fractions).
        blur_sharpen: ``image + u * (image - gaussian_blur(image, sigma=1))`` with ``u`` uniform
            in ``[-b, b]``: negative ``u`` blurs (defocus, lower resolution), positive sharpens
            (cameras' edge enhancement).
        noise: Gaussian noise, standard deviation uniform in ``[0, noise]`` grey levels.
        illumination: A linear illumination gradient across the patch in a random direction,
            gain from ``1 - i`` to ``1 + i`` (uneven illumination, vignetting).
        jpeg: Probability of a JPEG round trip at quality 30-95 (compressed archives).
    """

    flips: bool = True
    rotations: bool = True
    brightness: float = 0.1
    contrast: float = 0.1
    gamma: float = 0.1
    colour: float = 0.05
    scale: float = 0.0
    blur_sharpen: float = 0.0
    noise: float = 0.0
    illumination: float = 0.0
    jpeg: float = 0.0

    @classmethod
    def none(cls) -> Augmentation:
        """No augmentation at all."""
        return cls(False, False, 0.0, 0.0, 0.0, 0.0)


#: Augmentation presets by name (``--augmentation``): ``classic`` is the DRIVE-only shipped
#: recipe's; ``camera`` adds what differs between fundus cameras and archives.
AUGMENTATIONS: dict[str, Augmentation] = {
    "none": Augmentation.none(),
    "classic": Augmentation(),
    "camera": Augmentation(
        brightness=0.25,
        contrast=0.25,
        gamma=0.3,
        colour=0.15,
        scale=0.25,
        blur_sharpen=0.8,
        noise=6.0,
        illumination=0.2,
        jpeg=0.3,
    ),
}


def _stack(samples: Sequence[Sample]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack images (zero-padded to a common size), labels, sizes and the FOV pixel table.

    Labels are stored as 0-255 vessel fractions (binary labels become 0 / 255).
    """
    height = max(s.image.shape[0] for s in samples)
    width = max(s.image.shape[1] for s in samples)
    images = np.zeros((len(samples), height, width, 3), np.uint8)
    labels = np.zeros((len(samples), height, width, 1), np.uint8)
    sizes = np.zeros((len(samples), 2), np.int32)
    coords = []
    for i, s in enumerate(samples):
        h, w = s.image.shape[:2]
        images[i, :h, :w] = s.image
        labels[i, :h, :w, 0] = np.round(np.asarray(s.vessels, np.float32) * 255.0)
        sizes[i] = (h, w)
        ys, xs = np.nonzero(s.fov)
        coords.append(np.stack([np.full_like(ys, i), ys, xs], axis=1))
    return images, labels, sizes, np.concatenate(coords).astype(np.int32)


def _gaussian_blur(image: tf.Tensor) -> tf.Tensor:
    """5x5 Gaussian blur (sigma 1 pixel) of an ``(H, W, 3)`` float image, edges reflected."""
    x = tf.range(-2.0, 3.0)
    kernel_1d = tf.exp(-0.5 * x * x)
    kernel_1d = kernel_1d / tf.reduce_sum(kernel_1d)
    kernel = tf.tensordot(kernel_1d, kernel_1d, axes=0)[:, :, None, None]
    kernel = tf.tile(kernel, [1, 1, 3, 1])
    padded = tf.pad(image[None], [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")
    return tf.nn.depthwise_conv2d(padded, kernel, [1, 1, 1, 1], "VALID")[0]


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
    if aug.blur_sharpen > 0:
        amount = tf.random.stateless_uniform((), sub(8), -aug.blur_sharpen, aug.blur_sharpen)
        image = image + amount * (image - _gaussian_blur(image))
    if aug.illumination > 0:
        size = tf.shape(image)[0]
        ramp = tf.linspace(-1.0, 1.0, size)
        angle = tf.random.stateless_uniform((), sub(9), 0.0, 6.2832)
        gain = tf.random.stateless_uniform((), sub(10), -aug.illumination, aug.illumination)
        field = tf.cos(angle) * ramp[None, :] + tf.sin(angle) * ramp[:, None]
        image = image * (1.0 + gain * field)[..., None]
    if aug.noise > 0:
        sigma = tf.random.stateless_uniform((), sub(11), 0.0, aug.noise)
        image = image + sigma * tf.random.stateless_normal(tf.shape(image), sub(12))
    image = tf.clip_by_value(image, 0.0, 255.0)
    if aug.jpeg > 0:
        use = tf.random.stateless_uniform((), sub(13)) < aug.jpeg
        image = tf.cond(
            use,
            lambda: tf.cast(
                tf.image.stateless_random_jpeg_quality(
                    tf.cast(tf.round(image), tf.uint8), 30, 95, sub(14)
                ),
                tf.float32,
            ),
            lambda: image,
        )
    return image, label


def patch_dataset(
    samples: Sequence[Sample] | Mapping[str, Sequence[Sample]],
    patch_size: int,
    batch_size: int,
    seed: int,
    augmentation: Augmentation = Augmentation(),
    patches_per_epoch: int = 1024,
    start_epoch: int = 0,
    weights: Mapping[str, float] | None = None,
) -> tf.data.Dataset:
    """An endless dataset of random training patches centred on FOV pixels, mixed over data sets.

    Within a set, each patch is centred on a pixel drawn uniformly from all FOV pixels of all its
    images (so larger fields of view give more patches) and shifted, where needed, to lie inside
    its image. Several sets are mixed with ``tf.data.Dataset.sample_from_datasets`` in the stated
    ``weights``, whatever their sizes. Patch ``i`` of set ``k`` depends only on
    ``(seed, k, i)`` and each epoch's order on ``(seed, epoch)``, so epoch ``e`` is the same
    whether training started at 0 or resumed at ``e``.

    Args:
        samples: Training samples with annotations (binary, or vessel fractions in [0, 1]), as
            one sequence or a mapping from set name to samples.
        patch_size: Side of the square patches in pixels.
        batch_size: Patches per batch.
        seed: Seed of every random choice.
        augmentation: Transforms applied to each patch.
        patches_per_epoch: Patches per epoch (a multiple of ``batch_size`` keeps batches aligned).
        start_epoch: First epoch to produce (when resuming).
        weights: Share of the patches drawn from each set (normalised; default: equal).

    Returns:
        Batches of ``(image float32 [B, P, P, 3] in 0-255, label float32 [B, P, P, 1] in [0, 1])``.
    """
    groups = dict(samples) if isinstance(samples, Mapping) else {"": list(samples)}
    names = list(groups)
    flat = [s for name in names for s in groups[name]]
    if not flat or any(not groups[name] for name in names):
        raise ValueError("every data set needs at least one training sample")
    share = [float((weights or {}).get(name, 1.0)) for name in names]
    if any(w < 0 for w in share) or sum(share) <= 0:
        raise ValueError(f"set weights must be >= 0 with a positive sum, got {share}")
    smallest = min(min(s.image.shape[:2]) for s in flat)
    largest_window = round(patch_size * (1.0 + augmentation.scale))
    if patch_size > smallest:
        raise ValueError(f"patch size {patch_size} exceeds the smallest image side ({smallest} px)")
    if any(s.vessels is None for s in flat):
        raise ValueError("every training sample needs a manual annotation")
    images, labels, sizes, coords = _stack(flat)
    set_of_image = np.repeat(np.arange(len(names)), [len(groups[n]) for n in names])
    order = np.argsort(set_of_image[coords[:, 0]], kind="stable")
    coords = coords[order]
    counts = np.bincount(set_of_image[coords[:, 0]], minlength=len(names)).astype(np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    images_t = tf.constant(images)
    labels_t = tf.constant(labels)
    sizes_t = tf.constant(sizes)
    coords_t = tf.constant(coords)
    counts_t = tf.constant(counts)
    starts_t = tf.constant(starts)
    log_scale = float(np.log1p(augmentation.scale))
    max_window = min(largest_window, smallest)

    def make_patch(set_index: tf.Tensor, index: tf.Tensor):
        base = tf.stack([tf.constant(seed, tf.int64) + set_index * 1_000_003, index])
        pick = starts_t[set_index] + tf.random.stateless_uniform(
            (), base, 0, counts_t[set_index], dtype=tf.int64
        )
        img, y, x = tf.unstack(tf.gather(coords_t, pick))
        if log_scale > 0:
            factor = tf.exp(
                tf.random.stateless_uniform(
                    (), base + tf.constant([0, 7], tf.int64), -log_scale, log_scale
                )
            )
            window = tf.cast(tf.round(patch_size * factor), tf.int32)
            window = tf.clip_by_value(window, 8, max_window)
        else:
            window = tf.constant(patch_size, tf.int32)
        top = tf.clip_by_value(y - window // 2, 0, sizes_t[img, 0] - window)
        left = tf.clip_by_value(x - window // 2, 0, sizes_t[img, 1] - window)
        image = tf.cast(images_t[img, top : top + window, left : left + window], tf.float32)
        label = tf.cast(labels_t[img, top : top + window, left : left + window], tf.float32)
        label = label / 255.0
        if log_scale > 0:
            image = tf.image.resize(image, (patch_size, patch_size), antialias=True)
            label = tf.image.resize(label, (patch_size, patch_size), antialias=True)
            label = tf.clip_by_value(label, 0.0, 1.0)
        image, label = _augment(image, label, base, augmentation)
        image = tf.ensure_shape(image, (patch_size, patch_size, 3))
        label = tf.ensure_shape(label, (patch_size, patch_size, 1))
        return image, label

    options = tf.data.Options()
    options.deterministic = True
    per_epoch = tf.constant(patches_per_epoch, tf.int64)

    def set_indices(epoch: tf.Tensor, k: int) -> tf.data.Dataset:
        indices = tf.data.Dataset.range(epoch * per_epoch, (epoch + 1) * per_epoch)
        return indices.map(lambda i: (tf.constant(k, tf.int64), i))

    def epoch_indices(epoch: tf.Tensor) -> tf.data.Dataset:
        if len(names) == 1:
            return set_indices(epoch, 0).shuffle(patches_per_epoch, seed=seed * 100_003 + epoch)
        mixed = tf.data.Dataset.sample_from_datasets(
            [set_indices(epoch, k) for k in range(len(names))],
            weights=[w / sum(share) for w in share],
            seed=seed * 100_003 + epoch,
            stop_on_empty_dataset=True,
        )
        return mixed.take(per_epoch)

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
                padded((np.asarray(s.vessels, np.float32) >= 0.5)[..., None].astype(np.float32)),
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
