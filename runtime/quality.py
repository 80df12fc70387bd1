"""Is this a gradable colour fundus photograph? The quality gate run before anything is measured.

:func:`assess` looks at the photograph inside its field of view (FOV), at the measurement scale
(:data:`~runtime.constants.MEASUREMENT_FOV_DIAMETER`, whatever scale the model works at), and
names every problem it finds; an image with any problem is *rejected*: it is still segmented (so
the user can see what the model made of it), but no measurements are reported for it, and the side
panel, the CSV (``quality`` column, ``status`` ``rejected``), the batch table and the report say
why.

The checks and their thresholds (:data:`THRESHOLDS`), chosen on the photographs of DRIVE,
STARE, HRF and LES-AV in ``data/`` (127 images, every one accepted) and on
degraded copies of them:

* **no round field of view**: the FOV was estimated and the estimate fell back to the whole
  image (no dark surround: a blank or flat image, a crop, a logo on white), or the FOV found is
  not a disc: its area is over ``max_roundness`` (1.05) or under ``min_roundness`` (0.6) of the
  disc of its diameter (real FOVs, even cut at the top and bottom: 0.73 to 1.0; a filled
  rectangle: up to 1.27). A FOV mask the user gave is trusted.
* **too dark**: the median brightness (the brightest channel) inside the FOV is under
  ``min_brightness`` (40 of 255; the dimmest real photograph: 64).
* **overexposed**: the median green inside the FOV is over ``max_green`` (200; real: 38 to 116,
  a photograph tripled in exposure: 255).
* **too blurred**: fine detail against vessel-scale detail of the green channel at the measurement
  scale (std of ``green - blur(2 px)`` over std of ``blur(2 px) - blur(8 px)``, inside the FOV
  shrunk by 10 px) under ``min_sharpness`` (0.3; real photographs: 0.44 to 1.04, DRIVE 01 blurred
  with a Gaussian of 2 px: 0.34, of 3 px: 0.22).
* **not a colour fundus photograph**: the channels hardly differ (a grey image such as the
  product's own mask or probability map: max |R - G|, |R - B| of the medians under
  ``min_colour_spread`` = 10) or red does not dominate green (median R / median G under
  ``min_red_green`` = 1.2; real: 1.64 to 4.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from runtime.constants import MEASUREMENT_FOV_DIAMETER

#: Thresholds of the checks (see the module docstring for how they were chosen).
THRESHOLDS: dict[str, float] = {
    "min_roundness": 0.6,
    "max_roundness": 1.05,
    "min_brightness": 40.0,
    "max_green": 200.0,
    "min_sharpness": 0.3,
    "min_colour_spread": 10.0,
    "min_red_green": 1.2,
}
#: Pixels the FOV is shrunk by (at the measurement scale) before the sharpness is measured, so the
#: FOV's own rim does not count as detail.
RIM_PIXELS = 10

#: Problem names, as the panel, the CSV and reports show them.
NO_FOV = "no round field of view found"
TOO_DARK = "too dark"
OVEREXPOSED = "overexposed"
BLURRED = "too blurred"
NOT_FUNDUS = "not a colour fundus photograph"


@dataclass(frozen=True)
class Quality:
    """The gate's verdict on one photograph.

    Attributes:
        problems: What is wrong (empty: accepted).
        values: What was measured (``roundness``, ``brightness``, ``green``, ``sharpness``,
            ``colour_spread``, ``red_green``).
    """

    problems: tuple[str, ...] = ()
    values: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the photograph is accepted (measurements are reported)."""
        return not self.problems

    @property
    def flag(self) -> str:
        """``ok`` or ``rejected: <problems>`` (the CSV's ``quality`` column)."""
        return "ok" if self.ok else "rejected: " + "; ".join(self.problems)


def _sharpness(green: np.ndarray, inside: np.ndarray) -> float:
    from scipy import ndimage

    if np.count_nonzero(inside) < 100:
        return math.nan
    fine = ndimage.gaussian_filter(green, 2, mode="mirror")
    coarse = ndimage.gaussian_filter(green, 8, mode="mirror")
    detail = float((fine - coarse)[inside].std())
    return float((green - fine)[inside].std()) / detail if detail > 0 else 0.0


def assess(
    image: np.ndarray,
    fov: np.ndarray,
    fov_source: str = "estimated",
    diameter: float = MEASUREMENT_FOV_DIAMETER,
) -> Quality:
    """Check a photograph before its measurements are trusted (see the module docstring).

    Args:
        image: ``(H, W, 3)`` uint8 RGB photograph.
        fov: ``(H, W)`` bool FOV mask used to segment it.
        fov_source: ``"estimated"`` or ``"given"`` (a given mask is not checked for roundness).
        diameter: FOV diameter the sharpness is measured at (its thresholds were chosen there).

    Returns:
        The verdict.
    """
    from scipy import ndimage

    from runtime.fov import fov_diameter
    from runtime.scaling import resize_image, resize_mask

    t = THRESHOLDS
    problems: list[str] = []
    values: dict[str, float] = {}
    found = fov_diameter(fov)
    area = float(np.count_nonzero(fov))
    values["roundness"] = area / (math.pi * found * found / 4.0) if found else 0.0
    if fov_source != "given" and (
        bool(fov.all()) or not t["min_roundness"] <= values["roundness"] <= t["max_roundness"]
    ):
        problems.append(NO_FOV)
    inside = fov if area else np.ones(fov.shape, dtype=bool)
    pixels = image[inside]
    red, green, blue = (float(v) for v in np.median(pixels, axis=0))
    values["brightness"] = float(np.median(pixels.max(axis=1)))
    values["green"] = green
    values["colour_spread"] = max(abs(red - green), abs(red - blue))
    values["red_green"] = red / max(green, 1.0)
    if values["brightness"] < t["min_brightness"]:
        problems.append(TOO_DARK)
    elif values["green"] > t["max_green"]:
        problems.append(OVEREXPOSED)
    factor = diameter / found if found else 1.0
    work = resize_image(image, factor)[..., 1].astype(np.float32)
    work_fov = resize_mask(inside, factor).astype(np.uint8)
    size = 2 * RIM_PIXELS + 1
    shrunk = ndimage.minimum_filter(work_fov, size=size, mode="nearest").astype(bool)
    values["sharpness"] = _sharpness(work, shrunk)
    if TOO_DARK not in problems and not values["sharpness"] >= t["min_sharpness"]:
        problems.append(BLURRED)
    if values["colour_spread"] < t["min_colour_spread"] or values["red_green"] < t["min_red_green"]:
        problems.append(NOT_FUNDUS)
    return Quality(tuple(problems), {k: round(v, 4) for k, v in values.items()})
