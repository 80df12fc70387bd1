"""Measure the clinic install: ``python -m bundle.clinic_env`` (``make clinic-env``).

Builds the wheel from this checkout, installs it with the ``desktop`` extra into a fresh virtual
environment (what clinic IT runs: ``pip install "<wheel>[desktop]"``), checks that the training
stack is absent, and writes the environment's size and its largest packages as
``clinic_env.json`` / ``clinic_env.md``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bundle.build import folder_size, largest_parts
from runtime.errors import UserInputError, cli_errors
from runtime.reports import fmt, markdown_table, write_report

ROOT = Path(__file__).resolve().parents[1]
#: Modules a clinic install must not bring.
ABSENT = ("tensorflow", "keras", "tf2onnx", "matplotlib", "sklearn", "cv2")


def _run(command: list[str], timeout: float = 900) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise UserInputError(f"{' '.join(command[:4])} ... failed:\n{done.stderr[-2000:]}")
    return done.stdout


def build_wheel(out: Path) -> Path:
    """The wheel of this checkout (no dependencies) in ``out``."""
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)])
    (wheel,) = out.glob("*.whl")
    return wheel


def venv_python(venv: Path) -> Path:
    """The interpreter of a virtual environment."""
    return (
        venv
        / ("Scripts" if sys.platform == "win32" else "bin")
        / ("python.exe" if sys.platform == "win32" else "python")
    )


def create_clinic_env(wheel: Path, venv: Path, extra: str = "desktop") -> Path:
    """A fresh venv at ``venv`` with ``wheel[extra]`` installed; returns its python."""
    _run([sys.executable, "-m", "venv", str(venv)])
    python = venv_python(venv)
    _run([str(python), "-m", "pip", "install", "-q", f"{wheel}[{extra}]"])
    return python


def present_modules(python: Path, modules: tuple[str, ...] = ABSENT) -> list[str]:
    """Which of ``modules`` the environment of ``python`` can import."""
    code = f"import importlib.util as u; print(','.join(m for m in {modules!r} if u.find_spec(m)))"
    return [m for m in _run([str(python), "-c", code]).strip().split(",") if m]


def measure(venv: Path) -> dict[str, Any]:
    """Size of the environment and of its largest site-packages entries."""
    (site,) = [p for p in venv.rglob("site-packages") if p.is_dir()][:1]
    return {
        "size_mb": round(folder_size(venv) / 2**20, 1),
        "largest": largest_parts(site),
    }


@cli_errors
def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m bundle.clinic_env``."""
    p = argparse.ArgumentParser(prog="python -m bundle.clinic_env", description=__doc__)
    p.add_argument("--out", default="results/clinic_env", help="report folder")
    p.add_argument("--extra", default="desktop", help="the extra clinic IT installs")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="clinic-env-") as tmp:
        wheel = build_wheel(Path(tmp) / "wheel")
        venv = Path(tmp) / "venv"
        python = create_clinic_env(wheel, venv, args.extra)
        report = {
            "wheel": wheel.name,
            "wheel_mb": round(wheel.stat().st_size / 2**20, 1),
            "extra": args.extra,
            "present_of_excluded": present_modules(python),
            **measure(venv),
        }
        shutil.rmtree(venv, ignore_errors=True)
    rows = [[name, fmt(size / 2**20, 1)] for name, size in report["largest"]]
    markdown = (
        f'## Clinic install: `pip install "{report["wheel"]}[{args.extra}]"` into a new venv\n\n'
        f"Environment **{report['size_mb']:.1f} MB** (wheel {report['wheel_mb']:.1f} MB); "
        f"training stack present: {', '.join(report['present_of_excluded']) or 'none'}.\n\n"
        + markdown_table(["largest site-packages entries", "MB"], rows)
    )
    write_report(Path(args.out) / "clinic_env", report, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
