"""The one-folder app bundle: PyInstaller builds it, and its own --smoke-test passes."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.e2e


def test_bundle_builds_and_passes_its_smoke_test(tmp_path):
    from bundle.build import BUNDLE_NAME, main

    dist = tmp_path / "dist with space"
    assert main(["--dist", str(dist), "--work", str(tmp_path / "work")]) == 0
    report = json.loads((dist / "bundle_report.json").read_text())
    smoke = report["checks"]["smoke_test"]
    assert smoke["returncode"] == 0, smoke["stderr"]
    assert "smoke test passed" in smoke["stdout"]
    assert "hrf_02_h_mask.png" in smoke["stdout"]
    assert report["checks"]["segment_help"]["returncode"] == 0
    names = {p.name for p in (dist / BUNDLE_NAME / "_internal").iterdir()}
    for heavy in ("tensorflow", "keras", "sklearn", "cv2", "matplotlib"):
        assert heavy not in names
