"""Cohort scale: the segment job spread over a Ray cluster (``vessel-segment --engine ray``).

Ray is optional (the ``cohort`` extra) and imported only when a cohort run starts, so the clinic
side never needs it. The driver (the ``vessel-segment`` process):

1. decides which images are already done: the manifest (:mod:`runtime.manifest`) or the rows of
   an earlier ``measurements.json``, with all of their output files present (as the local engine
   resumes); the rest are the work;
2. hands the file list to Ray Data (``ray.data.from_items``: paths only, a few images per block)
   and maps it through a fixed pool of actors, :class:`SegmentWorker`, each holding one
   :class:`~runtime.engine.VesselEngine` (the model is loaded once per actor). Each actor reads an
   image, segments it and writes its PNGs into the output folder with the batch library's own
   per-image step (:func:`runtime.batch.segment_one`), and sends back only the measurements row.
   Ray Data's streaming executor keeps a bounded number of blocks in flight (back-pressure), so
   memory stays flat whatever the cohort's size;
3. appends every finished image to the manifest as its block comes back (synced to disk), so a
   run killed at any point resumes without redoing what was done;
4. writes ``measurements.json`` and ``measurements.csv`` exactly as the local engine does (rows
   in the order of the inputs), and the same rows as ``measurements.parquet``.

A failed image (unreadable, too small, the engine raised) is recorded with its reason and the
others go on; Ctrl+C (or SIGTERM from a job scheduler) stops the run, records the images not
reached as cancelled, writes the tables of what was done and exits 130. Without ``--ray-address``
a local Ray instance starts on this machine (about 6-7 s here) and stops at the end; with it the
run joins a running cluster (``ray start --head`` / ``ray start --address=...``), whose nodes
need this package (``pip install "drive-vessel-unet[cohort]"``) and see the input, output and
model paths at the same place (a shared file system). See ``docs/cohort.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import signal
import socket
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.batch import (
    CANCELLED_PROBLEM,
    ImageEvent,
    ImageState,
    Job,
    csv_rows,
    make_output_dir,
    previous_rows,
    run_settings,
    segment_one,
    write_tables,
)
from runtime.errors import UserInputError
from runtime.manifest import DONE, ManifestWriter, done_record, failed_record, read_manifest
from runtime.outputs import OUTPUT_KINDS
from runtime.provenance import RunSettings
from runtime.units import Scale

#: What to install for ``--engine ray`` (the optional extra of setup.cfg).
INSTALL_HINT = 'pip install "drive-vessel-unet[cohort]"'

#: Engines of ``vessel-segment --engine``: one process, or a pool of Ray actors.
ENGINES = ("local", "ray")

#: Images per Ray Data block: a killed run loses at most the blocks in flight; more images per
#: block mean less scheduling per image on a 100k cohort.
IMAGES_PER_BLOCK = 4

#: Object store of a local Ray instance: blocks hold paths and measurement rows only.
LOCAL_OBJECT_STORE_BYTES = 256 * 1024**2

#: Attempts of a block whose worker died (a killed process, a lost node) before it is given up
#: and its images are recorded as failed.
TASK_RETRIES = 2

#: Reason recorded for an image whose result never came back from the cluster.
LOST_PROBLEM = "no result came back from the Ray cluster"

PARQUET_NAME = "measurements.parquet"


@dataclass(frozen=True)
class ClusterOptions:
    """Where and how wide a cohort run goes (the CLI's ``--ray-address``, ``--workers``...).

    Attributes:
        address: A running cluster's address (``ray://host:10001`` or ``host:6379``); ``None``
            starts a local Ray instance on this machine.
        workers: Actors (engines) in the pool; 0: as many as the cluster's CPUs (or GPUs, with
            ``gpus_per_worker``) allow.
        cpus_per_worker: CPUs Ray reserves for each actor; also its onnxruntime threads unless
            ``threads`` is given.
        gpus_per_worker: GPUs Ray reserves for each actor (for the CUDA provider).
        provider: Execution provider key for the workers' engines (``auto``: the best offered).
        threads: onnxruntime threads per worker (0: ``cpus_per_worker``, at least 1).
    """

    address: str | None = None
    workers: int = 0
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    provider: str = "auto"
    threads: int = 0

    def check(self) -> None:
        """Raises UserInputError for a negative or zero size."""
        if self.workers < 0:
            raise UserInputError(f"--workers must be 0 (all CPUs) or more, got {self.workers}")
        if self.cpus_per_worker <= 0:
            raise UserInputError(f"--cpus-per-worker must be > 0, got {self.cpus_per_worker}")
        if self.gpus_per_worker < 0:
            raise UserInputError(f"--gpus-per-worker must be >= 0, got {self.gpus_per_worker}")

    def worker_threads(self) -> int:
        """onnxruntime intra-op threads of each worker's engine."""
        return self.threads or max(1, int(self.cpus_per_worker))


