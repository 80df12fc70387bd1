"""Render screenshots of the desktop app on DRIVE test images into ``docs/`` (no display needed).

Usage::

    python scripts/screenshots.py                    # the shipped model
    python scripts/screenshots.py --model m.onnx     # any exported model

Runs offscreen unless ``QT_QPA_PLATFORM`` says otherwise (e.g. ``xcb`` under Xvfb), keeps its
settings in a temporary folder (the user's settings are never read or written), and waits on
the window's signals, never for a fixed time. Writes:

* ``desktop_overlay.png``: a DRIVE test folder open, overlay view, measurements panel;
* ``report_page.png``: File ▸ Save report of that image, rendered with ``pdftoppm`` when poppler
  is installed;
* ``desktop_probability.png``: the probability map, zoomed in on the optic disc;
* ``desktop_batch.png``: the batch window after a folder run that includes a corrupt file and a
  grey scan the quality gate rejects.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

#: Longest wait for the model or one segmentation.
TIMEOUT_S = 300
WINDOW_SIZE = (1360, 860)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="ONNX model (default: the shipped model)")
    p.add_argument(
        "--images",
        default=str(REPO / "data" / "DRIVE" / "test" / "images"),
        help="folder of fundus photographs to show",
    )
    p.add_argument("--out", default=str(REPO / "docs"), help="where the PNGs go")
    p.add_argument("--batch-images", type=int, default=6, help="images in the batch screenshot")
    return p


def wait_for(app: Any, signal: Any, what: str, condition: Any = None) -> list:
    """Run the event loop until ``signal`` fires (and ``condition()`` holds), or fail."""
    from PySide6.QtCore import QEventLoop, QTimer

    received: list = []
    loop = QEventLoop()

    def on_signal(*args: Any) -> None:
        if condition is None or condition():
            received.append(args)
            loop.quit()

    signal.connect(on_signal)
    QTimer.singleShot(TIMEOUT_S * 1000, loop.quit)
    loop.exec()
    signal.disconnect(on_signal)
    if not received:
        raise SystemExit(f"error: timed out after {TIMEOUT_S} s waiting for {what}")
    settle(app)
    return list(received[0])


def settle(app: Any) -> None:
    """Deliver pending events (layouts, queued shows, repaints) before grabbing."""
    from PySide6.QtCore import QEventLoop

    for _ in range(5):
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)


def save(widget: Any, path: Path) -> None:
    """Grab ``widget`` as it would be painted on screen."""
    if not widget.grab().save(str(path)):
        raise SystemExit(f"error: cannot write {path}")
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    """Render the screenshots."""
    args = build_parser().parse_args(argv)
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from desktop.model_choice import choose_model
    from desktop.preferences import Preferences
    from desktop.settings import configure_application, use_settings_folder
    from desktop.state import ViewMode
    from runtime.imageio import is_image_file, write_png

    choice = choose_model(args.model)
    if choice.path is None:
        print(f"error: {choice.origin} Or pass --model.", file=sys.stderr)
        return 2
    images = Path(args.images)
    paths = sorted(p for p in images.iterdir() if is_image_file(p)) if images.is_dir() else []
    if not paths:
        print(f"error: {images}: no images", file=sys.stderr)
        return 2
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    scratch = Path(tempfile.mkdtemp(prefix="vessel-screenshots-"))
    try:
        use_settings_folder(scratch / "settings")
        window = MainWindow(Preferences(), model=choice.path)
        window.resize(*WINDOW_SIZE)
        window.show()
        engine = wait_for(app, window.model_loaded, "the model")[0]
        print(f"model {choice.path} on {engine.provider}")

        started = time.perf_counter()
        window.open_folder(images)
        document = wait_for(app, window.image_segmented, "the first image")[0]
        print(f"{document.path.name} segmented in {time.perf_counter() - started:.2f} s")
        save(window, out / "desktop_overlay.png")
        _report_page(window, scratch, out / "report_page.png")

        window.set_view_mode(ViewMode.PROBABILITY)
        wait_for(app, window.rendered, "the probability view")
        disc = _optic_disc(document)
        window.view.set_zoom(2.5 * window.view.zoom)
        window.view.centerOn(*disc)
        settle(app)
        save(window, out / "desktop_probability.png")
        window.set_view_mode(ViewMode.OVERLAY)

        batch_in = scratch / "clinic_folder"
        batch_in.mkdir()
        for path in paths[: args.batch_images]:
            shutil.copy(path, batch_in / path.name)
        (batch_in / f"{paths[0].stem}_copy_damaged.png").write_bytes(b"\x89PNG\r\n\x1a\n cut")
        grey = document.image[..., 1:2].repeat(3, axis=2)  # Fails the quality gate.
        write_png(batch_in / f"{paths[0].stem}_grey_scan.png", grey)
        dialog = window.batch_dialog_open(batch_in)
        dialog.set_output(scratch / "clinic_folder_vessels")
        dialog.start()
        wait_for(app, dialog.batch_finished, "the batch")
        save(dialog, out / "desktop_batch.png")
        window.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


def _report_page(window: Any, scratch: Path, path: Path) -> None:
    """File ▸ Save report of the image shown, page 1 rendered to PNG with poppler's pdftoppm."""
    pdf = window.save_report(scratch / "report.pdf")
    if shutil.which("pdftoppm") is None:
        print(f"skipped {path}: pdftoppm (poppler-utils) is not installed", file=sys.stderr)
        return
    import subprocess

    stem = path.with_suffix("")
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(stem)],
        check=True,
    )
    print(f"wrote {path}")


def _optic_disc(document: Any) -> tuple[float, float]:
    """Image coordinates (x, y) of the brightest smoothed spot: the optic disc."""
    import cv2

    red = cv2.GaussianBlur(document.image[:, :, 0], (0, 0), 15)
    y, x = divmod(int(red.argmax()), red.shape[1])
    return float(x), float(y)


if __name__ == "__main__":
    raise SystemExit(main())
