"""The one-folder app bundle (PyInstaller): ``make bundle`` builds and measures it."""
