"""The PDF report per eye (fpdf2): pages, what a rejected photograph shows, the missing extra."""

from __future__ import annotations

import sys

import pytest

from runtime.errors import UserInputError
from runtime.eye_report import INSTALL_HINT, ReportPage, write_report
from runtime.tiling import overlay
from runtime.units import Scale
from tests.conftest import fundus_like

SETTINGS = {
    "model": "m.onnx",
    "model_name": "m",
    "model_version": "1",
    "model_sha256": "ab" * 32,
    "threshold": 0.44,
    "tta": False,
    "training_sets": ["DRIVE", "STARE"],
}


def page(name: str, quality: str = "ok", values=None) -> ReportPage:
    photo = fundus_like(120)
    return ReportPage(
        name=name,
        photograph=photo,
        overlay=overlay(photo, photo[..., 1] < 70),
        values=values if values is not None else {"vessel_density": 12.3, "mean_width": 80.5},
        quality=quality,
        scale=Scale(),
        settings=SETTINGS,
        date="2026-12-02T01:00:00+0000",
        facts={"Image": "120 x 120 px"},
    )


def test_one_page_per_image(tmp_path):
    pytest.importorskip("fpdf")
    path = write_report(
        [page("a.tif"), page("b ‰ é.tif", "rejected: too dark", {})], tmp_path / "r" / "x.pdf"
    )
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and data.count(b"/Type /Page\n") == 2
    with pytest.raises(UserInputError, match="no segmented image"):
        write_report([], tmp_path / "empty.pdf")


def test_missing_fpdf2_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "fpdf", None)
    with pytest.raises(UserInputError) as caught:
        write_report([page("a.tif")], tmp_path / "x.pdf")
    assert str(caught.value) == INSTALL_HINT and "drive-vessel-unet[report]" in INSTALL_HINT
    assert not (tmp_path / "x.pdf").exists()


def test_the_report_module_never_loads_qt():
    import subprocess

    code = "import sys, runtime.eye_report, runtime.segment; assert 'PySide6' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
