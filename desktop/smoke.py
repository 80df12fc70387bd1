"""``vessel-desktop --smoke-test``: prove an install or a bundle works, without a screen.

It loads the shipped default model, segments the bundled sample photograph
(:data:`SAMPLE`, see ``desktop/samples/README.md``) into a temporary folder (or ``--out``) with the
same batch library the app's Batch window uses, writes its one-page PDF report (fpdf2, as File ▸
Save report and ``vessel-segment --report`` do), opens the main window offscreen until its model
is ready (so the Qt platform plugin, the image formats and onnxruntime are all exercised), prints
what it did, and exits 0. Any failure prints one ``smoke test failed:`` line and exits 1.

Settings are kept in a temporary folder, never in the user's settings.
"""

from __future__ import annotations

import importlib.resources
import os
import sys
import tempfile
import time
from pathlib import Path

#: The sample photograph, inside the ``desktop`` package (wheel, checkout and bundle alike).
SAMPLE = ("samples", "hrf_02_h.jpg")
#: Longest wait for the window's model, in seconds.
MODEL_TIMEOUT_S = 120.0


def sample_photograph() -> Path:
    """The bundled sample photograph's path."""
    return Path(str(importlib.resources.files("desktop").joinpath(*SAMPLE)))


def smoke_test(out_dir: str | None = None, provider: str | None = None) -> int:
    """Run the smoke test (see the module docstring).

    Args:
        out_dir: Where the outputs go (default: a temporary folder, removed afterwards).
        provider: Execution provider key (default: automatic).

    Returns:
        The exit status: 0 when every step worked, 1 otherwise.
    """
    started = time.perf_counter()
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        with tempfile.TemporaryDirectory(prefix="vessel-smoke-") as settings:
            out = Path(out_dir) if out_dir else Path(settings) / "results"
            _segment_sample(out, provider)
            _open_window(Path(settings) / "settings", provider)
    except Exception as exc:  # noqa: BLE001 - the whole point is to report any failure.
        print(f"smoke test failed: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    print(f"smoke test passed in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def _segment_sample(out: Path, provider: str | None) -> None:
    """Segment the sample into ``out`` with the batch library; check and print the outputs."""
    from runtime.batch import collect_jobs, segment_batch
    from runtime.engine import VesselEngine
    from runtime.eye_report import batch_pages, write_report
    from runtime.models import default_model

    model = default_model()
    engine = VesselEngine.open(model, provider=provider or "auto")
    print(f"model: {model} ({engine.provider})", flush=True)
    sample = sample_photograph()
    jobs = collect_jobs([str(sample)])
    report = segment_batch(engine, jobs, out, force=True)
    if report["failed"] or len(report["rows"]) != 1:
        raise RuntimeError(f"{sample}: not segmented ({report['failed']})")
    pages = batch_pages(report, {str(job.relative): job.source for job in jobs}, out)
    pdf = write_report(pages, out / "report.pdf")
    if len(pages) != 1 or not pdf.read_bytes().startswith(b"%PDF"):
        raise RuntimeError(f"{pdf}: no one-page PDF report")
    written = sorted(p.name for p in out.iterdir())
    print(f"segmented {sample.name} into {out}: {', '.join(written)}", flush=True)


def _open_window(settings_dir: Path, provider: str | None) -> None:
    """Open the main window offscreen and wait until its model is loaded."""
    from dataclasses import replace

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from desktop.main_window import MainWindow
    from desktop.settings import configure_application, load_preferences, use_settings_folder

    app = QApplication.instance() or QApplication(sys.argv[:1])
    configure_application(app)
    use_settings_folder(str(settings_dir))
    preferences = load_preferences()
    if provider:
        preferences = replace(preferences, provider=provider)
    window = MainWindow(preferences)
    loop = QEventLoop()
    failures: list[str] = []
    window.model_loaded.connect(loop.quit)
    window.model_failed.connect(lambda *args: (failures.append(str(args)), loop.quit()))
    QTimer.singleShot(int(MODEL_TIMEOUT_S * 1000), loop.quit)
    window.show()
    if window.engine is None:
        loop.exec()
    ready = window.engine is not None
    window.close()
    if not ready:
        raise RuntimeError(f"the window's model did not load: {failures or 'timed out'}")
    print(f"window opened ({app.platformName()}), model ready", flush=True)
