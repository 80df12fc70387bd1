"""The accuracy gate of the backends, and how ``auto`` picks the fastest variant that passed it.

``python -m runtime.gate --model M`` (TensorFlow-free) runs every backend × precision of
:mod:`runtime.backends` that this machine can run over the 20 DRIVE test images through the
engine and scores it with the FOV protocol (pooled, at the model card's threshold) against
onnxruntime fp32: a variant passes when its F1 is at most :data:`MAX_F1_DROP` below the
reference's. It also reports the largest |Δ| of the probabilities inside the FOV and times
each variant on a whole padded DRIVE image (p50, interleaved rounds) on this machine.

The result is a **gate record**, kept per model and machine in the user cache
(:func:`gate_record_path`: ``<cache>/gates/<model stem>-<sha256 prefix>.json``, the cache being
``$VESSEL_CACHE_DIR``, else ``$XDG_CACHE_HOME/drive-vessel-unet``, else
``~/.cache/drive-vessel-unet``). :func:`choose_variant` reads it: ``auto`` takes the fastest
variant that passed; a variant asked for by name that failed is refused with the numbers. A
record made on another CPU or with other backend versions is ignored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.backends import (
    BACKENDS,
    REFERENCE,
    check_choice,
    fp32_file,
    open_predictor,
    variant_file,
    variant_name,
)
from runtime.constants import CACHE_ENV, DATA_ROOT, MAX_F1_DROP
from runtime.errors import UserInputError, cli_errors
from runtime.reports import markdown_table, write_json, write_report

#: Version of the record's layout; records of another version are ignored.
RECORD_VERSION = 1


@dataclass
class GateResult:
    """One variant's accuracy and speed against onnxruntime fp32 on the DRIVE test set.

    Attributes:
        backend: Key of :data:`runtime.backends.BACKENDS`.
        precision: ``fp32``, ``bf16`` or ``int8``.
        passed: Whether it may be used (F1 drop ≤ :data:`MAX_F1_DROP`).
        f1: Pooled DRIVE test F1 at the model's threshold (``nan`` when not run).
        f1_drop: Reference F1 minus this F1.
        max_abs_diff: Largest |Δ| of the probabilities against the reference, inside the FOV.
        p50_ms: Median time of one padded DRIVE test image through the model alone.
        reason: Why it failed or was not run (empty when it passed).
    """

    backend: str
    precision: str
    passed: bool
    f1: float = float("nan")
    f1_drop: float = float("nan")
    max_abs_diff: float = float("nan")
    p50_ms: float = float("nan")
    reason: str = ""

    @property
    def name(self) -> str:
        """``openvino bf16``."""
        return variant_name(self.backend, self.precision)


def cache_dir() -> Path:
    """The user cache folder of this product (see the module docstring)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.environ.get("LOCALAPPDATA")
    return (Path(base) if base else Path.home() / ".cache") / "drive-vessel-unet"


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gate_record_path(model_path: str | Path) -> Path:
    """Where the gate record of a model (its fp32 file, by content) is kept."""
    fp32 = fp32_file(model_path)
    return cache_dir() / "gates" / f"{fp32.stem}-{file_digest(fp32)[:16]}.json"


def machine_fingerprint() -> dict[str, str]:
    """What a gate record depends on besides the model: the CPU and the backends' versions."""
    from runtime.openvino_session import openvino_version

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [
                line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")
            ]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    try:
        import onnxruntime

        ort_version = str(onnxruntime.__version__)
    except ImportError:
        ort_version = ""
    return {
        "cpu": cpu,
        "cpus": str(os.cpu_count()),
        "onnxruntime": ort_version,
        "openvino": openvino_version(),
    }


def load_gate_record(model_path: str | Path) -> dict[str, Any] | None:
    """The gate record of this model on this machine, or ``None`` (none, stale or unreadable)."""
    fp32 = fp32_file(model_path)
    if not fp32.is_file():
        return None
    path = gate_record_path(fp32)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("version") != RECORD_VERSION or record.get("machine") != machine_fingerprint():
        return None
    return record


def record_results(record: dict[str, Any]) -> dict[tuple[str, str], GateResult]:
    """The record's results by ``(backend, precision)``."""
    fields = GateResult.__dataclass_fields__
    results = {}
    for row in record.get("variants", []):
        result = GateResult(**{k: v for k, v in row.items() if k in fields})
        results[(result.backend, result.precision)] = result
    return results


@dataclass(frozen=True)
class Choice:
    """The variant a run uses and why.

    Attributes:
        backend: Key of :data:`runtime.backends.BACKENDS`.
        precision: Its precision.
        path: The ONNX file it runs.
        reason: For the user (``fastest that passed the accuracy gate (37 ms)``).
    """

    backend: str
    precision: str
    path: Path
    reason: str


