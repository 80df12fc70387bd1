"""The tortuosity's single walk over all skeleton segments equals one walk per segment."""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components

from runtime.imageio import read_binary
from runtime.measurements import (
    ARC_STEP,
    MIN_SEGMENT_PIXELS,
    _polyline_length,
    _segment_arcs_and_chords,
    _skeleton,
)
from tests.conftest import DRIVE


def _one_walk_per_segment(skeleton, first, second, branch, min_pixels):
    """The reference: a breadth-first walk from one end of every open segment."""
    n = len(branch)
    keep = ~branch[first] & ~branch[second]
    first, second = first[keep], second[keep]
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(n, n)).tocsr()
    _, labels = connected_components(graph, directed=False)
    labels[branch] = -1
    sizes = np.bincount(labels[labels >= 0], minlength=int(labels.max(initial=0)) + 1)
    degree = np.bincount(np.concatenate([first, second]), minlength=n)
    ends = np.flatnonzero((degree == 1) & ~branch)
    starts: dict[int, int] = {}
    for node in ends[sizes[labels[ends]] >= min_pixels]:
        starts.setdefault(int(labels[node]), int(node))
    points = np.argwhere(skeleton).astype(np.float64)
    arcs, chords = [], []
    for start in starts.values():
        path = points[breadth_first_order(graph, start, directed=False)[0]]
        chord = float(np.hypot(*(path[-1] - path[0])))
        if chord > 0:
            arcs.append(_polyline_length(path, ARC_STEP))
            chords.append(chord)
    return np.asarray(arcs), np.asarray(chords)


def test_single_walk_matches_one_walk_per_segment_on_a_real_vessel_tree():
    mask = read_binary(DRIVE / "test" / "1st_manual" / "01_manual1.gif")
    skeleton = _skeleton(mask)
    arcs, chords = _segment_arcs_and_chords(skeleton, MIN_SEGMENT_PIXELS)
    want_arcs, want_chords = _one_walk_per_segment(
        skeleton.image, skeleton.first, skeleton.second, skeleton.branch, MIN_SEGMENT_PIXELS
    )
    assert len(arcs) > 100
    np.testing.assert_array_equal(arcs, want_arcs)
    np.testing.assert_array_equal(chords, want_chords)
