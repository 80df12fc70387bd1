"""The overlapping batch pipeline: the sequential path's outputs, order kept, errors per image."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from runtime.pipeline import Pipeline
from tests.conftest import png_content

REPO = Path(__file__).resolve().parents[1]
DRIVE_W16 = REPO / "saved_models" / "drive_unet_w16" / "drive_unet_w16.onnx"


def test_pipeline_runs_each_step_in_its_thread_and_keeps_order() -> None:
    threads: dict[str, set[str]] = {"read": set(), "infer": set(), "finish": set()}
    reading = []
    lock = threading.Lock()

    def read(item: int) -> int:
        with lock:
            threads["read"].add(threading.current_thread().name)
            reading.append(item)
        if item == 3:
            raise ValueError("unreadable 3")
        return item * 10

    def infer(item: int, value: int) -> int:
        threads["infer"].add(threading.current_thread().name)
        if item == 5:
            raise OSError("model failed on 5")
        return value + 1

    def finish(item: int, value: int, inferred: int) -> str:
        threads["finish"].add(threading.current_thread().name)
        if item == 6:
            raise ValueError("cannot write 6")
        return f"{item}:{inferred}"

    items = list(range(8))
    outcomes = []
    with Pipeline(items, read, infer, finish, depth=2, errors=(ValueError, OSError)) as pipe:
        for position in items:
            if position == 1:
                continue  # A skipped item is never inferred.
            pipe.submit(position)
            assert max(reading) <= position + 2  # Reads ahead at most ``depth`` items.
            outcomes.extend(pipe.ready())
        outcomes.extend(pipe.drain())
    assert [o.item for o in outcomes] == [0, 2, 3, 4, 5, 6, 7]
    assert [o.value for o in outcomes if o.error is None] == ["0:1", "2:21", "4:41", "7:71"]
    errors = {o.item: str(o.error) for o in outcomes if o.error is not None}
    assert errors == {3: "unreadable 3", 5: "model failed on 5", 6: "cannot write 6"}
    assert threads["infer"] == {threading.current_thread().name}
    assert all(name.startswith("pipeline-read") for name in threads["read"])
    assert all(name.startswith("pipeline-write") for name in threads["finish"])


def test_an_unexpected_error_propagates() -> None:
    def infer(item: int, value: int) -> int:
        raise KeyError("bug")

    pipe = Pipeline([0], lambda i: i, infer, lambda *a: None, errors=(ValueError,))
    with pipe, pytest.raises(KeyError):
        pipe.submit(0)


def test_overlapped_batch_writes_exactly_what_the_sequential_one_writes(
    drive_crops: Path, tmp_path: Path
) -> None:
    """Byte-identical PNGs, equal measurement rows, the same failures in the same order."""
    from runtime.batch import collect_jobs, segment_batch
    from runtime.engine import VesselEngine
    from runtime.imageio import read_rgb, write_png

    inputs = tmp_path / "in"
    inputs.mkdir()
    for split in ("training", "test"):
        for image in sorted((drive_crops / split / "images").glob("*.tif"))[:3]:
            shutil.copy(image, inputs / image.name)
    (inputs / "00_broken.png").write_bytes(b"not an image")
    write_png(inputs / "03_tiny.png", np.zeros((4, 4, 3), np.uint8))  # Too small to segment.
    jobs = collect_jobs([str(inputs)])
    assert len(jobs) == 7
    engine = VesselEngine.open(DRIVE_W16, "cpu", 1, backend="onnxruntime", precision="fp32")
    events = {True: [], False: []}
    reports = {
        overlap: segment_batch(
            engine,
            jobs,
            tmp_path / f"out_{overlap}",
            on_image=lambda e, o=overlap: events[o].append((e.index, e.state.value)),
            overlap=overlap,
        )
        for overlap in (False, True)
    }

    def without_seconds(rows):
        return [{k: v for k, v in row.items() if k != "seconds"} for row in rows]

    assert len(reports[True]["rows"]) == 5
    assert without_seconds(reports[True]["rows"]) == without_seconds(reports[False]["rows"])
    assert reports[True]["failed"] == reports[False]["failed"]
    assert [f["file"] for f in reports[True]["failed"]] == [
        str(inputs / "00_broken.png"),
        str(inputs / "03_tiny.png"),
    ]
    for path in sorted((tmp_path / "out_False").glob("*.png")):
        twin = tmp_path / "out_True" / path.name
        assert png_content(twin) == png_content(path), path.name
    assert len(list((tmp_path / "out_True").glob("*.png"))) == 15
    assert read_rgb(tmp_path / "out_True" / f"{jobs[1].source.stem}_overlay.png").shape[2] == 3
    for overlap in (False, True):  # Every image: one final event, after its start.
        finals = [i for i, state in events[overlap] if state != "started"]
        assert sorted(finals) == list(range(1, 8))
