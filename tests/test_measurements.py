"""Vessel measurements on synthetic shapes whose answers are known, and on one DRIVE manual."""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from runtime.imageio import read_binary
from runtime.measurements import (
    JUNCTION_MERGE_PIXELS,
    MIN_SPUR_PIXELS,
    VesselMeasurements,
    _count_junctions,
    _skeleton,
    fractal_dimension,
    measure,
    skeleton_graph,
)
from runtime.symmetry import GRID_SYMMETRIES

DRIVE_TRAINING = Path(__file__).resolve().parents[1] / "data" / "DRIVE" / "training"
SQRT2 = math.sqrt(2.0)


def blank(height: int = 200, width: int = 200) -> np.ndarray:
    return np.zeros((height, width), bool)


def plus(image: np.ndarray, row: int, col: int, arm: int = 30, width: int = 1) -> np.ndarray:
    half = width // 2
    image[row - half : row + half + 1, col - arm : col + arm + 1] = True
    image[row - arm : row + arm + 1, col - half : col + half + 1] = True
    return image


def semicircle(radius: int) -> np.ndarray:
    """A one-pixel-wide half circle (0° to 180°)."""
    image = np.zeros((radius + 20, 2 * radius + 20), np.uint8)
    cv2.ellipse(image, (radius + 10, 10), (radius, radius), 0, 0, 180, 1, 1)
    return image.astype(bool)


# --- Skeleton length and width --------------------------------------------------------------


def test_horizontal_line_length_is_pixels_minus_one():
    mask = blank()
    mask[100, 20:121] = True  # 101 pixels.
    m = measure(mask)
    assert m.skeleton_pixels == 101
    assert m.skeleton_length == 100.0
    assert m.mean_width == pytest.approx(101 / 100)
    assert m.branch_points == 0
    assert m.tortuosity == pytest.approx(1.0)
    assert m.tortuosity_segments == 1


def test_diagonal_line_length_uses_sqrt2_per_step():
    mask = blank()
    idx = np.arange(30, 111)  # 81 pixels on the diagonal.
    mask[idx, idx] = True
    m = measure(mask)
    assert m.skeleton_pixels == 81
    assert m.skeleton_length == pytest.approx(80 * SQRT2)
    assert m.tortuosity == pytest.approx(1.0)
    anti = np.fliplr(mask)
    assert measure(anti).skeleton_length == pytest.approx(80 * SQRT2)


def test_staircase_corner_is_not_counted_twice():
    # (0,0) (0,1) / (1,1): two orthogonal steps; the diagonal shortcut (0,0)-(1,1) is no edge.
    skeleton = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 0]], bool)
    first, second, weight = skeleton_graph(skeleton)
    assert sorted(weight) == [1.0, 1.0]
    assert np.bincount(np.concatenate([first, second])).max() == 2
    # An L of 11 + 10 pixels: skeletonize cuts the corner pixel, leaving 9 + sqrt(2) + 9.
    mask = blank()
    mask[50, 50:61] = True
    mask[51:61, 60] = True
    m = measure(mask)
    assert m.skeleton_pixels == 20
    assert m.skeleton_length == pytest.approx(18 + SQRT2)
    assert m.branch_points == 0


def test_width_of_a_five_pixel_bar():
    mask = blank(100, 300)
    mask[40:45, 20:280] = True
    m = measure(mask)
    assert m.mean_width == pytest.approx(5.0, rel=0.05)
    assert m.skeleton_length == pytest.approx(260, rel=0.03)


# --- Tortuosity -----------------------------------------------------------------------------


@pytest.mark.parametrize("radius", [40, 80])
def test_semicircle_tortuosity_is_half_pi(radius):
    m = measure(semicircle(radius))
    assert m.tortuosity_segments == 1
    assert m.branch_points == 0
    assert m.tortuosity == pytest.approx(math.pi / 2, rel=0.02)


@pytest.mark.parametrize("angle", [10.0, 22.5, 30.0, 67.5])
def test_oblique_straight_lines_are_not_tortuous(angle):
    # The 1/sqrt(2) chain length of a 22.5° digital line is 8% too long; the polyline is not.
    image = np.zeros((260, 260), np.uint8)
    a = math.radians(angle)
    end = (round(20 + 200 * math.cos(a)), round(240 - 200 * math.sin(a)))
    cv2.line(image, (20, 240), end, 1, 1)
    assert measure(image.astype(bool)).tortuosity == pytest.approx(1.0, abs=0.01)


def test_tortuosity_mean_is_weighted_by_arc_length():
    straight = blank(120, 400)
    straight[20, 10:211] = True  # Arc 200, tortuosity 1.
    arc = semicircle(40)  # Arc ~ 40 * pi, tortuosity ~ pi / 2.
    mask = straight.copy()
    mask[40 : 40 + arc.shape[0], 250 : 250 + arc.shape[1]] |= arc
    m = measure(mask)
    assert m.tortuosity_segments == 2
    arc_length = 40 * math.pi
    expected = (200 * 1.0 + arc_length * math.pi / 2) / (200 + arc_length)
    assert m.tortuosity == pytest.approx(expected, rel=0.02)