def choose_variant(
    model_path: str | Path, backend: str = "auto", precision: str = "auto", provider: str = "auto"
) -> Choice:
    """Resolve ``--backend``/``--precision`` for a model on this machine.

    ``auto`` takes the fastest variant (among those allowed by the other choices and installed)
    that passed this machine's gate record; without a record it takes onnxruntime and the
    precision of the file given (int8 for a ``.int8.onnx`` file, else fp32). A CUDA provider
    asked for by name implies onnxruntime.

    Raises:
        UserInputError: Unknown choices, or the chosen variant failed the gate on this machine
            (names its F1 drop and what to choose instead).
    """
    check_choice(backend, precision)
    if provider not in ("auto", "cpu"):
        if backend == "openvino":
            raise UserInputError(f"the {provider} provider runs on the onnxruntime backend only")
        backend = "onnxruntime"
    given = Path(model_path)
    file_precision = "int8" if given.name.endswith(".int8.onnx") else "fp32"
    record = load_gate_record(given)
    results = record_results(record) if record else {}
    candidates = [
        r
        for r in results.values()
        if r.passed
        and r.backend in BACKENDS
        and BACKENDS[r.backend].available()
        and backend in ("auto", r.backend)
        and precision in ("auto", r.precision)
        and variant_file(given, r.precision).is_file()
        and np.isfinite(r.p50_ms)
    ]
    if candidates:
        best = min(candidates, key=lambda r: r.p50_ms)
        return Choice(
            best.backend,
            best.precision,
            variant_file(given, best.precision),
            f"fastest that passed the accuracy gate ({best.p50_ms:.0f} ms per DRIVE image)",
        )
    chosen_backend = backend if backend != "auto" else "onnxruntime"
    chosen_precision = precision if precision != "auto" else file_precision
    if chosen_precision not in BACKENDS[chosen_backend].precisions:
        chosen_backend = next(k for k, b in BACKENDS.items() if chosen_precision in b.precisions)
    check_choice(chosen_backend, chosen_precision)
    result = results.get((chosen_backend, chosen_precision))
    name = variant_name(chosen_backend, chosen_precision)
    if result is not None and not result.passed:
        passed = [r.name for r in results.values() if r.passed]
        raise UserInputError(
            f"{given.name}: {name} failed the accuracy gate on this machine "
            f"({result.reason}); use {' or '.join(passed) or 'onnxruntime fp32'}"
        )
    if (chosen_backend, chosen_precision) == REFERENCE:
        reason = "the reference" if record else "no accuracy-gate record on this machine yet"
    elif result is not None:
        reason = "passed the accuracy gate"
    else:
        reason = (
            f"not accuracy-gated on this machine yet (python -m runtime.gate --model "
            f"{fp32_file(given)})"
        )
    return Choice(chosen_backend, chosen_precision, variant_file(given, chosen_precision), reason)


def _skip_reason(model_path: Path, backend: str, precision: str) -> str:
    """Why a variant cannot run here, or ``""``."""
    from runtime.openvino_session import cpu_supports

    entry = BACKENDS[backend]
    if not entry.available():
        return f'{entry.module} not installed (pip install "drive-vessel-unet[{entry.extra}]")'
    if not variant_file(model_path, precision).is_file():
        return f"{variant_file(model_path, precision).name} not found"
    if backend == "openvino" and not cpu_supports(precision):
        return f"this CPU has no {precision} support"
    return ""


