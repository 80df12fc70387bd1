"""The desktop app's Qt-free core: preferences, view composition, text, cancellation, batch.

No Qt and no trained model: the engine runs a stand-in ONNX model (:class:`FakeModel`) whose
"probability" is the green channel, so every expected pixel is known exactly.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from desktop.batch import BatchProgress, Status, check_output_folder, run_batch
from desktop.formatting import (
    FACT_LABELS,
    about_html,
    image_facts,
    measurement_rows,
    measurement_value,
)
from desktop.model_choice import choose_model
from desktop.preferences import (
    DEFAULT_COLOUR,
    DEFAULT_OPACITY,
    MAX_RECENT_FILES,
    Preferences,
    existing_recent,
    hex_to_colour,
    push_recent,
)
from desktop.state import Display, ImageDocument, ViewMode, compose, export_array
from desktop.tasks import TileProgress, image_files, segment_image
from runtime.batch import CANCELLED_PROBLEM, ImageEvent, ImageState, Job, segment_batch
from runtime.cancellation import CancelToken
from runtime.datasets import find_fov_mask
from runtime.engine import Cancelled, SegmentationResult, VesselEngine
from runtime.errors import ImageReadError, UserInputError
from runtime.imageio import write_png
from runtime.metrics import BINARY_METRICS, METRIC_LABELS, METRIC_NAMES
from runtime.model_card import ModelCard
from runtime.providers import provider_label
from tests.conftest import DRIVE, fundus_like


class FakeModel:
    """A predictor standing in for ONNX: probability = green channel / 255, counts its calls."""

    multiple = 4
    provider = "CPUExecutionProvider"
    name = "onnxruntime CPU"

    def __init__(self, path: Path = Path("fake.onnx"), on_run=None) -> None:
        self.path = path
        self.calls = 0
        self._on_run = on_run

    def predict(self, batch: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self._on_run is not None:
            self._on_run(self.calls)
        return batch[..., 1:2] / 255.0


def fake_engine(tile: int = 1024, on_run=None) -> VesselEngine:
    """A real ``VesselEngine`` (tiling, FOV, thresholding) around :class:`FakeModel`."""
    card = ModelCard(name="fake", version="0", threshold=0.5, model={"multiple": 4})
    return VesselEngine(FakeModel(on_run=on_run), card, tile=tile, overlap=8, rescale=False)


def gradient_image(height: int = 40, width: int = 48) -> np.ndarray:
    """Green rises left to right (0 ... 255); red and blue are constant."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0], image[..., 2] = 90, 30
    image[..., 1] = np.linspace(0, 255, width).round().astype(np.uint8)[None, :]
    return image


@pytest.fixture
def result() -> tuple[np.ndarray, SegmentationResult]:
    image = gradient_image()
    return image, fake_engine().segment(image, fov=np.ones(image.shape[:2], bool))


# ------------------------------------------------------------------------------- preferences


def test_preferences_round_trip_through_strings():
    prefs = Preferences(
        last_folder="/data/eyes",
        opacity=0.35,
        threshold=0.4123,
        colour=(255, 0, 200),
        provider="cpu",
        model_path="/models/m.onnx",
        recent_files=["/a/b.png", "/c, d/e.tif"],
    )
    strings = prefs.to_strings()
    assert all(isinstance(v, str) for v in strings.values())
    assert Preferences.from_strings(strings) == prefs


def test_damaged_preferences_fall_back_to_defaults_one_by_one():
    prefs = Preferences.from_strings(
        {
            "opacity": "1.7",
            "threshold": "nan",
            "colour": "green",
            "provider": "tpu",
            "recent_files": "{not json",
            "last_folder": "/kept",
        }
    )
    assert prefs == Preferences(last_folder="/kept")
    assert prefs.opacity == DEFAULT_OPACITY and prefs.colour == DEFAULT_COLOUR
    assert prefs.threshold is None  # None: the model's own threshold.


def test_preferences_refuse_bad_values_with_the_value():
    with pytest.raises(ValueError, match="received 2"):
        Preferences(opacity=2)
    with pytest.raises(ValueError, match="'gpu'"):
        Preferences(provider="gpu")
    with pytest.raises(ValueError, match="#rrggbb"):
        hex_to_colour("00ff00")


