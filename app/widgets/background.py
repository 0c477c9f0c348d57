"""Disk work off the GUI thread, results handed back by polling (no cross-thread Qt signals).

:class:`BackgroundTasks` runs plain Python callables on its own small thread pool (not the
bench model's device thread: scanning a folder must not queue behind a motor move). Each
finished future is appended to a deque; a GUI-thread QTimer drains it and calls ``on_done`` /
``on_error`` there, spending at most a few milliseconds per tick so that many small results
(table rows, thumbnails) never freeze the event loop (gui-anchors B5, C5). After
:meth:`shutdown` nothing is called back any more.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from PySide6.QtCore import QObject, QTimer

log = logging.getLogger(__name__)

#: GUI-thread time spent on callbacks per timer tick before yielding to the event loop
_TICK_BUDGET_S = 0.008


class BackgroundTasks(QObject):
    """A thread pool whose results come back on the GUI thread by polling."""

    def __init__(
        self,
        workers: int = 1,
        *,
        name: str = "background",
        interval_ms: int = 20,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix=name)
        self._finished: deque[tuple[Future, Callable | None, Callable | None]] = deque()
        self._pending = 0
        self._closed = False
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._drain)

    @property
    def busy(self) -> bool:
        """True while a submitted task has not been called back yet."""
        return self._pending > 0

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> Future:
        """Run ``fn(*args)`` on a worker; call ``on_done(result)`` or ``on_error(exc)`` later
        on the GUI thread (never for a cancelled task). Call from the GUI thread only."""
        if self._closed:
            raise RuntimeError("background tasks are shut down")
        fut = self._pool.submit(fn, *args)
        self._pending += 1
        # deque.append is atomic: safe from the worker thread
        fut.add_done_callback(lambda f: self._finished.append((f, on_done, on_error)))
        if not self._timer.isActive():
            self._timer.start()
        return fut

    def _drain(self) -> None:
        start = time.perf_counter()
        while self._finished and not self._closed:
            fut, on_done, on_error = self._finished.popleft()
            self._pending -= 1
            if fut.cancelled():
                continue
            exc = fut.exception()
            try:
                if exc is None:
                    if on_done is not None:
                        on_done(fut.result())
                elif on_error is not None:
                    on_error(exc)
                else:
                    log.error("background task failed: %s", exc, exc_info=exc)
            except Exception:  # a faulty callback must not stop the others
                log.exception("background task callback failed")
            if time.perf_counter() - start > _TICK_BUDGET_S:
                return  # the rest on the next tick: keep the event loop responsive
        if self._pending <= 0 and not self._finished:
            self._pending = 0
            self._timer.stop()

    def shutdown(self) -> None:
        """Cancel what has not started, stop calling back; does not wait for running tasks."""
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._finished.clear()
        self._pending = 0
