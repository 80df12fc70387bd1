"""Input preparation (runtime.preparation): the table, its invariances, the card and the engine."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.constants import DRIVE_RGB_MEAN, DRIVE_RGB_STD
from runtime.errors import ModelFileError, UserInputError
from runtime.model_card import ModelCard
from runtime.preparation import PREPARATIONS, model_input, prepare
from tests.conftest import fundus_like


def _fov(image: np.ndarray) -> np.ndarray:
    return image.max(axis=2) > 0


def _lines(image: np.ndarray, fov: np.ndarray) -> np.ndarray:
    """Pixels on the synthetic dark lines (green darker than 0.8 of the FOV median)."""
    green = image[..., 1].astype(np.float32)
    return fov & (green < 0.8 * np.median(green[fov]))


def test_standardize_gives_the_reference_statistics_whatever_the_exposure():
    image = fundus_like(200)
    fov = _fov(image)
    cast = np.clip(image * np.array([0.6, 1.3, 1.8]) + 10, 0, 255).astype(np.uint8)
    cast[~fov] = 0
    a, b = prepare(image, fov, "standardize"), prepare(cast, fov, "standardize")
    np.testing.assert_allclose(a[fov].mean(axis=0), DRIVE_RGB_MEAN, atol=2.0)
    np.testing.assert_allclose(a[fov].std(axis=0), DRIVE_RGB_STD, rtol=0.1)
    assert np.abs(a.astype(int) - b.astype(int))[fov].mean() < 2.0
    assert (a[~fov] == np.rint(DRIVE_RGB_MEAN)).all()  # no FOV edge left to mistake for a vessel


def test_flat_field_removes_an_illumination_gradient_and_keeps_vessels_dark():
    image = fundus_like(240)
    fov = _fov(image)
    gradient = np.linspace(0.5, 1.2, image.shape[1])[None, :, None]
    uneven = np.clip(image * gradient, 0, 255).astype(np.uint8)
    even, flattened = prepare(image, fov, "flat_field"), prepare(uneven, fov, "flat_field")
    standardized = prepare(uneven, fov, "standardize")
    left, right = fov.copy(), fov.copy()
    left[:, 120:], right[:, :120] = False, False
    background = fov & ~_lines(image, fov)
    green = 1

    def imbalance(out: np.ndarray) -> float:
        return abs(
            float(out[left & background, green].mean() - out[right & background, green].mean())
        )

    assert imbalance(flattened) < 0.25 * imbalance(standardized)
    assert np.abs(even.astype(int) - flattened.astype(int))[fov].mean() < 6.0
    lines = _lines(image, fov)
    assert flattened[lines, green].mean() < flattened[background, green].mean() - 20


def test_none_and_empty_fov_return_the_image_and_unknown_names_are_refused():
    image = fundus_like(64)
    assert prepare(image, _fov(image), "none") is image
    assert prepare(image, np.zeros(image.shape[:2], bool), "flat_field") is image
    assert set(PREPARATIONS) == {"none", "standardize", "flat_field"}
    with pytest.raises(UserInputError, match="unknown input preparation 'clahe'"):
        prepare(image, _fov(image), "clahe")


def test_model_input_resizes_then_prepares():
    image = fundus_like(200)
    fov = _fov(image)
    out = model_input(image, fov, 0.5, "standardize")
    assert out.shape == (100, 100, 3) and out.dtype == np.uint8
    assert model_input(image, fov, 1.0, "none") is image


def test_card_carries_the_preparation_through_onnx_metadata():
    card = ModelCard(model={"multiple": 16}, data={"input_preparation": "flat_field"})
    props = card.to_onnx_metadata()
    assert props["input_preparation"] == "flat_field"
    assert ModelCard.from_onnx_metadata(props, "m.onnx").input_preparation == "flat_field"
    assert "flat_field" in card.training_description()
    old = {k: v for k, v in props.items() if k != "input_preparation"}
    assert ModelCard.from_onnx_metadata(old, "m.onnx").input_preparation == "none"
    with pytest.raises(ModelFileError, match=r"m\.onnx: unknown input_preparation 'clahe'"):
        ModelCard.from_onnx_metadata({**props, "input_preparation": "clahe"}, "m.onnx")


def test_engine_feeds_the_model_the_prepared_image():
    from runtime.engine import VesselEngine
    from runtime.predictors import CallablePredictor

    seen: list[np.ndarray] = []

    def model(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.copy())
        return np.full((*batch.shape[:3], 1), 0.2, np.float32)

    image = fundus_like(224)
    fov = _fov(image)
    card = ModelCard(threshold=0.5, model={"multiple": 16}, data={"working_fov_diameter": 215.0})
    for preparation in ("none", "flat_field"):
        card.data["input_preparation"] = preparation
        seen.clear()
        VesselEngine(CallablePredictor("fake", 16, model), card).probability(image, fov)
        expected = model_input(image, fov, 1.0, preparation).astype(np.float32)
        np.testing.assert_array_equal(seen[0][0, :224, :224], expected)