def test_recent_files_are_unique_most_recent_first_and_bounded(tmp_path):
    recent: list[str] = []
    for i in range(MAX_RECENT_FILES + 3):
        recent = push_recent(recent, tmp_path / f"{i}.png")
    assert len(recent) == MAX_RECENT_FILES
    assert recent[0] == str(tmp_path / f"{MAX_RECENT_FILES + 2}.png")
    again = push_recent(recent, tmp_path / "sub" / ".." / "5.png")
    assert again[0] == str(tmp_path / "5.png") and len(again) == MAX_RECENT_FILES
    assert again.count(str(tmp_path / "5.png")) == 1
    (tmp_path / "5.png").write_bytes(b"x")
    assert existing_recent(again) == [str(tmp_path / "5.png")]


def test_with_recent_remembers_the_folder(tmp_path):
    prefs = Preferences().with_recent(tmp_path / "x.tif")
    assert prefs.recent_files == [str(tmp_path / "x.tif")]
    assert prefs.last_folder == str(tmp_path)


# ------------------------------------------------------------------------------------ views


def test_each_view_mode_shows_what_it_says(result):
    image, res = result
    display = Display(ViewMode.ORIGINAL, 0.5, 0.6, (255, 0, 0))
    assert compose(image, res, display) is image
    probability = compose(image, res, Display(ViewMode.PROBABILITY, 0.5, 0.6, (255, 0, 0)))
    np.testing.assert_array_equal(probability, image[..., 1])  # p = green / 255 -> 0-255.
    mask = compose(image, res, Display(ViewMode.MASK, 0.5, 0.6, (255, 0, 0)))
    np.testing.assert_array_equal(mask, np.where(image[..., 1] >= 127.5, 255, 0))
    assert compose(image, None, Display(ViewMode.OVERLAY, 0.5, 0.6, (255, 0, 0))) is image


def test_threshold_moves_the_mask_edge_without_inference():
    image, engine = gradient_image(), fake_engine()
    res = engine.segment(image, fov=np.ones(image.shape[:2], bool))
    calls = engine.predictor.calls
    low = compose(image, res, Display(ViewMode.MASK, 0.25, 0.6, (0, 255, 0)))
    high = compose(image, res, Display(ViewMode.MASK, 0.75, 0.6, (0, 255, 0)))
    green = image[0, :, 1]
    assert (low[0] == 255).sum() == (green >= 0.25 * 255).sum()
    assert (high[0] == 255).sum() == (green >= 0.75 * 255).sum()
    assert (high <= low).all() and (high < low).any()
    assert engine.predictor.calls == calls  # Re-thresholding never runs the model.


def test_overlay_opacity_and_colour(result):
    image, res = result
    solid = compose(image, res, Display(ViewMode.OVERLAY, 0.5, 1.0, (255, 0, 200)))
    vessel = res.rethreshold(0.5)
    assert (solid[vessel] == [255, 0, 200]).all()
    np.testing.assert_array_equal(solid[~vessel], image[~vessel])
    clear = compose(image, res, Display(ViewMode.OVERLAY, 0.5, 0.0, (255, 0, 200)))
    np.testing.assert_array_equal(clear, image)
    half = compose(image, res, Display(ViewMode.OVERLAY, 0.5, 0.5, (255, 0, 200)))
    expected = np.round(0.5 * image[vessel].astype(float) + 0.5 * np.array([255, 0, 200]))
    np.testing.assert_array_equal(half[vessel], expected)


def test_export_array_follows_the_display_and_needs_a_result(result, tmp_path):
    image, res = result
    display = Display(ViewMode.ORIGINAL, 0.3, 0.6, (0, 255, 0))
    document = ImageDocument(tmp_path / "a.png", image, res)
    mask = export_array(document, display, ViewMode.MASK)
    np.testing.assert_array_equal(mask > 0, res.rethreshold(0.3))
    with pytest.raises(ValueError, match="not been segmented"):
        export_array(ImageDocument(tmp_path / "a.png", image), display, ViewMode.MASK)


def test_fov_mask_is_found_in_drive_layout_only(tmp_path):
    image = DRIVE / "test" / "images" / "01_test.tif"
    assert find_fov_mask(image) == DRIVE / "test" / "mask" / "01_test_mask.gif"
    assert find_fov_mask(tmp_path / "images" / "01_test.tif") is None
    assert find_fov_mask(tmp_path / "lonely.png") is None


# ------------------------------------------------------------------------------------- text


