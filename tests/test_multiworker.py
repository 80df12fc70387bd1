"""``--strategy multiworker``: training across two local worker processes; TF_CONFIG errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TINY_TRAIN_FLAGS

pytest.importorskip("tensorflow")

from keras_unet.config import ConfigError
from keras_unet.distributed import local_addresses, read_tf_config, tf_config, worker_task


def _train_command(drive_crops: Path, runs_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "keras_unet.train",
        "--data",
        str(drive_crops.parent),
        "--runs-dir",
        str(runs_dir),
        "--name",
        "mw",
        *TINY_TRAIN_FLAGS,  # 1 epoch of 16 patches in batches of 8: 2 steps.
        "--validation-images",
        "2",
        "--loss",
        "dice",
        "--strategy",
        "multiworker",
    ]


@pytest.mark.e2e
def test_multiworker_training_runs_two_steps_across_two_local_workers(drive_crops, tmp_path):
    import keras

    from keras_unet.model import build_unet
    from keras_unet.predictors import load_keras_model

    addresses = local_addresses(2)
    chief_runs, worker_runs, worker_tmp = (tmp_path / n for n in ("chief", "worker", "tmp"))
    worker_tmp.mkdir()
    processes = []
    started = time.monotonic()
    for index, runs_dir in enumerate((chief_runs, worker_runs)):
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "TF_CONFIG": tf_config(addresses, index),
            "TMPDIR": str(worker_tmp if index else tmp_path),
        }
        processes.append(
            subprocess.Popen(
                _train_command(drive_crops, runs_dir),
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    try:
        outputs = [p.communicate(timeout=400) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    seconds = time.monotonic() - started
    for p, (_, err) in zip(processes, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    print(f"two-worker tiny training: {seconds:.1f} s")

    run_dir = chief_runs / "mw"
    assert "run folder:" in outputs[0][0]
    assert f"worker 1 ({addresses[1]}) of 2 tasks: done" in outputs[1][0]
    # The other worker wrote nothing of its own: no run folder, its scratch folder removed.
    assert not worker_runs.exists() and not any(worker_tmp.iterdir())
    for name in ("config.json", "history.csv", "state.json", "last.keras", "best.keras"):
        assert (run_dir / name).is_file(), name
    state = json.loads((run_dir / "state.json").read_text())
    assert (state["workers"], state["replicas"], state["epoch"]) == (2, 2, 1)
    with open(run_dir / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["epoch"] for r in rows] == ["0"]
    # The global batch's Dice loss, in [0, 1]: each worker's share is divided by the replica
    # count before the sum (unscaled, the two halves summed to about 1.75).
    assert 0.0 < float(rows[0]["loss"]) <= 1.0
    assert {"val_loss", "val_dice", "val_auc"} <= set(rows[0])
    last = keras.saving.load_model(run_dir / "last.keras")
    assert int(last.optimizer.iterations.numpy()) == 2

    card = json.loads((run_dir / "config.json").read_text())
    assert card["training"]["strategy"] == "multiworker"
    assert 0.0 < card["threshold"] < 1.0 and card["validation"]["at_threshold"]["f1"] >= 0.0
    model = load_keras_model(run_dir / "model.keras")
    fresh = build_unet(4, 2, "upsample", 0.0, mean=[0.0] * 3, std=[1.0] * 3)
    zero_at_start = [w.path for w in fresh.weights if w.path.endswith(("bias", "beta"))]
    assert zero_at_start and not any(
        w.numpy().any() for w in fresh.weights if w.path in zero_at_start
    )
    trained = {w.path: w.numpy() for w in model.weights}
    assert all(trained[path].any() for path in zero_at_start if path.endswith("beta"))


@pytest.mark.e2e
def test_bad_tf_config_is_one_line_from_the_cli(drive_crops, tmp_path):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_CONFIG": tf_config(["localhost:1"], 3)}
    done = subprocess.run(
        _train_command(drive_crops, tmp_path / "runs"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    # TensorFlow's own start-up notices may come first; ours is one line, without traceback.
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if line.startswith("error")] == [
        (
            "error: TF_CONFIG: task worker 3 is not in the cluster (1 worker address(es)) "
            "(see docs/cohort.md, 'Training across workers')"
        )
    ]
    assert not (tmp_path / "runs").exists()


@pytest.mark.e2e
def test_a_worker_whose_peer_never_starts_stops_with_one_line(drive_crops, tmp_path):
    addresses = local_addresses(2)
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "TF_CONFIG": tf_config(addresses, 0),
        "VESSEL_JOIN_TIMEOUT": "3",
    }
    done = subprocess.run(
        _train_command(drive_crops, tmp_path / "runs"),
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert errors == [
        f"error: TF_CONFIG: worker 0 ({addresses[0]}) of 2 tasks: the other workers did not all "
        f"start within 3 s (waiting for {addresses[1]}; VESSEL_JOIN_TIMEOUT sets the wait) "
        "(see docs/cohort.md, 'Training across workers')"
    ]
    assert not [p for p in (tmp_path / "runs").rglob("*") if p.is_file()]  # nothing written


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "not set; --strategy multiworker needs the cluster"),
        ("{cluster", "not valid JSON"),
        ('{"task": {"type": "worker"}}', "no 'cluster' object"),
        ('{"cluster": {"ps": ["a:1"]}}', "cluster role 'ps' is not used"),
        ('{"cluster": {"worker": ["host"]}}', "address 'host' is not host:port"),
        ('{"cluster": {"worker": ["a:1", "a:1"]}}', "address a:1 is listed twice"),
        ('{"cluster": {"worker": ["a:1"]}}', "no 'task' with a 'type' of chief or worker"),
        (tf_config(["a:1", "b:2"], 2), "task worker 2 is not in the cluster (2 worker"),
        (tf_config(["a:1"], 0, "chief"), "task chief 0 is not in the cluster (0 chief"),
    ],
)
def test_tf_config_problems_are_named(value, problem):
    with pytest.raises(ConfigError) as info:
        read_tf_config(value)
    message = str(info.value)
    assert message.startswith("TF_CONFIG: ") and problem in message and "\n" not in message


def test_the_chief_is_the_chief_task_or_else_worker_0():
    two = ["a:1", "b:2"]
    with_chief = {"chief": ["c:3"], "worker": two}
    cases = [
        (tf_config(two, 0), True),
        (tf_config(two, 1), False),
        (json.dumps({"cluster": with_chief, "task": {"type": "chief", "index": 0}}), True),
        (json.dumps({"cluster": with_chief, "task": {"type": "worker", "index": 0}}), False),
    ]
    for value, chief in cases:
        task = worker_task({"TF_CONFIG": value})
        assert task.is_chief is chief, value
    assert worker_task({"TF_CONFIG": tf_config(two, 1)}).address == "b:2"