def add_engine_options(p: argparse.ArgumentParser) -> None:
    """``--engine`` and the Ray cluster's options of ``vessel-segment`` (docs/cohort.md)."""
    g = p.add_argument_group("cohort scale (--engine ray; needs " + INSTALL_HINT + ")")
    g.add_argument(
        "--engine",
        default="local",
        choices=ENGINES,
        help="local: this process, one image after another; ray: a pool of Ray actors "
        "(a manifest for resuming, measurements.parquet too)",
    )
    g.add_argument(
        "--ray-address",
        default=None,
        help="join a running Ray cluster: host:port, ray://host:port or auto "
        "(none: start a local Ray instance on this machine)",
    )
    g.add_argument(
        "--workers", type=int, default=0, help="Ray actors, one engine each (0: one per CPU)"
    )
    g.add_argument(
        "--cpus-per-worker",
        type=float,
        default=1.0,
        help="CPUs per Ray actor (also its onnxruntime threads unless --threads)",
    )
    g.add_argument(
        "--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (CUDA provider)"
    )


def cluster_options(args: argparse.Namespace) -> ClusterOptions | None:
    """The Ray options of ``--engine ray`` (``None`` for the local engine), checked early.

    Raises:
        UserInputError: Ray options without ``--engine ray``, or Ray is not installed.
    """
    if args.engine != "ray":
        given = [
            flag
            for flag, value, default in (
                ("--ray-address", args.ray_address, None),
                ("--workers", args.workers, 0),
                ("--cpus-per-worker", args.cpus_per_worker, 1.0),
                ("--gpus-per-worker", args.gpus_per_worker, 0.0),
            )
            if value != default
        ]
        if given:
            raise UserInputError(f"{', '.join(given)} needs --engine ray")
        return None
    require_ray()
    cluster = ClusterOptions(
        address=args.ray_address,
        workers=args.workers,
        cpus_per_worker=args.cpus_per_worker,
        gpus_per_worker=args.gpus_per_worker,
        provider=args.provider,
        threads=args.threads,
    )
    cluster.check()
    return cluster


def require_ray():
    """Import Ray (with Ray Data) and pyarrow; the ``ray`` module.

    Raises:
        UserInputError: One of them is not installed; the message says what to install.
    """
    try:
        import pyarrow  # noqa: F401
        import ray
        import ray.data
    except ImportError as exc:
        missing = exc.name or "ray"
        raise UserInputError(
            f"--engine ray needs Ray Data and pyarrow ({missing} is not installed): {INSTALL_HINT}"
        ) from None
    return ray