def test_measurement_formatting_names_every_unit():
    from runtime.units import Scale

    assert measurement_value("vessel_density", 12.345) == "12.3 %"  # Shown values, in %.
    assert measurement_value("skeleton_length", 1234.56) == "1,234.6 mm"
    assert measurement_value("mean_width", 80.54) == "80.5 µm"
    relative = Scale.relative()
    assert measurement_value("skeleton_length", 18.071, relative) == "18.07 FOV diameters"
    assert measurement_value("mean_width", 6.214, relative) == "6.21 ‰ FOV diameter"
    assert measurement_value("tortuosity", math.nan) == "–"
    assert measurement_value("branch_points", 206) == "206"
    rows = measurement_rows({})
    assert [value for _, value, _ in rows] == ["–"] * 6
    assert [label for label, _, _ in rows][:2] == ["Vessel density", "Vessel length"]
    tips = {label: tip for label, _, tip in measurement_rows({}, relative)}
    assert tips["Mean width"].endswith("(‰ FOV diameter)")
    assert tips["Fractal dimension"].endswith("(no unit)")


def test_the_panel_shows_measurements_that_exist():
    from dataclasses import fields

    from runtime.measurements import MEASUREMENTS, VesselMeasurements

    names = {f.name for f in fields(VesselMeasurements)}
    assert {m.key for m in MEASUREMENTS} <= names


def test_every_metric_has_a_label_and_the_about_box_lists_them():
    assert set(BINARY_METRICS) <= set(METRIC_NAMES) and set(BINARY_METRICS) <= set(METRIC_LABELS)
    text = about_html(
        {
            "model_name": "drive_unet",
            "model_version": "1.2.0",
            "provider": "CUDAExecutionProvider",
            "threshold": 0.47,
            "validation_metrics": {"f1": 0.8312, "auc_roc": 0.981},
            "test_metrics": {},
            "path": "/m/<odd>.onnx",
        },
        {"app": "0.1.0"},
    )
    assert "drive_unet" in text and "1.2.0" in text and "CUDA (GPU)" in text
    assert "0.8312" in text and "F1 (Dice)" in text and "Not evaluated" in text
    assert "&lt;odd&gt;" in text  # Escaped.
    assert "No evaluation metrics" in about_html({"model_name": "m"}, {})


def test_image_facts_before_and_after_inference(result, tmp_path):
    image, res = result
    before = dict(image_facts(ImageDocument(tmp_path / "eye.png", image)))
    assert list(before) == list(FACT_LABELS)
    assert before["Size"] == "48 × 40 px" and before["Provider"] == "–"
    after = dict(image_facts(ImageDocument(tmp_path / "eye.png", image, res, tmp_path / "m.gif")))
    assert after["FOV"] == "loaded: m.gif" and after["FOV area"] == "100 % of the image"
    assert after["Provider"] == "CPU" and after["Inference"].endswith("(as is, 1 tile)")
    assert provider_label("CUDAExecutionProvider") == "CUDA (GPU)"
    assert provider_label("DmlExecutionProvider") == "Dml"


def test_model_choice_order(tmp_path, monkeypatch):
    import runtime.models

    chosen = tmp_path / "chosen.onnx"
    chosen.write_bytes(b"x")
    assert choose_model("/given.onnx", str(chosen)).path == Path("/given.onnx")
    assert choose_model(None, str(chosen)).path == chosen
    monkeypatch.setattr(runtime.models, "default_model", lambda: tmp_path / "shipped.onnx")
    assert choose_model(None, str(tmp_path / "gone.onnx")).origin == "the shipped model"

    def no_model():
        raise UserInputError("none")

    monkeypatch.setattr(runtime.models, "default_model", no_model)
    missing = choose_model()
    assert missing.path is None and "Choose" in missing.origin


# ---------------------------------------------------------------------------- cancellation


def test_cancel_stops_a_tiled_image_between_tiles():
    token = CancelToken()
    engine = fake_engine(tile=32, on_run=lambda calls: token.cancel())
    image = gradient_image(96, 96)  # 4 x 4 tiles of 32 with overlap 8.
    reported = []
    with pytest.raises(Cancelled):
        engine.segment(
            image, progress=lambda *tiles: reported.append(tiles), should_stop=token.is_cancelled
        )
    assert engine.predictor.calls == 1  # The first tile ran, the second was never started.
    assert reported == [(1, 16)]
    done = engine.segment(image)  # The shared engine itself is untouched.
    assert done.tiles > 1 and engine.predictor.calls > 2


