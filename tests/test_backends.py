"""Backends (onnxruntime, OpenVINO), the accuracy gate and how ``auto`` chooses a variant."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from runtime.backends import BACKEND_CHOICES, BACKENDS, PRECISIONS, fp32_file, int8_file
from runtime.errors import UserInputError

REPO = Path(__file__).resolve().parents[1]
DRIVE_W16 = REPO / "saved_models" / "drive_unet_w16" / "drive_unet_w16.onnx"
DRIVE_TEST_IMAGE = REPO / "data" / "DRIVE" / "test" / "images" / "01_test.tif"


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test keeps its gate records in its own cache folder."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("VESSEL_CACHE_DIR", str(cache))
    return cache


def test_backend_table() -> None:
    assert BACKEND_CHOICES == ("auto", "onnxruntime", "openvino")
    for key, backend in BACKENDS.items():
        assert backend.key == key
        assert set(backend.precisions) <= set(PRECISIONS)
        assert "fp32" in backend.precisions
    assert fp32_file("a/m.int8.onnx") == Path("a/m.onnx")
    assert int8_file("a/m.onnx") == Path("a/m.int8.onnx")


def _drive_crop(size: int = 192) -> np.ndarray:
    from runtime.imageio import read_rgb

    image = read_rgb(DRIVE_TEST_IMAGE).astype(np.float32)
    return np.ascontiguousarray(image[200 : 200 + size, 200 : 200 + size][None])


def test_openvino_int8_is_compiled_per_static_shape_and_agrees_with_onnxruntime() -> None:
    """Compiled with dynamic shapes the QDQ model gave garbage (mean |Δ| 0.10 on this crop)."""
    pytest.importorskip("openvino")
    from runtime.onnx_session import OnnxPredictor
    from runtime.openvino_session import OpenVinoPredictor

    path = int8_file(DRIVE_W16)
    crop = _drive_crop()
    reference = OnnxPredictor(path, providers=["CPUExecutionProvider"], threads=2).predict(crop)
    model = OpenVinoPredictor(path, precision="int8", threads=2)
    output = model.predict(crop)
    assert output.shape == reference.shape
    assert float(np.abs(output - reference).mean()) < 0.01
    model.predict(crop[:, :96, :160])
    model.predict(crop)
    assert model.compiled_shapes == [(1, 96, 160, 3), (1, 192, 192, 3)]
    assert model.card.threshold == OnnxPredictor(path).card.threshold


def test_openvino_refuses_bad_batches_and_files(tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from runtime.errors import ModelFileError
    from runtime.openvino_session import OpenVinoPredictor

    model = OpenVinoPredictor(DRIVE_W16, precision="fp32", threads=1)
    with pytest.raises(ValueError, match="multiples of 16"):
        model.predict(np.zeros((1, 40, 48, 3), np.float32))
    with pytest.raises(ValueError, match="float32"):
        model.predict(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ModelFileError, match="not found"):
        OpenVinoPredictor(tmp_path / "missing.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match=r"junk\.onnx"):
        OpenVinoPredictor(junk)


def test_missing_openvino_is_a_one_line_error_naming_the_extra(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['openvino'] = None\n"
        "from runtime.segment import main\n"
        f"sys.exit(main([r'{DRIVE_TEST_IMAGE}', '--out', r'{tmp_path / 'out'}', "
        f"'--model', r'{DRIVE_W16}', '--backend', 'openvino', '--quiet']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "error: openvino is not installed; install it with: "
        'pip install "drive-vessel-unet[openvino]" (from a checkout: pip install -e ".[openvino]")'
    ]
    assert not (tmp_path / "out").exists()


def test_without_a_record_auto_is_onnxruntime_in_the_files_precision() -> None:
    from runtime.gate import choose_variant

    fp32 = choose_variant(DRIVE_W16)
    assert (fp32.backend, fp32.precision, fp32.path) == ("onnxruntime", "fp32", DRIVE_W16)
    int8 = choose_variant(int8_file(DRIVE_W16))
    assert (int8.backend, int8.precision) == ("onnxruntime", "int8")
    named = choose_variant(DRIVE_W16, "openvino", "bf16")
    assert (named.backend, named.precision) == ("openvino", "bf16")
    assert "not accuracy-gated" in named.reason
    with pytest.raises(UserInputError, match="runs fp32, int8, not bf16"):
        choose_variant(DRIVE_W16, "onnxruntime", "bf16")


def _write_record(model: Path, passed: dict[tuple[str, str], tuple[bool, float]]) -> Path:
    """A gate record of this machine for ``model``: ``{(backend, precision): (passed, ms)}``."""
    from runtime.gate import RECORD_VERSION, gate_record_path, machine_fingerprint

    variants = [
        {
            "backend": backend,
            "precision": precision,
            "passed": ok,
            "f1": 0.82 if ok else 0.5,
            "f1_drop": 0.0 if ok else 0.32,
            "max_abs_diff": 0.01,
            "p50_ms": ms,
            "reason": "" if ok else "DRIVE test F1 0.5000 vs 0.8200, drop 0.3200 > 0.005",
        }
        for (backend, precision), (ok, ms) in passed.items()
    ]
    path = gate_record_path(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {"version": RECORD_VERSION, "machine": machine_fingerprint(), "variants": variants}
    path.write_text(json.dumps(record))
    return path


def test_auto_takes_the_fastest_variant_that_passed_and_a_failed_one_is_refused(
    tmp_path: Path,
) -> None:
    pytest.importorskip("openvino")
    from runtime.gate import choose_variant

    _write_record(
        DRIVE_W16,
        {
            ("onnxruntime", "fp32"): (True, 100.0),
            ("onnxruntime", "int8"): (True, 60.0),
            ("openvino", "bf16"): (True, 50.0),
            ("openvino", "int8"): (False, 30.0),  # Fastest, but failed: never taken.
        },
    )
    auto = choose_variant(DRIVE_W16)
    assert (auto.backend, auto.precision) == ("openvino", "bf16")
    assert choose_variant(DRIVE_W16, "onnxruntime").precision == "int8"
    assert choose_variant(DRIVE_W16, precision="fp32").backend == "onnxruntime"
    with pytest.raises(UserInputError, match="openvino int8 failed the accuracy gate"):
        choose_variant(DRIVE_W16, "openvino", "int8")
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.segment",
            str(DRIVE_TEST_IMAGE),
            "--out",
            str(tmp_path / "out"),
            "--model",
            str(DRIVE_W16),
            "--backend",
            "openvino",
            "--precision",
            "int8",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "failed the accuracy gate on this machine" in run.stderr
    assert "drop 0.3200 > 0.005" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_record_of_another_machine_is_ignored() -> None:
    from runtime.gate import choose_variant, gate_record_path

    path = _write_record(DRIVE_W16, {("onnxruntime", "int8"): (True, 1.0)})
    record = json.loads(path.read_text())
    record["machine"]["cpu"] = "another CPU"
    path.write_text(json.dumps(record))
    assert choose_variant(DRIVE_W16).precision == "fp32"
    assert gate_record_path(DRIVE_W16) == path


@pytest.mark.e2e
def test_gate_scores_every_variant_and_segment_runs_the_one_auto_takes(
    tiny_export: Path, drive_crops: Path, tmp_path: Path
) -> None:
    """The gate run on DRIVE crops writes a record; ``vessel-segment`` then uses its choice."""
    pytest.importorskip("openvino")
    model = tiny_export / "tiny.onnx"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.gate",
            "--model",
            str(model),
            "--data",
            str(drive_crops.parent),
            "--threads",
            "1",
            "--rounds",
            "2",
            "--out",
            str(tmp_path / "gate"),
            "--quiet",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    record = json.loads((tmp_path / "gate" / "gate.json").read_text())
    rows = {(r["backend"], r["precision"]): r for r in record["variants"]}
    reference = rows[("onnxruntime", "fp32")]
    assert reference["passed"] and reference["f1_drop"] == 0.0 and reference["max_abs_diff"] == 0
    assert rows[("openvino", "fp32")]["max_abs_diff"] < 1e-4
    for row in rows.values():
        assert row["passed"] == (row["f1_drop"] <= 0.005) or row["reason"]
    from runtime.gate import choose_variant, load_gate_record

    assert load_gate_record(model) == record
    chosen = choose_variant(model)
    assert rows[(chosen.backend, chosen.precision)]["passed"]
    fastest = min((r for r in rows.values() if r["passed"]), key=lambda r: r["p50_ms"])
    assert (chosen.backend, chosen.precision) == (fastest["backend"], fastest["precision"])
    segment = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime.segment",
            str(drive_crops / "test" / "images"),
            "--out",
            str(tmp_path / "seg"),
            "--model",
            str(model),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert segment.returncode == 0, segment.stderr
    assert "fastest that passed the accuracy gate" in segment.stderr
    report = json.loads((tmp_path / "seg" / "measurements.json").read_text())
    assert len(report["rows"]) == 2
