"""Running a task off the GUI thread and hearing back through signals (superqt-style).

A :class:`Worker` runs one plain function from :mod:`desktop.tasks` or :mod:`desktop.batch` in
a ``QThreadPool``. Its :class:`WorkerSignals` report the outcome: ``finished(result)``,
``failed(message)`` (every exception becomes a one-line message; the task names the file),
``cancelled()``, and ``progress(payload)`` for tasks that report as they go. Exactly one of
``finished``, ``failed`` and ``cancelled`` is emitted, then ``done()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

from runtime.cancellation import CancelToken
from runtime.engine import Cancelled
from runtime.errors import UserInputError


class WorkerSignals(QObject):
    """Signals of one :class:`Worker` (they live in the GUI thread, emitted from the pool)."""

    finished = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    progress = Signal(object)
    done = Signal()


def error_message(exc: BaseException) -> str:
    """One line for the user: our own errors as they are, anything else with its type."""
    if isinstance(exc, UserInputError):
        return str(exc)
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


class Worker(QRunnable):
    """Run ``function(*args, **kwargs)`` in a pool thread.

    The function receives the worker's :class:`CancelToken` as ``token=`` when
    ``cancellable`` and a ``progress`` callback as ``on_update=`` when ``reports_progress``.

    Args:
        function: A plain, Qt-free function.
        *args: Its positional arguments.
        cancellable: Pass ``token=self.token``.
        reports_progress: Pass ``on_update=`` a callback that emits ``progress``.
        **kwargs: Its keyword arguments.
    """

    def __init__(
        self,
        function: Callable[..., Any],
        *args: Any,
        cancellable: bool = False,
        reports_progress: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        self.signals = WorkerSignals()
        self.token = CancelToken()
        self._function = function
        self._args = args
        self._kwargs = dict(kwargs)
        if cancellable:
            self._kwargs["token"] = self.token
        if reports_progress:
            self._kwargs["on_update"] = self.signals.progress.emit

    def cancel(self) -> None:
        """Ask the task to stop at its next check (between images or tiles)."""
        self.token.cancel()

    def run(self) -> None:
        """Called by the pool; never raises."""
        try:
            result = self._function(*self._args, **self._kwargs)
        except Cancelled:
            self.signals.cancelled.emit()
        except Exception as exc:  # noqa: BLE001 - every failure goes back as a signal.
            self.signals.failed.emit(error_message(exc))
        else:
            self.signals.finished.emit(result)
        self.signals.done.emit()


class WorkerPool(QObject):
    """A ``QThreadPool`` that owns its workers until the GUI thread has heard they are done.

    Each worker's signals object is parented to the pool (so it lives in the GUI thread and is
    deleted there, after the ``done`` signal has been delivered), and the worker is kept
    referenced until then: nothing is freed while a queued signal may still point at it.
    """

    def __init__(self, max_threads: int, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pool = QThreadPool(self)
        self.pool.setMaxThreadCount(max_threads)
        self._running: dict[WorkerSignals, Worker] = {}

    def start(self, worker: Worker) -> Worker:
        """Queue ``worker``; returns it (to connect its signals or cancel it)."""
        worker.setAutoDelete(False)
        worker.signals.setParent(self)
        self._running[worker.signals] = worker
        worker.signals.done.connect(self._forget)
        self.pool.start(worker)
        return worker

    @Slot()
    def _forget(self) -> None:
        signals = self.sender()
        if self._running.pop(signals, None) is not None:  # type: ignore[call-overload]
            signals.deleteLater()

    @property
    def busy(self) -> bool:
        """Whether any worker is queued or running (or its signals are still on their way)."""
        return bool(self._running)

    def cancel_all(self) -> None:
        """Ask every worker to stop at its next check."""
        for worker in self._running.values():
            worker.cancel()

    def wait(self, msecs: int = -1) -> bool:
        """Block until every worker has finished running (at shutdown)."""
        return self.pool.waitForDone(msecs)
