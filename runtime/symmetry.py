"""The eight symmetries of the pixel grid: turns by multiples of 90° and their mirror images.

A fundus photograph turned by 90° or mirrored (the other eye's layout) is the same photograph on
the same pixel grid, so what the product reports should not change. Two parts of the pipeline are
not symmetric by themselves and use this table to become so:

* test-time augmentation (:func:`runtime.tiling.predict_probability`) averages the model's
  answers over all eight views, which makes the probability map turn and mirror with the photograph
  (the network alone does not: on DRIVE test 01-08, 7-9 % of the vessel pixels differ between a
  photograph and its 90° turn, most at vessel borders);
* the branch-point count (:func:`runtime.measurements.measure`) is averaged over the eight
  orientations of the mask, since thinning scans the grid in a fixed order and splits or merges
  junctions a little differently in each (up to 3 of 100 on DRIVE test maps).

The group is closed, so for any view ``g`` of a photograph the eight views of ``g(x)`` are the
eight views of ``x`` in another order: averages over them do not depend on ``g``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GridSymmetry:
    """One symmetry of the pixel grid, acting on the first two axes of an array.

    Attributes:
        turns: Quarter turns counter-clockwise (as :func:`numpy.rot90`).
        mirror: Mirror left-right after the turns.
    """

    turns: int
    mirror: bool

    def apply(self, array: np.ndarray) -> np.ndarray:
        """The array seen through this symmetry (a view; copy it for contiguous memory)."""
        out = np.rot90(array, self.turns)
        return out[:, ::-1] if self.mirror else out

    def undo(self, array: np.ndarray) -> np.ndarray:
        """The inverse of :meth:`apply`: ``undo(apply(a))`` equals ``a``."""
        out = array[:, ::-1] if self.mirror else array
        return np.rot90(out, -self.turns)

    @property
    def swaps_axes(self) -> bool:
        """Whether height and width trade places (odd turns)."""
        return self.turns % 2 == 1


#: The dihedral group of the square: identity first, then the other seven views.
GRID_SYMMETRIES: tuple[GridSymmetry, ...] = tuple(
    GridSymmetry(turns, mirror) for turns in range(4) for mirror in (False, True)
)
#: How outputs say that test-time augmentation ran (the CLI's start line, the app's facts).
TTA_LABEL = f"TTA: {len(GRID_SYMMETRIES)} views"
