"""Export of a tiny trained model to every format: parity, names, shapes, metadata, rules."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

pytest.importorskip("tf2onnx")
onnx = pytest.importorskip("onnx")

from export import __main__ as export_cli  # noqa: E402
from export.exporter import MAX_ABS_DIFF, export_all  # noqa: E402
from runtime.errors import ModelFileError, UserInputError  # noqa: E402
from runtime.model_card import METADATA_KEYS  # noqa: E402
from runtime.onnx_session import OnnxPredictor  # noqa: E402

pytestmark = pytest.mark.e2e


def test_every_artifact_is_written_and_passes_its_gate(tiny_export):
    for name in (
        "tiny.onnx",
        "tiny.int8.onnx",
        "tiny.fp16.onnx",
        "tiny.tflite",
        "tiny_savedmodel/saved_model.pb",
        "export_report.json",
        "export_report.md",
    ):
        assert (tiny_export / name).exists(), name
    report = json.loads((tiny_export / "export_report.json").read_text())
    by_format = {a["format"]: a for a in report["artifacts"]}
    assert list(by_format) == ["savedmodel", "onnx", "int8", "fp16", "tflite"]
    assert all(a["passed"] for a in by_format.values())
    for fmt in ("savedmodel", "onnx", "tflite"):
        assert by_format[fmt]["max_abs_diff"] <= MAX_ABS_DIFF
        assert set(by_format[fmt]["parity"]) == {"96x96", "1024x1024", "batch2_96x96"}
    # Quantised models are judged by the task metric, and do differ from Keras.
    assert by_format["int8"]["max_abs_diff"] > 1e-5
    assert abs(by_format["int8"]["test"]["f1"] - by_format["onnx"]["test"]["f1"]) <= 0.005
    assert by_format["onnx"]["test"]["f1"] == pytest.approx(report["keras"]["test"]["f1"], abs=1e-4)
    assert "| int8 |" in (tiny_export / "export_report.md").read_text()
    # Every backend x precision is accuracy-gated against onnxruntime fp32 in the report.
    gate = {(v["backend"], v["precision"]): v for v in report["backends"]["variants"]}
    assert gate[("onnxruntime", "fp32")]["passed"] and gate[("onnxruntime", "fp32")]["f1_drop"] == 0
    assert gate[("onnxruntime", "int8")]["f1"] == pytest.approx(by_format["int8"]["test"]["f1"])
    for row in gate.values():
        assert row["passed"] == (row["f1_drop"] <= 0.005) or row["reason"]
    assert "Accuracy gate" in (tiny_export / "export_report.md").read_text()


def test_onnx_graph_names_shapes_and_metadata(tiny_export, tiny_run):
    proto = onnx.load(str(tiny_export / "tiny.onnx"))
    onnx.checker.check_model(proto)
    assert proto.opset_import[0].version == 17
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["vessel_probability"]
    dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", "height", "width", 3]
    meta = {p.key: p.value for p in proto.metadata_props}
    assert set(meta) == set(METADATA_KEYS)
    card = json.loads((tiny_run / "config.json").read_text())
    assert float(meta["threshold"]) == card["threshold"]
    assert meta["input_multiple"] == "4" and meta["precision"] == "fp32"
    assert json.loads(meta["input_value_range"]) == [0.0, 255.0]
    assert json.loads(meta["validation_metrics"])["f1"] == round(
        card["validation"]["at_threshold"]["f1"], 4
    )
    assert json.loads(meta["training_sets"]) == ["DRIVE"]
    assert meta["training_data"].startswith("DRIVE 4 fit + 2 validation images")
    assert float(meta["working_fov_diameter"]) == 539.0
    int8 = onnx.load(str(tiny_export / "tiny.int8.onnx"))
    assert {p.key: p.value for p in int8.metadata_props}["precision"] == "int8"
    assert any(n.op_type == "QuantizeLinear" for n in int8.graph.node)


def test_dynamic_shapes_and_the_raw_wrapper(tiny_export):
    model = OnnxPredictor(tiny_export / "tiny.onnx")
    assert model.provider == "CPUExecutionProvider" and model.multiple == 4
    rng = np.random.default_rng(0)
    for shape in ((1, 32, 48, 3), (2, 64, 20, 3)):
        out = model.predict(rng.uniform(0, 255, shape).astype(np.float32))
        assert out.shape == (*shape[:3], 1)
    with pytest.raises(ValueError, match=r"multiples of 4, got 30x31 \(pad the image first\)"):
        model.predict(np.zeros((1, 30, 31, 3), np.float32))
    with pytest.raises(ValueError, match="float32"):
        model.predict(np.zeros((1, 32, 32, 3), np.uint8))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        model.predict(np.zeros((32, 32, 3), np.float32))


def test_runtime_side_pads_odd_sizes_like_keras(tiny_export, tiny_run):
    from keras_unet.predictors import load_engine

    image = np.random.default_rng(1).integers(0, 256, (30, 31, 3)).astype(np.uint8)
    fov = np.ones(image.shape[:2], bool)
    onnx_prob = load_engine(tiny_export / "tiny.onnx").probability(image, fov).probability
    keras_prob = load_engine(tiny_run / "model.keras").probability(image, fov).probability
    assert onnx_prob.shape == (30, 31)
    np.testing.assert_allclose(onnx_prob, keras_prob, atol=1e-5)


def test_evaluate_scores_onnx_like_keras(tiny_export, tiny_run, drive_crops):
    from keras_unet.evaluate import evaluate_split
    from keras_unet.predictors import load_engine

    root = drive_crops.parent
    onnx_engine = load_engine(tiny_export / "tiny.onnx")
    onnx_result = evaluate_split(onnx_engine, root, "DRIVE", "test", progress=False)
    keras_engine = load_engine(tiny_run / "model.keras")
    keras_result = evaluate_split(keras_engine, root, "DRIVE", "test", progress=False)
    assert onnx_result["runtime"] == "onnxruntime CPU"
    assert onnx_result["threshold"] == keras_result["threshold"]
    for key in ("auc_roc", "f1", "accuracy"):
        assert onnx_result["pooled"]["at_threshold"][key] == pytest.approx(
            keras_result["pooled"]["at_threshold"][key], abs=1e-4
        )


def test_existing_output_folder_needs_overwrite_and_keeps_user_files(
    tiny_run, drive_crops, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    argv = [
        "--model",
        str(tiny_run / "model.keras"),
        "--out",
        str(out),
        "--data",
        str(drive_crops.parent),
        "--formats",
        "onnx",
        "--quiet",
    ]
    assert export_cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "output folder exists; pass --overwrite" in err and len(err.strip().splitlines()) == 1
    assert export_cli.main([*argv, "--overwrite"]) == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "tiny.onnx").is_file() and not (out / "tiny.int8.onnx").exists()


def test_bad_models_and_unknown_formats_are_refused(tiny_run, drive_crops, tmp_path):
    with pytest.raises(ModelFileError, match=r"model file not found"):
        export_all(tmp_path / "none.keras", tmp_path / "o", data_dir=drive_crops.parent)
    (tmp_path / "bad.keras").write_bytes(b"PK-not-really")
    with pytest.raises(ModelFileError, match=r"bad\.keras: not a \.keras model"):
        export_all(tmp_path / "bad.keras", tmp_path / "o", data_dir=drive_crops.parent)
    lonely = tmp_path / "lonely"
    lonely.mkdir()
    shutil.copy(tiny_run / "model.keras", lonely / "model.keras")
    with pytest.raises(UserInputError, match=r"no config\.json"):
        export_all(lonely / "model.keras", tmp_path / "o", data_dir=drive_crops.parent)
    with pytest.raises(UserInputError, match="unknown format"):
        export_all(
            tiny_run / "model.keras",
            tmp_path / "o",
            ("onnx", "coreml"),
            data_dir=drive_crops.parent,
        )


def test_missing_converter_is_one_line(tiny_run, drive_crops, tmp_path, monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "tf2onnx" else real(name, *a)
    )
    argv = [
        "--model",
        str(tiny_run / "model.keras"),
        "--out",
        str(tmp_path / "o"),
        "--data",
        str(drive_crops.parent),
        "--formats",
        "onnx",
        "--quiet",
    ]
    assert export_cli.main(argv) == 0  # The format is skipped and the report says why.
    report = json.loads((tmp_path / "o" / "export_report.json").read_text())
    assert report["skipped"][0]["format"] == "onnx"
    assert (
        'tf2onnx is not installed; install it with: pip install "drive-vessel-unet[export]"'
        in (report["skipped"][0]["reason"])
    )
    assert report["artifacts"] == []


def test_onnx_without_metadata_is_refused(tiny_export, tmp_path):
    proto = onnx.load(str(tiny_export / "tiny.onnx"))
    del proto.metadata_props[:]
    onnx.save(proto, str(tmp_path / "bare.onnx"))
    with pytest.raises(ModelFileError, match=r"bare\.onnx: ONNX metadata lacks input_multiple"):
        OnnxPredictor(tmp_path / "bare.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x01junk")
    with pytest.raises(ModelFileError, match=r"junk\.onnx: cannot load ONNX model"):
        OnnxPredictor(tmp_path / "junk.onnx")
