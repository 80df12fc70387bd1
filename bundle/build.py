"""Build the one-folder app bundle and measure it: ``make bundle`` / ``python -m bundle.build``.

Runs PyInstaller on ``bundle/vessel.spec`` into ``--dist`` (default ``dist/``), then checks the
result as a clinic PC would use it, with no Python of ours on the path: ``vessel-desktop
--smoke-test`` (shipped model, bundled sample photograph, offscreen window) and ``vessel-desktop
--measure-startup`` (time to a usable window). Writes ``bundle_report.json`` and
``bundle_report.md`` (size, largest parts, smoke-test output, start-up time) next to the bundle.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bundle.contents import EXCLUDES
from bundle.strip import strip_debug_info
from runtime.errors import UserInputError, cli_errors, require
from runtime.reports import fmt, markdown_table, write_report

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "bundle" / "vessel.spec"
#: The bundle's folder name under the dist folder (the spec's COLLECT name).
BUNDLE_NAME = "vessel-desktop"
#: Largest entries listed in the report.
LARGEST = 12


def executable(bundle: Path, name: str) -> Path:
    """A program of the bundle (``.exe`` on Windows)."""
    return bundle / (f"{name}.exe" if sys.platform == "win32" else name)


def folder_size(path: Path) -> int:
    """Bytes of all files under ``path`` (links not followed)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def largest_parts(folder: Path, count: int = LARGEST) -> list[tuple[str, int]]:
    """The biggest entries directly in ``folder``, in bytes (links skipped: Linux bundles link
    shared libraries to one copy)."""
    sizes = [
        (p.name, folder_size(p) if p.is_dir() else p.stat().st_size)
        for p in folder.iterdir()
        if not p.is_symlink()
    ]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def library_folder(bundle: Path) -> Path:
    """Where the bundle keeps its libraries (``_internal`` since PyInstaller 6)."""
    library = bundle / "_internal"
    return library if library.is_dir() else bundle


def frozen_modules(program: Path) -> set[str]:
    """The Python modules frozen into a bundled program's archive (PyInstaller's reader)."""
    from PyInstaller.archive.readers import pkg_archive_contents

    return set(pkg_archive_contents(str(program)))


def extension_modules(bundle: Path) -> set[str]:
    """The compiled extension modules in the bundle's library folder, as module names."""
    library = library_folder(bundle)
    suffixes = sorted(importlib.machinery.EXTENSION_SUFFIXES, key=len, reverse=True)
    names = set()
    for path in library.rglob("*"):
        relative = path.relative_to(library).as_posix()
        suffix = next((s for s in suffixes if relative.endswith(s)), None)
        if suffix and path.is_file():
            # The standard library's own (python3.X/lib-dynload/_ssl...) are top-level modules.
            module = re.sub(r"^python[\d.]+/lib-dynload/", "", relative.removesuffix(suffix))
            names.add(module.replace("/", "."))
    return names


def excluded_present(modules: set[str], excludes: tuple[str, ...] = EXCLUDES) -> list[str]:
    """Which of ``excludes`` (or a submodule of one) are among ``modules``."""
    return sorted(
        name for name in excludes if any(m == name or m.startswith(f"{name}.") for m in modules)
    )


def qt_plugins(bundle: Path) -> list[str]:
    """The Qt plugins in the bundle, as ``folder/file`` under Qt's plugin folder."""
    folders = list(library_folder(bundle).glob("PySide6/**/plugins"))
    return sorted(
        p.relative_to(folder).as_posix()
        for folder in folders
        for p in folder.rglob("*")
        if p.is_file()
    )


def contents(bundle: Path) -> dict[str, Any]:
    """What the bundle's programs hold beyond the largest folders: program sizes, the excluded
    modules that got in anyway (should be none), the Qt plugins and translation files."""
    programs = {name: executable(bundle, name) for name in ("vessel-desktop", "vessel-segment")}
    frozen = set().union(*(frozen_modules(path) for path in programs.values()))
    return {
        "programs_mb": {n: round(p.stat().st_size / 2**20, 1) for n, p in programs.items()},
        "frozen_modules": len(frozen),
        "excluded_present": excluded_present(frozen | extension_modules(bundle)),
        "qt_plugins": qt_plugins(bundle),
        "qt_translations": len(list(library_folder(bundle).glob("PySide6/**/translations/*"))),
    }


