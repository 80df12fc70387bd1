"""The one-folder app bundle: PyInstaller builds it, and its own --smoke-test passes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import DRIVE

pytestmark = pytest.mark.e2e


def test_bundle_builds_and_passes_its_smoke_test(tmp_path):
    from bundle.build import BUNDLE_NAME, executable, main

    dist = tmp_path / "dist with space"
    assert main(["--dist", str(dist), "--work", str(tmp_path / "work")]) == 0
    report = json.loads((dist / "bundle_report.json").read_text())
    smoke = report["checks"]["smoke_test"]
    assert smoke["returncode"] == 0, smoke["stderr"]
    assert "smoke test passed" in smoke["stdout"]
    assert "hrf_02_h_mask.png" in smoke["stdout"] and "report.pdf" in smoke["stdout"]
    assert report["checks"]["segment_help"]["returncode"] == 0
    bundle = dist / BUNDLE_NAME
    names = {p.name for p in (bundle / "_internal").iterdir()}
    for heavy in ("tensorflow", "keras", "sklearn", "cv2", "matplotlib", "networkx", "yaml"):
        assert heavy not in names
    # What the spec leaves out is out: excluded modules (frozen or compiled), Qt translations,
    # and the Qt plugins the app does not use; what it needs is in.
    held = report["contents"]
    assert held["excluded_present"] == [] and held["frozen_modules"] > 500
    assert held["qt_translations"] == 0
    platforms = {p for p in held["qt_plugins"] if p.startswith("platforms/")}
    if sys.platform.startswith("linux"):
        assert platforms == {
            "platforms/libqxcb.so",
            "platforms/libqoffscreen.so",
            "platforms/libqminimal.so",
        }
    assert not [p for p in held["qt_plugins"] if "wayland" in p or "gtk" in p or "egl" in p]
    # The bundled CLI on a DRIVE photograph from another folder, with the PDF report.
    work = tmp_path / "elsewhere"
    work.mkdir()
    run = subprocess.run(
        [
            str(executable(bundle, "vessel-segment")),
            str(DRIVE / "test" / "images" / "01_test.tif"),
            "--out",
            "results",
            "--report",
            "--quiet",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert (work / "results" / "01_test_mask.png").is_file()
    assert (work / "results" / "report.pdf").read_bytes().startswith(b"%PDF")
