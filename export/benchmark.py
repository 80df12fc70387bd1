"""Inference benchmark: ``python -m export.benchmark --help``.

Times whole DRIVE test images through Keras ``predict`` (when TensorFlow is installed), ONNX fp32
and ONNX int8, for every available execution provider and each thread count: warm-up, then
latency p50/p95 at batch 1, images/s at batch 1 and batch N, peak memory (the rise of the
process's peak resident set above its resident set during one batch-N run), and achieved GFLOP/s
(the model's FLOPs at that input size / latency). Variants are interleaved round by round so that
noise on a shared machine hits them alike; the ratios between variants are the figures to read.
Writes ``benchmark.json`` and ``benchmark.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime import cli
from runtime.batch import Job
from runtime.cli import comma_list
from runtime.constants import DATA_ROOT, MAX_F1_DROP
from runtime.errors import UserInputError, cli_errors
from runtime.predictors import Predictor
from runtime.reports import markdown_table, write_report


@dataclass
class Variant:
    """One thing to time: a predictor with its runtime, precision, provider and thread count."""

    name: str
    runtime: str
    precision: str
    provider: str
    threads: int
    predictor: Predictor
    times_ms: list[float] = field(default_factory=list)
    batch_times_ms: list[float] = field(default_factory=list)
    peak_extra_mb: float = float("nan")
    stage_ms: dict[str, list[float]] = field(default_factory=dict)


def onnx_flops(path: str | Path, height: int, width: int) -> float:
    """Multiply-adds x 2 of the Conv/ConvTranspose nodes of an ONNX model at one input size.

    Runs ONNX shape inference with the input fixed to ``(1, height, width, 3)``.
    """
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(path))
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(dims, (1, height, width, 3), strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = value
    model = shape_inference.infer_shapes(model)
    shapes = {}
    for info in [*model.graph.input, *model.graph.value_info, *model.graph.output]:
        shapes[info.name] = [d.dim_value for d in info.type.tensor_type.shape.dim]
    weights = {t.name: list(t.dims) for t in model.graph.initializer}
    total = 0.0
    for node in model.graph.node:
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        kernel = weights.get(node.input[1])
        # Conv: every output element takes Cin/groups x kh x kw MACs (kernel is
        # (Cout, Cin/groups, kh, kw)). ConvTranspose: every input element spreads over
        # Cout/groups x kh x kw outputs (kernel is (Cin, Cout/groups, kh, kw)).
        counted = shapes.get(node.output[0] if node.op_type == "Conv" else node.input[0])
        if not kernel or not counted or 0 in counted:
            continue
        total += 2.0 * float(np.prod(counted)) * kernel[1] * kernel[2] * kernel[3]
    return total


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _rss_mb(field: str) -> float:
    """``VmRSS`` (now) or ``VmHWM`` (peak since the last reset) of this process, in MB."""
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def build_variants(
    onnx_fp32: Path | None,
    onnx_int8: Path | None,
    keras_path: Path | None,
    providers: list[str],
    threads: list[int],
    backends: list[str] | None = None,
) -> tuple[list[Variant], list[str]]:
    """Every runnable combination, and notes on what was left out and why.

    Every backend of :data:`runtime.backends.BACKENDS` runs each of its precisions (int8: the
    QDQ file; bf16 where the CPU has it) at each thread count; onnxruntime on each provider.

    Args:
        onnx_fp32: The fp32 ONNX file.
        onnx_int8: The int8 ONNX file (timed on providers meant for int8).
        keras_path: A ``.keras`` file to time with Keras, when TensorFlow is installed.
        providers: Keys of :data:`runtime.providers.PROVIDERS` (onnxruntime's).
        threads: Thread counts.
        backends: Keys of :data:`runtime.backends.BACKENDS` (default: all).
    """
    from runtime.backends import BACKENDS
    from runtime.onnx_session import OnnxPredictor
    from runtime.providers import PROVIDERS, available_providers

    variants, notes = [], []
    files = {"fp32": onnx_fp32, "bf16": onnx_fp32, "int8": onnx_int8}
    for key in backends or list(BACKENDS):
        backend = BACKENDS[key]
        if not backend.available():
            notes.append(f"{backend.label}: not installed (extra [{backend.extra}])")
            continue
        if key == "openvino":
            from runtime.openvino_session import OpenVinoPredictor, cpu_supports

            for precision in backend.precisions:
                path = files[precision]
                if path is None:
                    continue
                if not cpu_supports(precision):
                    notes.append(f"OpenVINO {precision}: this CPU has no {precision} support")
                    continue
                for count in threads:
                    model = OpenVinoPredictor(path, precision=precision, threads=count)
                    variants.append(
                        Variant(
                            f"openvino {precision} CPU {count}t",
                            "openvino",
                            precision,
                            "CPU",
                            count,
                            model,
                        )
                    )
            continue
        offered = available_providers()
        for provider_key in providers:
            provider = PROVIDERS[provider_key]
            if provider.ort_name not in offered:
                notes.append(f"{provider.label}: not offered by this onnxruntime build")
                continue
            for count in threads:
                for precision in backend.precisions:
                    path = files[precision]
                    if path is None or (precision == "int8" and not provider.runs_int8):
                        continue
                    model = OnnxPredictor(path, providers=[provider.ort_name], threads=count)
                    if model.provider != provider.ort_name:
                        notes.append(f"{path.name}: {provider.label} fell back to {model.provider}")
                        continue
                    variants.append(
                        Variant(
                            f"onnxruntime {precision} {provider.label} {count}t",
                            "onnxruntime",
                            precision,
                            provider.label,
                            count,
                            model,
                        )
                    )
    if keras_path is not None:
        try:
            import tensorflow as tf

            from keras_unet.predictors import load_model
        except ImportError:
            notes.append("keras: TensorFlow is not installed")
        else:
            predictor, _ = load_model(keras_path)
            threads_note = tf.config.threading.get_intra_op_parallelism_threads() or os.cpu_count()
            device = "GPU" if tf.config.list_physical_devices("GPU") else "CPU"
            variants.append(
                Variant(
                    f"keras {threads_note}t",
                    "keras",
                    "fp32",
                    f"TensorFlow {device}",
                    int(threads_note),
                    predictor,
                )
            )
    return variants, notes


def run_benchmark(
    variants: list[Variant], images: list[np.ndarray], rounds: int, warmup: int, batch: int
) -> None:
    """Time ``variants`` interleaved: each round runs every variant once per image."""
    single = [img[None] for img in images]
    stacked = np.concatenate([single[i % len(single)] for i in range(batch)])
    for variant in variants:
        for _ in range(warmup):
            variant.predictor.predict(single[0])
        variant.predictor.predict(stacked)
    for variant in variants:  # Peak memory above the resident set, during a batch run.
        before = _rss_mb("VmRSS")
        if _reset_peak_rss():
            variant.predictor.predict(stacked)
            variant.peak_extra_mb = max(0.0, _rss_mb("VmHWM") - before)
    for _ in range(rounds):
        for variant in variants:
            for item in single:
                start = time.perf_counter()
                variant.predictor.predict(item)
                variant.times_ms.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            variant.predictor.predict(stacked)
            variant.batch_times_ms.append((time.perf_counter() - start) * 1e3)


#: Per-image stages of the batch's main job (:mod:`runtime.batch`), as the benchmark times them.
STAGES: tuple[str, ...] = ("read", "infer", "model", "write_pngs", "measure", "end_to_end")


def run_end_to_end(variants: list[Variant], jobs: list, card, out_dir: Path, rounds: int) -> None:
    """Time the batch's per-image work with each variant, interleaved round by round.

    Stages (:mod:`runtime.batch`'s steps): ``read`` (decode the photograph and its FOV mask),
    ``infer`` (the engine: FOV, working scale, padding, the model, threshold), of which
    ``model`` is the predictor's own calls, ``write_pngs`` (compose, encode and write the
    three PNGs), ``measure`` (the vessel measurements), and their sum ``end_to_end`` (what one
    image costs the sequential batch).
    """
    from runtime.batch import infer_job, measurement_row, read_job, write_outputs
    from runtime.engine import VesselEngine
    from runtime.outputs import OUTPUT_KINDS
    from runtime.predictors import CallablePredictor
    from runtime.provenance import RunSettings
    from runtime.units import Scale

    def timed(variant: Variant, spent: list[float]) -> CallablePredictor:
        def predict(batch: np.ndarray) -> np.ndarray:
            start = time.perf_counter()
            output = variant.predictor.predict(batch)
            spent.append(time.perf_counter() - start)
            return output

        return CallablePredictor(variant.name, variant.predictor.multiple, predict)

    for _ in range(rounds):
        for variant in variants:
            spent: list[float] = []
            engine = VesselEngine(timed(variant, spent), card)
            scale = Scale()
            text = RunSettings.of(engine, None, scale).png_text()
            for job in jobs:
                outputs = {kind: job.output(out_dir / "e2e", kind) for kind in OUTPUT_KINDS}
                spent.clear()
                times = [time.perf_counter()]
                read = read_job(job)
                times.append(time.perf_counter())
                result = infer_job(engine, job, read, None)
                times.append(time.perf_counter())
                write_outputs(read[0], result, outputs, text)
                times.append(time.perf_counter())
                measurement_row(job, read[0], result, None, scale)
                times.append(time.perf_counter())
                read_s, infer_s, write_s, measure_s = np.diff(times)
                values = (read_s, infer_s, sum(spent), write_s, measure_s, times[-1] - times[0])
                for stage, seconds in zip(STAGES, values, strict=True):
                    variant.stage_ms.setdefault(stage, []).append(seconds * 1e3)


def time_main_job(model: Path, jobs: list, out_dir: Path, rounds: int) -> list[dict[str, Any]]:
    """Wall time of the whole batch (``vessel-segment``'s default engine), sequential vs overlapped.

    The two are interleaved round by round; each run starts from an empty output folder.
    """
    import shutil

    from runtime.batch import segment_batch
    from runtime.engine import VesselEngine

    engine = VesselEngine.open(model)
    seconds: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for overlap in (False, True):
            target = out_dir / f"main_job_{overlap}"
            shutil.rmtree(target, ignore_errors=True)
            start = time.perf_counter()
            segment_batch(engine, jobs, target, overlap=overlap)
            seconds[overlap].append(time.perf_counter() - start)
    name = f"{engine.choice.backend} {engine.choice.precision}"
    return [
        {
            "mode": "overlapped" if overlap else "sequential",
            "variant": name,
            "images": len(jobs),
            "seconds": float(np.median(values)),
            "ms_per_image": float(np.median(values)) / len(jobs) * 1e3,
        }
        for overlap, values in seconds.items()
    ]


def summarise(variants: list[Variant], flops: float, batch: int) -> list[dict[str, Any]]:
    """Per-variant statistics, with speed ratios against ONNX fp32 (same provider/threads)."""
    rows = []
    for v in variants:
        p50 = float(np.percentile(v.times_ms, 50))
        rows.append(
            {
                "variant": v.name,
                "runtime": v.runtime,
                "precision": v.precision,
                "provider": v.provider,
                "threads": v.threads,
                "p50_ms": p50,
                "p95_ms": float(np.percentile(v.times_ms, 95)),
                "images_per_s_batch1": 1e3 / p50,
                f"images_per_s_batch{batch}": batch * 1e3 / float(np.median(v.batch_times_ms)),
                "peak_extra_mb": v.peak_extra_mb,
                "gflop_per_s": flops / (p50 / 1e3) / 1e9 if flops else float("nan"),
                "samples": len(v.times_ms),
                **{
                    f"{stage}_ms": float(np.median(v.stage_ms[stage]))
                    for stage in STAGES
                    if v.stage_ms.get(stage)
                },
            }
        )
    fp32 = {
        (r["provider"], r["threads"]): r["p50_ms"]
        for r in rows
        if r["runtime"] == "onnxruntime" and r["precision"] == "fp32"
    }
    for r in rows:  # OpenVINO on the CPU is compared with onnxruntime's CPU provider.
        if r["runtime"] == "openvino" and ("CPU", r["threads"]) in fp32:
            r["reference"] = fp32[("CPU", r["threads"])]
    best_fp32 = min(fp32.values()) if fp32 else float("nan")
    for r in rows:
        reference = r.pop("reference", fp32.get((r["provider"], r["threads"]), best_fp32))
        r["time_vs_onnx_fp32"] = r["p50_ms"] / reference
    return rows


def _gate_cells(row: dict[str, Any]) -> list[Any]:
    gate = row.get("gate")
    if not gate:
        return ["–", "–", "–", "–"]
    return [gate["f1"], gate["f1_drop"], gate["max_abs_diff"], "pass" if gate["passed"] else "FAIL"]


def to_markdown(result: dict[str, Any]) -> str:
    """The benchmark as Markdown: model-only and end-to-end times with the accuracy gate."""
    batch = result["batch"]
    rows = [
        [
            r["variant"],
            r["p50_ms"],
            r["p95_ms"],
            r["time_vs_onnx_fp32"],
            r.get("end_to_end_ms", float("nan")),
            r[f"images_per_s_batch{batch}"],
            r["peak_extra_mb"],
            r["gflop_per_s"],
            *_gate_cells(r),
        ]
        for r in result["rows"]
    ]
    table = markdown_table(
        [
            "variant",
            "model p50 ms",
            "model p95 ms",
            "model time / onnxruntime fp32",
            "end-to-end ms / image",
            f"img/s (b{batch})",
            f"peak MB (b{batch})",
            "GFLOP/s",
            "DRIVE test F1",
            "F1 drop",
            "max abs Δ (FOV)",
            "gate",
        ],
        rows,
        digits=4,
    )
    head = (
        f"## Inference benchmark: {result['input']} input, {result['images']} DRIVE test "
        f"images x {result['rounds']} rounds (interleaved), {result['flops'] / 1e9:.1f} "
        f"GFLOP per image\n\nMachine: {result['machine']}\n\nModel-only: one padded image "
        "through the predictor. End-to-end: the batch's per-image work, sequential (read the "
        "photograph and its FOV mask, the engine, write three PNGs and measure). Gate: pooled "
        f"DRIVE test F1 at the model's threshold against onnxruntime fp32 (drop ≤ "
        f"{result.get('max_f1_drop', '')}); max abs Δ of the probabilities inside the FOV."
    )
    parts = [head, table]
    stage_rows = [
        [r["variant"], *(r.get(f"{stage}_ms", float("nan")) for stage in STAGES)]
        for r in result["rows"]
        if "end_to_end_ms" in r
    ]
    if stage_rows:
        parts.append(
            "### Per-image stages (ms, median)\n\n"
            + markdown_table(["variant", *STAGES], stage_rows, digits=1)
        )
    if result.get("main_job"):
        reference = result.get("bare_onnxruntime_fp32_ms")
        main_rows = [
            [
                m["mode"],
                m["variant"],
                m["images"],
                m["seconds"],
                m["ms_per_image"],
                m["seconds"] / (reference * m["images"] / 1e3) if reference else float("nan"),
            ]
            for m in result["main_job"]
        ]
        parts.append(
            "### Main job: the batch over the DRIVE test images (default engine)\n\n"
            + markdown_table(
                [
                    "batch",
                    "variant",
                    "images",
                    "seconds",
                    "ms / image",
                    "time / bare onnxruntime fp32 calls",
                ],
                main_rows,
                digits=3,
            )
        )
    notes = "\n".join(f"- {n}" for n in result["notes"])
    return "\n\n".join(filter(None, [*parts, notes]))


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m export.benchmark``."""
    from runtime.datasets import split_samples
    from runtime.imageio import read_rgb
    from runtime.models import default_model
    from runtime.providers import CPU, PROVIDERS
    from runtime.tiling import pad_to_multiple

    p = argparse.ArgumentParser(
        prog="python -m export.benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default=None, help="ONNX fp32 model (default: the shipped one)")
    p.add_argument("--int8", default=None, help="ONNX int8 model (default: <model>.int8.onnx)")
    p.add_argument(
        "--keras",
        default=None,
        help="Keras model to compare (default: <model stem>.keras if TF is installed)",
    )
    p.add_argument("--data", default=DATA_ROOT, help="data root (DRIVE test images are timed)")
    p.add_argument("--images", type=int, default=4, help="test images per round")
    p.add_argument("--rounds", type=int, default=5, help="timed rounds")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs per variant first")
    p.add_argument("--batch", type=int, default=4, help="batch size of the throughput run")
    p.add_argument(
        "--threads",
        default="0",
        help="comma-separated onnxruntime thread counts (0: onnxruntime's default)",
    )
    p.add_argument(
        "--providers",
        default=",".join(PROVIDERS),
        help="providers to try (those not offered are noted and skipped)",
    )
    cli.add_backend_options(p, auto_help="every installed backend side by side")
    p.add_argument(
        "--e2e-rounds",
        type=int,
        default=2,
        help="rounds of the end-to-end per-image timing of every variant (0: skip)",
    )
    p.add_argument(
        "--main-job-images",
        type=int,
        default=20,
        help="DRIVE test images of the main-job timing, sequential vs overlapped (0: skip)",
    )
    p.add_argument("--main-job-rounds", type=int, default=1, help="rounds of the main-job timing")
    p.add_argument(
        "--no-gate", action="store_true", help="skip the accuracy gate (python -m runtime.gate)"
    )
    p.add_argument(
        "--gate-images",
        type=int,
        default=None,
        help="DRIVE test images the gate scores (default: all; a subset is not recorded)",
    )
    p.add_argument("--out", default="results/benchmark", help="output folder")
    args = p.parse_args(argv)
    for name in ("images", "rounds", "batch"):
        if getattr(args, name) < 1:
            raise UserInputError(f"--{name} must be >= 1, received {getattr(args, name)}")
    providers = comma_list(args.providers)
    unknown = [s for s in providers if s not in PROVIDERS]
    if unknown:
        raise UserInputError(
            f"--providers: unknown {', '.join(unknown)}; choose from {', '.join(PROVIDERS)}"
        )
    fp32 = Path(args.model) if args.model else default_model()
    int8 = Path(args.int8) if args.int8 else fp32.with_suffix(".int8.onnx")
    keras_path = Path(args.keras) if args.keras else fp32.with_suffix(".keras")
    from runtime.onnx_session import OnnxPredictor

    card = OnnxPredictor(fp32, providers=[CPU]).card
    multiple = card.multiple
    samples = split_samples(args.data, "DRIVE", "test")[: args.images]
    images = [pad_to_multiple(read_rgb(s.image).astype(np.float32), multiple) for s in samples]
    height, width = images[0].shape[:2]
    images = [img for img in images if img.shape[:2] == (height, width)]
    from runtime.gate import machine_fingerprint

    thread_counts = [int(t) for t in comma_list(args.threads)]
    variants, notes = build_variants(
        fp32,
        int8 if int8.is_file() else None,
        keras_path if keras_path.is_file() and args.backend == "auto" else None,
        providers,
        thread_counts,
        None if args.backend == "auto" else [args.backend],
    )
    if args.precision != "auto":
        variants = [v for v in variants if v.precision == args.precision]
    if not int8.is_file():
        notes.append(f"{int8}: not found, int8 not timed")
    gate = None
    if not args.no_gate:
        from runtime.gate import gate_record_path, record_results, run_gate

        record = run_gate(fp32, args.data, thread_counts[0], images=args.gate_images)
        gate = record_results(record)
        if args.gate_images is None:
            notes.append(f"accuracy gate recorded for this machine in {gate_record_path(fp32)}")
        notes.extend(f"{r.name}: {r.reason}" for r in gate.values() if r.reason)
    flops = onnx_flops(fp32, height, width)
    run_benchmark(variants, images, args.rounds, args.warmup, args.batch)
    out = Path(args.out)
    jobs = [Job(s.image, Path(s.image.name)) for s in samples]
    if args.e2e_rounds > 0:
        run_end_to_end(variants, jobs, card, out, args.e2e_rounds)
    rows = summarise(variants, flops, args.batch)
    for row in rows:
        result_gate = gate.get((row["runtime"], row["precision"])) if gate else None
        row["gate"] = asdict(result_gate) if result_gate else None
    main_job = []
    if args.main_job_images > 0:
        main_samples = split_samples(args.data, "DRIVE", "test")[: args.main_job_images]
        main_jobs = [Job(s.image, Path(s.image.name)) for s in main_samples]
        main_job = time_main_job(fp32, main_jobs, out, args.main_job_rounds)
    bare = [
        r["p50_ms"]
        for r in rows
        if r["runtime"] == "onnxruntime" and r["precision"] == "fp32" and r["provider"] == "CPU"
    ]
    result = {
        "input": f"{height}x{width}",
        "images": len(images),
        "rounds": args.rounds,
        "batch": args.batch,
        "flops": flops,
        "machine": f"{machine_fingerprint()['cpu']}, {os.cpu_count()} CPUs, "
        f"{platform.system()} {platform.release()}",
        "rows": rows,
        "max_f1_drop": MAX_F1_DROP,
        "main_job": main_job,
        "bare_onnxruntime_fp32_ms": min(bare) if bare else None,
        "notes": notes,
    }
    write_report(out / "benchmark", result, to_markdown(result))
    print(to_markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