def test_engine_reports_every_tile_and_checks_before_the_first():
    engine = fake_engine(tile=32)
    reported = []
    result = engine.segment(gradient_image(96, 96), progress=lambda *tiles: reported.append(tiles))
    assert reported == [(done, 16) for done in range(1, 17)] and result.tiles == 16
    with pytest.raises(Cancelled):
        engine.segment(gradient_image(96, 96), should_stop=lambda: True)
    assert engine.predictor.calls == 16  # Stopped before any tile.


def test_segment_image_reads_segments_measures_and_previews(tmp_path):
    path = tmp_path / "eye.png"
    write_png(path, gradient_image())
    previews = []
    document = segment_image(fake_engine(), path, threshold=0.6, on_update=previews.append)
    assert previews[0].result is None and previews[0].path == path
    assert document.result.threshold == 0.6 and document.measured_threshold == 0.6
    assert document.measurements == document.result.measure(0.6)
    assert not document.result.accepted and document.measurements == {}  # Not a fundus photo.
    assert previews[1:] == [TileProgress(1, 1)]  # One piece: one tile.
    updates = []
    segment_image(fake_engine(tile=16), path, on_update=updates.append)
    tiles = [update for update in updates if isinstance(update, TileProgress)]
    assert len(tiles) > 1 and tiles[-1].done == tiles[-1].total == len(tiles)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        segment_image(fake_engine(), path, token=token)
    (tmp_path / "bad.png").write_bytes(b"not a png")
    with pytest.raises(ImageReadError, match=r"bad\.png"):
        segment_image(fake_engine(), tmp_path / "bad.png")


def test_image_files_lists_images_only(tmp_path):
    write_png(tmp_path / "b.png", gradient_image())
    write_png(tmp_path / "a.png", gradient_image())
    (tmp_path / "notes.txt").write_text("x")
    assert [p.name for p in image_files(tmp_path)] == ["a.png", "b.png"]
    with pytest.raises(UserInputError, match="no such file"):
        image_files(tmp_path / "missing")


# ------------------------------------------------------------------------------------ batch


def _folder(tmp_path: Path, corrupt: bool = True) -> tuple[Path, list[Job]]:
    folder = tmp_path / "in"
    for name in ("a.png", "c.png"):
        write_png(folder / name, fundus_like(160))
    if corrupt:
        (folder / "b.png").write_bytes(b"\x89PNG broken")
    from desktop.batch import batch_jobs

    return folder, batch_jobs(folder)


def test_batch_writes_what_the_cli_writes_and_goes_on_past_a_bad_file(tmp_path):
    _, jobs = _folder(tmp_path)
    updates = []
    outcome = run_batch(fake_engine(), jobs, tmp_path / "out", on_update=updates.extend)
    assert [(i.name, i.status) for i in outcome.items] == [
        ("a.png", Status.DONE),
        ("b.png", Status.FAILED),
        ("c.png", Status.DONE),
    ]
    assert "b.png" in outcome.items[1].message
    row = outcome.items[0].row
    assert (row["status"], row["quality"], row["vessel_density"]) == ("ok", "ok", 0.0)
    for stem in ("a", "c"):
        for kind in ("mask", "probability", "overlay"):
            assert (tmp_path / "out" / f"{stem}_{kind}.png").is_file()
    with open(outcome.csv_path, newline="", encoding="utf-8-sig") as handle:
        table = list(csv.DictReader(handle))
    assert [(r["image"], r["status"]) for r in table] == [
        ("a.png", "ok"),
        ("c.png", "ok"),
        ("b.png", "failed"),  # Failed files are listed too, with their error.
    ]
    assert "b.png" in table[2]["error"] and table[0]["vessel_density_pct"] == "0.0"
    # a.png runs, then is done (the next image may start while a.png's files are written).
    assert [item.status for i, item in updates if i == 0] == [Status.RUNNING, Status.DONE]
    assert outcome.summary() == "2 segmented, 0 already done, 1 failed"

    again = run_batch(fake_engine(), jobs, tmp_path / "out")
    assert [i.status for i in again.items] == [Status.SKIPPED, Status.FAILED, Status.SKIPPED]
    assert again.items[0].row is not None  # Skipped images keep their measurements.


