"""The physical scale of a photograph: how measured pixels become micrometres.

Measurements are taken at one scale (:data:`runtime.constants.MEASUREMENT_FOV_DIAMETER`): the
vessel map is resampled so its field of view (FOV) is that many pixels across whatever camera took
it and whatever scale the model works at, so the numbers do not depend on the photograph's pixel
count. A :class:`Scale` then turns those pixels into micrometres, in one of three ways:

* **camera field of view** (the default, :data:`~runtime.constants.DEFAULT_FOV_DEGREES` = 45°):
  the FOV disc spans ``degrees * RETINA_UM_PER_DEGREE`` micrometres of retina (288 um per degree,
  an emmetropic schematic eye), so one pixel is that divided by the measurement diameter
  (45° and 539 px: 24.0 um). Exact for an average eye; a long (myopic) eye makes vessels look
  smaller, a short one larger, by up to about 10 %;
* **pixel size** of the photograph, in micrometres, when the camera's calibration is known;
* **none**: FOV-relative units, lengths in FOV diameters and widths in thousandths of the FOV
  diameter, which compare between cameras of the same field of view without claiming a size.

:data:`UNITS` is the one table of the units each kind of quantity is shown and stored in.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.constants import DEFAULT_FOV_DEGREES, RETINA_UM_PER_DEGREE
from runtime.errors import UserInputError

#: Widest camera field of view accepted, in degrees (ultra-widefield cameras reach 200°).
MAX_FOV_DEGREES = 220.0


@dataclass(frozen=True)
class Unit:
    """A unit a quantity is shown in.

    Attributes:
        symbol: As shown after a value (``"µm"``).
        slug: ASCII form for CSV column names (``"um"``).
        per_micrometre: Multiplier from micrometres (physical units) or from FOV diameters
            (relative units) to this unit.
    """

    symbol: str
    slug: str
    per_micrometre: float


#: ``{dimension: (physical unit, FOV-relative unit)}``: total lengths in millimetres or FOV
#: diameters, widths in micrometres or thousandths of the FOV diameter.
UNITS: dict[str, tuple[Unit, Unit]] = {
    "length": (Unit("mm", "mm", 1e-3), Unit("FOV diameters", "fovd", 1.0)),
    "width": (Unit("µm", "um", 1.0), Unit("‰ FOV diameter", "permille_fovd", 1e3)),
}


@dataclass(frozen=True)
class Scale:
    """How measurements get physical units (see the module docstring).

    Attributes:
        fov_degrees: The camera's field of view across the FOV disc, in degrees.
        pixel_size_um: Size of one pixel of the photograph on the retina, in micrometres; when
            set it wins over ``fov_degrees``.

    Both ``None``: FOV-relative units.

    Raises:
        UserInputError: A value is not a positive finite number (or the FOV is over
            :data:`MAX_FOV_DEGREES`).
    """

    fov_degrees: float | None = DEFAULT_FOV_DEGREES
    pixel_size_um: float | None = None

    def __post_init__(self) -> None:
        for name, value, top in (
            ("field of view (degrees)", self.fov_degrees, MAX_FOV_DEGREES),
            ("pixel size (µm)", self.pixel_size_um, math.inf),
        ):
            if value is not None and not (math.isfinite(value) and 0.0 < value <= top):
                raise UserInputError(f"{name} must be a positive number, got {value}")

    @classmethod
    def relative(cls) -> Scale:
        """No physical scale: FOV-relative units."""
        return cls(fov_degrees=None, pixel_size_um=None)

    @property
    def physical(self) -> bool:
        """Whether measurements come out in micrometres/millimetres."""
        return self.fov_degrees is not None or self.pixel_size_um is not None

    def describe(self) -> str:
        """The scale in words, as the side panel, the CSV and reports state it."""
        if self.pixel_size_um is not None:
            return f"pixel size {self.pixel_size_um:g} µm"
        if self.fov_degrees is not None:
            return f"{self.fov_degrees:g}° field of view ({RETINA_UM_PER_DEGREE:g} µm/degree)"
        return "none: FOV-relative units"

    def as_dict(self) -> dict[str, float | str | None]:
        """What outputs record of the scale (compared on resume)."""
        return {
            "fov_degrees": None if self.pixel_size_um is not None else self.fov_degrees,
            "pixel_size_um": self.pixel_size_um,
            "scale": self.describe(),
        }

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Scale:
        """The scale :meth:`as_dict` recorded (FOV-relative when it names neither value)."""
        return cls(fov_degrees=values.get("fov_degrees"), pixel_size_um=values.get("pixel_size_um"))

    def unit(self, dimension: str) -> Unit:
        """The unit a ``"length"`` or ``"width"`` is shown in with this scale."""
        physical, relative = UNITS[dimension]
        return physical if self.physical else relative

    def convert(self, dimension: str, pixels: float, diameter: float, factor: float) -> float:
        """A length or width measured in pixels at ``diameter``, in :meth:`unit` of ``dimension``.

        Args:
            dimension: A key of :data:`UNITS`.
            pixels: The value measured at the measurement scale.
            diameter: The FOV diameter it was measured at, in pixels.
            factor: What the photograph was resized by to reach it (measured / original pixels).
        """
        unit = self.unit(dimension)
        if not self.physical:
            return pixels / diameter * unit.per_micrometre
        if self.pixel_size_um is not None:
            um_per_pixel = self.pixel_size_um / factor
        else:
            um_per_pixel = self.fov_degrees * RETINA_UM_PER_DEGREE / diameter
        return pixels * um_per_pixel * unit.per_micrometre


def scale_from_options(
    fov_degrees: float | None = None, pixel_size_um: float | None = None, relative: bool = False
) -> Scale:
    """The scale a user chose (CLI flags, app settings); 45° when nothing is given.

    Raises:
        UserInputError: A value is out of range, or ``relative`` is combined with a value.
    """
    if relative:
        if fov_degrees is not None or pixel_size_um is not None:
            raise UserInputError("FOV-relative units take no field of view or pixel size")
        return Scale.relative()
    if pixel_size_um is not None:
        return Scale(fov_degrees=None, pixel_size_um=pixel_size_um)
    return Scale(fov_degrees=DEFAULT_FOV_DEGREES if fov_degrees is None else fov_degrees)
