"""Cohort benchmark: ``python -m runtime.cohort_benchmark --help``.

Makes a synthetic cohort from the data sets' photographs (random flips, crops and rescaling,
saved as JPEG into an ignored folder), then runs ``vessel-segment`` on it with the local engine
and with ``--engine ray`` (a local Ray instance), interleaved in one run, each as a user runs it
(a subprocess). For every run: wall time, images per second, inference seconds per image (the
engine's own timing, from the rows), and peak memory of the whole process tree (the CLI, and for
Ray its raylet, GCS and actor processes: the sum of their proportional set sizes, sampled). Also
times a bare local Ray start (init, one actor, shutdown). Writes ``benchmark.json`` and
``benchmark.md`` (ratios Ray / local within the run).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from runtime.constants import DATA_ROOT
from runtime.errors import UserInputError, cli_errors
from runtime.imageio import is_image_file
from runtime.reports import write_json

#: Longest side of a synthetic photograph (UK Biobank's are 2048x1536).
MAX_SIDE = 2048

#: Folders of the data sets whose photographs seed the cohort.
SOURCE_GLOBS = ("DRIVE/*/images/*", "STARE/images/*", "HRF/images/*", "LES-AV/images/*")


def source_images(data_root: Path) -> list[Path]:
    """The data sets' photographs (sorted)."""
    found = {p for pattern in SOURCE_GLOBS for p in data_root.glob(pattern) if is_image_file(p)}
    return sorted(found)


def make_cohort(out: Path, count: int, data_root: Path, seed: int = 0) -> list[Path]:
    """Write ``count`` synthetic photographs into ``out`` (kept when already there).

    Each is a data set photograph, flipped at random (left-right: the other eye; up-down),
    cropped to 80-100 % of each side, rescaled by 0.5-1.5 (at most :data:`MAX_SIDE`) and saved
    as JPEG (quality 92), named ``synthetic_00000.jpg``...

    Raises:
        UserInputError: The data root has no photographs.
    """
    from PIL import Image

    sources = source_images(data_root)
    if not sources:
        raise UserInputError(f"{data_root}: no photographs to make a cohort from")
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for index in range(count):
        path = out / f"synthetic_{index:05d}.jpg"
        source = sources[rng.integers(len(sources))]
        flips, crop, scale = rng.integers(0, 2, 2), rng.uniform(0.8, 1.0, 2), rng.uniform(0.5, 1.5)
        paths.append(path)
        if path.is_file():
            continue
        with Image.open(source) as image:
            image = image.convert("RGB")
        width, height = image.size
        w, h = int(width * crop[0]), int(height * crop[1])
        left, top = rng.integers(0, width - w + 1), rng.integers(0, height - h + 1)
        image = image.crop((left, top, left + w, top + h))
        scale = min(scale, MAX_SIDE / max(w, h))
        image = image.resize((max(64, round(w * scale)), max(64, round(h * scale))), Image.LANCZOS)
        if flips[0]:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        if flips[1]:
            image = image.transpose(Image.FLIP_TOP_BOTTOM)
        image.save(path, quality=92)
    return paths


class TreeMemory:
    """Peak memory of a process and all its descendants (sum of PSS, else RSS), sampled."""

    def __init__(self, pid: int, interval: float = 0.25) -> None:
        self.pid, self.interval, self.peak, self.processes = pid, interval, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop.is_set():
            total, count = 0, 0
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                break
            for process in tree:
                try:
                    info = process.memory_full_info()
                    total += getattr(info, "pss", info.rss)
                    count += 1
                except psutil.Error:
                    continue
            self.peak, self.processes = max(self.peak, total), max(self.processes, count)
            self._stop.wait(self.interval)


def run_segment(cohort: Path, out: Path, engine: str, extra: list[str]) -> dict[str, Any]:
    """One ``vessel-segment`` run as a subprocess: its wall time, memory and rows."""
    args = [sys.executable, "-m", "runtime.segment", str(cohort), "--out", str(out), "--quiet"]
    args += ["--engine", engine, *extra]
    start = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with TreeMemory(process.pid) as memory:
        stdout, stderr = process.communicate()
    wall = time.perf_counter() - start
    if process.returncode not in (0, 1):
        raise UserInputError(f"vessel-segment --engine {engine} failed: {stderr.strip()[-500:]}")
    report = json.loads((out / "measurements.json").read_text())
    seconds = [row["seconds"] for row in report["rows"]]
    return {
        "engine": engine,
        "images": len(report["rows"]),
        "failed": len(report["failed"]),
        "wall_s": round(wall, 2),
        "images_per_s": round(len(report["rows"]) / wall, 3),
        "inference_s_per_image": round(statistics.mean(seconds), 4) if seconds else None,
        "peak_memory_mb": round(memory.peak / 1024**2, 1),
        "processes": memory.processes,
        "summary": stdout.strip(),
    }


