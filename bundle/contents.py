"""What the app bundle holds besides code: one list for the spec, the build report and the tests."""

from __future__ import annotations

from pathlib import Path

from runtime.models import DEFAULT_MODELS

#: Packages the bundle must never carry: training, export and plotting stacks, and the
#: evaluation-only scikit-learn (the runtime imports it lazily, so PyInstaller would find it).
EXCLUDES: tuple[str, ...] = (
    "tensorflow",
    "tensorboard",
    "keras",
    "keras_unet",
    "export",
    "tf2onnx",
    "onnx",
    "ai_edge_litert",
    "sklearn",
    "cv2",
    # OpenVINO (an optional backend, ~100 MB) stays out of the bundle: it runs onnxruntime.
    "openvino",
    # Cohort scale (Ray, pyarrow) is for clusters, not clinic PCs.
    "ray",
    "pyarrow",
    "pandas",
    "matplotlib",
    "IPython",
    "tkinter",
    "pytest",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtNetwork",
)


def data_files(root: Path) -> list[tuple[str, str]]:
    """``(source, folder in the bundle)`` pairs: the shipped ONNX models and the sample photo.

    The models keep the repository layout (``saved_models/<name>/``) next to the frozen
    ``runtime`` package, where :mod:`runtime.models` looks for them.
    """
    pairs = []
    for name in DEFAULT_MODELS:
        folder = root / "saved_models" / name
        for path in [*sorted(folder.glob("*.onnx")), folder / "config.json"]:
            if not path.name.endswith(".fp16.onnx"):
                pairs.append((str(path), f"saved_models/{name}"))
    samples = root / "desktop" / "samples"
    pairs += [(str(path), "desktop/samples") for path in sorted(samples.iterdir())]
    return pairs
