"""Vessel measurements clinicians read off a binary vessel map.

Everything is computed on the vessel mask restricted to the field of view (FOV). :func:`measure`
works in the pixels of the map it is given; what users see (:func:`measure_map`) is measured at
one scale (the map resampled so the FOV is :data:`~runtime.constants.MEASUREMENT_FOV_DIAMETER`
pixels across, :func:`measure_at_measurement_scale`), so it depends on neither the camera's pixel
count nor the scale the model works at, and then given units by a :class:`runtime.units.Scale`
(:func:`shown_values`): density in %, lengths in mm, widths in µm (45° field of view by default),
or FOV-relative units.

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
* **Branch points**: junctions of the skeleton, counted so that pixel noise does not make or
  unmake them. Skeleton pixels with at least 3 graph neighbours are branch pixels; adjacent
  ones (8-connected) form one junction. Removing the branch pixels leaves the segments; a
  segment with one end on a junction and the other free, shorter than ``min_spur_pixels``, is a
  *spur* (a bump of the vessel's edge, not a vessel) and does not count as an arm; junctions
  joined by a segment shorter than ``junction_merge_pixels`` are one junction (two vessels that
  cross or nearly touch, which thinning splits into two close T's depending on the pixel grid).
  A junction counts when it keeps at least 3 arms. Thinning scans the pixel grid in a fixed
  order, so the same vessels turned by 90° or mirrored can thin into one junction more or less;
  the count is therefore the mean over the eight turns and mirrors of the mask
  (:data:`runtime.symmetry.GRID_SYMMETRIES`), which is the same number for every orientation of
  the photograph (a fraction of a junction; shown rounded).
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
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import numpy as np
from scipy import ndimage
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import breadth_first_order, connected_components
from skimage.morphology import skeletonize

from runtime.constants import MEASURE_RESCALE_TOLERANCE, MEASUREMENT_FOV_DIAMETER
from runtime.symmetry import GRID_SYMMETRIES
from runtime.units import UNITS, Scale

#: Pixels between the vertices of the polyline that measures a segment's arc length.
ARC_STEP = 5
#: Default shortest segment (in skeleton pixels) whose tortuosity is measured.
MIN_SEGMENT_PIXELS = 10
#: Default length (skeleton pixels) under which a free-ended side branch is a spur, not an arm
#: of a junction, and under which a segment between two junctions merges them into one: 5
#: pixels at the 539 px measurement scale, about 120 µm, half the widest vessels' width. Chosen on
#: the shipped model's maps of DRIVE test 01-08 as they are, enlarged 2x and turned 90°
#: (largest change of the count 14.5 % / 6.3 % without pruning or merging, 10.0 % / 4.4 % with
#: 5 and 5; longer spurs and merges removed more real junctions than unstable ones).
MIN_SPUR_PIXELS = 5
JUNCTION_MERGE_PIXELS = 5
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
    branch_points: float

    def as_dict(self) -> dict[str, float | int]:
        """Flatten to a JSON-friendly dict (``nan`` stays ``nan``)."""
        return asdict(self)


@dataclass(frozen=True)
class Measurement:
    """How one measurement is named, shown and stored.

    Attributes:
        key: Field of :class:`VesselMeasurements` (and the JSON key; the CSV column adds the
            unit, see :meth:`column`).
        label: Name in the side panel and reports.
        digits: Decimals shown and kept in the CSV (in the unit shown).
        description: What it is (tooltips, docs).
        dimension: ``"length"`` or ``"width"`` (units from the scale, :data:`runtime.units.UNITS`),
            ``"fraction"`` (shown in %), or ``""`` (a pure number or a count).
        short: Column title in narrow tables.
        relative_digits: Decimals in FOV-relative units (``None``: ``digits``).
    """

    key: str
    label: str
    digits: int
    description: str
    dimension: str = ""
    short: str = ""
    relative_digits: int | None = None

    def unit(self, scale: Scale) -> str:
        """The unit shown after the value with ``scale`` (``""`` for pure numbers)."""
        if self.dimension == "fraction":
            return "%"
        if self.dimension in UNITS:
            return scale.unit(self.dimension).symbol
        return ""

    def column(self, scale: Scale) -> str:
        """The CSV column name: the key and the unit's ASCII form (``mean_width_um``)."""
        if self.dimension == "fraction":
            return f"{self.key}_pct"
        if self.dimension in UNITS:
            return f"{self.key}_{scale.unit(self.dimension).slug}"
        return self.key

    def title(self, scale: Scale, short: bool = False) -> str:
        """Label with its unit for headers and panel rows (``Mean width (µm)``)."""
        unit = self.unit(scale)
        name = self.short if short and self.short else self.label
        return f"{name} ({unit})" if unit else name

    def decimals(self, scale: Scale) -> int:
        """Decimals that mean something in the unit shown with ``scale``."""
        if self.dimension in UNITS and not scale.physical and self.relative_digits is not None:
            return self.relative_digits
        return self.digits

    def text(self, value: Any, scale: Scale | None = None) -> str:
        """A shown value (see :func:`shown_values`) with its unit; ``–`` when undefined."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        scale = scale or Scale()
        number = f"{float(value):,.{self.decimals(scale)}f}"
        unit = self.unit(scale)
        return f"{number} {unit}" if unit else number

    def rounded(self, value: Any, scale: Scale | None = None) -> Any:
        """A shown value rounded to the digits that mean something (for the CSV)."""
        if isinstance(value, bool) or not isinstance(value, int | float):
            return value
        if isinstance(value, float) and math.isnan(value):
            return value
        if not self.dimension and not self.digits:
            return round(value)
        return round(float(value), self.decimals(scale or Scale()))


#: The measurements users see, in order: the side panel, the batch table (``short`` titles),
#: the CSV (columns, units, rounding) and the reports all read this table. Add a measurement
#: here and to :class:`VesselMeasurements` / :func:`measure`.
MEASUREMENTS: tuple[Measurement, ...] = (
    Measurement(
        "vessel_density",
        "Vessel density",
        1,
        "Vessel area / FOV area, in percent",
        "fraction",
        "Density",
    ),
    Measurement(
        "skeleton_length",
        "Vessel length",
        1,
        "Total length of the vessel centre lines inside the FOV",
        "length",
        "Length",
        relative_digits=2,
    ),
    Measurement(
        "mean_width",
        "Mean width",
        1,
        "Vessel area / vessel length (mean calibre)",
        "width",
        "Width",
        relative_digits=2,
    ),
    Measurement(
        "fractal_dimension",
        "Fractal dimension",
        3,
        "Box-counting dimension of the vessel map at the measurement scale",
    ),
    Measurement(
        "tortuosity",
        "Tortuosity",
        3,
        "Arc length / chord of the vessel segments between junctions (length-weighted mean)",
    ),
    Measurement("branch_points", "Branch points", 0, "Junctions of the vessel centre lines"),
)
MEASUREMENT_BY_KEY: dict[str, Measurement] = {m.key: m for m in MEASUREMENTS}


def shown_values(
    measured: VesselMeasurements, scale: Scale, diameter: float, factor: float
) -> dict[str, float | int]:
    """The values of :data:`MEASUREMENTS` in the units shown, rounded as the CSV keeps them.

    Args:
        measured: Measured at the measurement scale (:func:`measure_at_measurement_scale`).
        scale: How lengths and widths get units.
        diameter: The FOV diameter it was measured at, in pixels.
        factor: What the photograph was resized by to reach it.

    Returns:
        ``{key: value}`` for every measurement, plus ``tortuosity_segments``.
    """
    values: dict[str, float | int] = {}
    for m in MEASUREMENTS:
        value = getattr(measured, m.key)
        if m.dimension == "fraction":
            value = 100.0 * value
        elif m.dimension in UNITS:
            value = scale.convert(m.dimension, value, diameter, factor)
        values[m.key] = m.rounded(value, scale)
    values["tortuosity_segments"] = measured.tortuosity_segments
    return values


def measure_at_measurement_scale(
    probability: np.ndarray,
    fov: np.ndarray,
    threshold: float,
    diameter: float = MEASUREMENT_FOV_DIAMETER,
) -> tuple[VesselMeasurements, float]:
    """Measure a vessel map with its FOV resampled to exactly ``diameter`` pixels across.

    The probability map is resampled (area averaging to shrink, linear to enlarge) and only then
    thresholded, so a photograph of 4000 pixels and the same one of 565 pixels give the same
    vessel map to measure, and the measurements do not depend on the camera's pixel count. A map
    whose FOV is within :data:`~runtime.constants.MEASURE_RESCALE_TOLERANCE` of ``diameter``
    is measured as it is.

    Args:
        probability: ``(H, W)`` probabilities in [0, 1] (or a 0/1 mask).
        fov: ``(H, W)`` FOV mask.
        threshold: Probability at or above which a pixel is vessel.
        diameter: The FOV diameter measurements are defined at.

    Returns:
        ``(measurements in pixels of that scale, resize factor used)``.
    """
    from runtime.fov import fov_diameter
    from runtime.scaling import resize_fraction, resize_mask

    found = fov_diameter(fov)
    factor = diameter / found if found > 0 else 1.0
    if abs(factor - 1.0) <= MEASURE_RESCALE_TOLERANCE:
        factor = 1.0
    work = resize_fraction(probability, factor)
    work_fov = resize_mask(fov, factor)
    return measure((work >= threshold) & work_fov, work_fov), factor


def measure_map(
    probability: np.ndarray,
    fov: np.ndarray,
    threshold: float,
    scale: Scale | None = None,
    diameter: float = MEASUREMENT_FOV_DIAMETER,
    prior_factor: float = 1.0,
) -> dict[str, float | int]:
    """What every caller reports of a vessel map: :func:`measure_at_measurement_scale`, then
    :func:`shown_values` (units from ``scale``, default 45°).

    Args:
        probability: ``(H, W)`` probabilities (or a 0/1 mask).
        fov: Its FOV mask.
        threshold: Vessel threshold.
        scale: Units of lengths and widths.
        diameter: The FOV diameter measurements are defined at.
        prior_factor: What the photograph had already been resized by to give ``probability``
            (to the model's working scale), so a pixel size refers to the photograph's pixels.
    """
    measured, factor = measure_at_measurement_scale(probability, fov, threshold, diameter)
    return shown_values(measured, scale or Scale(), diameter, factor * prior_factor)


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


def _segments(
    n: int, first: np.ndarray, second: np.ndarray, branch: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The segments left when the branch pixels are removed.

    Returns:
        ``(labels, first, second)``: each node's segment (``-1`` for branch pixels) and the
        edges between non-branch nodes.
    """
    keep = ~branch[first] & ~branch[second]
    first, second = first[keep], second[keep]
    graph = coo_matrix((np.ones(len(first), dtype=np.int8), (first, second)), shape=(n, n))
    _, labels = connected_components(graph.tocsr(), directed=False)
    labels[branch] = -1
    return labels, first, second


class _Skeleton(NamedTuple):
    """A vessel mask's skeleton and its graph (see the module docstring)."""

    image: np.ndarray  # (H, W) bool skeleton
    first: np.ndarray  # edges between neighbouring skeleton pixels ...
    second: np.ndarray
    weight: np.ndarray  # ... and their lengths (1 or sqrt(2))
    branch: np.ndarray  # flags of the nodes with at least 3 neighbours
    labels: np.ndarray  # each node's segment (-1 for branch nodes)
    seg_first: np.ndarray  # edges between non-branch nodes
    seg_second: np.ndarray


def _skeleton(vessels: np.ndarray) -> _Skeleton:
    """Thin a vessel mask and build its graph and segments."""
    image = skeletonize(vessels) if vessels.any() else np.zeros(vessels.shape, dtype=bool)
    first, second, weight = skeleton_graph(image)
    count = int(np.count_nonzero(image))
    branch = np.bincount(np.concatenate([first, second]), minlength=count) >= 3
    return _Skeleton(image, first, second, weight, branch, *_segments(count, first, second, branch))


def _count_junctions(skeleton: _Skeleton, min_spur_pixels: int, merge_pixels: int) -> int:
    """Junctions with at least 3 arms once spurs are dropped and close junctions merged.

    Args:
        skeleton: The skeleton and its graph (:func:`_skeleton`).
        min_spur_pixels, merge_pixels: See the module docstring.
    """
    first, second, branch, labels = (
        skeleton.first,
        skeleton.second,
        skeleton.branch,
        skeleton.labels,
    )
    if not branch.any():
        return 0
    image = np.zeros(skeleton.image.shape, dtype=bool)
    rows, cols = np.nonzero(skeleton.image)
    image[rows[branch], cols[branch]] = True
    cluster_image, clusters = ndimage.label(image, structure=_EIGHT_CONNECTED)
    cluster = cluster_image[rows, cols] - 1  # -1 for non-branch nodes
    # Arms: the (segment, junction) pairs where a segment's end touches a junction.
    into = branch[first] != branch[second]
    seg = np.where(branch[first[into]], labels[second[into]], labels[first[into]])
    clu = np.where(branch[first[into]], cluster[first[into]], cluster[second[into]])
    seg, clu = np.unique(np.stack([seg, clu]), axis=1)
    sizes = np.bincount(labels[labels >= 0], minlength=int(labels.max(initial=-1)) + 1)
    ends = np.bincount(seg, minlength=len(sizes))  # junctions each segment touches
    spur = (ends[seg] == 1) & (sizes[seg] < min_spur_pixels)
    bridge = (ends[seg] == 2) & (sizes[seg] < merge_pixels)
    # The two junctions of a bridge are one (pairs are sorted by segment: a bridge's are adjacent).
    starts = np.flatnonzero(bridge & np.r_[True, seg[1:] != seg[:-1]])
    joined = coo_matrix(
        (np.ones(len(starts)), (clu[starts], clu[starts + 1])), shape=(clusters, clusters)
    )
    _, group = connected_components(joined.tocsr(), directed=False)
    arms = np.bincount(group[clu[~spur & ~bridge]], minlength=int(group.max()) + 1)
    return int(np.count_nonzero(arms >= 3))


def _polyline_length(points: np.ndarray, step: int) -> float:
    """Length of the polyline through every ``step``-th point of an ordered path and its last."""
    keep = np.arange(0, len(points), step)
    if keep[-1] != len(points) - 1:
        keep = np.append(keep, len(points) - 1)
    return float(np.hypot(*np.diff(points[keep], axis=0).T).sum())


def _segment_arcs_and_chords(
    skeleton: _Skeleton, min_segment_pixels: int
) -> tuple[np.ndarray, np.ndarray]:
    """Arc length and chord of each open segment left when the branch pixels are removed."""
    labels, branch = skeleton.labels, skeleton.branch
    first, second = skeleton.seg_first, skeleton.seg_second
    n = len(branch)
    sizes = np.bincount(labels[labels >= 0], minlength=int(labels.max(initial=0)) + 1)
    degree = np.bincount(np.concatenate([first, second]), minlength=n)
    ends = np.flatnonzero((degree == 1) & ~branch)
    ends = ends[sizes[labels[ends]] >= min_segment_pixels]
    start_of: dict[int, int] = {}
    for node in ends:  # One end per segment starts the walk; closed loops have no ends.
        start_of.setdefault(int(labels[node]), int(node))
    points = np.argwhere(skeleton.image).astype(np.float64)  # Same order as the node numbers.
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
    min_spur_pixels: int = MIN_SPUR_PIXELS,
    junction_merge_pixels: int = JUNCTION_MERGE_PIXELS,
) -> VesselMeasurements:
    """Measure a binary vessel map inside a field of view.

    Args:
        mask: ``(H, W)`` vessel mask: bool, integers (non-zero is vessel) or 0/1 floats.
        fov: ``(H, W)`` field-of-view mask of the same kinds; ``None`` uses the whole image.
            The vessel mask is restricted to it before anything is measured.
        min_segment_pixels: Shortest skeleton segment (in pixels) whose tortuosity is measured.
        min_spur_pixels: Free-ended side branches shorter than this are not junction arms.
        junction_merge_pixels: Junctions joined by a shorter segment count as one.

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
    skeleton = _skeleton(vessels)
    length = float(skeleton.weight.sum())
    arcs, chords = _segment_arcs_and_chords(skeleton, min_segment_pixels)
    junctions = [_count_junctions(skeleton, min_spur_pixels, junction_merge_pixels)] + [
        _count_junctions(
            _skeleton(np.ascontiguousarray(symmetry.apply(vessels))),
            min_spur_pixels,
            junction_merge_pixels,
        )
        for symmetry in GRID_SYMMETRIES[1:]
    ]
    return VesselMeasurements(
        fov_pixels=fov_pixels,
        vessel_pixels=vessel_pixels,
        vessel_density=vessel_pixels / fov_pixels if fov_pixels else math.nan,
        skeleton_pixels=int(np.count_nonzero(skeleton.image)),
        skeleton_length=length,
        mean_width=vessel_pixels / length if length > 0 else math.nan,
        fractal_dimension=fractal_dimension(vessels),
        tortuosity=float(np.sum(arcs * arcs / chords) / arcs.sum()) if len(arcs) else math.nan,
        tortuosity_segments=len(arcs),
        branch_points=float(np.mean(junctions)),
    )