def ray_start_seconds() -> dict[str, float]:
    """Time a bare local Ray start in a fresh process: import, init, first actor, shutdown."""
    code = (
        "import time, json, logging\n"
        "t0 = time.perf_counter()\n"
        "import ray\n"
        "t1 = time.perf_counter()\n"
        "ray.init(address='local', include_dashboard=False, logging_level=logging.ERROR,\n"
        "         object_store_memory=256 * 1024**2)\n"
        "t2 = time.perf_counter()\n"
        "@ray.remote\n"
        "class A:\n"
        "    def ping(self):\n"
        "        return 1\n"
        "ray.get(A.remote().ping.remote())\n"
        "t3 = time.perf_counter()\n"
        "ray.shutdown()\n"
        "t4 = time.perf_counter()\n"
        "print(json.dumps({'import_s': t1 - t0, 'init_s': t2 - t1, 'first_actor_s': t3 - t2,\n"
        "                  'shutdown_s': t4 - t3}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    times = json.loads(done.stdout.strip().splitlines()[-1])
    return {key: round(value, 2) for key, value in times.items()}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians per engine and the Ray / local ratios (wall time, memory)."""
    by_engine: dict[str, dict[str, float]] = {}
    for engine in ("local", "ray"):
        mine = [r for r in runs if r["engine"] == engine]
        by_engine[engine] = {
            key: round(statistics.median(r[key] for r in mine), 4)
            for key in ("wall_s", "images_per_s", "inference_s_per_image", "peak_memory_mb")
        }
    local, ray = by_engine["local"], by_engine["ray"]
    return {
        **by_engine,
        "ray_over_local_wall": round(ray["wall_s"] / local["wall_s"], 3),
        "ray_over_local_memory": round(ray["peak_memory_mb"] / local["peak_memory_mb"], 3),
        "local_s_per_image": round(local["wall_s"] / runs[0]["images"], 4),
        "ray_s_per_image": round(ray["wall_s"] / runs[0]["images"], 4),
    }


def markdown(result: dict[str, Any]) -> str:
    """The benchmark as a Markdown table."""
    s = result["summary"]
    lines = [
        f"# Cohort benchmark: {result['images']} synthetic photographs, "
        f"{result['repeats']} interleaved run(s) per engine",
        "",
        f"Machine: {result['machine']['cpus']} CPUs ({result['machine']['processor']}), "
        f"{result['machine']['note']}",
        "",
        "| run | engine | wall s | images/s | inference s/image | peak memory MB | processes |",
        "|---|---|---|---|---|---|---|",
    ]
    for index, run in enumerate(result["runs"], 1):
        lines.append(
            f"| {index} | {run['engine']} | {run['wall_s']} | {run['images_per_s']} | "
            f"{run['inference_s_per_image']} | {run['peak_memory_mb']} | {run['processes']} |"
        )
    start = result["ray_start"]
    lines += [
        "",
        f"Medians: local {s['local']['images_per_s']} images/s "
        f"({s['local_s_per_image']} s/image), Ray {s['ray']['images_per_s']} images/s "
        f"({s['ray_s_per_image']} s/image). Ray / local: wall time x{s['ray_over_local_wall']}, "
        f"peak memory x{s['ray_over_local_memory']}.",
        "",
        f"Bare local Ray start: import {start['import_s']} s, init {start['init_s']} s, "
        f"first actor {start['first_actor_s']} s, shutdown {start['shutdown_s']} s.",
        "",
        f"Command: `{result['command']}`",
        "",
    ]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m runtime.cohort_benchmark",
        description="Local engine vs --engine ray on a synthetic cohort, interleaved in one run.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--images", type=int, default=200, help="photographs in the cohort")
    p.add_argument("--repeats", type=int, default=2, help="runs per engine (interleaved)")
    p.add_argument("--data", default=DATA_ROOT, help="data root whose photographs seed it")
    p.add_argument(
        "--cohort", default="results/cohort/images", help="where the cohort is written (kept)"
    )
    p.add_argument("--out", default="results/cohort_benchmark", help="benchmark.json/.md here")
    p.add_argument("--workers", type=int, default=0, help="--workers of the Ray runs")
    p.add_argument("--seed", type=int, default=0, help="seed of the cohort's transforms")
    p.add_argument("--note", default="", help="a line about the machine's load for the table")
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m runtime.cohort_benchmark``."""
    args = build_parser().parse_args(argv)
    from runtime.cohort import require_ray

    require_ray()
    cohort = Path(args.cohort) / f"n{args.images}_seed{args.seed}"
    print(f"making {args.images} photographs in {cohort}", file=sys.stderr)
    make_cohort(cohort, args.images, Path(args.data), args.seed)
    ray_start = ray_start_seconds()
    print(f"bare local Ray start: {ray_start}", file=sys.stderr)
    runs: list[dict[str, Any]] = []
    extra = {"local": [], "ray": ["--workers", str(args.workers)] if args.workers else []}
    with tempfile.TemporaryDirectory(prefix="cohort_benchmark_") as scratch:
        for repeat in range(args.repeats):
            order = ("local", "ray") if repeat % 2 == 0 else ("ray", "local")
            for engine in order:
                out = Path(scratch) / f"{engine}_{repeat}"
                run = run_segment(cohort, out, engine, extra[engine])
                shutil.rmtree(out, ignore_errors=True)
                print(json.dumps(run), file=sys.stderr)
                runs.append(run)
                if {r["engine"] for r in runs} == {"local", "ray"}:
                    result = _result(args, argv, ray_start, runs)  # Tables after every pair.
    print(markdown(result))
    return 0


def _result(args, argv, ray_start, runs) -> dict[str, Any]:
    """The benchmark's result so far, written as benchmark.json and benchmark.md."""
    import os

    result = {
        "images": args.images,
        "repeats": sum(run["engine"] == "ray" for run in runs),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "platform": platform.platform(),
            "note": args.note or "shared with other work: compare the ratios, not absolutes",
        },
        "ray_start": ray_start,
        "runs": runs,
        "summary": summarise(runs),
        "command": "python -m runtime.cohort_benchmark " + shlex.join(argv or sys.argv[1:]),
    }
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "benchmark.json", result)
    (out_dir / "benchmark.md").write_text(markdown(result), encoding="utf-8")
    return result


if __name__ == "__main__":
    raise SystemExit(main())
