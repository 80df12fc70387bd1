"""End-to-end: train a tiny model on DRIVE crops, resume, evaluate; CLI errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import zipfile

import pytest
from PIL import Image

from tests.conftest import REPO, TINY_TRAIN_FLAGS, tiny_config

pytest.importorskip("tensorflow")

from keras_unet import evaluate as evaluate_cli
from keras_unet import train as train_cli
from runtime.imageio import read_binary

pytestmark = pytest.mark.e2e


def _history(run_dir):
    with open(run_dir / "history.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_training_writes_every_run_artifact(tiny_run):
    for name in (
        "config.json",
        "environment.json",
        "history.csv",
        "loss_curves.png",
        "state.json",
        "last.keras",
        "best.keras",
        "model.keras",
    ):
        assert (tiny_run / name).is_file(), name
    assert any((tiny_run / "tensorboard").rglob("events.out.tfevents.*"))
    rows = _history(tiny_run)
    assert [int(r["epoch"]) for r in rows] == [0, 1]
    assert {"loss", "dice", "auc", "val_loss", "val_dice", "val_auc"} <= set(rows[0])
    card = json.loads((tiny_run / "config.json").read_text())
    assert card["training"]["filters"] == 4 and card["model"]["multiple"] == 4
    assert card["data"]["validation_ids"] == {"DRIVE": ["21", "25"]}
    assert not set(card["data"]["train_ids"]["DRIVE"]) & set(
        card["data"]["validation_ids"]["DRIVE"]
    )
    assert 0.0 < card["threshold"] < 1.0
    assert card["validation"]["at_threshold"]["threshold"] == card["threshold"]
    assert card["validation"]["at_threshold"]["counts"]["tp"] >= 0
    env = json.loads((tiny_run / "environment.json").read_text())
    assert env["tensorflow"] and env["keras"] and env["cpu_count"] >= 1
    state = json.loads((tiny_run / "state.json").read_text())
    assert state["epoch"] == 2 and state["monitor"] == "val_dice" and state["train_seconds"] > 0
    with Image.open(tiny_run / "loss_curves.png") as plot:
        assert plot.size[0] > 500
    # The shipped form carries no optimizer state: smaller than the resumable checkpoint.
    with zipfile.ZipFile(tiny_run / "model.keras") as shipped:
        names = shipped.namelist()
    assert (tiny_run / "model.keras").stat().st_size < (tiny_run / "last.keras").stat().st_size
    assert "model.weights.h5" in names


def test_resume_continues_where_training_stopped(drive_crops, tmp_path):
    from keras_unet.train import resume_config, train

    config = tiny_config(drive_crops, tmp_path, "resumable", epochs=1)
    train(config, verbose=0)
    assert json.loads((tmp_path / "resumable" / "state.json").read_text())["epoch"] == 1
    resumed = resume_config(tmp_path, "resumable", epochs=2)
    assert resumed.filters == 4 and resumed.epochs == 2
    run_dir = train(resumed, resume=True, verbose=0)
    assert [int(r["epoch"]) for r in _history(run_dir)] == [0, 1]
    assert json.loads((run_dir / "state.json").read_text())["epoch"] == 2
    assert (run_dir / "environment.resume1.json").is_file()
    # A resumed run folder is still only run files: --overwrite may replace it, a user file not.
    assert (
        train(tiny_config(drive_crops, tmp_path, "resumable", epochs=1), overwrite=True, verbose=0)
        == run_dir
    )
    assert not (run_dir / "environment.resume1.json").exists()
    (run_dir / "notes.txt").write_text("mine")
    from keras_unet.config import ConfigError

    with pytest.raises(ConfigError, match=r"holds files a run does not write \(notes\.txt\)"):
        train(tiny_config(drive_crops, tmp_path, "resumable", epochs=1), overwrite=True)
    assert (run_dir / "notes.txt").read_text() == "mine"


def test_existing_run_folder_needs_overwrite(tiny_run, capsys):
    argv = ["--runs-dir", str(tiny_run.parent), "--name", tiny_run.name, "--epochs", "1"]
    assert train_cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "run folder exists" in err and "--overwrite" in err
    assert len(err.splitlines()) == 1
    assert (tiny_run / "model.keras").is_file()  # untouched


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--epochs", "-3"], "--epochs must be a positive integer, received -3"),
        (["--patch-size", "50"], "--patch-size must be a multiple of 2**depth = 16, received 50"),
        (["--loss", "focal"], "--loss: invalid choice: 'focal' (choose from 'mse', 'bce'"),
        (["--depth", "9"], "--depth must be in [1, 7], received 9"),
        (["--name", "../escape"], "--name must be a plain folder name"),
        (["--ema-momentum", "1"], "--ema-momentum must be in [0, 1), received 1.0"),
        (
            ["--ema-momentum", "0.999", "--strategy", "multiworker"],
            "--ema-momentum is not available with --strategy multiworker",
        ),
    ],
)
def test_invalid_flags_are_refused_up_front(tmp_path, capsys, flags, message):
    try:
        code = train_cli.main(["--runs-dir", str(tmp_path), *flags])
    except SystemExit as exc:  # argparse refuses values outside a flag's choices itself.
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not any(tmp_path.iterdir())  # nothing was created


def test_missing_data_folder_is_one_line(tmp_path, capsys):
    assert train_cli.main(["--data", str(tmp_path / "nope"), "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"error: {tmp_path / 'nope' / 'DRIVE'}: data set DRIVE not found"


def test_mirrored_strategy_on_two_logical_cpus(drive_crops, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "keras_unet.train",
        "--data",
        str(drive_crops.parent),
        "--runs-dir",
        str(tmp_path),
        "--name",
        "mirrored",
        *TINY_TRAIN_FLAGS,
        "--validation-images",
        "2",
        "--loss",
        "bce+dice",
        "--strategy",
        "mirrored",
        "--cpu-replicas",
        "2",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    environment = json.loads((tmp_path / "mirrored" / "environment.json").read_text())
    cpus = [d for d in environment["logical_devices"] if "CPU" in d]
    assert len(cpus) == 2
    assert (tmp_path / "mirrored" / "model.keras").is_file()
    assert "validation (FOV): F1" in done.stdout


def test_evaluate_writes_metrics_tables_and_pngs(tiny_run, drive_crops, tmp_path, capsys):
    out = tmp_path / "eval"
    argv = [
        "--model",
        str(tiny_run / "model.keras"),
        "--data",
        str(drive_crops.parent),
        "--out",
        str(out),
        "--quiet",
    ]
    assert evaluate_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "model, validation threshold" in printed and "2nd observer" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    card = json.loads((tiny_run / "config.json").read_text())
    assert metrics["threshold"] == card["threshold"]
    assert [r["id"] for r in metrics["per_image"]] == ["01", "02"]
    fov = sum(int(read_binary(p).sum()) for p in (drive_crops / "test" / "mask").iterdir())
    assert 0 < fov <= 2 * 96 * 96
    assert metrics["fov_pixels"] == fov
    counts = metrics["pooled"]["at_threshold"]["counts"]
    assert sum(counts.values()) == fov
    assert 0.0 <= metrics["pooled"]["at_threshold"]["auc_roc"] <= 1.0
    assert metrics["second_observer"]["pooled"]["f1"] > 0.5
    for sid in ("01", "02"):
        for kind in ("probability", "mask", "overlay"):
            with Image.open(out / f"{sid}_{kind}.png") as png:
                assert png.size == (96, 96)
    assert "| 01 |" in (out / "metrics.md").read_text()


def test_evaluate_tta_and_threshold_override(tiny_run, drive_crops):
    from keras_unet.evaluate import evaluate_split
    from keras_unet.predictors import load_engine

    root = drive_crops.parent
    plain = evaluate_split(load_engine(tiny_run / "model.keras"), root, "DRIVE", "test")
    tta = load_engine(tiny_run / "model.keras", tta=True)
    flipped = evaluate_split(tta, root, "DRIVE", "test", threshold=0.3, progress=False)
    assert flipped["threshold"] == 0.3 and flipped["threshold_source"] == "override"
    assert flipped["tta"] and plain["fov_pixels"] == flipped["fov_pixels"]
    assert flipped["pooled"]["at_0.5"]["auc_roc"] != plain["pooled"]["at_0.5"]["auc_roc"]


def test_evaluate_errors_are_one_line(tmp_path, drive_crops, capsys):
    import keras

    def run(model):
        code = evaluate_cli.main(
            ["--model", str(model), "--data", str(drive_crops.parent), "--out", str(tmp_path / "o")]
        )
        return code, capsys.readouterr().err.strip()

    code, err = run(tmp_path / "missing.keras")
    assert code == 2 and err == f"error: {tmp_path / 'missing.keras'}: model file not found"
    (tmp_path / "corrupt.keras").write_bytes(b"\x00garbage")
    code, err = run(tmp_path / "corrupt.keras")
    assert code == 2 and "corrupt.keras: not a .keras model" in err
    inputs = keras.Input((None, None, 3))
    keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs)).save(tmp_path / "two.keras")
    code, err = run(tmp_path / "two.keras")
    assert code == 2 and "two.keras: model must output one channel" in err
    keras.Model(inputs, keras.layers.Conv2D(1, 1)(inputs)).save(tmp_path / "linear.keras")
    code, err = run(tmp_path / "linear.keras")
    assert code == 2 and "model output must be a sigmoid" in err
    (tmp_path / "model.onnx").write_bytes(b"x")
    code, err = run(tmp_path / "model.onnx")
    assert code == 2 and "model.onnx: cannot load ONNX model" in err
    (tmp_path / "model.h5").write_bytes(b"x")
    code, err = run(tmp_path / "model.h5")
    assert code == 2 and "unsupported model file" in err


def test_evaluate_refuses_to_write_into_the_data(tiny_run, drive_crops, capsys):
    argv = [
        "--model",
        str(tiny_run / "model.keras"),
        "--data",
        str(drive_crops.parent),
        "--out",
        str(drive_crops / "test" / "predictions"),
    ]
    assert evaluate_cli.main(argv) == 2
    assert "refusing to write results inside the data folder" in capsys.readouterr().err
    assert not (drive_crops / "test" / "predictions").exists()


def test_ship_copies_the_model_and_scores_it(tiny_run, drive_crops, tmp_path, capsys):
    from keras_unet import ship

    argv = [
        "--run",
        str(tiny_run),
        "--name",
        "tiny_shipped",
        "--data",
        str(drive_crops.parent),
        "--dest",
        str(tmp_path),
    ]
    assert ship.main(argv) == 0
    dest = tmp_path / "tiny_shipped"
    assert (dest / "tiny_shipped.keras").read_bytes() == (tiny_run / "model.keras").read_bytes()
    card = json.loads((dest / "config.json").read_text())
    metrics = json.loads((dest / "metrics.json").read_text())
    assert card["name"] == "tiny_shipped" and metrics["model"] == "tiny_shipped.keras"
    assert card["test_summary"]["f1"] == round(metrics["pooled"]["at_threshold"]["f1"], 4)
    tta = json.loads((dest / "metrics_tta.json").read_text())
    assert tta["tta"] and card["test_summary_tta"]["f1"] == round(
        tta["pooled"]["at_threshold"]["f1"], 4
    )
    assert (dest / "loss_curves.png").is_file() and (dest / "metrics.md").is_file()
    capsys.readouterr()
    assert ship.main(argv) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_compare_tables_runs(tiny_run, drive_crops, tmp_path):
    from keras_unet import compare

    # The comparison times inference on DRIVE image 01 at full size: use the real data root.
    rows = compare.compare_runs([tiny_run], REPO / "data", repeats=1)
    assert rows[0]["parameters"] > 0 and rows[0]["keras_latency_ms_p50"] > 0
    assert 0.0 <= rows[0]["test_f1"] <= 1.0
    table = compare.to_markdown(rows)
    assert table.splitlines()[2].startswith("| tiny | 4 | 2 | 32 | mse |")


def test_weight_averaging_ships_the_average_and_resumes_from_the_trained_weights(
    drive_crops, tmp_path
):
    import keras
    import numpy as np

    from keras_unet.train import resume_config, train

    config = tiny_config(drive_crops, tmp_path, "averaged", epochs=1, ema_momentum=0.9)
    run_dir = train(config, verbose=0)
    last = keras.saving.load_model(run_dir / "last.keras", compile=True)
    shipped = keras.saving.load_model(run_dir / "model.keras", compile=False)
    assert last.optimizer.use_ema and last.optimizer.ema_momentum == pytest.approx(0.9)
    averages = {v.path.split("/", 1)[-1]: np.asarray(v) for v in last.optimizer.variables}
    pairs = list(zip(last.trainable_variables, shipped.trainable_variables, strict=True))
    # The one epoch is the best one: the shipped model holds the average, last.keras the
    # trained weights (what --resume continues from) and the average in its optimizer.
    for trained, averaged in pairs:
        average = averages[f"{trained.path.replace('/', '_')}_average"]
        np.testing.assert_allclose(np.asarray(averaged), average, rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(np.asarray(t), np.asarray(s)) for t, s in pairs)
    resumed = train(resume_config(tmp_path, "averaged", epochs=2), resume=True, verbose=0)
    assert json.loads((resumed / "state.json").read_text())["epoch"] == 2
    assert json.loads((resumed / "config.json").read_text())["training"]["ema_momentum"] == 0.9
