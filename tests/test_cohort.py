"""Cohort scale: ``vessel-segment --engine ray`` against the local engine, the manifest, resume."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from runtime.manifest import MANIFEST_NAME, ManifestWriter, read_manifest
from tests.conftest import DRIVE, REPO, RUN_TIME_FIELDS, png_content

IMAGES = DRIVE / "test" / "images"


def _segment(args: list, cwd: Path, *, prelude: str = "") -> subprocess.CompletedProcess:
    """``vessel-segment ARGS`` as a user runs it, from ``cwd`` (``prelude``: code run first)."""
    code = f"{prelude}\nfrom runtime.segment import main\nraise SystemExit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _rows(out: Path) -> list[dict]:
    """The CSV rows without the columns that say when it ran (they differ run to run)."""
    with open(out / "measurements.csv", newline="", encoding="utf-8-sig") as handle:
        rows = csv.DictReader(handle)
        return [{k: v for k, v in row.items() if k not in RUN_TIME_FIELDS} for row in rows]


def test_manifest_keeps_the_last_record_and_skips_a_cut_line(tmp_path):
    with ManifestWriter(tmp_path) as manifest:
        manifest.add([{"image": "a.png", "state": "failed", "error": "a.png: bad"}])
        manifest.add([{"image": "b.png", "state": "done", "row": {"image": "b.png"}}])
    with open(tmp_path / MANIFEST_NAME, "a") as handle:
        handle.write('{"image": "a.png", "state": "do')  # A run killed while writing.
    with ManifestWriter(tmp_path) as manifest:  # The next run starts on a fresh line.
        manifest.add([{"image": "a.png", "state": "done", "row": {"image": "a.png", "x": 1}}])
    records = read_manifest(tmp_path)
    assert records["a.png"] == {
        "image": "a.png",
        "state": "done",
        "row": {"image": "a.png", "x": 1},
    }
    assert records["b.png"]["state"] == "done" and len(records) == 2
    assert read_manifest(tmp_path / "nothing") == {}


def test_parquet_holds_the_rows_with_every_column(tmp_path):
    import pyarrow.parquet as pq

    from runtime.cohort import write_parquet

    rows = [{"image": "a", "density": 0.25, "tiles": 1}, {"image": "b", "tiles": 2, "new": "x"}]
    table = pq.read_table(write_parquet(tmp_path, rows))
    assert table.column_names == ["image", "density", "tiles", "new"]
    assert table.to_pylist() == [
        {"image": "a", "density": 0.25, "tiles": 1, "new": None},
        {"image": "b", "density": None, "tiles": 2, "new": "x"},
    ]
    assert write_parquet(tmp_path / "empty", []) is None


def test_engine_ray_without_ray_says_what_to_install_and_flags_need_it(tmp_path):
    (tmp_path / "in").mkdir()
    shutil.copy(IMAGES / "01_test.tif", tmp_path / "in")
    no_ray = _segment(
        ["in", "--out", "out", "--engine", "ray"],
        tmp_path,
        prelude="import sys; sys.modules['ray'] = None",
    )
    assert no_ray.returncode == 2
    assert no_ray.stderr.strip().splitlines() == [
        "error: --engine ray needs Ray Data and pyarrow (ray is not installed): "
        'pip install "drive-vessel-unet[cohort]"'
    ]
    local = _segment(["in", "--out", "out", "--workers", "2", "--ray-address", "x:1"], tmp_path)
    assert local.returncode == 2
    assert local.stderr.strip() == "error: --ray-address, --workers needs --engine ray"
    assert not (tmp_path / "out").exists()
    nobody = _segment(
        ["in", "--out", "out", "--engine", "ray", "--ray-address", "127.0.0.1:1"], tmp_path
    )
    assert nobody.returncode == 2 and "Traceback" not in nobody.stderr
    assert (
        nobody.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --ray-address 127.0.0.1:1: cannot reach a Ray cluster there (")
    )
    assert not (tmp_path / "out").exists()


@pytest.mark.e2e
def test_ray_writes_what_the_local_engine_writes_and_goes_past_a_corrupt_file(tmp_path):
    src = tmp_path / "cohort"
    (src / "site b").mkdir(parents=True)
    shutil.copy(IMAGES / "01_test.tif", src)
    shutil.copy(IMAGES / "02_test.tif", src / "site b")
    Image.open(IMAGES / "03_test.tif").crop((100, 80, 420, 400)).save(src / "site b" / "c.png")
    (src / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n-cut short")
    common = [src, "--recursive", "--quiet", "--threads", "1"]

    local = _segment([*common, "--out", "local"], tmp_path)
    ray = _segment([*common, "--out", "ray", "--engine", "ray", "--workers", "2"], tmp_path)
    for run in (local, ray):
        assert run.returncode == 1, run.stderr
        # The 320 px crop has no round field of view: segmented, but rejected by the gate.
        summary = "3 segmented (0 already done, 1 rejected by the quality gate), 1 failed"
        assert summary in run.stdout
        assert f"failed: {src / 'corrupt.png'}: " in run.stderr
        assert "Traceback" not in run.stderr
    pngs = sorted(p.relative_to(tmp_path / "local") for p in (tmp_path / "local").rglob("*.png"))
    assert len(pngs) == 9
    assert pngs == sorted(
        p.relative_to(tmp_path / "ray") for p in (tmp_path / "ray").rglob("*.png")
    )
    for name in pngs:  # Pixel-identical masks, probability maps and overlays.
        assert png_content(tmp_path / "local" / name) == png_content(tmp_path / "ray" / name)
    assert _rows(tmp_path / "ray") == _rows(tmp_path / "local")
    assert [r["image"] for r in _rows(tmp_path / "ray")] == [
        "01_test.tif",
        "site b/02_test.tif",
        "site b/c.png",
        "corrupt.png",  # Failed files are listed too (status "failed").
    ]
    reports = [
        json.loads((tmp_path / o / "measurements.json").read_text()) for o in ("local", "ray")
    ]
    assert reports[1]["failed"] == reports[0]["failed"]
    assert reports[1]["settings"].keys() == reports[0]["settings"].keys()

    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "ray" / "measurements.parquet").to_pylist()
    density = "vessel_density_pct"  # The CSV's columns, failed files included.
    assert [(r["image"], r["status"]) for r in table] == [
        (r["image"], r["status"]) for r in _rows(tmp_path / "ray")
    ]
    assert [r[density] for r in table[:2]] == [
        float(r[density]) for r in _rows(tmp_path / "ray")[:2]
    ]
    manifest = read_manifest(tmp_path / "ray")
    assert sorted(r["state"] for r in manifest.values()) == ["done", "done", "done", "failed"]

    stamp = (tmp_path / "ray" / "01_test_mask.png").stat().st_mtime_ns
    again = _segment([*common, "--out", "ray", "--engine", "ray", "--workers", "1"], tmp_path)
    summary = "3 segmented (3 already done, 1 rejected by the quality gate), 1 failed"
    assert again.returncode == 1 and summary in again.stdout
    assert (tmp_path / "ray" / "01_test_mask.png").stat().st_mtime_ns == stamp


def _stop_when(args: list, cwd: Path, records: int, stop: signal.Signals) -> int:
    """Start ``args``; once the manifest holds ``records`` records, send ``stop``; exit code.

    SIGINT goes to the whole process group, as Ctrl+C in a terminal does. Ray's processes of
    the run are ended afterwards by their ids (a SIGKILLed driver cannot stop them).
    """
    import psutil

    run = subprocess.Popen(
        list(map(str, args)),
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # A terminal's default Ctrl+C, even when pytest runs with SIGINT ignored (started with &).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    tree: dict[int, psutil.Process] = {}
    try:
        deadline = time.monotonic() + 240
        while len(read_manifest(cwd / "out")) < records and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before it could be stopped"
            for child in psutil.Process(run.pid).children(recursive=True):
                tree.setdefault(child.pid, child)
            time.sleep(0.2)
        if stop is signal.SIGINT:
            os.killpg(run.pid, stop)
        else:
            run.send_signal(stop)
        return run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
        for process in tree.values():
            with contextlib.suppress(psutil.Error):
                process.kill()


def _done(out: Path) -> dict[str, int]:
    """Images done in the manifest and their masks' modification times."""
    done = [k for k, r in read_manifest(out).items() if r["state"] == "done"]
    return {name: (out / f"{Path(name).stem}_mask.png").stat().st_mtime_ns for name in done}


