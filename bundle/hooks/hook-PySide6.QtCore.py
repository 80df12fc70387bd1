# PyInstaller's own PySide6.QtCore hook, less the Qt plugins and translations the app never uses
# (bundle.contents.QT_PLUGINS). PyInstaller takes a hook from the spec's hookspath first.
from PyInstaller.utils.hooks.qt import add_qt6_dependencies

from bundle.contents import filter_qt_hook

hiddenimports, binaries, datas = filter_qt_hook(*add_qt6_dependencies(__file__))
