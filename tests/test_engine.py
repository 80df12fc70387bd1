"""The onnxruntime engine, the segment CLI and the benchmark, on the tiny exported model."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from runtime.constants import WORKING_FOV_DIAMETER
from tests.conftest import DRIVE, REPO

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def engine(tiny_export):
    from runtime.engine import VesselEngine

    return VesselEngine.open(tiny_export / "tiny.onnx", provider="cpu")


def test_engine_equals_keras_on_a_drive_image(engine, tiny_run):
    from keras_unet.predictors import load_engine
    from runtime.imageio import read_binary, read_rgb

    image = read_rgb(DRIVE / "test" / "images" / "01_test.tif")
    fov = read_binary(DRIVE / "test" / "mask" / "01_test_mask.gif")
    result = engine.segment(image, fov)
    keras_prob = load_engine(tiny_run / "model.keras").probability(image, fov).probability
    assert result.scale == 1.0 and result.tiles == 1 and result.fov_source == "given"
    assert result.provider == "CPUExecutionProvider"
    np.testing.assert_allclose(result.probability, keras_prob, atol=1e-5)
    assert not result.mask[~fov].any()
    assert (result.mask == ((keras_prob >= engine.threshold) & fov)).mean() > 0.9999


def test_estimated_fov_and_rethreshold(engine):
    from runtime.imageio import read_rgb

    image = read_rgb(DRIVE / "test" / "images" / "02_test.tif")
    result = engine.segment(image)
    assert result.fov_source == "estimated" and result.scale == 1.0
    low, high = result.rethreshold(0.2), result.rethreshold(0.8)
    assert low.sum() >= result.mask.sum() >= high.sum()
    painted = result.overlay(image, colour=(255, 0, 0), opacity=1.0)
    assert (painted[result.mask] == [255, 0, 0]).all()


def test_rescaling_maps_back_to_the_original_size():
    import cv2

    from runtime.engine import VesselEngine
    from runtime.imageio import read_binary, read_rgb
    from runtime.models import shipped_model

    # The shipped DRIVE model: a tiny test model is too weak to say whether two scales agree.
    engine = VesselEngine.open(shipped_model("drive_unet_w16"), provider="cpu")
    image = read_rgb(DRIVE / "test" / "images" / "03_test.tif")
    fov = read_binary(DRIVE / "test" / "mask" / "03_test_mask.gif")
    direct = engine.segment(image, fov)
    big = cv2.resize(image, (565 * 2, 584 * 2), interpolation=cv2.INTER_CUBIC)
    big_fov = cv2.resize(
        fov.astype(np.uint8), (565 * 2, 584 * 2), interpolation=cv2.INTER_NEAREST
    ).astype(bool)
    scaled = engine.segment(big, big_fov)
    assert scaled.probability.shape == (1168, 1130)
    assert scaled.scale == pytest.approx(WORKING_FOV_DIAMETER / 1078, rel=0.02)
    back = cv2.resize(scaled.probability, (565, 584), interpolation=cv2.INTER_AREA)
    agree = ((back >= engine.threshold) == (direct.probability >= engine.threshold))[fov].mean()
    assert agree > 0.98


def test_tiling_matches_a_direct_run(tiny_export):
    from runtime.engine import VesselEngine
    from runtime.imageio import read_binary, read_rgb

    image = read_rgb(DRIVE / "test" / "images" / "04_test.tif")
    fov = read_binary(DRIVE / "test" / "mask" / "04_test_mask.gif")
    direct = VesselEngine.open(tiny_export / "tiny.onnx", provider="cpu").segment(image, fov)
    tiled = VesselEngine.open(
        tiny_export / "tiny.onnx", provider="cpu", tile=256, overlap=64
    ).segment(image, fov)
    assert tiled.tiles > 4
    assert np.abs(tiled.probability - direct.probability).mean() < 0.01
    assert (tiled.mask == direct.mask).mean() > 0.99


def test_odd_sizes_tiny_and_bad_images(engine):
    rng = np.random.default_rng(0)
    result = engine.segment(rng.integers(0, 255, (37, 53, 3)).astype(np.uint8))
    assert result.probability.shape == (37, 53)
    with pytest.raises(ValueError, match="too small to segment"):
        engine.segment(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ValueError, match=r"expected an \(H, W, 3\) RGB image"):
        engine.segment(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="FOV mask is 5x5, image is 53x37"):
        engine.segment(rng.integers(0, 255, (37, 53, 3)).astype(np.uint8), np.ones((5, 5), bool))


def _run_segment(args, cwd=REPO):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "runtime.segment", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_segment_cli_batch_resume_and_failures(tiny_export, tmp_path):
    src = tmp_path / "in put é"
    (src / "sub").mkdir(parents=True)
    for sid, folder in (("01", src), ("02", src / "sub")):
        shutil.copy(DRIVE / "test" / "images" / f"{sid}_test.tif", folder / f"{sid}_test.tif")
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n-truncated")
    Image.new("RGB", (1, 1)).save(src / "dot.png")
    out = tmp_path / "out"
    model = tiny_export / "tiny.onnx"

    done = _run_segment([src, "--recursive", "--out", out, "--model", model, "--quiet"])
    assert done.returncode == 1, done.stderr
    assert "2 segmented (0 already done, 0 rejected by the quality gate), 2 failed" in done.stdout
    assert "broken.png: cannot decode image" in done.stderr
    assert "dot.png: image is too small to segment" in done.stderr
    for rel in ("01_test", "sub/02_test"):
        for kind in ("mask", "probability", "overlay"):
            assert (out / f"{rel}_{kind}.png").is_file()
    assert (out / "measurements.csv").read_bytes().startswith(b"\xef\xbb\xbf")  # BOM: Excel.
    with open(out / "measurements.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["image"], r["status"]) for r in rows] == [
        ("01_test.tif", "ok"),
        ("sub/02_test.tif", "ok"),
        ("broken.png", "failed"),
        ("dot.png", "failed"),
    ]
    assert "cannot decode image" in rows[2]["error"]
    assert 0.0 < float(rows[0]["vessel_density_pct"]) < 100.0 and rows[0]["fov"] == "estimated"
    assert float(rows[0]["mean_width_um"]) > 0 and rows[0]["quality"] == "ok"
    assert rows[0]["scale"].startswith("45° field of view") and rows[3]["model_name"]
    assert rows[0]["date"] and rows[0]["threshold"]
    report = json.loads((out / "measurements.json").read_text())
    assert report["settings"]["provider"] == "CPUExecutionProvider"
    assert len(report["failed"]) == 2
    assert sorted(p.name for p in src.iterdir()) == ["01_test.tif", "broken.png", "dot.png", "sub"]

    stamp = (out / "01_test_mask.png").stat().st_mtime_ns
    again = _run_segment([src, "--recursive", "--out", out, "--model", model, "--quiet"])
    assert "0 segmented" not in again.stdout and "(2 already done," in again.stdout
    assert (out / "01_test_mask.png").stat().st_mtime_ns == stamp
    forced = _run_segment(
        [src / "01_test.tif", "--out", out, "--model", model, "--quiet", "--force"]
    )
    assert forced.returncode == 0 and "1 segmented (0 already done," in forced.stdout
    assert (out / "01_test_mask.png").stat().st_mtime_ns != stamp


def test_segment_cli_scale_units_and_resume_only_with_the_same_settings(tiny_export, tmp_path):
    """Run from another folder: --fov-degrees, --pixel-size, --relative-units; a changed
    setting redoes the images instead of taking over numbers made another way."""
    from PIL import Image

    src = tmp_path / "photos"
    src.mkdir()
    shutil.copy(DRIVE / "test" / "images" / "01_test.tif", src)
    out, model = tmp_path / "results", tiny_export / "tiny.onnx"

    def widths(*flags):
        done = _run_segment([src, "--out", out, "--model", model, "--quiet", *flags], tmp_path)
        assert done.returncode == 0, done.stderr
        with open(out / "measurements.csv", newline="", encoding="utf-8-sig") as handle:
            return done.stdout, next(csv.DictReader(handle))

    _, row45 = widths()
    _, again = widths()
    assert again["mean_width_um"] == row45["mean_width_um"]  # Taken over, not redone.
    said50, row50 = widths("--fov-degrees", "50")
    assert (
        "(1 already done,"
        in _run_segment(
            [src, "--out", out, "--model", model, "--quiet", "--fov-degrees", "50"], tmp_path
        ).stdout
    )
    assert "(0 already done," in said50  # Another scale: redone, not taken over.
    assert float(row50["mean_width_um"]) == pytest.approx(
        float(row45["mean_width_um"]) * 50 / 45, abs=0.15
    )
    _, relative = widths("--relative-units")
    assert "mean_width_permille_fovd" in relative and "skeleton_length_fovd" in relative
    said, pixel = widths("--pixel-size", "20", "--report")
    assert pixel["scale"] == "pixel size 20 µm"
    report = (out / "report.pdf").read_bytes()  # One page per photograph.
    assert "report.pdf (1 page(s))" in said and report.count(b"/Type /Page\n") == 1
    text = Image.open(out / "01_test_mask.png").text
    assert text["Software"] == "drive-vessel-unet" and text["Scale"] == "pixel size 20 µm"
    assert text["Threshold"] and text["Model"] and text["Creation Time"]
    bad = _run_segment([src, "--out", out, "--model", model, "--fov-degrees", "-4"], tmp_path)
    assert bad.returncode == 2 and "field of view (degrees) must be a positive" in bad.stderr
    both = _run_segment(
        [src, "--out", out, "--model", model, "--fov-degrees", "45", "--pixel-size", "3"], tmp_path
    )
    assert both.returncode == 2 and "not allowed with" in both.stderr
    # The outputs folder given as an input adds no job: the product's own images are skipped.
    mixed = _run_segment(
        [src, out, "--out", tmp_path / "o2", "--model", model, "--quiet"], tmp_path
    )
    assert "1 segmented" in mixed.stdout, mixed.stdout


def test_segment_cli_progress_lines(tiny_export, tmp_path, capsys):
    from runtime.segment import main

    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DRIVE / "test" / "images" / "01_test.tif", src)
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n-truncated")
    args = [str(src), "--out", str(tmp_path / "out"), "--model", str(tiny_export / "tiny.onnx")]
    assert main(args) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("model ") and ", no TTA, 2 image(s)" in lines[0]
    assert lines[1].startswith(f"[{'#' * 12}{'-' * 12}] 1/2 01_test.tif: ok (")
    assert lines[2].startswith(f"[{'#' * 24}] 2/2 broken.png: FAILED: {src / 'broken.png'}: ")
    assert len(lines) == 4 and lines[3].startswith("failed: ")  # No line for the starts.
    assert main([*args, "--quiet"]) == 1
    assert capsys.readouterr().err.splitlines()[0].startswith("failed: ")
    assert main([*args, "--tta", "--force"]) == 1
    assert ", TTA: 8 views, 2 image(s)" in capsys.readouterr().err.splitlines()[0]


def test_segment_cli_refuses_to_write_into_inputs(tiny_export, tmp_path):
    src = tmp_path / "images"
    src.mkdir()
    shutil.copy(DRIVE / "test" / "images" / "01_test.tif", src)
    inside = _run_segment([src, "--out", src / "results", "--model", tiny_export / "tiny.onnx"])
    assert inside.returncode == 2 and "inside the input folder" in inside.stderr
    missing = _run_segment(
        [tmp_path / "nope", "--out", tmp_path / "o", "--model", tiny_export / "tiny.onnx"]
    )
    assert missing.returncode == 2 and "nope: no such file or folder" in missing.stderr
    bad_model = _run_segment([src, "--out", tmp_path / "o", "--model", tmp_path / "x.onnx"])
    assert bad_model.returncode == 2 and "x.onnx: model file not found" in bad_model.stderr
    assert "Traceback" not in inside.stderr + missing.stderr + bad_model.stderr


def test_runtime_never_imports_tensorflow(tiny_export):
    code = (
        "import sys\n"
        "from runtime.engine import VesselEngine\n"
        "import runtime.segment, runtime.measurements, runtime.fov\n"
        f"e = VesselEngine.open(r'{tiny_export / 'tiny.onnx'}')\n"
        f"e.segment_file(r'{DRIVE / 'test' / 'images' / '01_test.tif'}')\n"
        "bad = [m for m in ('tensorflow', 'keras', 'PySide6') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_benchmark_writes_its_tables(tiny_export, tiny_run, tmp_path):
    from export import benchmark

    shutil.copy(tiny_run / "model.keras", tiny_export / "tiny.keras")
    out = tmp_path / "bench"
    code = benchmark.main(
        [
            "--model",
            str(tiny_export / "tiny.onnx"),
            "--images",
            "2",
            "--rounds",
            "1",
            "--warmup",
            "1",
            "--batch",
            "2",
            "--threads",
            "1",
            "--e2e-rounds",
            "1",
            "--main-job-images",
            "2",
            "--gate-images",
            "2",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    result = json.loads((out / "benchmark.json").read_text())
    names = [r["variant"] for r in result["rows"]]
    assert names[:2] == ["onnxruntime fp32 CPU 1t", "onnxruntime int8 CPU 1t"]
    assert names[-1].startswith("keras ")
    openvino = [n for n in names if n.startswith("openvino ")]
    if importlib.util.find_spec("openvino") is not None:  # Side by side with onnxruntime.
        assert {"openvino fp32 CPU 1t", "openvino int8 CPU 1t"} <= set(openvino)
    for row in result["rows"]:  # Model-only and end-to-end figures, and the gate's verdict.
        assert 0 < row["infer_ms"] < row["end_to_end_ms"]
        assert 0 < row["model_ms"] < row["infer_ms"]
        assert row["read_ms"] > 0 and row["write_pngs_ms"] > 0 and row["measure_ms"] > 0
        if row["runtime"] != "keras":
            assert row["gate"]["passed"] == (row["gate"]["f1_drop"] <= 0.005)
    assert result["rows"][0]["gate"]["f1_drop"] == 0.0
    assert [m["mode"] for m in result["main_job"]] == ["sequential", "overlapped"]
    assert all(m["images"] == 2 and m["seconds"] > 0 for m in result["main_job"])
    fp32 = result["rows"][0]
    assert fp32["p50_ms"] > 0 and fp32["time_vs_onnx_fp32"] == 1.0 and fp32["samples"] == 2
    assert result["input"] == "584x568"  # DRIVE padded to the tiny model's multiple of 4
    flops = benchmark.onnx_flops(tiny_export / "tiny.onnx", 584, 568)
    assert result["flops"] == pytest.approx(flops, rel=1e-9)
    assert fp32["gflop_per_s"] == pytest.approx(result["flops"] / fp32["p50_ms"] / 1e6)
    markdown = (out / "benchmark.md").read_text()
    assert "| onnxruntime int8 CPU 1t |" in markdown
    assert "### Main job" in markdown and "### Per-image stages" in markdown


def test_flop_count_by_hand(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    from export import benchmark

    # One 3x3 conv, 3 -> 4 channels, on NCHW 1x3xHxW, preceded by an NHWC->NCHW transpose.
    weight = numpy_helper.from_array(np.zeros((4, 3, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [
            helper.make_node("Transpose", ["image"], ["t"], perm=[0, 3, 1, 2]),
            helper.make_node("Conv", ["t", "w"], ["y"], pads=[1, 1, 1, 1]),
        ],
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", "h", "w", 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [weight],
    )
    path = tmp_path / "conv.onnx"
    import onnx

    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    assert benchmark.onnx_flops(path, 8, 10) == 2 * (4 * 8 * 10) * (3 * 3 * 3)


def test_segment_file_uses_the_drive_mask_beside_the_image(engine, tmp_path):
    image, result, mask = engine.segment_file(DRIVE / "test" / "images" / "05_test.tif")
    assert result.fov_source == "given" and image.shape == (584, 565, 3)
    assert mask == DRIVE / "test" / "mask" / "05_test_mask.gif"
    shutil.copy(DRIVE / "test" / "images" / "05_test.tif", tmp_path / "05_test.tif")
    _, alone, none = engine.segment_file(tmp_path / "05_test.tif")
    assert none is None
    assert alone.fov_source == "estimated"
    assert (alone.fov == result.fov).mean() > 0.98


def test_segment_cli_output_under_a_file_is_one_line(tiny_export, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DRIVE / "test" / "images" / "01_test.tif", src)
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    done = _run_segment([src, "--out", blocker / "sub", "--model", tiny_export / "tiny.onnx"])
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: {blocker / 'sub'}: {blocker} is a file, not a folder; choose another --out"
    ]
    assert blocker.read_text() == "mine"


def test_resume_keeps_rows_of_an_older_version_with_other_columns(tiny_export, tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(DRIVE / "test" / "images" / "01_test.tif", src)
    out, model = tmp_path / "out", tiny_export / "tiny.onnx"
    assert _run_segment([src, "--out", out, "--model", model, "--quiet"]).returncode == 0
    report = json.loads((out / "measurements.json").read_text())
    old = report["rows"][0]
    del old["tortuosity"]  # An older version measured less and something else.
    old["retired_measure"] = 1.5
    (out / "measurements.json").write_text(json.dumps(report))
    shutil.copy(DRIVE / "test" / "images" / "02_test.tif", src)
    done = _run_segment([src, "--out", out, "--model", model, "--quiet"])
    assert done.returncode == 0, done.stderr
    assert "2 segmented (1 already done," in done.stdout
    with open(out / "measurements.csv", newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["image"] for r in rows] == ["01_test.tif", "02_test.tif"]
    assert rows[0]["retired_measure"] == "1.5" and rows[1]["retired_measure"] == ""
    assert rows[0]["tortuosity"] == "" and float(rows[1]["tortuosity"]) >= 1.0
