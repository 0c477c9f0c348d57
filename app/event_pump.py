"""Bring plain-Python events from worker threads into the Qt GUI thread.

Core code never emits Qt signals (core must not import Qt, and PySide6 6.12.0 on Python 3.11
crashes after a few hundred emits). Workers put events on a thread-safe queue; a QTimer in the
GUI thread drains it in batches. The GUI therefore never blocks a worker and never freezes
under a flood of events: at most ``max_batch`` events are handled per tick.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer


class EventPump(QObject):
    def __init__(
        self,
        handler: Callable[[Any], None],
        interval_ms: int = 20,
        max_batch: int = 5000,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._handler = handler
        self._max_batch = max_batch
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.drain)
        self._timer.start()

    def post(self, event: Any) -> None:
        """Thread-safe: callable from any thread."""
        self._queue.put(event)

    def drain(self) -> int:
        n = 0
        while n < self._max_batch:
            try:
                event = self._queue.get_nowait()
            except queue.Empty:
                break
            self._handler(event)
            n += 1
        return n

    def stop(self) -> None:
        self._timer.stop()
        self.drain()