def test_short_segments_and_loops_are_left_out():
    mask = blank()
    mask[10, 10:18] = True  # 8 pixels: under the default 10.
    assert measure(mask).tortuosity_segments == 0
    assert math.isnan(measure(mask).tortuosity)
    assert measure(mask, min_segment_pixels=8).tortuosity == pytest.approx(1.0)
    ring = np.zeros((200, 200), np.uint8)
    cv2.circle(ring, (100, 100), 60, 1, 1)
    m = measure(ring.astype(bool))
    assert m.tortuosity_segments == 0 and m.branch_points == 0
    assert m.skeleton_length == pytest.approx(2 * math.pi * 60, rel=0.08)


# --- Branch points --------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 3, 5])
def test_plus_has_one_branch_point_and_four_segments(width):
    m = measure(plus(blank(), 100, 100, width=width))
    assert m.branch_points == 1
    assert m.tortuosity_segments == 4
    assert m.tortuosity == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize("width", [1, 3, 5])
def test_t_has_one_branch_point(width):
    mask = blank()
    half = width // 2
    mask[40 - half : 40 + half + 1, 40:161] = True
    mask[40:161, 100 - half : 100 + half + 1] = True
    m = measure(mask)
    assert m.branch_points == 1
    assert m.tortuosity_segments == 3


def test_diagonal_cross_has_one_branch_point():
    mask = blank()
    idx = np.arange(40, 161)
    mask[idx, idx] = True
    mask[idx, 200 - idx] = True
    assert measure(mask).branch_points == 1


def test_two_crosses_have_two_branch_points():
    mask = plus(plus(blank(120, 260), 60, 60), 60, 190)
    assert measure(mask).branch_points == 2


@pytest.mark.parametrize(("bump", "most"), [(2, 0.0), (3, 0.5)])
def test_a_bump_on_a_vessel_edge_is_a_spur_not_a_junction(bump, most):
    """A bump of 3 px thins into a spur of 4-6 px depending on the grid's orientation."""
    mask = blank()
    mask[98:103, 20:181] = True  # a vessel 5 px wide
    mask[103 : 103 + bump, 90:93] = True  # a small bump on its lower edge
    assert measure(mask, min_spur_pixels=1).branch_points == 1  # counted without pruning
    assert measure(mask).branch_points <= most


def test_branch_points_are_the_same_for_every_turn_and_mirror_of_a_real_vessel_map():
    mask = read_binary(DRIVE_TRAINING / "1st_manual" / "21_manual1.gif")
    views = [np.ascontiguousarray(s.apply(mask)) for s in GRID_SYMMETRIES]
    counts = {measure(view).branch_points for view in views}
    assert len(counts) == 1 and next(iter(counts)) > 50
    # One orientation alone is not: thinning's scan order splits junctions differently.
    alone = {
        _count_junctions(_skeleton(view), MIN_SPUR_PIXELS, JUNCTION_MERGE_PIXELS) for view in views
    }
    assert len(alone) > 1


def test_a_real_side_branch_is_a_junction():
    mask = blank()
    mask[98:103, 20:181] = True
    mask[103:160, 99:102] = True  # a side vessel 57 px long
    assert measure(mask).branch_points == 1


@pytest.mark.parametrize(("gap", "expected"), [(4, 1), (30, 2)])
def test_two_close_junctions_are_one(gap, expected):
    """Two side vessels leaving a vessel ``gap`` px apart: a near-crossing counts once."""
    mask = blank()
    mask[99:102, 20:181] = True
    mask[40:99, 90:91] = True
    mask[102:160, 90 + gap : 91 + gap] = True
    m = measure(mask)
    assert m.branch_points == expected
    assert measure(mask, junction_merge_pixels=1).branch_points == 2


# --- Fractal dimension ----------------------------------------------------------------------


@pytest.mark.parametrize("side", [100, 150, 256])
def test_filled_square_has_dimension_two(side):
    mask = blank(300, 320)
    mask[17 : 17 + side, 31 : 31 + side] = True
    assert fractal_dimension(mask) == pytest.approx(2.0, abs=0.05)
    assert measure(mask).fractal_dimension == pytest.approx(2.0, abs=0.05)


def test_lines_have_dimension_one():
    mask = blank(300, 300)
    mask[150, 13:263] = True
    assert fractal_dimension(mask) == pytest.approx(1.0, abs=0.05)
    assert fractal_dimension(mask.T) == pytest.approx(1.0, abs=0.05)
    oblique = np.zeros((300, 300), np.uint8)
    cv2.line(oblique, (40, 260), (213, 160), 1, 1)  # About 30°.
    assert fractal_dimension(oblique.astype(bool)) == pytest.approx(1.0, abs=0.05)


