"""Vessel measurements clinicians read off a binary vessel map, in pixels.

Everything is computed on the vessel mask restricted to the field of view (FOV); scale to
micrometres by the camera's pixel size if needed (DRIVE: about 540 px across a 45° FOV).

Definitions (pure NumPy/SciPy/scikit-image, no deep-learning runtime):

* **Vessel density**: vessel pixels inside the FOV divided by FOV pixels.
* **Skeleton**: :func:`skimage.morphology.skeletonize` of the mask. Its pixels are the nodes of a
  graph whose edges join 8-connected neighbours: an orthogonal step weighs 1 and a diagonal step
  weighs sqrt(2). A diagonal step is *not* an edge when one of the two pixels it cuts across is
  also on the skeleton (the path already turns that corner through two orthogonal steps), so a
  staircase corner is neither counted twice in the length nor mistaken for a junction.
  A straight horizontal line of ``n`` pixels has length ``n - 1``, a diagonal one
  ``(n - 1) * sqrt(2)``.
* **Skeleton length**: the sum of the edge weights.
* **Mean vessel width**: vessel area / skeleton length (a tube of width ``w`` and length ``L``
  covers ``w * L`` pixels).
* **Fractal dimension**: box counting on the mask, cropped to its bounding box so the result
  does not depend on where the vessels sit on the box grid. Box sizes are the powers of two
  from 2 up to a quarter of the image's shorter side, and at most a quarter of the bounding
  box's longer side (2 ... 128 on a 584x565 DRIVE image); boxes cut by the bounding box's edge
  count by the share of them inside it (see :func:`fractal_dimension`). The dimension is the
  least-squares slope of ``log(count)`` against ``log(1 / size)``.
* **Branch points**: skeleton pixels with at least 3 graph neighbours; adjacent branch pixels
  (8-connected) are merged so one junction counts once.
* **Tortuosity**: removing the branch pixels splits the skeleton graph into segments that run
  between junctions and end points. For each open segment of at least ``min_segment_pixels``
  pixels, tortuosity is arc length / chord, the chord being the straight distance between the
  segment's two end points. The arc length is measured along a polyline through every
  :data:`ARC_STEP`-th pixel of the segment (and its last one), which follows the curve but not
  the pixel staircase: the 1/sqrt(2) chain length of a digital line at 22.5° is 8% longer than
  the line, which would make straight oblique vessels look tortuous. The reported value is the
  mean weighted by arc length, so long vessels count for more than short segments whose ratio
  is dominated by pixel noise. Closed loops have no end points and are left out.

Undefined values are ``nan``: the density of an empty FOV; the width of a mask whose skeleton
has no length (empty, or isolated dots); the tortuosity when no segment is long enough; the
fractal dimension of an empty mask, or when fewer than two box sizes fit (the image's shorter
side or the vessels' extent under 16 pixels). Counts and lengths of an empty mask are 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components
from skimage.morphology import skeletonize

#: Pixels between the vertices of the polyline that measures a segment's arc length.
ARC_STEP = 5
#: Default shortest segment (in skeleton pixels) whose tortuosity is measured.
MIN_SEGMENT_PIXELS = 10
#: Largest box size for the fractal dimension, as a fraction of the image's shorter side.
MAX_BOX_FRACTION = 0.25

_SQRT2 = math.sqrt(2.0)
_EIGHT_CONNECTED = np.ones((3, 3), dtype=bool)


@dataclass(frozen=True)
class VesselMeasurements:
    """Vessel measurements of one image, in pixels (see the module docstring for definitions)."""

    fov_pixels: int
    vessel_pixels: int
    vessel_density: float
    skeleton_pixels: int
    skeleton_length: float
    mean_width: float
    fractal_dimension: float
    tortuosity: float
    tortuosity_segments: int
    branch_points: int

    def as_dict(self) -> dict[str, float | int]:
        """Flatten to a JSON-friendly dict (``nan`` stays ``nan``)."""
        return asdict(self)


@dataclass(frozen=True)
class Measurement:
    """How one measurement is named, shown and stored.

    Attributes:
        key: Field of :class:`VesselMeasurements` (and CSV column).
        label: Name in the side panel, the batch table and reports.
        unit: Unit shown after the value (``""``: none).
        digits: Decimals shown and kept in the CSV.
        description: What it is (tooltips, docs).
        factor: Multiplier from the stored value to the shown one (density: 100, in %).
        short: Column title in narrow tables.
    """

    key: str
    label: str
    unit: str
    digits: int
    description: str
    factor: float = 1.0
    short: str = ""

    def text(self, value: Any) -> str:
        """The value with its unit, as panels and tables show it (``–`` when undefined)."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        number = f"{float(value) * self.factor:,.{self.digits}f}"
        return f"{number} {self.unit}" if self.unit else number

    def rounded(self, value: Any) -> Any:
        """The value rounded to the digits that mean something (for the CSV)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if isinstance(value, float) and math.isnan(value):
            return value
        return round(float(value), self.digits + (2 if self.factor != 1.0 else 0))


#: The measurements users see, in order: the side panel, the batch table (``short`` titles)
#: and the rounding of the CSV all read this table. Add a measurement here and to
#: :class:`VesselMeasurements` / :func:`measure`.
MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "vessel_density", "Vessel density", "%", 2, "Vessel pixels / FOV pixels", 100.0, "Density"
    ),
    Measurement(
        "skeleton_length",
        "Skeleton length",
        "px",
        0,
        "Total length of the vessel centre lines, in pixels",
        short="Length",
    ),
    Measurement(
        "mean_width",
        "Mean width",
        "px",
        2,
        "Vessel area / skeleton length, in pixels",
        short="Width",
    ),
    Measurement(
        "fractal_dimension", "Fractal dimension", "", 3, "Box-counting dimension of the vessel mask"
    ),
    Measurement(
        "tortuosity",
        "Tortuosity",
        "",
        3,
        "Arc length / chord of the vessel segments between junctions (length-weighted mean)",
    ),
    Measurement("branch_points", "Branch points", "", 0, "Junctions of the vessel centre lines"),
)
MEASUREMENT_BY_KEY: dict[str, Measurement] = {m.key: m for m in MEASUREMENTS}


def rounded_row(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every measurement of :data:`MEASUREMENTS` rounded for a table file."""
    return {
        key: MEASUREMENT_BY_KEY[key].rounded(value) if key in MEASUREMENT_BY_KEY else value
        for key, value in values.items()
    }


