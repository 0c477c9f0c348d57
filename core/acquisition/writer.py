"""A writer thread between the camera and the session: backpressure, never loss.

Saving (TIFF encode + fsync) can take longer than a grab, and its duration is erratic (disk
caches, antivirus on lab PCs). Frames are therefore handed to a dedicated thread through a
*bounded* queue: while the disk keeps up the camera never waits; when it falls behind, ``put``
blocks the acquisition thread (the motor simply waits at its position) instead of dropping a
sweep frame or growing memory without bound. The first write error (disk full, permission
lost) is kept and re-raised to the acquisition thread on its next ``put``/``close`` so that the
run fails cleanly with the file named, and no later frame is silently skipped.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np


class FrameSink(Protocol):
    """What the writer needs from the session (``psfbench.core.dataset.SessionWriter`` satisfies
    it)."""

    def write_frame(
        self, index: int, image: np.ndarray, record_fields: Mapping[str, Any]
    ) -> Any: ...


class WriterFailed(RuntimeError):
    """The session could not store a frame; ``__cause__`` is the original error."""

    def __init__(self, index: int, cause: BaseException) -> None:
        super().__init__(f"could not save frame {index}: {cause}")
        self.index = index
        self.cause = cause


_STOP = object()


class FrameWriterThread:
    def __init__(
        self,
        sink: FrameSink,
        *,
        maxsize: int = 4,
        on_saved: Callable[[int], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise ValueError("writer queue needs room for at least one frame")
        self._sink = sink
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=maxsize)
        self._on_saved = on_saved
        self._error: WriterFailed | None = None
        self.saved: list[int] = []
        self.max_blocked_s = 0.0  # longest time put() waited: how often backpressure bit
        self._thread = threading.Thread(target=self._loop, name="frame-writer", daemon=True)
        self._thread.start()

    @property
    def error(self) -> WriterFailed | None:
        return self._error

    def put(self, index: int, image: np.ndarray, fields: Mapping[str, Any]) -> None:
        """Queue a frame; blocks while the queue is full; raises the writer's first error."""
        self._raise_if_failed()
        t0 = time.monotonic()
        while True:
            try:
                self._queue.put((index, image, dict(fields)), timeout=0.1)
                break
            except queue.Full:
                self._raise_if_failed()
        blocked = time.monotonic() - t0
        if blocked > self.max_blocked_s:
            self.max_blocked_s = blocked

    def close(self) -> None:
        """Write out everything queued, stop the thread, then raise any write error."""
        if self._thread.is_alive():
            while True:
                try:
                    self._queue.put(_STOP, timeout=0.1)
                    break
                except queue.Full:
                    if not self._thread.is_alive():
                        break
            self._thread.join()
        self._raise_if_failed()

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            if self._error is not None:
                continue  # drain without writing: the run is failing, order must not break
            index, image, fields = item
            try:
                self._sink.write_frame(index, image, fields)
            except BaseException as exc:  # noqa: BLE001 - handed to the acquisition thread
                err = WriterFailed(index, exc)
                err.__cause__ = exc
                self._error = err
                continue
            self.saved.append(index)
            if self._on_saved is not None:
                self._on_saved(index)