@pytest.mark.e2e
def test_an_interrupted_or_killed_ray_run_resumes_without_redoing_finished_images(tmp_path):
    src = tmp_path / "cohort"
    src.mkdir()
    for index in range(10):
        shutil.copy(IMAGES / f"{index % 5 + 1:02d}_test.tif", src / f"eye{index:02d}.tif")
    args = [sys.executable, "-m", "runtime.segment", src, "--out", "out", "--quiet"]
    args += ["--engine", "ray", "--workers", "1"]
    out = tmp_path / "out"

    assert _stop_when(args, tmp_path, 2, signal.SIGINT) == 130  # Ctrl+C: tables of what is done.
    first = _done(out)
    report = json.loads((out / "measurements.json").read_text())
    assert len(report["rows"]) == len(first) and 2 <= len(first) < 10
    assert len(report["failed"]) == 10 - len(first)
    assert all(f["error"].endswith(": cancelled before it was segmented") for f in report["failed"])

    assert _stop_when(args, tmp_path, len(first) + 2, signal.SIGKILL) == -signal.SIGKILL
    second = _done(out)
    assert len(first) + 2 <= len(second) < 10
    assert {name: second[name] for name in first} == first  # Not redone.

    resumed = _segment(args[3:], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    done = f"10 segmented ({len(second)} already done, 0 rejected by the quality gate), 0 failed"
    assert done in resumed.stdout
    assert {name: _done(out)[name] for name in second} == second
    rows = _rows(out)
    assert [r["image"] for r in rows] == [f"eye{i:02d}.tif" for i in range(10)]
    density = "vessel_density_pct"
    assert rows[0][density] == rows[5][density]  # The same photograph twice.


def test_synthetic_cohort_and_benchmark_tables(tmp_path):
    from runtime.cohort_benchmark import make_cohort, markdown, summarise

    paths = make_cohort(tmp_path / "cohort", 3, REPO / "data", seed=1)
    assert [p.name for p in paths] == [f"synthetic_0000{i}.jpg" for i in range(3)]
    sizes = [Image.open(p).size for p in paths]
    assert all(min(size) >= 64 and max(size) <= 2048 for size in sizes)
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert make_cohort(tmp_path / "cohort", 3, REPO / "data", seed=1) == paths  # Kept.
    assert [p.stat().st_mtime_ns for p in paths] == stamps

    def run(engine, wall, memory):
        return {
            "engine": engine,
            "images": 10,
            "wall_s": wall,
            "images_per_s": 10 / wall,
            "inference_s_per_image": 0.5,
            "peak_memory_mb": memory,
            "processes": 1,
        }

    runs = [run("local", 10.0, 300.0), run("ray", 15.0, 900.0), run("ray", 13.0, 900.0)]
    runs.append(run("local", 12.0, 320.0))
    summary = summarise(runs)
    assert summary["ray_over_local_wall"] == round(14.0 / 11.0, 3)
    assert summary["ray_over_local_memory"] == round(900.0 / 310.0, 3)
    assert summary["local_s_per_image"] == 1.1
    result = {
        "images": 10,
        "repeats": 2,
        "machine": {"cpus": 2, "processor": "x", "note": "busy"},
        "ray_start": {"import_s": 1, "init_s": 6, "first_actor_s": 1, "shutdown_s": 1},
        "runs": runs,
        "summary": summary,
        "command": "python -m runtime.cohort_benchmark",
    }
    table = markdown(result)
    assert "| 2 | ray | 15.0 |" in table and "wall time x1.273" in table
