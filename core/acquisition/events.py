"""Plain-Python acquisition events and the bus that delivers them off the acquisition thread.

Why not Qt signals or direct callbacks: core must never import Qt (design.md), and a
subscriber that takes its time (a GUI redraw, a plot, a network upload) must never stall the
camera. Every subscriber therefore gets its own queue and delivery thread: ``emit`` only
appends to queues, so the acquisition thread pays a few microseconds per event whatever the
subscribers do. A subscriber that is known to be cheap and thread-safe (e.g. the GUI's
``EventPump.post``, which just enqueues) may ask to be called inline instead.

Events are frozen dataclasses with a ``kind`` string so that a GUI, a log file or a test can
dispatch on ``event.kind`` without importing the classes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Literal

log = logging.getLogger(__name__)

FinishStatus = Literal["completed", "aborted", "failed"]


@dataclass(frozen=True)
class Event:
    """Base class: ``t`` is ``time.monotonic()`` at emission (used for latency measurement)."""

    kind: ClassVar[str] = "event"
    t: float = field(default_factory=time.monotonic, kw_only=True)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind
        return d


@dataclass(frozen=True)
class Started(Event):
    kind: ClassVar[str] = "started"
    plan: str
    total_steps: int
    steps_to_run: int
    session: str
    resumed: bool


@dataclass(frozen=True)
class Step(Event):
    """A step's frame was acquired (it is now queued for the writer)."""

    kind: ClassVar[str] = "step"
    index: int
    total: int
    position: int | None
    d_mm: float | None
    frame_id: int | None


@dataclass(frozen=True)
class FrameSaved(Event):
    """A step's frame is durably in the session (the writer returned)."""

    kind: ClassVar[str] = "frame_saved"
    index: int
    total: int


@dataclass(frozen=True)
class Progress(Event):
    kind: ClassVar[str] = "progress"
    done: int
    total: int
    done_this_run: int
    to_run: int
    elapsed_s: float
    eta_s: float | None


@dataclass(frozen=True)
class Paused(Event):
    kind: ClassVar[str] = "paused"
    next_index: int | None


@dataclass(frozen=True)
class Resumed(Event):
    kind: ClassVar[str] = "resumed"
    next_index: int | None


@dataclass(frozen=True)
class Prompt(Event):
    """The plan needs the operator (e.g. stop the lens down); answer with ``engine.answer``."""

    kind: ClassVar[str] = "prompt"
    prompt_id: str
    message: str


@dataclass(frozen=True)
class WarningEvent(Event):
    kind: ClassVar[str] = "warning"
    message: str
    index: int | None = None


@dataclass(frozen=True)
class ErrorEvent(Event):
    kind: ClassVar[str] = "error"
    message: str
    error_type: str
    index: int | None = None


@dataclass(frozen=True)
class Finished(Event):
    kind: ClassVar[str] = "finished"
    status: FinishStatus
    done: int
    total: int
    missing: tuple[int, ...]
    message: str = ""


Handler = Callable[[Event], Any]


class Subscription:
    """One subscriber: its own FIFO and delivery thread (or inline delivery)."""

    def __init__(self, handler: Handler, inline: bool, name: str) -> None:
        self.handler = handler
        self.inline = inline
        self.name = name
        self.max_latency_s = 0.0
        self.delivered = 0
        self.errors = 0
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._pending = 0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        if not inline:
            self._thread = threading.Thread(target=self._loop, name=f"events-{name}", daemon=True)
            self._thread.start()

    def put(self, event: Event) -> None:
        if self.inline:
            self._call(event)
            return
        with self._cond:
            self._pending += 1
        self._queue.put(event)

    def _call(self, event: Event) -> None:
        latency = time.monotonic() - event.t
        if latency > self.max_latency_s:
            self.max_latency_s = latency
        try:
            self.handler(event)
        except Exception:  # a broken subscriber must not kill delivery to itself or others
            self.errors += 1
            log.exception("event subscriber %s raised on %s", self.name, event.kind)
        self.delivered += 1

    def _loop(self) -> None:
        while True:
            event = self._queue.get()
            if event is None:
                return
            self._call(event)
            with self._cond:
                self._pending -= 1
                if self._pending == 0:
                    self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        if self.inline:
            return True
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def close(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)


class EventBus:
    """Thread-safe fan-out of events; ``emit`` never waits for a threaded subscriber."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._lock = threading.Lock()

    def subscribe(self, handler: Handler, *, inline: bool = False, name: str = "") -> Subscription:
        """Deliver every later event to ``handler``.

        ``inline=True`` calls it on the emitting (acquisition) thread: only for handlers that
        return in microseconds and are thread-safe, such as ``queue.put``.
        """
        sub = Subscription(handler, inline, name or getattr(handler, "__name__", "subscriber"))
        with self._lock:
            self._subs = [*self._subs, sub]
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs = [s for s in self._subs if s is not sub]
        sub.close(timeout=1.0)

    def emit(self, event: Event) -> None:
        for sub in self._subs:  # copy-on-write list: no lock needed while iterating
            sub.put(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event was delivered (tests, CLI shutdown)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        ok = True
        for sub in list(self._subs):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            ok = sub.flush(left) and ok
        return ok

    @property
    def max_latency_s(self) -> float:
        """Worst emit-to-handler delay seen by any subscriber (benchmarks)."""
        return max((s.max_latency_s for s in self._subs), default=0.0)

    def close(self) -> None:
        with self._lock:
            subs, self._subs = self._subs, []
        for sub in subs:
            sub.close(timeout=1.0)
