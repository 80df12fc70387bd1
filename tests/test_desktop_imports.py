"""The desktop app never loads TensorFlow or Keras, its core never loads Qt, and it starts.

Each check runs in a fresh interpreter, because this test process itself has TensorFlow loaded
(the tiny model is trained here).
"""

from __future__ import annotations

import json
import os
import pkgutil
import re
import subprocess
import sys

import pytest

import desktop
from tests.conftest import DRIVE, REPO

#: Modules that load TensorFlow or Keras (directly or through their imports).
HEAVY = ("tensorflow", "keras", "tf2onnx")
#: The Qt-free core of the desktop package.
CORE = (
    "desktop.batch",
    "runtime.cancellation",
    "desktop.formatting",
    "desktop.model_choice",
    "desktop.preferences",
    "desktop.state",
    "desktop.tasks",
)


def run_python(code: str, tmp_path) -> subprocess.CompletedProcess:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # Never the user's settings.
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_core_modules_load_neither_qt_nor_tensorflow(tmp_path):
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules "
        f"if m.split('.')[0] in {(*HEAVY, 'PySide6', 'onnxruntime')!r})))\n"
    )
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def test_help_runs():
    done = subprocess.run(
        [sys.executable, "-m", "desktop", "--help"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and "--model" in done.stdout


@pytest.mark.e2e
def test_whole_app_runs_without_tensorflow_and_reports_its_startup(tiny_export, tmp_path):
    """Import every desktop module, segment, batch, then start the window: no TF or Keras."""
    modules = [f"desktop.{m.name}" for m in pkgutil.iter_modules(desktop.__path__)]
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "01.tif").write_bytes((DRIVE / "test" / "images" / "01_test.tif").read_bytes())
    model = tiny_export / "tiny.onnx"
    code = f"""
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
from desktop.batch import batch_jobs, run_batch
from desktop.tasks import load_engine, segment_image
engine = load_engine({str(model)!r}, "cpu")
segment_image(engine, {str(DRIVE / "test" / "images" / "02_test.tif")!r})
outcome = run_batch(engine, batch_jobs({str(folder)!r}), {str(tmp_path / "out")!r})
assert outcome.summary().startswith("1 segmented"), outcome.summary()
from desktop.app import main
code = main(["--measure-startup", "--model", {str(model)!r},
             "--settings-dir", {str(tmp_path / "settings")!r}])
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print(json.dumps(heavy))
sys.exit(code)
"""
    done = run_python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert json.loads(lines[-1]) == []
    window = re.search(r"window usable after ([\d.]+) s", done.stdout)
    model_ready = re.search(r"model ready after ([\d.]+) s", done.stdout)
    assert window and model_ready, done.stdout
    assert list((tmp_path / "settings").rglob("*.ini"))  # --settings-dir was honoured.
