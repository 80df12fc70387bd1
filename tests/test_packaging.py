"""The wheel carries the shipped models: ``vessel-segment`` works without the repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import DRIVE, REPO

pytestmark = pytest.mark.e2e


def _pip(*args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(REPO))
    (path,) = out.glob("*.whl")
    return path


def test_wheel_holds_the_default_models_but_no_training_files(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for model in ("any_camera_unet_w16", "drive_unet_w16"):
        for suffix in (".onnx", ".int8.onnx"):
            assert f"runtime/shipped/{model}/{model}{suffix}" in names
        assert f"runtime/shipped/{model}/config.json" in names
    assert not [n for n in names if n.endswith(".keras") or n.startswith("data/")]


def test_installed_wheel_segments_from_another_folder_without_model(wheel, tmp_path):
    target = tmp_path / "site"
    _pip("install", "-q", "--no-deps", "--target", str(target), str(wheel))
    out = tmp_path / "results"
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        "import runtime\n"
        f"assert runtime.__file__.startswith({str(target)!r}), runtime.__file__\n"
        "from runtime.segment import main\n"
        f"sys.exit(main([{str(DRIVE / 'test' / 'images' / '03_test.tif')!r}, "
        f"'--out', {str(out)!r}, '--quiet']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr[-2000:]
    settings = json.loads((out / "measurements.json").read_text())["settings"]
    assert settings["model_path"].startswith(str(target / "runtime" / "shipped"))
    assert settings["model"] == "any_camera_unet_w16.onnx" and len(settings["model_sha256"]) == 64
    assert settings["model_name"] == "any_camera_unet_w16"
    assert (out / "03_test_mask.png").is_file()


def test_clinic_install_segments_without_tensorflow(wheel, tmp_path):
    """The wheel with the desktop extra, in a fresh venv: the CLI works, no TF, no OpenCV."""
    from bundle.clinic_env import create_clinic_env, present_modules

    # A space and a non-ASCII letter in the path, as on clinic PCs.
    python = create_clinic_env(wheel, tmp_path / "clinic venv ü")
    assert present_modules(python) == []
    work = tmp_path / "elsewhere"
    work.mkdir()
    script = python.parent / ("vessel-segment.exe" if sys.platform == "win32" else "vessel-segment")
    run = subprocess.run(
        [
            str(script),
            str(DRIVE / "test" / "images" / "03_test.tif"),
            "--out",
            "results",
            "--quiet",
        ],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    settings = json.loads((work / "results" / "measurements.json").read_text())["settings"]
    assert settings["model_name"] == "any_camera_unet_w16"
    assert (work / "results" / "03_test_mask.png").is_file()
    smoke = subprocess.run(
        [str(python), "-m", "desktop", "--smoke-test"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    assert smoke.returncode == 0, smoke.stderr[-2000:]
    assert "smoke test passed" in smoke.stdout
