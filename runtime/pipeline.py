"""A batch pipeline that keeps the cores busy: read ahead, infer, write behind (threads).

Per image the batch does three things one after another (:mod:`runtime.batch`): **read** the
photograph and its FOV mask (decoding), **infer** (FOV estimate, working scale, model, threshold:
the engine), and **finish** (encode and write the three PNGs, measure the vessel map). Run
sequentially, one core idles while the other decodes or encodes. :class:`Pipeline` overlaps them:
a reader thread decodes the next images while the calling thread runs the model, and a writer
thread encodes and measures the previous image. onnxruntime, OpenVINO, OpenCV, Pillow's codecs
and zlib release the GIL, so the threads run in parallel.

The work per image is the same functions as the sequential path, in the same order per image, so
the outputs are identical (a test compares their pixels and PNG text, all but the creation time);
only the timing interleaves.
Results come back in submission order, from the calling thread (:meth:`Pipeline.ready`,
:meth:`Pipeline.drain`). At most ``depth`` images are read ahead and ``depth`` are waiting to be
written, which bounds memory.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

Item = TypeVar("Item")

#: Images read ahead of the model, and images waiting to be written, at most.
DEPTH = 2


@dataclass(frozen=True)
class Outcome(Generic[Item]):
    """What became of one submitted item: its ``value`` (the finish step's), or its ``error``."""

    item: Item
    value: Any = None
    error: BaseException | None = None


class Pipeline(Generic[Item]):
    """Read ahead in one thread, infer in the caller's, finish in another thread.

    Args:
        items: Everything that may be submitted, in order (what the reader reads ahead).
        read: ``item -> read`` (runs in the reader thread).
        infer: ``(item, read) -> inferred`` (runs in the thread that calls :meth:`submit`).
        finish: ``(item, read, inferred) -> value`` (runs in the writer thread).
        depth: See :data:`DEPTH`.
        errors: Exception types that make an item's :class:`Outcome` an error; any other
            exception propagates from :meth:`submit` / :meth:`ready`.
    """

    def __init__(
        self,
        items: Sequence[Item],
        read: Callable[[Item], Any],
        infer: Callable[[Item, Any], Any],
        finish: Callable[[Item, Any, Any], Any],
        *,
        depth: int = DEPTH,
        errors: tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        self._items = list(items)
        self._read, self._infer, self._finish = read, infer, finish
        self._depth = max(1, depth)
        self._errors = errors
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="pipeline-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="pipeline-write")
        self._reads: dict[int, Future] = {}
        self._next_read = 0
        self._writes: deque[tuple[Item, Future | None, BaseException | None]] = deque()

    def _read_ahead(self, position: int) -> None:
        """Start reading items up to ``position + depth`` (in order)."""
        self._next_read = max(self._next_read, position)
        while self._next_read < min(len(self._items), position + self._depth + 1):
            self._reads[self._next_read] = self._reader.submit(
                self._read, self._items[self._next_read]
            )
            self._next_read += 1

    def submit(self, position: int) -> None:
        """Run item ``items[position]``: wait for its read, infer it here, queue its finish.

        Items may be skipped (never submitted); their reads ahead are dropped.
        """
        item = self._items[position]
        self._read_ahead(position)
        for stale in [p for p in self._reads if p < position]:
            self._reads.pop(stale).cancel()
        future = self._reads.pop(position)
        writing = [f for _, f, _ in self._writes if f is not None and not f.done()]
        if len(writing) >= self._depth:
            writing[0].exception()  # Wait: bounds the images waiting to be written.
        try:
            read = future.result()
            inferred = self._infer(item, read)
        except self._errors as exc:
            self._writes.append((item, None, exc))
            return
        self._writes.append((item, self._writer.submit(self._finish, item, read, inferred), None))

    def ready(self) -> Iterator[Outcome[Item]]:
        """The outcomes finished so far, in submission order (stops at the first unfinished)."""
        while self._writes and (self._writes[0][1] is None or self._writes[0][1].done()):
            yield self._outcome(*self._writes.popleft())

    def drain(self) -> Iterator[Outcome[Item]]:
        """Every outcome not yet returned, in submission order, waiting for each."""
        while self._writes:
            yield self._outcome(*self._writes.popleft())

    def _outcome(
        self, item: Item, future: Future | None, error: BaseException | None
    ) -> Outcome[Item]:
        if future is None:
            return Outcome(item, error=error)
        try:
            return Outcome(item, value=future.result())
        except self._errors as exc:
            return Outcome(item, error=exc)

    def close(self) -> None:
        """Stop the threads (reads ahead not used are dropped; writes already queued finish)."""
        for future in self._reads.values():
            future.cancel()
        self._reads.clear()
        self._reader.shutdown(wait=True)
        self._writer.shutdown(wait=True)

    def __enter__(self) -> Pipeline[Item]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