def build(dist: Path, work: Path) -> Path:
    """Run PyInstaller on the spec; return the bundle folder."""
    require("PyInstaller", "bundle")
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise UserInputError(f"PyInstaller failed:\n{done.stderr[-3000:]}")
    return dist / BUNDLE_NAME


def run_program(program: Path, *args: str, timeout: float = 300) -> dict[str, Any]:
    """Run a bundled program from a neutral folder, offscreen; its status, output and time."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    start = time.perf_counter()
    done = subprocess.run(
        [str(program), *args],
        cwd=program.parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return {
        "command": " ".join([program.name, *args]),
        "returncode": done.returncode,
        "seconds": round(time.perf_counter() - start, 2),
        "stdout": done.stdout.strip(),
        "stderr": done.stderr.strip()[-2000:],
    }


def check(bundle: Path) -> dict[str, Any]:
    """Smoke test and start-up time of a built bundle."""
    desktop = executable(bundle, "vessel-desktop")
    segment = executable(bundle, "vessel-segment")
    return {
        "smoke_test": run_program(desktop, "--smoke-test"),
        "startup": run_program(desktop, "--measure-startup"),
        "segment_help": run_program(segment, "--help"),
    }


def to_markdown(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    rows = [[name, fmt(size / 2**20, 1)] for name, size in report["largest"]]
    rows += [
        [f"program {name}", fmt(mb, 1)] for name, mb in report["contents"]["programs_mb"].items()
    ]
    checks = report["checks"]
    held = report["contents"]
    lines = [
        f"## App bundle ({report['platform']}, PyInstaller {report['pyinstaller']})",
        "",
        f"- folder: `{report['bundle']}`; size **{report['size_mb']:.1f} MB**; "
        f"build {report['build_seconds']:.0f} s; debug information stripped: "
        + (
            f"{stripped['files']} files, {stripped['saved_mb']:.1f} MB"
            if (stripped := report["stripped"]) and stripped["files"] >= 0
            else "no (not Linux, no `strip` program, or --check-only)"
        ),
        f"- `vessel-desktop --smoke-test`: exit {checks['smoke_test']['returncode']} "
        f"in {checks['smoke_test']['seconds']:.1f} s",
        "- `vessel-desktop --measure-startup` (offscreen): "
        + "; ".join(checks["startup"]["stdout"].splitlines()),
        f"- `vessel-segment --help`: exit {checks['segment_help']['returncode']}",
        f"- excluded modules found in the programs: {', '.join(held['excluded_present']) or 'none'}"
        f" ({held['frozen_modules']} modules frozen); Qt translations: {held['qt_translations']}",
        f"- Qt plugins: {', '.join(held['qt_plugins'])}",
        "",
        markdown_table(["largest parts", "MB"], rows),
        "",
        "Smoke test output:",
        "",
        "```",
        checks["smoke_test"]["stdout"] or checks["smoke_test"]["stderr"],
        "```",
    ]
    return "\n".join(lines)


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bundle.build``."""
    p = argparse.ArgumentParser(prog="python -m bundle.build", description=__doc__)
    p.add_argument("--dist", default="dist", help="folder that receives the bundle")
    p.add_argument("--work", default="build/pyinstaller", help="PyInstaller's work folder")
    p.add_argument(
        "--check-only", action="store_true", help="measure an existing bundle, do not build"
    )
    args = p.parse_args(argv)
    dist = Path(args.dist).resolve()
    start = time.perf_counter()
    bundle = dist / BUNDLE_NAME if args.check_only else build(dist, Path(args.work).resolve())
    if not executable(bundle, "vessel-desktop").is_file():
        raise UserInputError(f"{bundle}: no built bundle here; run without --check-only")
    # The libraries only: the programs carry their Python archive after the ELF image.
    stripped = (
        strip_debug_info(library_folder(bundle))
        if sys.platform.startswith("linux") and not args.check_only
        else None
    )
    seconds = 0.0 if args.check_only else time.perf_counter() - start
    import PyInstaller

    report = {
        "bundle": str(bundle),
        "platform": f"{platform.system()} {platform.machine()}",
        "pyinstaller": PyInstaller.__version__,
        "build_seconds": round(seconds, 1),
        "stripped": stripped,
        "size_mb": round(folder_size(bundle) / 2**20, 1),
        "largest": largest_parts(library_folder(bundle)),
        "contents": contents(bundle),
        "checks": check(bundle),
    }
    markdown = to_markdown(report)
    write_report(dist / "bundle_report", report, markdown)
    print(markdown)
    return 0 if report["checks"]["smoke_test"]["returncode"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