def test_sierpinski_triangle_dimension():
    # Pascal's triangle mod 2: C(i, j) is odd exactly when j's bits are a subset of i's.
    i, j = np.mgrid[:256, :256]
    triangle = (i & j) == j
    assert fractal_dimension(triangle) == pytest.approx(math.log2(3), abs=0.01)


def test_fractal_dimension_undefined_cases():
    assert math.isnan(fractal_dimension(blank(64, 64)))
    tiny = np.ones((12, 12), bool)  # Too small for two box sizes.
    assert math.isnan(fractal_dimension(tiny))


# --- Density, FOV, empty masks, validation --------------------------------------------------


def test_density_of_half_filled_fov():
    fov = blank(100, 100)
    fov[20:80, 10:90] = True
    mask = blank(100, 100)
    mask[20:80, 10:50] = True
    m = measure(mask, fov)
    assert m.vessel_density == 0.5
    assert m.fov_pixels == 60 * 80
    assert m.vessel_pixels == 60 * 40


def test_mask_is_restricted_to_the_fov():
    fov = blank()
    fov[:, :100] = True
    mask = blank()
    mask[50, 20:181] = True  # Half inside, half outside the FOV.
    plus(mask, 150, 150)  # Entirely outside.
    m = measure(mask, fov)
    assert m.vessel_pixels == 80
    assert m.skeleton_length == 79.0
    assert m.branch_points == 0
    assert m.vessel_density == pytest.approx(80 / 20000)
    assert m == measure(mask & fov, fov)
    whole = measure(mask)
    assert whole.branch_points == 1 and whole.fov_pixels == 200 * 200
    assert whole == measure(mask, np.ones_like(mask))


def test_integer_masks_match_boolean_ones():
    mask = plus(blank(), 100, 100, width=3)
    assert measure(mask.astype(np.uint8) * 255) == measure(mask)
    assert measure(mask.astype(np.float32), np.ones(mask.shape, np.int64)) == measure(mask)


def test_empty_mask_gives_zeros_and_nan():
    m = measure(blank(50, 60))
    assert (m.vessel_pixels, m.vessel_density, m.skeleton_length) == (0, 0.0, 0.0)
    assert (m.branch_points, m.tortuosity_segments, m.skeleton_pixels) == (0, 0, 0)
    assert math.isnan(m.mean_width)
    assert math.isnan(m.fractal_dimension)
    assert math.isnan(m.tortuosity)
    assert math.isnan(measure(blank(50, 60), blank(50, 60)).vessel_density)


def test_as_dict_and_frozen():
    m = measure(plus(blank(), 100, 100))
    d = m.as_dict()
    assert list(d) == [f.name for f in dataclasses.fields(VesselMeasurements)]
    assert d["branch_points"] == 1 and d["skeleton_length"] == m.skeleton_length
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.branch_points = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("mask", "fov", "message"),
    [
        (np.zeros((4, 4, 3), bool), None, r"mask must be a 2-D array, got shape \(4, 4, 3\)"),
        (np.zeros(5, bool), None, r"mask must be a 2-D array, got shape \(5,\)"),
        (np.zeros((0, 4), bool), None, r"mask has no pixels"),
        (np.zeros((4, 4), bool), np.zeros((4, 5), bool), r"\(4, 4\) but fov has shape \(4, 5\)"),
        (np.zeros((4, 4), bool), np.zeros((4, 4, 1), bool), r"fov must be a 2-D array"),
        (np.full((4, 4), 0.7), None, r"binary .* got floats in \[0.7, 0.7\]"),
        (np.full((4, 4), "a"), None, r"boolean or numeric array, got dtype <U1"),
    ],
)
def test_bad_inputs_raise(mask, fov, message):
    with pytest.raises(ValueError, match=message):
        measure(mask, fov)


def test_min_segment_pixels_must_be_at_least_two():
    with pytest.raises(ValueError, match="at least 2, got 1"):
        measure(blank(), min_segment_pixels=1)


# --- A real manual annotation ---------------------------------------------------------------


def test_drive_manual_21_is_plausible_and_fast():
    manual = DRIVE_TRAINING / "1st_manual" / "21_manual1.gif"
    if not manual.exists():
        pytest.skip(f"DRIVE manual not found: {manual}")
    mask = read_binary(manual)
    fov = read_binary(DRIVE_TRAINING / "mask" / "21_training_mask.gif")
    start = time.perf_counter()
    m = measure(mask, fov)
    elapsed = time.perf_counter() - start
    print(f"DRIVE 21 manual: {m.as_dict()} in {elapsed:.3f} s")
    assert 0.08 <= m.vessel_density <= 0.16
    assert 1.3 <= m.fractal_dimension <= 1.8
    assert m.branch_points > 50
    assert 1.0 <= m.tortuosity <= 1.5
    assert m.tortuosity_segments > 50
    assert 2.0 <= m.mean_width <= 5.0
    assert elapsed < 2.0
