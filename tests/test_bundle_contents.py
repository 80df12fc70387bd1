"""What the bundle leaves out (bundle.contents): Qt plugins, translations, unused modules."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bundle.build import excluded_present
from bundle.contents import EXCLUDES, UNUSED, keep_qt_file, plugin_name
from tests.conftest import DRIVE, REPO

PLUGINS = "PySide6/Qt/plugins"


@pytest.mark.parametrize(
    ("file_name", "name"),
    [
        ("libqxcb.so", "xcb"),
        ("qwindows.dll", "windows"),
        ("libqcocoa.dylib", "cocoa"),
        ("libqminimalegl.so", "minimalegl"),
        ("libcomposeplatforminputcontextplugin.so", "composeplatforminputcontextplugin"),
    ],
)
def test_plugin_name(file_name, name):
    assert plugin_name(file_name) == name


@pytest.mark.parametrize(
    ("source", "folder", "kept"),
    [
        ("/qt/plugins/platforms/libqxcb.so", f"{PLUGINS}/platforms", True),
        ("/qt/plugins/platforms/libqoffscreen.so", f"{PLUGINS}/platforms", True),
        ("/qt/plugins/platforms/libqminimal.so", f"{PLUGINS}/platforms", True),
        ("C:/qt/plugins/platforms/qwindows.dll", f"{PLUGINS}/platforms", True),
        ("/qt/plugins/platforms/libqcocoa.dylib", f"{PLUGINS}/platforms", True),
        ("/qt/plugins/platforms/libqminimalegl.so", f"{PLUGINS}/platforms", False),
        ("/qt/plugins/platforms/libqwayland.so", f"{PLUGINS}/platforms", False),
        ("/qt/plugins/platforms/libqeglfs.so", f"{PLUGINS}/platforms", False),
        ("/qt/plugins/platformthemes/libqgtk3.so", f"{PLUGINS}/platformthemes", False),
        ("/qt/plugins/imageformats/libqsvg.so", f"{PLUGINS}/imageformats", True),
        ("/qt/plugins/imageformats/libqtiff.so", f"{PLUGINS}/imageformats", False),
        ("/qt/plugins/generic/libqevdevmouseplugin.so", f"{PLUGINS}/generic", False),
        ("/qt/plugins/styles/qmodernwindowsstyle.dll", f"{PLUGINS}/styles", True),
        ("/qt/translations/qtbase_de.qm", "PySide6/Qt/translations", False),
        ("/qt/lib/libQt6Widgets.so.6", "PySide6/Qt/lib", True),
    ],
)
def test_qt_files_kept_or_left_out(source, folder, kept):
    assert keep_qt_file(source, folder) is kept


def test_excluded_present_matches_packages_and_their_submodules():
    modules = {"scipy", "scipy.ndimage", "scipy.optimize._minimize", "skimage.filters", "yaml"}
    found = excluded_present(modules)
    assert found == ["scipy.optimize", "yaml"]
    assert set(found) <= set(EXCLUDES)


@pytest.mark.e2e
def test_programs_never_import_what_the_bundle_leaves_out(tmp_path):
    """The smoke test (segmentation, PDF report, window) and `vessel-segment --report` on a DRIVE
    photograph import none of UNUSED: the bundle can leave them out."""
    code = (
        "import json, sys\n"
        "from desktop.smoke import smoke_test\n"
        "from runtime.segment import main\n"
        f"assert smoke_test({str(tmp_path / 'smoke')!r}) == 0\n"
        f"assert main([{str(DRIVE / 'test' / 'images' / '01_test.tif')!r}, '--out', "
        f"{str(tmp_path / 'segment')!r}, '--report', '--quiet']) == 0\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    modules = set(json.loads(run.stdout.strip().splitlines()[-1]))
    # The trace reaches the libraries UNUSED trims, so its verdict means something.
    assert {"scipy.ndimage", "scipy.sparse.csgraph", "skimage.morphology", "fpdf"} <= modules
    assert excluded_present(modules, UNUSED) == []
    assert (tmp_path / "smoke" / "report.pdf").is_file()
    assert (tmp_path / "segment" / "report.pdf").is_file()
