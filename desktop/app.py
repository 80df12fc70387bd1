"""Start the desktop app: ``python -m desktop`` or ``vessel-desktop`` (see ``--help``).

``--measure-startup`` prints how long the window took to become usable (shown and handling
events) and the model to become ready, counted from the moment this module was imported, then
quits. ``--smoke-test`` checks an install or an app bundle without a screen
(:mod:`desktop.smoke`).
"""

from __future__ import annotations

import time

STARTED = time.perf_counter()  # Before anything heavy is imported.

import argparse  # noqa: E402 - after the clock starts.
import sys  # noqa: E402
from dataclasses import replace  # noqa: E402
from typing import Any  # noqa: E402

from desktop.preferences import APPLICATION_TITLE  # noqa: E402
from runtime.providers import PROVIDER_CHOICES  # noqa: E402


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(
        prog="vessel-desktop",
        description=f"{APPLICATION_TITLE}: segment the vessels of fundus photographs with the "
        "shipped ONNX model (onnxruntime, no TensorFlow).",
    )
    p.add_argument("images", nargs="*", help="images or folders to open")
    p.add_argument(
        "--model",
        default=None,
        help="ONNX model (default: the one chosen last time, else the shipped model)",
    )
    p.add_argument(
        "--provider",
        choices=PROVIDER_CHOICES,
        default=None,
        help="run on the GPU (cuda), the CPU, or the GPU if available (auto); remembered",
    )
    p.add_argument(
        "--settings-dir",
        default=None,
        help="keep settings as INI files in this folder (portable install) instead of the "
        "user's settings",
    )
    p.add_argument(
        "--measure-startup",
        action="store_true",
        help="print the start-up time to a usable window and to a loaded model, then quit",
    )
    p.add_argument(
        "--smoke-test",
        action="store_true",
        help="segment the bundled sample photograph with the shipped model and open the window "
        "offscreen, print what was done and exit (0: the install works)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="with --smoke-test: keep the outputs in this folder (default: a temporary one)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m desktop`` / ``vessel-desktop``."""
    args = build_parser().parse_args(argv)
    if args.smoke_test:
        from desktop.smoke import smoke_test

        return smoke_test(args.out, args.provider)

    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from desktop.settings import configure_application, load_preferences, use_settings_folder

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    app.setApplicationDisplayName(APPLICATION_TITLE)
    if args.settings_dir:
        use_settings_folder(args.settings_dir)
    preferences = load_preferences()
    if args.provider:
        preferences = replace(preferences, provider=args.provider)
    window = MainWindow(preferences, model=args.model)
    window.show()
    if args.images:
        window.open_paths(args.images)
    if args.measure_startup:
        _report_startup(app, window)
    return app.exec()


def _report_startup(app: Any, window: Any) -> None:
    """Print when the window handles its first event and when the model is ready; then quit."""
    from PySide6.QtCore import QTimer

    times: dict[str, float] = {}

    def usable() -> None:
        times["window"] = time.perf_counter() - STARTED
        print(f"window usable after {times['window']:.3f} s", flush=True)
        if window.engine is not None or not window.busy:
            finish()

    def finish(*_: object) -> None:
        if "model" not in times:
            times["model"] = time.perf_counter() - STARTED
            ready = "model ready" if window.engine is not None else "no model loaded"
            print(f"{ready} after {times['model']:.3f} s", flush=True)
        window.close()
        app.quit()

    window.model_loaded.connect(finish)
    window.model_failed.connect(finish)
    QTimer.singleShot(0, usable)