def test_batch_cancel_stops_between_images_and_keeps_the_tables(tmp_path):
    _, jobs = _folder(tmp_path, corrupt=False)
    token = CancelToken()

    def cancel_after_first(changed):  # Cancel while the first image runs: it is finished.
        if any(item.status is Status.RUNNING for _, item in changed):
            token.cancel()

    outcome = run_batch(
        fake_engine(), jobs, tmp_path / "out", token=token, on_update=cancel_after_first
    )
    assert outcome.cancelled
    assert [i.status for i in outcome.items] == [Status.DONE, Status.CANCELLED]
    assert outcome.csv_path.is_file()
    resumed = run_batch(fake_engine(), jobs, tmp_path / "out")
    assert [i.status for i in resumed.items] == [Status.SKIPPED, Status.DONE]

    # A cancelled redo: the image not reached keeps its row (its files are still there), so
    # the CSV never disagrees with the folder.
    token = CancelToken()
    redo = run_batch(
        fake_engine(),
        jobs,
        tmp_path / "out",
        force=True,
        token=token,
        on_update=cancel_after_first,
    )
    assert redo.cancelled and [i.status for i in redo.items] == [Status.DONE, Status.SKIPPED]
    with open(redo.csv_path, newline="", encoding="utf-8-sig") as handle:
        assert [r["status"] for r in csv.DictReader(handle)] == ["ok", "ok"]


def test_batch_progress_follows_the_events_of_segment_batch(tmp_path):
    jobs = [Job(tmp_path / n, Path(n)) for n in ("a.png", "b.png", "c.png")]
    progress = BatchProgress(jobs)
    states = (ImageState.SKIPPED, ImageState.SKIPPED, ImageState.STARTED)
    changed = [
        progress.update(ImageEvent(i, 3, job, state))
        for i, (job, state) in enumerate(zip(jobs, states, strict=True), 1)
    ]
    assert [(i, item.status) for i, item in changed] == [
        (0, Status.SKIPPED),
        (1, Status.SKIPPED),
        (2, Status.RUNNING),
    ]
    assert progress.finished_count == 2
    progress.update(ImageEvent(3, 3, jobs[2], ImageState.FAILED, "c.png: broken"))
    assert progress.counts()[Status.FAILED] == 1


def test_segment_batch_reports_each_image_and_stops_between_images(tmp_path):
    _, jobs = _folder(tmp_path)  # a.png, b.png (broken), c.png
    events: list[ImageEvent] = []
    report = segment_batch(fake_engine(), jobs[:1], tmp_path / "out", on_image=events.append)
    assert [(e.index, e.total, e.name, e.state) for e in events] == [
        (1, 1, "a.png", ImageState.STARTED),
        (1, 1, "a.png", ImageState.DONE),
    ]
    assert events[1].row == report["rows"][0] and events[1].status.startswith("ok (")

    events.clear()
    report = segment_batch(
        fake_engine(),
        jobs,
        tmp_path / "out",
        on_image=events.append,
        should_stop=lambda: any(e.state is ImageState.FAILED for e in events),
    )
    assert [(e.name, e.state) for e in events] == [
        ("a.png", ImageState.SKIPPED),  # Already done (taken over even after a stop).
        ("b.png", ImageState.STARTED),
        ("b.png", ImageState.FAILED),
        ("c.png", ImageState.CANCELLED),
    ]
    assert events[0].status == "already done, skipped" and "b.png" in events[2].status
    cancelled = f"{jobs[2].source}: {CANCELLED_PROBLEM}"
    assert events[3].message == cancelled
    written = json.loads((tmp_path / "out" / "measurements.json").read_text())
    assert written["failed"][1] == {
        "file": str(jobs[2].source),
        "image": "c.png",
        "error": cancelled,
    }
    assert [row["image"] for row in written["rows"]] == ["a.png"] and written["skipped"] == 1


def test_segment_batch_goes_on_past_an_engine_error(tmp_path):
    _, jobs = _folder(tmp_path, corrupt=False)

    def fail_first(calls):
        if calls == 1:
            raise RuntimeError("out of memory\nmore detail")

    report = segment_batch(fake_engine(on_run=fail_first), jobs, tmp_path / "out")
    assert [row["image"] for row in report["rows"]] == ["c.png"]
    assert report["failed"][0]["error"].startswith(f"{jobs[0].source}: segmentation failed")
    assert "RuntimeError: out of memory" in report["failed"][0]["error"]


def test_batch_refuses_an_output_folder_inside_the_input(tmp_path):
    folder, jobs = _folder(tmp_path)
    with pytest.raises(UserInputError, match="inside the input folder"):
        check_output_folder(folder, folder / "results", jobs)
    check_output_folder(folder, tmp_path / "elsewhere", jobs)
