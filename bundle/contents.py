"""What the app bundle holds besides code: one list for the spec, its hooks, the build report and
the tests."""

from __future__ import annotations

from pathlib import Path, PurePath

from runtime.models import DEFAULT_MODELS

#: Packages the bundle must never carry: training, export and plotting stacks, and the
#: evaluation-only scikit-learn (the runtime imports it lazily, so PyInstaller would find it).
NEVER: tuple[str, ...] = (
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
    "psutil",
    "pandas",
    "matplotlib",
    "IPython",
    "tkinter",
    "pytest",
    "PySide6.QtQml",
    "PySide6.QtQuick",
    "PySide6.QtNetwork",
    "PySide6.QtDBus",
)

#: Parts of the libraries the two programs use that neither program imports (traced: sys.modules
#: after `vessel-desktop --smoke-test` and `vessel-segment --report`; tests/test_bundle.py checks
#: it stays so). PyInstaller would otherwise collect them through lazy and optional imports.
UNUSED: tuple[str, ...] = (
    *(
        # SciPy: the runtime uses ndimage, sparse and sparse.csgraph, which bring linalg and
        # special; skeletonize brings spatial and constants.
        f"scipy.{name}"
        for name in (
            "cluster",
            "datasets",
            "differentiate",
            "fft",
            "fftpack",
            "integrate",
            "interpolate",
            "io",
            "misc",
            "odr",
            "optimize",
            "signal",
            "stats",
        )
    ),
    *(
        # scikit-image is there for skimage.morphology.skeletonize, which loads morphology,
        # measure, filters (not its rank filters), draw, exposure and util; the rest, with
        # what only they need (networkx, imageio, tifffile), stays out.
        f"skimage.{name}"
        for name in (
            "color",
            "data",
            "feature",
            "filters.rank",
            "future",
            "graph",
            "io",
            "metrics",
            "registration",
            "restoration",
            "segmentation",
            "transform",
        )
    ),
    "networkx",
    "imageio",
    "tifffile",
    "yaml",
    # AVIF is not among runtime.imageio.IMAGE_SUFFIXES; its codec library is 5 MB.
    "PIL._avif",
    "PIL.AvifImagePlugin",
)

#: Everything the spec excludes.
EXCLUDES: tuple[str, ...] = NEVER + UNUSED

#: Modules that compiled modules import, where PyInstaller cannot see it; its contributed hooks
#: name them only in the hooks of subpackages UNUSED leaves out (skimage.transform's hook names
#: the point-in-polygon helper that skimage.measure needs).
HIDDEN_IMPORTS: tuple[str, ...] = ("skimage._shared.geometry",)

#: Qt plugins the bundle keeps, by plugin folder (names without ``lib``/``q`` and suffix);
#: ``None`` keeps the whole folder. Folders not listed stay out: the EGL/KMS, framebuffer, VNC
#: and Wayland platforms (on Wayland desktops Qt falls back to X11 through XWayland), evdev
#: input, OpenGL integration (the app draws with QPainter only).
QT_PLUGINS: dict[str, tuple[str, ...] | None] = {
    # X11, Windows and macOS, and the screenless ones of the smoke test and CI.
    "platforms": ("xcb", "windows", "cocoa", "offscreen", "minimal"),
    "platforms/darwin": None,
    # The GTK3 theme would bring GTK's whole stack (cairo, pango, harfbuzz...); the portal
    # theme gives sandboxed desktops their file dialogs.
    "platformthemes": ("xdgdesktopportal",),
    "platforminputcontexts": None,
    # Photographs are read by Pillow, never by Qt: Qt needs only what icons and the usual
    # formats use (PNG is built in).
    "imageformats": ("jpeg", "gif", "ico", "svg", "icns"),
    "iconengines": None,
    "styles": None,
    "accessiblebridge": None,
}


def plugin_name(file_name: str) -> str:
    """A Qt plugin's name as in :data:`QT_PLUGINS`: ``libqxcb.so`` and ``qxcb.dll`` -> ``xcb``."""
    stem = file_name.split(".", 1)[0]
    stem = stem.removeprefix("lib")
    return stem.removeprefix("q")


def keep_qt_file(source: str, folder: str) -> bool:
    """Whether a Qt hook's ``(source, folder in the bundle)`` entry goes into the bundle.

    Qt's translations stay out (the app installs no translator: its interface is English), and
    plugins are kept as :data:`QT_PLUGINS` says.
    """
    parts = PurePath(folder).parts
    if "translations" in parts:
        return False
    if "plugins" not in parts:
        return True
    kind = "/".join(parts[parts.index("plugins") + 1 :])
    if kind not in QT_PLUGINS:
        return False
    names = QT_PLUGINS[kind]
    return names is None or plugin_name(PurePath(source).name) in names


def filter_qt_hook(
    hiddenimports: list[str], binaries: list[tuple[str, str]], datas: list[tuple[str, str]]
) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """A PyInstaller Qt hook's result less what :func:`keep_qt_file` leaves out.

    Filtering in the hook (``bundle/hooks``) rather than in the spec keeps PyInstaller from
    collecting the libraries that only the left-out plugins link (GTK, Wayland, EGL).
    """
    return (
        [name for name in hiddenimports if name not in EXCLUDES],
        [entry for entry in binaries if keep_qt_file(*entry)],
        [entry for entry in datas if keep_qt_file(*entry)],
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