def run_gate(
    model_path: str | Path,
    data_root: str | Path = DATA_ROOT,
    threads: int = 0,
    rounds: int = 5,
    images: int | None = None,
    progress: bool = False,
    save: bool = True,
) -> dict[str, Any]:
    """Gate and time every backend × precision of a model on this machine (module docstring).

    Args:
        model_path: The model's fp32 ONNX file (or its int8 file).
        data_root: Data root holding DRIVE.
        threads: Threads of every backend (0: each backend's default).
        rounds: Timed rounds (each runs every variant once, interleaved).
        images: Score only the first ``images`` test images (``None``: all 20).
        progress: Print one line per image to stderr.
        save: Write the result to :func:`gate_record_path` (when all images were scored), so
            ``auto`` uses it on this machine; never for a subset of the images.

    Returns:
        The gate record.
    """
    from runtime.datasets import load_sample, split_samples
    from runtime.engine import VesselEngine
    from runtime.metrics import binary_scores, confusion
    from runtime.tiling import pad_to_multiple

    fp32 = fp32_file(model_path)
    every = split_samples(data_root, "DRIVE", "test")
    samples = every[:images] if images else every
    results, engines = [], []
    for key, entry in BACKENDS.items():
        for precision in entry.precisions:
            reason = _skip_reason(fp32, key, precision)
            result = GateResult(key, precision, passed=False, reason=reason)
            results.append(result)
            if not reason:
                predictor = open_predictor(fp32, key, precision, threads, provider="cpu")
                engines.append((result, VesselEngine(predictor, predictor.card)))
    reference = next(e for r, e in engines if (r.backend, r.precision) == REFERENCE)
    threshold = reference.threshold
    counts = {id(r): [] for r, _ in engines}
    worst = {id(r): 0.0 for r, _ in engines}
    first_image = None
    for index, paths in enumerate(samples, 1):
        sample = load_sample(paths)
        if first_image is None:
            first_image = sample.image
        base = reference.probability(sample.image, sample.fov).probability
        for result, engine in engines:
            probability = (
                base
                if engine is reference
                else engine.probability(sample.image, sample.fov).probability
            )
            inside, truth = probability[sample.fov], sample.vessels[sample.fov]
            counts[id(result)].append(confusion(inside >= threshold, truth))
            delta = float(np.abs(inside - base[sample.fov]).max())
            worst[id(result)] = max(worst[id(result)], delta)
        if progress:
            print(f"[gate {index}/{len(samples)}] {paths.image.name}", file=sys.stderr)
    for result, _ in engines:
        pooled = counts[id(result)][0]
        for extra in counts[id(result)][1:]:
            pooled = pooled + extra
        result.f1 = binary_scores(pooled)["f1"]
        result.max_abs_diff = worst[id(result)]
    reference_f1 = next(r.f1 for r, _ in engines if (r.backend, r.precision) == REFERENCE)
    for result, _ in engines:
        result.f1_drop = reference_f1 - result.f1
        result.passed = result.f1_drop <= MAX_F1_DROP
        result.reason = (
            ""
            if result.passed
            else f"DRIVE test F1 {result.f1:.4f} vs {reference_f1:.4f}, drop "
            f"{result.f1_drop:.4f} > {MAX_F1_DROP}"
        )
    batch = pad_to_multiple(first_image.astype(np.float32), reference.predictor.multiple)[None]
    times: dict[int, list[float]] = {id(r): [] for r, _ in engines}
    for _, engine in engines:
        engine.predictor.predict(batch)  # Warm-up (and OpenVINO's compile for this shape).
    for _ in range(rounds):
        for result, engine in engines:
            start = time.perf_counter()
            engine.predictor.predict(batch)
            times[id(result)].append((time.perf_counter() - start) * 1e3)
    for result, _ in engines:
        result.p50_ms = float(np.median(times[id(result)]))
    result = {
        "version": RECORD_VERSION,
        "model": str(fp32),
        "sha256": file_digest(fp32),
        "machine": machine_fingerprint(),
        "images": len(samples),
        "threads": threads,
        "threshold": threshold,
        "max_f1_drop": MAX_F1_DROP,
        "reference_f1": reference_f1,
        "input": f"{batch.shape[1]}x{batch.shape[2]}",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "variants": [asdict(r) for r in results],
    }
    if save and len(samples) == len(every):
        write_json(gate_record_path(fp32), result)
    return result


def to_markdown(record: dict[str, Any]) -> str:
    """The gate record as a Markdown table."""
    rows = [
        [
            variant_name(r["backend"], r["precision"]),
            r["f1"],
            r["f1_drop"],
            r["max_abs_diff"],
            f"{r['p50_ms']:.1f}",
            "yes" if r["passed"] else "NO",
            r["reason"],
        ]
        for r in record["variants"]
    ]
    table = markdown_table(
        ["variant", "DRIVE test F1", "F1 drop", "max abs Δ (FOV)", "p50 ms", "passed", "why not"],
        rows,
        digits=4,
    )
    return (
        f"## Accuracy gate: {Path(record['model']).name}, {record['images']} DRIVE test images, "
        f"{record['input']} input, threads {record['threads'] or 'default'}\n\n"
        f"Passes when the F1 drop against onnxruntime fp32 is ≤ {record['max_f1_drop']}. "
        f"Machine: {record['machine']['cpu']}, {record['machine']['cpus']} CPUs.\n\n{table}"
    )


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m runtime.gate``."""
    from runtime.models import default_model

    p = argparse.ArgumentParser(
        prog="python -m runtime.gate",
        description="Accuracy-gate and time every backend and precision of an ONNX model on "
        "this machine (DRIVE test F1 against onnxruntime fp32); --backend auto then takes the "
        "fastest variant that passed.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", default=None, help="fp32 ONNX model (default: the shipped one)")
    p.add_argument("--data", default=DATA_ROOT, help="data root holding DRIVE")
    p.add_argument("--threads", type=int, default=0, help="threads of every backend (0: default)")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds")
    p.add_argument("--out", default=None, help="also write gate.json and gate.md here")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    args = p.parse_args(argv)
    model = Path(args.model) if args.model else default_model()
    if not fp32_file(model).is_file():
        raise UserInputError(f"{fp32_file(model)}: model file not found")
    record = run_gate(model, args.data, args.threads, args.rounds, progress=not args.quiet)
    if args.out:
        write_report(Path(args.out) / "gate", record, to_markdown(record))
    print(to_markdown(record))
    print(f"\nrecorded for this machine: {gate_record_path(model)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
