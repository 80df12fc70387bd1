"""Where :class:`~desktop.preferences.Preferences` live between sessions: ``QSettings``.

The organisation and application names (set by :func:`configure_application`) decide the
location: the registry on Windows, ``~/.config/drive-vessel-unet/vessel-desktop.conf`` on Linux,
a plist on macOS. Tests point ``QSettings`` at a temporary folder instead
(:func:`use_settings_folder`), so they never touch the user's settings.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings

from desktop.preferences import APPLICATION_NAME, ORGANISATION_NAME, Preferences

_GROUP = "preferences"


def configure_application(app: QCoreApplication) -> None:
    """Give the application the names ``QSettings`` stores under."""
    app.setOrganizationName(ORGANISATION_NAME)
    app.setApplicationName(APPLICATION_NAME)


def use_settings_folder(folder: str | Path) -> None:
    """Keep settings as INI files under ``folder`` (for tests and portable installs)."""
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
        QSettings.setPath(QSettings.Format.IniFormat, scope, str(folder))


def _settings() -> QSettings:
    return QSettings(
        QSettings.defaultFormat(), QSettings.Scope.UserScope, ORGANISATION_NAME, APPLICATION_NAME
    )


def load_preferences() -> Preferences:
    """The stored preferences (defaults for anything missing or damaged)."""
    settings = _settings()
    settings.beginGroup(_GROUP)
    values = {key: str(settings.value(key, "")) for key in settings.childKeys()}
    settings.endGroup()
    return Preferences.from_strings(values)


def save_preferences(preferences: Preferences) -> None:
    """Store ``preferences`` (written to disk at once)."""
    settings = _settings()
    settings.beginGroup(_GROUP)
    for key, value in preferences.to_strings().items():
        settings.setValue(key, value)
    settings.endGroup()
    settings.sync()
