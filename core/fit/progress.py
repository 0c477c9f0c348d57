"""Progress reporting with ETA, and cooperative cancellation, for long fits.

Plain Python (no Qt): the CLI shows a tqdm bar from these callbacks, the GUI pulls them into
Qt through its event pump.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


class Cancelled(RuntimeError):
    """Raised inside a fit when its CancelToken was set."""


class CancelToken:
    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        if self._event.is_set():
            raise Cancelled("fit cancelled")


@dataclass(frozen=True)
class Progress:
    stage: str
    done: int
    total: int
    elapsed_s: float
    eta_s: float | None


ProgressCallback = Callable[[Progress], None]


class StageTimer:
    """Turns 'done of total' counts into Progress events with a linear ETA."""

    def __init__(self, stage: str, total: int, callback: ProgressCallback | None) -> None:
        self.stage = stage
        self.total = max(int(total), 1)
        self.callback = callback
        self.start = time.perf_counter()
        self.done = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.callback is None:
            return
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done) if self.done else None
        self.callback(Progress(self.stage, self.done, self.total, elapsed, eta))