def _as_binary(array: np.ndarray, name: str) -> np.ndarray:
    """Validate a 2-D binary image and return it as bool (non-zero integers count as set)."""
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} has no pixels (shape {array.shape})")
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer):
        return array != 0
    if np.issubdtype(array.dtype, np.floating):
        if not np.isin(array, (0.0, 1.0)).all():
            low, high = np.nanmin(array), np.nanmax(array)
            raise ValueError(
                f"{name} must be binary (bool or 0/1), got floats in [{low:g}, {high:g}]; "
                "threshold probabilities first"
            )
        return array != 0
    raise ValueError(f"{name} must be a boolean or numeric array, got dtype {array.dtype}")


def skeleton_graph(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges between neighbouring skeleton pixels.

    Pixels are numbered in row-major order of ``np.nonzero(skeleton)``. Diagonal neighbours are
    joined only when neither pixel their step cuts across is on the skeleton.

    Args:
        skeleton: ``(H, W)`` bool skeleton.

    Returns:
        ``(first, second, weight)``: node numbers of each edge's ends and its length (1 or
        sqrt(2)).
    """
    s = skeleton
    index = np.full(s.shape, -1, dtype=np.int64)
    index[s] = np.arange(np.count_nonzero(s))
    firsts, seconds, weights = [], [], []

    def add(pairs: np.ndarray, first: np.ndarray, second: np.ndarray, weight: float) -> None:
        firsts.append(first[pairs])
        seconds.append(second[pairs])
        weights.append(np.full(np.count_nonzero(pairs), weight))

    add(s[:, :-1] & s[:, 1:], index[:, :-1], index[:, 1:], 1.0)  # right
    add(s[:-1, :] & s[1:, :], index[:-1, :], index[1:, :], 1.0)  # down
    down_right = s[:-1, :-1] & s[1:, 1:] & ~s[:-1, 1:] & ~s[1:, :-1]
    add(down_right, index[:-1, :-1], index[1:, 1:], _SQRT2)
    down_left = s[:-1, 1:] & s[1:, :-1] & ~s[:-1, :-1] & ~s[1:, 1:]
    add(down_left, index[:-1, 1:], index[1:, :-1], _SQRT2)
    return np.concatenate(firsts), np.concatenate(seconds), np.concatenate(weights)


def _window_weights(extent: int, boxes: int, size: int) -> np.ndarray:
    """Share of each box (along one axis) that lies inside a window of ``extent`` pixels."""
    if extent <= size:  # The whole window fits in one box: that box counts fully.
        return np.ones(boxes)
    return np.clip(extent - size * np.arange(boxes), 0, size) / size


def fractal_dimension(mask: np.ndarray, max_box_fraction: float = MAX_BOX_FRACTION) -> float:
    """Box-counting (Minkowski-Bouligand) dimension of a binary mask.

    The mask is cropped to its bounding box and tiled from its top-left corner with boxes of
    side 2, 4, 8, ... up to ``max_box_fraction`` of the image's shorter side and of the bounding
    box's longer side (whichever is smaller). A box cut by the bounding box's bottom or right
    edge counts by the share of it inside, so that a filled rectangle or an axis-parallel line of
    any size gets exactly 2 or 1 instead of being inflated by the half-empty boxes at its ends.

    Args:
        mask: ``(H, W)`` binary mask.
        max_box_fraction: Largest box side as a fraction of the image's shorter side.

    Returns:
        The least-squares slope of ``log(count)`` against ``log(1 / size)``; ``nan`` for an
        empty mask or when fewer than two box sizes fit.
    """
    mask = _as_binary(mask, "mask")
    if not mask.any():
        return math.nan
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    largest = max_box_fraction * min(min(mask.shape), max(crop.shape))
    top_exponent = math.floor(math.log2(largest)) if largest >= 1 else 0
    if top_exponent < 2:
        return math.nan
    exponents = np.arange(1, top_exponent + 1)
    top = 2**top_exponent
    occupied = np.pad(crop, [(0, -crop.shape[0] % top), (0, -crop.shape[1] % top)])
    counts = []
    for exponent in exponents:  # Each pass merges 2x2 boxes: sizes 2, 4, 8, ...
        h, w = occupied.shape
        occupied = occupied.reshape(h // 2, 2, w // 2, 2).any(axis=(1, 3))
        size = 2 ** int(exponent)
        row_weights = _window_weights(crop.shape[0], occupied.shape[0], size)
        col_weights = _window_weights(crop.shape[1], occupied.shape[1], size)
        counts.append(float(row_weights @ occupied.astype(np.float64) @ col_weights))
    sizes = 2.0**exponents
    return float(np.polyfit(np.log(1.0 / sizes), np.log(counts), 1)[0])


def _count_junctions(skeleton: np.ndarray, branch: np.ndarray) -> int:
    """Number of 8-connected clusters of branch pixels (``branch`` flags skeleton nodes)."""
    image = np.zeros(skeleton.shape, dtype=bool)
    rows, cols = np.nonzero(skeleton)
    image[rows[branch], cols[branch]] = True
    return int(ndimage.label(image, structure=_EIGHT_CONNECTED)[1])


def _polyline_length(points: np.ndarray, step: int) -> float:
    """Length of the polyline through every ``step``-th point of an ordered path and its last."""
    keep = np.arange(0, len(points), step)
    if keep[-1] != len(points) - 1:
        keep = np.append(keep, len(points) - 1)
    return float(np.hypot(*np.diff(points[keep], axis=0).T).sum())


def _segment_arcs_and_chords(
    skeleton: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    branch: np.ndarray,
    min_segment_pixels: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Arc length and chord of each open segment left when the branch pixels are removed."""
    n = len(branch)
    keep = ~branch[first] & ~branch[second]
    first, second = first[keep], second[keep]
    graph = coo_matrix((np.ones(len(first), dtype=np.int8), (first, second)), shape=(n, n))
    graph = graph.tocsr()
    _, labels = connected_components(graph, directed=False)
    labels[branch] = -1
    sizes = np.bincount(labels[labels >= 0], minlength=int(labels.max(initial=0)) + 1)
    degree = np.bincount(np.concatenate([first, second]), minlength=n)
    ends = np.flatnonzero((degree == 1) & ~branch)
    ends = ends[sizes[labels[ends]] >= min_segment_pixels]
    start_of: dict[int, int] = {}
    for node in ends:  # One end per segment starts the walk; closed loops have no ends.
        start_of.setdefault(int(labels[node]), int(node))
    points = np.argwhere(skeleton).astype(np.float64)  # Same order as the node numbers.
    starts = list(start_of.values())
    # One walk for all segments: from an extra node joined to one end of each, a breadth-first
    # order visits every segment's pixels in order along the vessel (every node of a segment
    # has at most two neighbours, and segments do not touch). One traversal instead of one per
    # segment: each call of breadth_first_order re-validates the whole graph.
    root = np.full(len(starts), n)
    joined = coo_matrix(
        (
            np.ones(len(first) + len(starts), dtype=np.float64),
            (np.concatenate([first, root]), np.concatenate([second, starts])),
        ),
        shape=(n + 1, n + 1),
    ).tocsr()
    order = breadth_first_order(joined, n, directed=False, return_predecessors=False)[1:]
    order = order[np.argsort(labels[order], kind="stable")]
    bounds = np.searchsorted(labels[order], labels[starts])
    arcs, chords = [], []
    for start, begin in zip(starts, bounds, strict=True):
        path = points[order[begin : begin + sizes[labels[start]]]]
        chord = float(np.hypot(*(path[-1] - path[0])))
        if chord > 0:
            arcs.append(_polyline_length(path, ARC_STEP))
            chords.append(chord)
    return np.asarray(arcs, dtype=np.float64), np.asarray(chords, dtype=np.float64)


