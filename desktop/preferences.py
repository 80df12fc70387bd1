"""What the app remembers between sessions, as plain values (Qt-free).

:class:`Preferences` holds the settings; :meth:`Preferences.to_strings` and
:meth:`Preferences.from_strings` turn them into the flat string map :mod:`desktop.settings` keeps
in ``QSettings``. Storing strings only sidesteps ``QSettings``' type guessing (a one-element list
read back as a string, ``"true"`` vs ``True``), and parsing is forgiving: a value that is missing
or damaged falls back to its default instead of stopping the app from starting.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from runtime.backends import BACKEND_CHOICES
from runtime.constants import DEFAULT_FOV_DEGREES
from runtime.errors import UserInputError
from runtime.providers import PROVIDER_CHOICES
from runtime.tiling import overlay
from runtime.units import Scale

#: Organisation and application names: they decide where ``QSettings`` stores the preferences.
ORGANISATION_NAME = "drive-vessel-unet"
APPLICATION_NAME = "vessel-desktop"
#: Title shown to the user.
APPLICATION_TITLE = "Vessel Segmenter"

#: How many files the Open Recent menu lists.
MAX_RECENT_FILES = 10

_OVERLAY_DEFAULTS = inspect.signature(overlay).parameters
#: Overlay opacity and colour: the same defaults as the overlays the segment CLI writes.
DEFAULT_OPACITY: float = _OVERLAY_DEFAULTS["opacity"].default
DEFAULT_COLOUR: tuple[int, int, int] = tuple(_OVERLAY_DEFAULTS["colour"].default)

#: Overlay colours offered in the colour menu (any other can be picked in a colour dialog).
PRESET_COLOURS: dict[str, tuple[int, int, int]] = {
    "Green": DEFAULT_COLOUR,
    "Yellow": (255, 230, 0),
    "Cyan": (0, 230, 255),
    "Blue": (40, 90, 255),
    "Magenta": (255, 0, 200),
    "White": (255, 255, 255),
}


def colour_to_hex(colour: tuple[int, int, int]) -> str:
    """``(0, 255, 0)`` -> ``"#00ff00"``."""
    return "#{:02x}{:02x}{:02x}".format(*colour)


def hex_to_colour(text: str) -> tuple[int, int, int]:
    """``"#00ff00"`` -> ``(0, 255, 0)``.

    Raises:
        ValueError: ``text`` is not ``#rrggbb``.
    """
    text = text.strip()
    if len(text) != 7 or not text.startswith("#"):
        raise ValueError(f"expected a colour as #rrggbb, received {text!r}")
    return tuple(int(text[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def push_recent(
    recent: list[str], path: str | os.PathLike[str], limit: int = MAX_RECENT_FILES
) -> list[str]:
    """Put ``path`` first in a recent-files list (no duplicates, at most ``limit`` entries).

    Paths are compared after making them absolute and normalising them, so ``./a.png`` and
    ``a.png`` count once; the stored form is the absolute one.

    Args:
        recent: The list, most recent first.
        path: The file just opened.
        limit: Longest list kept.

    Returns:
        A new list.
    """
    new = os.path.normpath(os.path.abspath(os.fspath(path)))
    kept = [p for p in recent if os.path.normcase(p) != os.path.normcase(new)]
    return [new, *kept][:limit]


def existing_recent(recent: list[str]) -> list[str]:
    """The recent files that still exist (moved or deleted ones are left out of the menu)."""
    return [p for p in recent if Path(p).is_file()]


@dataclass(frozen=True)
class Preferences:
    """Settings remembered between sessions.

    Attributes:
        last_folder: Folder the last file dialog opened in.
        opacity: Overlay opacity in [0, 1].
        threshold: Threshold chosen by the user, or ``None`` for the model's own (chosen on
            validation data and stored in the ONNX metadata).
        colour: Overlay RGB colour.
        provider: ``auto``, ``cuda`` or ``cpu``.
        backend: ``auto`` or a key of :data:`runtime.backends.BACKENDS`.
        tta: Average the model over the eight turns and mirrors of each photograph (8 passes), so
            a turned or mirrored photograph gives the same map and measurements. On by default
            in the app, where one eye is measured at a time; the CLI's ``--tta``.
        model_path: ``.onnx`` file the user chose, or ``""`` for the shipped model.
        recent_files: Recently opened images, most recent first.
        fov_degrees: Camera field of view the measurements' units come from (``None`` with
            ``pixel_size_um`` ``None``: FOV-relative units).
        pixel_size_um: Known pixel size of the photographs in µm (wins over the FOV).
        export_folder: Folder of the last export (``""``: ``<photographs' folder>_vessels``,
            never the photographs' own folder).
        calibration: Camera calibration file in use (``vessel-calibrate``; ``""``: none). Its
            threshold replaces the model's while the model file is the one it was made for.
    """

    last_folder: str = ""
    opacity: float = DEFAULT_OPACITY
    threshold: float | None = None
    colour: tuple[int, int, int] = DEFAULT_COLOUR
    provider: str = "auto"
    backend: str = "auto"
    tta: bool = True
    model_path: str = ""
    recent_files: list[str] = field(default_factory=list)
    fov_degrees: float | None = DEFAULT_FOV_DEGREES
    pixel_size_um: float | None = None
    export_folder: str = ""
    calibration: str = ""

    def __post_init__(self) -> None:
        Scale(self.fov_degrees, self.pixel_size_um)  # Validates both (UserInputError).
        if not 0.0 <= self.opacity <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], received {self.opacity}")
        if self.threshold is not None and not 0.0 < self.threshold < 1.0:
            raise ValueError(f"threshold must be in (0, 1) or None, received {self.threshold}")
        if self.provider not in PROVIDER_CHOICES:
            raise ValueError(
                f"provider must be one of {', '.join(PROVIDER_CHOICES)}, received {self.provider!r}"
            )
        if self.backend not in BACKEND_CHOICES:
            raise ValueError(
                f"backend must be one of {', '.join(BACKEND_CHOICES)}, received {self.backend!r}"
            )
        if len(self.colour) != 3 or not all(0 <= c <= 255 for c in self.colour):
            raise ValueError(f"colour must be three values in 0-255, received {self.colour}")

    def with_recent(self, path: str | os.PathLike[str]) -> Preferences:
        """A copy with ``path`` first in the recent files and its folder as the last folder."""
        recent = push_recent(self.recent_files, path)
        return replace(self, recent_files=recent, last_folder=str(Path(recent[0]).parent))

    def to_strings(self) -> dict[str, str]:
        """The preferences as a flat map of strings (what ``QSettings`` stores)."""
        return {
            "last_folder": self.last_folder,
            "opacity": repr(self.opacity),
            "threshold": "" if self.threshold is None else repr(self.threshold),
            "colour": colour_to_hex(self.colour),
            "provider": self.provider,
            "backend": self.backend,
            "tta": "1" if self.tta else "0",
            "model_path": self.model_path,
            "recent_files": json.dumps(self.recent_files),
            "fov_degrees": "" if self.fov_degrees is None else repr(self.fov_degrees),
            "pixel_size_um": "" if self.pixel_size_um is None else repr(self.pixel_size_um),
            "export_folder": self.export_folder,
            "calibration": self.calibration,
        }

    @property
    def scale(self) -> Scale:
        """The scale of the measurements (:class:`runtime.units.Scale`)."""
        if self.pixel_size_um is not None:
            return Scale(fov_degrees=None, pixel_size_um=self.pixel_size_um)
        return Scale(fov_degrees=self.fov_degrees)

    def with_scale(self, scale: Scale) -> Preferences:
        """A copy that measures with ``scale``."""
        return replace(self, fov_degrees=scale.fov_degrees, pixel_size_um=scale.pixel_size_um)

    @classmethod
    def from_strings(cls, values: dict[str, str]) -> Preferences:
        """Parse :meth:`to_strings`' map; each missing or damaged value gets its default."""
        defaults = cls()
        parsed: dict[str, object] = {}
        parsers = {
            "last_folder": str,
            "opacity": _finite_float,
            "threshold": lambda text: None if text == "" else _finite_float(text),
            "colour": hex_to_colour,
            "provider": str,
            "backend": str,
            "tta": _flag,
            "model_path": str,
            "recent_files": _string_list,
            "fov_degrees": lambda text: None if text == "" else _finite_float(text),
            "pixel_size_um": lambda text: None if text == "" else _finite_float(text),
            "export_folder": str,
            "calibration": str,
        }
        for item in fields(cls):
            if item.name not in values:
                continue
            try:
                value = parsers[item.name](values[item.name])
                replace(defaults, **{item.name: value})  # Validates the single value.
            except (ValueError, TypeError, UserInputError):
                continue
            parsed[item.name] = value
        return replace(defaults, **parsed)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"not a finite number: {text!r}")
    return value


def _flag(text: str) -> bool:
    if text not in ("0", "1"):
        raise ValueError(f"expected 0 or 1, received {text!r}")
    return text == "1"


def _string_list(text: str) -> list[str]:
    value = json.loads(text)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a JSON list of strings, received {text!r}")
    return value
