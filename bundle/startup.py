"""Start-up time of built app bundles, in one interleaved run: ``python -m bundle.startup``.

Runs ``vessel-desktop --measure-startup`` (offscreen, settings in a temporary folder) of each given
bundle in turn, ``--runs`` rounds, the order alternating every round so that a busy machine
weighs on all of them alike. Records the wall time from process start to exit and the app's own
"window usable" and "model ready" times (counted from the app's first import, so without the
bundle's unpacking and Python's start), and writes the medians, with each bundle's ratio to the
first, as ``startup.json`` / ``startup.md``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
from pathlib import Path
from typing import Any

from bundle.build import BUNDLE_NAME, executable, run_program
from runtime.errors import UserInputError, cli_errors
from runtime.reports import markdown_table, write_report

#: The lines ``--measure-startup`` prints, and the key each time is kept under.
TIMES = {
    "window": re.compile(r"window usable after ([\d.]+) s"),
    "model": re.compile(r"ready after ([\d.]+) s"),
}


def bundle_folder(path: Path) -> Path:
    """The bundle folder given either itself or the dist folder that holds it."""
    return path / BUNDLE_NAME if (path / BUNDLE_NAME).is_dir() else path


def measure_once(bundle: Path) -> dict[str, float]:
    """One ``--measure-startup`` run: wall, window and model seconds."""
    with tempfile.TemporaryDirectory(prefix="vessel-startup-") as settings:
        done = run_program(
            executable(bundle, "vessel-desktop"), "--measure-startup", "--settings-dir", settings
        )
    if done["returncode"] != 0:
        raise UserInputError(f"{bundle}: --measure-startup failed: {done['stderr'][-500:]}")
    times = {"wall": done["seconds"]}
    for key, pattern in TIMES.items():
        found = pattern.search(done["stdout"])
        if found is None:
            raise UserInputError(f"{bundle}: no {key} time in {done['stdout']!r}")
        times[key] = float(found.group(1))
    return times


def compare(bundles: list[Path], runs: int) -> dict[str, Any]:
    """Interleaved runs of every bundle; per bundle its runs and medians."""
    samples: dict[Path, list[dict[str, float]]] = {b: [] for b in bundles}
    for round_index in range(runs):
        order = bundles if round_index % 2 == 0 else bundles[::-1]
        for bundle in order:
            samples[bundle].append(measure_once(bundle))
    rows = []
    for bundle, runs_of in samples.items():
        medians = {key: statistics.median(s[key] for s in runs_of) for key in ("wall", *TIMES)}
        rows.append({"bundle": str(bundle), "runs": runs_of, "median": medians})
    first = rows[0]["median"]
    for row in rows:
        row["ratio_to_first"] = {k: round(v / first[k], 3) for k, v in row["median"].items()}
    return {"runs": runs, "bundles": rows}


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bundle.startup``."""
    p = argparse.ArgumentParser(prog="python -m bundle.startup", description=__doc__)
    p.add_argument("bundles", nargs="+", help="bundle folders (or dist folders holding one)")
    p.add_argument("--runs", type=int, default=5, help="rounds (each runs every bundle once)")
    p.add_argument("--out", default="results/bundle_startup", help="report folder")
    args = p.parse_args(argv)
    bundles = [bundle_folder(Path(b).resolve()) for b in args.bundles]
    for bundle in bundles:
        if not executable(bundle, "vessel-desktop").is_file():
            raise UserInputError(f"{bundle}: no vessel-desktop program here; build one first")
    report = compare(bundles, args.runs)
    table = markdown_table(
        ["bundle", "wall s", "window usable s", "model ready s", "wall / first"],
        [
            [
                r["bundle"],
                r["median"]["wall"],
                r["median"]["window"],
                r["median"]["model"],
                r["ratio_to_first"]["wall"],
            ]
            for r in report["bundles"]
        ],
        digits=3,
    )
    markdown = (
        f"## App bundle start-up, medians of {args.runs} interleaved runs "
        "(`vessel-desktop --measure-startup`, offscreen)\n\n" + table
    )
    write_report(Path(args.out) / "startup", report, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
