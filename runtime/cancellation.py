"""Cancelling a run between images or between tiles (Qt-free).

A :class:`CancelToken` is the flag the GUI thread sets; the run passes ``token.is_cancelled``
to the engine's and the batch's ``should_stop`` hooks (:meth:`runtime.engine.VesselEngine.segment`
stops between tiles with :class:`~runtime.engine.Cancelled`,
:func:`runtime.segment.segment_batch` between images).
"""

from __future__ import annotations

import threading

from runtime.engine import Cancelled


class CancelToken:
    """A flag one thread sets and another checks (thread-safe)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop at its next check."""
        self._event.set()

    def is_cancelled(self) -> bool:
        """Whether :meth:`cancel` was called (a ``should_stop`` hook)."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`~runtime.engine.Cancelled` when the run should stop."""
        if self.is_cancelled():
            raise Cancelled
