"""scripts/threshold_rules.py: every rule scored on real photographs, tables written."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import REPO

SHIPPED_INT8 = REPO / "saved_models" / "any_camera_unet_w16" / "any_camera_unet_w16.int8.onnx"


def _script():
    spec = importlib.util.spec_from_file_location(
        "threshold_rules", REPO / "scripts" / "threshold_rules.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.e2e
def test_threshold_rules_scores_every_rule_per_photograph(tmp_path, capsys):
    script = _script()
    out = tmp_path / "rules"
    args = ["--model", str(SHIPPED_INT8), "--dataset", "STARE", "--splits", "validation,test"]
    assert script.main([*args, "--out", str(out)]) == 0
    data = json.loads((out / "threshold_rules.json").read_text())
    rules = data["splits"]["validation"]
    assert list(rules) == [*script.RULES, script.BEST]
    model_rule, otsu_rule, mean_rule = (rules[name] for name in script.RULES)
    best = rules[script.BEST]
    assert len(best["thresholds"]) == 1
    assert best["f1"] >= model_rule["f1"]  # No single threshold does better on these labels.
    card_threshold = json.loads((SHIPPED_INT8.parent / "config.json").read_text())["threshold"]
    assert model_rule["thresholds"] == pytest.approx([card_threshold] * 3)
    assert len(set(otsu_rule["thresholds"])) == 3  # One threshold per photograph.
    for otsu, mean in zip(otsu_rule["thresholds"], mean_rule["thresholds"], strict=True):
        assert mean == pytest.approx(0.5 * (otsu + card_threshold))
    assert all(0.7 < rule["f1"] < 0.95 for rule in rules.values())
    test = data["splits"]["test"]
    assert list(test) == [*script.RULES, script.BEST, script.CALIBRATED]
    assert test[script.CALIBRATED]["thresholds"] == best["thresholds"]  # Validation's, applied.
    assert test[script.BEST]["f1"] >= test[script.CALIBRATED]["f1"]
    assert "STARE validation (3)" in (out / "threshold_rules.md").read_text()
    assert "Otsu, per photograph" in capsys.readouterr().out
