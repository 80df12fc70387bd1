"""Latency measurement shared by the comparison table and the benchmark."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def measure_latency(fn: Callable[[], object], warmup: int = 2, repeats: int = 10) -> dict:
    """Call ``fn`` ``warmup`` times untimed, then ``repeats`` times timed.

    Args:
        fn: The work to time (one inference, say).
        warmup: Untimed calls first (graph building, allocator, caches).
        repeats: Timed calls.

    Returns:
        ``{"p50_ms", "p95_ms", "mean_ms", "min_ms", "repeats"}``.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    values = np.asarray(times)
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p95_ms": float(np.percentile(values, 95)),
        "mean_ms": float(values.mean()),
        "min_ms": float(values.min()),
        "repeats": repeats,
    }