def measure(
    mask: np.ndarray,
    fov: np.ndarray | None = None,
    *,
    min_segment_pixels: int = MIN_SEGMENT_PIXELS,
) -> VesselMeasurements:
    """Measure a binary vessel map inside a field of view.

    Args:
        mask: ``(H, W)`` vessel mask: bool, integers (non-zero is vessel) or 0/1 floats.
        fov: ``(H, W)`` field-of-view mask of the same kinds; ``None`` uses the whole image.
            The vessel mask is restricted to it before anything is measured.
        min_segment_pixels: Shortest skeleton segment (in pixels) whose tortuosity is measured.

    Returns:
        The measurements, in pixels (definitions in the module docstring).

    Raises:
        ValueError: An input is not 2-D, has no pixels or is not binary, the shapes differ, or
            ``min_segment_pixels`` is below 2.
    """
    mask = _as_binary(mask, "mask")
    if fov is None:
        fov = np.ones(mask.shape, dtype=bool)
    else:
        fov = _as_binary(fov, "fov")
        if fov.shape != mask.shape:
            raise ValueError(f"mask has shape {mask.shape} but fov has shape {fov.shape}")
    if min_segment_pixels < 2:
        raise ValueError(f"min_segment_pixels must be at least 2, got {min_segment_pixels}")
    vessels = mask & fov
    fov_pixels = int(np.count_nonzero(fov))
    vessel_pixels = int(np.count_nonzero(vessels))
    skeleton = skeletonize(vessels) if vessel_pixels else np.zeros(mask.shape, dtype=bool)
    first, second, weight = skeleton_graph(skeleton)
    skeleton_pixels = int(np.count_nonzero(skeleton))
    branch = np.bincount(np.concatenate([first, second]), minlength=skeleton_pixels) >= 3
    length = float(weight.sum())
    arcs, chords = _segment_arcs_and_chords(skeleton, first, second, branch, min_segment_pixels)
    return VesselMeasurements(
        fov_pixels=fov_pixels,
        vessel_pixels=vessel_pixels,
        vessel_density=vessel_pixels / fov_pixels if fov_pixels else math.nan,
        skeleton_pixels=skeleton_pixels,
        skeleton_length=length,
        mean_width=vessel_pixels / length if length > 0 else math.nan,
        fractal_dimension=fractal_dimension(vessels),
        tortuosity=float(np.sum(arcs * arcs / chords) / arcs.sum()) if len(arcs) else math.nan,
        tortuosity_segments=len(arcs),
        branch_points=_count_junctions(skeleton, branch),
    )
