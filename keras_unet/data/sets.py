"""Training samples of several data sets, each brought to the working scale.

:func:`load_split` reads one split of each named set (:mod:`runtime.datasets`), checks every
file before training starts, and resamples each photograph so that its FOV is the model's
working diameter (:mod:`runtime.scaling`): images by area averaging, labels as vessel fractions
(``label_resampling="area"``, the default) or thresholded back to binary (``"binary"``), FOV
masks thresholded at one half.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from runtime.datasets import Sample, load_sample, split_samples
from runtime.preparation import prepare
from runtime.scaling import resize_fraction, resize_image, resize_mask, working_scale

#: How labels are resampled to the working scale (``--label-resampling``).
LABEL_RESAMPLING: tuple[str, ...] = ("area", "binary")


def at_working_scale(
    sample: Sample, diameter: float, labels: str = "area", preparation: str = "none"
) -> Sample:
    """``sample`` resampled so its FOV is ``diameter`` pixels across (see module docstring).

    Args:
        sample: A loaded sample with its FOV mask.
        diameter: The working FOV diameter.
        labels: ``area`` (vessel fractions, float32) or ``binary`` (fractions >= 0.5).
        preparation: Input preparation (:data:`runtime.preparation.PREPARATIONS`) applied to
            the image after resampling, as the engine does.

    Returns:
        A new sample; ``vessels`` is float32 in [0, 1] for ``area``, bool for ``binary``.
    """
    scale = working_scale(sample.fov, diameter)
    vessels = second = None
    if sample.vessels is not None:
        vessels = (
            resize_fraction(sample.vessels, scale)
            if labels == "area"
            else resize_mask(sample.vessels, scale)
        )
    if sample.second_observer is not None:
        second = resize_mask(sample.second_observer, scale)
    fov = resize_mask(sample.fov, scale)
    return Sample(
        sample.sample_id,
        prepare(resize_image(sample.image, scale), fov, preparation),
        vessels,
        fov,
        second,
        sample.path,
    )


def load_split(
    root: str | Path,
    names: Sequence[str],
    split: str,
    diameter: float,
    labels: str = "area",
    preparation: str = "none",
    *,
    limit: int | None = None,
    validation_images: int | None = None,
    seed: int | None = None,
) -> dict[str, list[Sample]]:
    """One split of each named set, at the working scale.

    All files are found and read before anything is returned, so a missing set, an image
    without label or mask, or a label of another size stops training before it starts
    (:class:`runtime.errors.DatasetError` / :class:`runtime.errors.ImageReadError`, naming
    the file).

    Args:
        root: The data root.
        names: Data set names (:data:`runtime.datasets.DATASETS`).
        split: ``train`` or ``validation``.
        diameter: Working FOV diameter.
        labels: See :func:`at_working_scale`.
        preparation: See :func:`at_working_scale`.
        limit: Use only the first ``limit`` images of each set (quick experiments).
        validation_images: Passed to :func:`runtime.datasets.split_samples`.
        seed: Passed to :func:`runtime.datasets.split_samples`.

    Returns:
        ``{set name: [samples]}`` in the order of ``names`` (sets without images left out).
    """
    paths = {
        name: split_samples(root, name, split, validation_images=validation_images, seed=seed)
        for name in names
    }
    out: dict[str, list[Sample]] = {}
    for name, items in paths.items():
        items = items[:limit] if limit else items
        loaded = [at_working_scale(load_sample(p), diameter, labels, preparation) for p in items]
        if loaded:
            out[name] = loaded
    return out


def binary_labels(sample: Sample) -> np.ndarray:
    """The sample's vessels as a bool mask (fractions >= 0.5)."""
    return np.asarray(sample.vessels, np.float32) >= 0.5
