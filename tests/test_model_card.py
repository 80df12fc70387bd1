"""The model card schema, its ONNX metadata, the threshold check and the provider table."""

from __future__ import annotations

import json

import pytest

from runtime.errors import ModelFileError, UserInputError
from runtime.model_card import METADATA_KEYS, ModelCard, check_threshold
from runtime.providers import CPU, PROVIDER_CHOICES, PROVIDERS, choose_providers, provider_label
from tests.conftest import REPO


def test_shipped_card_loads_and_describes_its_data():
    card = ModelCard.load(REPO / "saved_models" / "drive_unet_w16" / "drive_unet_w16.keras")
    assert card is not None and card.name == "drive_unet_w16" and card.multiple == 16
    assert card.threshold == pytest.approx(0.4703) and card.datasets == ["DRIVE"]
    assert card.working_fov_diameter == 539.0  # Cards from before the field: DRIVE's scale.
    assert card.training_description() == "DRIVE 16 fit + 4 validation images (FOV 539 px)"


def test_card_round_trips_through_json_and_onnx_metadata(tmp_path):
    card = ModelCard(
        name="any",
        version="9",
        threshold=0.42,
        threshold_source="max F1",
        model={"multiple": 16, "filters": 16},
        data={
            "datasets": ["DRIVE", "HRF"],
            "train_ids": {"DRIVE": ["22"], "HRF": ["01_h", "02_g"]},
            "validation_ids": {"DRIVE": ["21"], "HRF": ["03_dr"]},
            "working_fov_diameter": 768.0,
        },
        validation_summary={"f1": 0.81234567},
    )
    card.save(tmp_path / "config.json")
    assert ModelCard.load(tmp_path / "model.keras") == card
    props = card.to_onnx_metadata("int8")
    assert set(props) == set(METADATA_KEYS) and all(isinstance(v, str) for v in props.values())
    back = ModelCard.from_onnx_metadata(props, "m.onnx")
    assert back.threshold == 0.42 and back.multiple == 16 and back.precision == "int8"
    assert back.datasets == ["DRIVE", "HRF"] and back.working_fov_diameter == 768.0
    assert back.validation_summary == {"f1": 0.8123}
    expected = "DRIVE 1 fit + 1 validation, HRF 2 fit + 1 validation images (FOV 768 px)"
    assert card.training_description() == back.training_description() == expected


def test_bad_metadata_and_thresholds_are_refused():
    props = ModelCard(model={"multiple": 4}).to_onnx_metadata()
    with pytest.raises(ModelFileError, match=r"m\.onnx: ONNX metadata lacks threshold"):
        ModelCard.from_onnx_metadata({k: v for k, v in props.items() if k != "threshold"}, "m.onnx")
    with pytest.raises(ModelFileError, match="out of range"):
        ModelCard.from_onnx_metadata({**props, "threshold": "1.5"}, "m.onnx")
    with pytest.raises(ModelFileError, match="malformed"):
        ModelCard.from_onnx_metadata({**props, "training_sets": "[oops"}, "m.onnx")
    with pytest.raises(ValueError, match=r"model\.multiple"):
        ModelCard().to_onnx_metadata()
    assert check_threshold(0.3) == 0.3
    for bad in (0.0, 1.0, -2, 7):
        with pytest.raises(UserInputError, match=r"--threshold must be in \(0, 1\)"):
            check_threshold(bad, "--threshold")


def test_unreadable_card_is_none(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    assert ModelCard.load(tmp_path / "m.keras") is None
    assert ModelCard.load(tmp_path / "missing" / "m.keras") is None
    (tmp_path / "config.json").write_text(json.dumps({"name": "x", "unknown_key": 1}))
    assert ModelCard.load(tmp_path / "m.keras").name == "x"


def test_provider_table():
    assert PROVIDER_CHOICES[0] == "auto" and set(PROVIDER_CHOICES[1:]) == set(PROVIDERS)
    assert choose_providers("cpu") == [CPU]
    assert choose_providers("auto")[-1] == CPU
    with pytest.raises(ValueError, match="provider preference must be one of auto"):
        choose_providers("tpu")
    assert provider_label("CUDAExecutionProvider") == "CUDA (GPU)"
    assert provider_label("CPUExecutionProvider") == "CPU"
    assert provider_label("DmlExecutionProvider") == "Dml"