class SegmentWorker:
    """A Ray Data actor: one engine, loaded once, that segments the images of the blocks it gets.

    Args:
        model: The ONNX model file (a path every node sees).
        out_dir: The output folder (absolute; on shared storage for a multi-node cluster).
        threshold: Override of the model's threshold, or ``None``.
        options: Keyword arguments of :meth:`VesselEngine.open` (provider, threads, tile...).
    """

    def __init__(
        self,
        model: str,
        out_dir: str,
        threshold: float | None,
        options: dict[str, Any],
        scale: Scale | None = None,
    ) -> None:
        from runtime.engine import VesselEngine

        self.engine = VesselEngine.open(model, **options)
        self.out_dir = Path(out_dir)
        self.threshold = threshold
        self.scale = scale or Scale()
        self.settings = RunSettings.of(self.engine, threshold, self.scale)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        """Segment every image of ``batch`` (``source``, ``relative`` columns).

        Returns:
            Columns ``image``, ``state`` (``done``/``failed``), ``payload`` (the row as JSON, or
            the error) and ``provider``; an image's failure never raises.
        """
        from runtime.errors import UserInputError as InputError

        out: dict[str, list[str]] = {"image": [], "state": [], "payload": [], "provider": []}
        for source, relative in zip(batch["source"], batch["relative"], strict=True):
            job = Job(Path(str(source)), Path(str(relative)))
            try:
                row = segment_one(
                    self.engine, job, self.out_dir, self.threshold, self.scale, self.settings
                )
                state, payload = DONE, json.dumps(row)
            except (InputError, OSError, ValueError) as exc:
                state, payload = "failed", str(exc)
            except Exception as exc:  # noqa: BLE001 - one image's failure never stops the rest.
                state, payload = "failed", f"{source}: worker error ({type(exc).__name__}: {exc})"
            out["image"].append(str(relative))
            out["state"].append(state)
            out["payload"].append(payload)
            out["provider"].append(self.engine.provider)
        return out


