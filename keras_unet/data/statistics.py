"""Statistics of the training pixels that the model's in-graph normalisation is built from."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from runtime.datasets import Sample


def channel_statistics(samples: Sequence[Sample]) -> tuple[list[float], list[float]]:
    """Per-channel mean and standard deviation of the RGB pixels inside the FOV (0-255 scale).

    Args:
        samples: Loaded samples.

    Returns:
        ``(mean, std)``, three floats each.
    """
    pixels = np.concatenate([s.image[s.fov].astype(np.float64) for s in samples], axis=0)
    mean = pixels.mean(axis=0)
    std = pixels.std(axis=0)
    return [round(float(v), 4) for v in mean], [round(float(max(v, 1e-3)), 4) for v in std]
