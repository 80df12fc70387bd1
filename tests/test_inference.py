"""Whole-image inference helpers: padding, TTA over turns and mirrors, thresholding, overlay."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.symmetry import GRID_SYMMETRIES
from runtime.tiling import (
    binary_mask,
    overlay,
    pad_to_multiple,
    padded_size,
    predict_probability,
    probability_to_uint8,
)


def test_padding_to_the_multiple():
    assert padded_size(584, 565, 16) == (592, 576)
    assert padded_size(64, 64, 16) == (64, 64)
    image = np.ones((5, 7, 3), np.float32)
    padded = pad_to_multiple(image, 4)
    assert padded.shape == (8, 8, 3) and padded[:5, :7].all() and padded[5:].sum() == 0
    assert pad_to_multiple(image[:4, :4], 4).shape == (4, 4, 3)


def _position_model(batch: np.ndarray) -> np.ndarray:
    """A fake model whose output is the red channel / 255: position-dependent, flip-equivariant."""
    assert batch.shape[1] % 8 == 0 and batch.shape[2] % 8 == 0
    return batch[..., :1] / 255.0


def test_predict_crops_back_and_tta_undoes_its_flips():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (13, 21, 3)).astype(np.uint8)
    plain = predict_probability(_position_model, image, 8)
    assert plain.shape == (13, 21) and plain.dtype == np.float32
    np.testing.assert_allclose(plain, image[..., 0] / 255.0, atol=1e-6)
    np.testing.assert_allclose(
        predict_probability(_position_model, image, 8, tta=True), plain, atol=1e-6
    )


def _directional_model(batch: np.ndarray) -> np.ndarray:
    """A fake model that sees direction and padding: the red channel minus its right and lower
    neighbours (the padded border included), through a sigmoid; it is neither turn- nor
    mirror-equivariant."""
    red = batch[..., 0] / 255.0
    right = np.concatenate([red[:, :, 1:], np.zeros_like(red[:, :, :1])], axis=2)
    below = np.concatenate([red[:, 1:], np.zeros_like(red[:, :1])], axis=1)
    return 1.0 / (1.0 + np.exp(-4.0 * (red - right) - 2.0 * (red - below)))


@pytest.mark.parametrize("symmetry", GRID_SYMMETRIES[1:], ids=str)
def test_tta_turns_and_mirrors_the_map_with_the_image(symmetry):
    image = np.random.default_rng(1).integers(0, 256, (13, 21, 3)).astype(np.uint8)
    view = np.ascontiguousarray(symmetry.apply(image))
    plain = symmetry.apply(predict_probability(_directional_model, image, 8))
    assert np.abs(predict_probability(_directional_model, view, 8) - plain).max() > 0.05
    averaged = predict_probability(_directional_model, image, 8, tta=True)
    np.testing.assert_allclose(
        predict_probability(_directional_model, view, 8, tta=True),
        symmetry.apply(averaged),
        atol=1e-6,
    )


def test_threshold_fov_and_overlay():
    prob = np.array([[0.2, 0.5], [0.7, 0.9]], np.float32)
    fov = np.array([[True, True], [True, False]])
    assert binary_mask(prob, 0.5).tolist() == [[False, True], [True, True]]
    assert binary_mask(prob, 0.5, fov).tolist() == [[False, True], [True, False]]
    assert probability_to_uint8(prob).tolist() == [[51, 128], [178, 230]]
    image = np.full((2, 2, 3), 100, np.uint8)
    out = overlay(image, binary_mask(prob, 0.5, fov), colour=(0, 255, 0), opacity=0.5)
    assert out[0, 0].tolist() == [100, 100, 100]
    assert out[0, 1].tolist() == [50, 178, 50]


def test_tiling_equals_a_direct_run_for_a_local_model():
    from runtime.tiling import predict_tiled, tile_count

    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (150, 230, 3)).astype(np.uint8)
    direct = predict_probability(_position_model, image, 8)
    tiled = predict_tiled(_position_model, image, 8, tile=64, overlap=16)
    assert tile_count(150, 230, 8, tile=64, overlap=16) == 3 * 5
    np.testing.assert_allclose(tiled, direct, atol=1e-5)
    small = predict_tiled(_position_model, image[:40, :40], 8, tile=64)
    np.testing.assert_allclose(small, image[:40, :40, 0] / 255.0, atol=1e-6)


def test_tiling_reports_each_window_and_a_raise_stops_it():
    from runtime.tiling import predict_tiled

    image = np.zeros((150, 230, 3), np.uint8)
    seen = []
    predict_tiled(_position_model, image, 8, tile=64, overlap=16, on_tile=lambda *t: seen.append(t))
    assert seen == [(done, 15) for done in range(1, 16)]
    seen.clear()
    predict_tiled(_position_model, image[:40, :40], 8, tile=64, on_tile=lambda *t: seen.append(t))
    assert seen == [(1, 1)]  # In one piece.

    calls = []

    def model(batch: np.ndarray) -> np.ndarray:
        calls.append(batch.shape)
        return _position_model(batch)

    class StopError(Exception):
        pass

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise StopError

    with pytest.raises(StopError):
        predict_tiled(model, image, 8, tile=64, overlap=16, on_tile=stop_after_two)
    assert len(calls) == 2