def segment_cohort(
    engine,  # VesselEngine: the driver's, for the settings (and a check that the model opens)
    jobs: list[Job],
    out_dir: Path,
    force: bool = False,
    threshold: float | None = None,
    *,
    cluster: ClusterOptions | None = None,
    on_image: Callable[[ImageEvent], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    scale: Scale | None = None,
) -> dict[str, Any]:
    """Segment ``jobs`` into ``out_dir`` on a Ray cluster (see the module docstring).

    Args:
        engine: The driver's engine on the model (its path, card and options go to the workers).
        jobs: From :func:`runtime.batch.collect_jobs`.
        out_dir: Output folder (created if needed).
        force: Redo images already done.
        threshold: Override of the model's threshold.
        cluster: Where to run and how many workers.
        on_image: Called on the driver as each image is skipped, done or failed (no ``STARTED``
            events: the workers do not report starts).
        on_start: Called with one line describing the cluster once the workers are placed.
        scale: Units of lengths and widths (default: a 45° field of view).

    Returns:
        The report of :func:`runtime.batch.segment_batch` (also written as
        ``measurements.json``/``.csv``, and the rows as ``measurements.parquet``).

    Raises:
        UserInputError: Ray is not installed, the output folder cannot be created, or the
            cluster cannot be reached.
        KeyboardInterrupt: The run was interrupted (after the tables were written).
    """
    cluster = cluster or ClusterOptions()
    cluster.check()
    ray = require_ray()
    if cluster.address:
        check_reachable(cluster.address)
    make_output_dir(out_dir)
    scale = scale or Scale()
    settings = RunSettings.of(engine, threshold, scale)
    results: dict[str, dict[str, Any]] = {}  # image -> manifest record
    todo, skipped = _resume(jobs, out_dir, force, results, settings)
    count = 0

    def tell(job: Job, state: ImageState, message: str = "", row: Any = None) -> None:
        nonlocal count
        count += 1
        if on_image is not None:
            on_image(ImageEvent(count, len(jobs), job, state, message, row))

    for job in jobs:
        if str(job.relative) in results:
            tell(job, ImageState.SKIPPED, row=results[str(job.relative)]["row"])
    by_key = {str(job.relative): job for job in todo}
    providers: set[str] = set()
    interrupted = False
    if todo:
        with _ray_session(ray, cluster) as workers, _sigterm_as_interrupt():
            if on_start is not None:
                where = cluster.address or "a local Ray instance"
                on_start(f"Ray: {workers} worker(s) on {where}, {len(todo)} image(s) to segment")
            dataset = _dataset(ray, engine, todo, out_dir, threshold, cluster, workers, scale)
            try:
                with ManifestWriter(out_dir) as manifest:
                    for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                        records = _records(batch, by_key, providers)
                        manifest.add(records)
                        for record in records:
                            results[record["image"]] = record
                            job = by_key[record["image"]]
                            if record["state"] == DONE:
                                tell(job, ImageState.DONE, row=record["row"])
                            else:
                                tell(job, ImageState.FAILED, record["error"])
            except KeyboardInterrupt:
                interrupted = True
            except Exception as exc:  # noqa: BLE001 - Ray gave up on blocks: record, keep the rest.
                first_line = (str(exc).strip().splitlines() or [""])[0]
                problem = f"{LOST_PROBLEM} ({type(exc).__name__}: {first_line[:200]})"
                _fail_missing(todo, results, problem, tell)
    if interrupted:
        _fail_missing(todo, results, CANCELLED_PROBLEM, lambda *a, **k: None)
    _fail_missing(todo, results, LOST_PROBLEM, tell)
    report = _report(engine, jobs, results, skipped, threshold, providers, scale, settings)
    write_tables(out_dir, report)
    write_parquet(out_dir, csv_rows(report)[1])  # The CSV's rows and columns.
    if interrupted:
        raise KeyboardInterrupt
    return report


def _resume(
    jobs: list[Job],
    out_dir: Path,
    force: bool,
    results: dict[str, dict[str, Any]],
    settings: RunSettings,
) -> tuple[list[Job], int]:
    """Fill ``results`` with the images already done; the jobs left and how many were done.

    An image is done when all of its outputs exist and its last manifest record is ``done``,
    or (a folder the local engine wrote) ``measurements.json`` has its row and the manifest has
    no record of it. Nothing is taken over when the folder's ``measurements.json`` was written
    with other settings (model hash, backend, threshold, TTA, rescaling, scale).
    """
    if force or _other_settings(out_dir, settings):
        return list(jobs), 0
    manifest, previous = read_manifest(out_dir), previous_rows(out_dir, settings)
    todo = []
    for job in jobs:
        key = str(job.relative)
        record = manifest.get(key)
        row = None
        if record is not None:
            row = record["row"] if record["state"] == DONE else None
        elif key in previous:
            row = previous[key]
        if row is not None and all(job.output(out_dir, k).is_file() for k in OUTPUT_KINDS):
            results[key] = done_record(key, row)
        else:
            todo.append(job)
    return todo, len(jobs) - len(todo)


@contextmanager
def _ray_session(ray, cluster: ClusterOptions):
    """Connect to the cluster (or start a local instance); yields the pool size; shuts down."""
    started = not ray.is_initialized()
    # Ray Data's INFO lines and the core worker's notes would drown the progress lines.
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    if started:
        options: dict[str, Any] = {
            "include_dashboard": False,
            "logging_level": logging.ERROR,
            "log_to_driver": False,
        }
        try:
            if cluster.address:
                ray.init(address=cluster.address, **options)
            else:
                ray.init(address="local", object_store_memory=LOCAL_OBJECT_STORE_BYTES, **options)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where = cluster.address or "a local Ray instance"
            raise UserInputError(f"{where}: cannot start or join Ray ({exc})") from None
    try:
        yield _pool_size(ray, cluster)
    finally:
        if started:
            ray.shutdown()


def check_reachable(address: str, timeout: float = 10.0) -> None:
    """Fail fast on a cluster address nothing listens at (Ray itself retries for minutes).

    Args:
        address: ``host:port``, ``ray://host:port`` or ``auto`` (a cluster on this node, which
            Ray checks itself).

    Raises:
        UserInputError: The address is malformed or refuses connections.
    """
    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    if not host or not port.isdigit():
        raise UserInputError(
            f"--ray-address {address}: expected host:port, ray://host:port or auto"
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
        raise UserInputError(
            f"--ray-address {address}: cannot reach a Ray cluster there ({problem})"
        ) from None


def _pool_size(ray, cluster: ClusterOptions) -> int:
    """``cluster.workers``, or as many actors as the cluster's resources hold (at least 1)."""
    if cluster.workers:
        return cluster.workers
    resources = ray.cluster_resources()
    if cluster.gpus_per_worker > 0:
        return max(1, int(resources.get("GPU", 0) // cluster.gpus_per_worker))
    return max(1, int(resources.get("CPU", 1) // cluster.cpus_per_worker))


def _dataset(ray, engine, todo: list[Job], out_dir: Path, threshold, cluster, workers: int, scale):
    """The Ray Data pipeline: file list -> actor pool of engines -> result rows (lazy)."""
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    # A block whose worker kept dying is dropped, not fatal: its images are recorded as lost
    # (LOST_PROBLEM) and the rest of the cohort goes on.
    context.max_errored_blocks = -1
    if hasattr(context, "print_on_execution_start"):
        context.print_on_execution_start = False
    items = [{"source": str(job.source.resolve()), "relative": str(job.relative)} for job in todo]
    blocks = min(len(items), max(math.ceil(len(items) / IMAGES_PER_BLOCK), 4 * workers))
    options = {
        "provider": cluster.provider,
        "threads": cluster.worker_threads(),
        "tile": engine.tile,
        "rescale": engine.rescale,
        "tta": engine.tta,
    }
    dataset = ray.data.from_items(items, override_num_blocks=blocks)
    with warnings.catch_warnings():
        # Ray 2.60 deprecates passing max_restarts/max_task_retries this way (setup.cfg pins
        # ray below 2.64, which removes it) and offers no other way to bound the retries.
        warnings.filterwarnings("ignore", message=".*ray_remote_args.*deprecated")
        return dataset.map_batches(
            SegmentWorker,
            fn_constructor_kwargs={
                "model": str(Path(engine.model_path).resolve()),
                "out_dir": str(out_dir.resolve()),
                "threshold": threshold,
                "options": options,
                "scale": scale,
            },
            batch_size=1,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=workers),
            num_cpus=cluster.cpus_per_worker,
            num_gpus=cluster.gpus_per_worker or None,
            max_restarts=-1,
            max_task_retries=TASK_RETRIES,
        )


def _records(batch: dict[str, Any], by_key: dict[str, Job], providers: set[str]) -> list[dict]:
    """Manifest records of one block of results (errors name the file as the user gave it)."""
    records = []
    for image, state, payload, provider in zip(
        batch["image"], batch["state"], batch["payload"], batch["provider"], strict=True
    ):
        image, payload = str(image), str(payload)
        providers.add(str(provider))
        job = by_key[image]
        if state == DONE:
            records.append(done_record(image, json.loads(payload)))
        else:
            error = payload.replace(str(job.source.resolve()), str(job.source))
            records.append(failed_record(image, error))
    return records


def _fail_missing(todo: list[Job], results: dict, problem: str, tell: Callable) -> None:
    """Record every job of ``todo`` without a result as failed with ``problem``."""
    for job in todo:
        key = str(job.relative)
        if key not in results:
            results[key] = failed_record(key, f"{job.source}: {problem}")
            tell(job, ImageState.FAILED, results[key]["error"])


def _other_settings(out_dir: Path, settings: RunSettings) -> bool:
    """Whether ``out_dir`` holds tables written with settings other than ``settings``."""
    path = out_dir / "measurements.json"
    if not path.is_file():
        return False
    try:
        recorded = json.loads(path.read_text(encoding="utf-8")).get("settings")
    except (OSError, ValueError, AttributeError):
        return True
    return not settings.matches(recorded)


def _report(
    engine, jobs, results, skipped: int, threshold, providers: set[str], scale, settings
) -> dict:
    """The report :func:`runtime.batch.segment_batch` would write, rows in the inputs' order."""
    rows, failed = [], []
    for job in jobs:
        key = str(job.relative)
        record = results[key]
        if record["state"] == DONE:
            rows.append(record["row"])
        else:
            failed.append({"file": str(job.source), "image": key, "error": record["error"]})
    recorded = run_settings(engine, threshold, scale, settings)
    if providers:
        recorded["provider"] = ", ".join(sorted(providers))
    return {"settings": recorded, "rows": rows, "failed": failed, "skipped": skipped}


def write_parquet(out_dir: Path, rows: list[dict[str, Any]]) -> Path | None:
    """``measurements.parquet``: the CSV's rows and columns (atomically); ``None`` if no rows."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        return None
    columns = list(dict.fromkeys(key for row in rows for key in row))
    table = pa.table({name: [row.get(name) for row in rows] for name in columns})
    path = out_dir / PARQUET_NAME
    tmp = out_dir / f".{PARQUET_NAME}.tmp"
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM (a job scheduler stopping the run) ends it like Ctrl+C (main thread only)."""

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # Not the main thread: leave signals alone.
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
