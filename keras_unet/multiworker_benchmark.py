"""Training across workers, measured: ``python -m keras_unet.multiworker_benchmark --help``.

Trains the same run (training flags after ``--``) as ``python -m keras_unet.train`` subprocesses,
as a user runs them, interleaved: ``--strategy default`` (one process), ``--strategy
multiworker`` with one worker, and with two local workers (two processes on localhost ports, a
``TF_CONFIG`` each). For every run: wall time (start to the last worker's exit), CPU seconds of
all its processes, the training loop's seconds (``state.json``: after start-up, data loading and
model building), the last epoch's loss and validation Dice. Writes ``benchmark.json`` and
``benchmark.md`` (ratios to the one-process run within the same repeat).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from keras_unet.distributed import local_addresses, tf_config
from runtime.constants import DATA_ROOT
from runtime.errors import UserInputError, cli_errors
from runtime.reports import markdown_table, write_report

#: The compared set-ups: name -> (--strategy, worker processes).
VARIANTS: dict[str, tuple[str, int]] = {
    "default": ("default", 1),
    "multiworker x1": ("multiworker", 1),
    "multiworker x2": ("multiworker", 2),
}
#: Training flags when none are given: the shipped width on DRIVE, one short epoch.
DEFAULT_TRAIN_FLAGS: tuple[str, ...] = (
    "--epochs",
    "1",
    "--patches-per-epoch",
    "256",
    "--batch-size",
    "32",
)


def run_training(
    variant: str, data: str, runs_dir: Path, flags: list[str], timeout: float
) -> dict[str, Any]:
    """Train once as ``variant`` says and return its measurements.

    Raises:
        UserInputError: A worker failed (its last lines of output are in the message).
    """
    strategy, workers = VARIANTS[variant]
    addresses = local_addresses(workers)
    command = [sys.executable, "-m", "keras_unet.train", "--data", data]
    command += ["--runs-dir", str(runs_dir), "--name", "run", "--verbose", "0", *flags]
    command += ["--strategy", strategy]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    processes = []
    for index in range(workers):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        if strategy == "multiworker":
            env["TF_CONFIG"] = tf_config(addresses, index)
        processes.append(
            subprocess.Popen(
                command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
        )
    try:
        outputs = [p.communicate(timeout=timeout)[0] for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    for p, output in zip(processes, outputs, strict=True):
        if p.returncode != 0:
            tail = " | ".join(output.strip().splitlines()[-3:])
            raise UserInputError(f"{variant}: a worker exited with {p.returncode}: {tail}")
    run_dir = runs_dir / "run"
    state = json.loads((run_dir / "state.json").read_text())
    with open(run_dir / "history.csv", newline="") as handle:
        last = list(csv.DictReader(handle))[-1]
    return {
        "variant": variant,
        "workers": workers,
        "wall_s": round(wall, 1),
        "cpu_s": round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 1),
        "train_loop_s": round(state["train_seconds"], 1),
        "loss": float(last["loss"]),
        "val_dice": float(last.get("val_dice", "nan")),
    }


def markdown(result: dict[str, Any]) -> str:
    """The runs and the ratios to the one-process run as Markdown."""
    rows = [
        [
            r["repeat"],
            r["variant"],
            r["workers"],
            f"{r['wall_s']:.1f}",
            f"{r['cpu_s']:.1f}",
            f"{r['train_loop_s']:.1f}",
            r["loss"],
            r["val_dice"],
        ]
        for r in result["runs"]
    ]
    table = markdown_table(
        ["repeat", "set-up", "processes", "wall s", "CPU s", "training loop s", "loss", "val Dice"],
        rows,
    )
    ratios = markdown_table(
        ["set-up", "wall / default (median)", "training loop / default (median)"],
        [[name, r["wall"], r["train_loop"]] for name, r in result["ratios"].items()],
        digits=2,
    )
    flags = " ".join(result["train_flags"])
    return (
        f"# Multi-worker training benchmark\n\nTraining flags: `{flags}`; "
        f"{result['machine']['cpus']} CPUs; {result['machine']['note']}.\n\n{table}\n\n{ratios}"
    )


def _ratios(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per variant, the median over repeats of its time divided by the same repeat's default."""
    out = {}
    for name in VARIANTS:
        if name == "default":
            continue
        pairs = [
            (r, d)
            for r in runs
            for d in runs
            if r["variant"] == name and d["variant"] == "default" and r["repeat"] == d["repeat"]
        ]
        if pairs:
            out[name] = {
                key: round(statistics.median(r[f"{key}_s"] / d[f"{key}_s"] for r, d in pairs), 2)
                for key in ("wall", "train_loop")
            }
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="python -m keras_unet.multiworker_benchmark",
        description="Time one training run as one process, one worker and two local workers "
        "of --strategy multiworker, interleaved. Training flags go after --.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--data", default=DATA_ROOT, help="data root for keras_unet.train")
    p.add_argument("--repeats", type=int, default=2, help="runs of every set-up")
    p.add_argument("--out", default="results/multiworker_benchmark", help="report folder")
    p.add_argument("--timeout", type=float, default=1800, help="seconds per run at most")
    p.add_argument("--note", default="", help="what else the machine was doing")
    p.add_argument("train_flags", nargs="*", help="flags for keras_unet.train (after --)")
    return p


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m keras_unet.multiworker_benchmark``."""
    args = build_parser().parse_args(argv)
    flags = args.train_flags or list(DEFAULT_TRAIN_FLAGS)
    runs: list[dict[str, Any]] = []
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="multiworker_benchmark_") as scratch:
        for repeat in range(args.repeats):
            order = list(VARIANTS) if repeat % 2 == 0 else list(VARIANTS)[::-1]
            for variant in order:
                runs_dir = Path(scratch) / f"{repeat}_{variant.replace(' ', '_')}"
                run = {
                    "repeat": repeat + 1,
                    **run_training(variant, args.data, runs_dir, flags, args.timeout),
                }
                print(json.dumps(run), file=sys.stderr)
                runs.append(run)
            result = {
                "train_flags": flags,
                "machine": {
                    "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                    "note": args.note or "shared with other work: compare ratios, not absolutes",
                },
                "runs": runs,
                "ratios": _ratios(runs),
            }
            write_report(Path(args.out) / "benchmark", result, markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
