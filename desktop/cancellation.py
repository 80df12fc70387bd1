"""Cancelling a run between images or between tiles (Qt-free).

The engine has no cancel hook, so :func:`cancellable_engine` hands a run its own view of the
shared engine whose model checks a :class:`CancelToken` before every tile it runs: a large image
(tiled by the engine) stops within one tile of the user pressing Cancel, and the shared session
is never copied.
"""

from __future__ import annotations

import copy
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from export.engine import VesselEngine


class Cancelled(Exception):  # noqa: N818 - a state, like ``asyncio.CancelledError``.
    """The user cancelled the run."""


class CancelToken:
    """A flag one thread sets and another checks (thread-safe)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        """Ask the run to stop at its next check."""
        self._event.set()

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called."""
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        """Raise :class:`Cancelled` when the run should stop."""
        if self._event.is_set():
            raise Cancelled


class _TileGate:
    """An ``OnnxModel`` stand-in that checks the token before each tile it passes on."""

    def __init__(self, model: Any, token: CancelToken) -> None:
        self._model = model
        self._token = token

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def run(self, batch: np.ndarray) -> np.ndarray:
        self._token.raise_if_cancelled()
        return self._model.run(batch)


def cancellable_engine(engine: VesselEngine, token: CancelToken) -> VesselEngine:
    """A view of ``engine`` (same session and settings) that raises :class:`Cancelled` between
    tiles once ``token`` is cancelled.
    """
    view = copy.copy(engine)
    view.model = _TileGate(engine.model, token)
    return view
