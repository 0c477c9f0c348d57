"""The acquisition engine: runs one plan at a time on a worker thread.

Three threads cooperate so that nothing slow can stall the camera or lose a frame:

* the **acquisition thread** drives the devices step by step (move, settle, read d, grab) and
  is the only thread that touches them;
* the **writer thread** (:mod:`psfbench.core.acquisition.writer`) stores frames through the
  crash-safe session writer; a bounded queue between the two gives backpressure, never loss;
* the **event bus** (:mod:`psfbench.core.acquisition.events`) delivers events to each subscriber on
  its own thread, so a slow GUI or logger only delays itself.

Callers steer the run with ``pause()``, ``resume()``, ``abort()`` from any thread; the
acquisition thread honours them at step boundaries and inside waits. Whatever ends the run
(completion, abort, device or disk failure), the engine stops the motor, lets the writer finish
every frame already taken, and reports which step indices are still missing, so the session on
disk is always consistent and resumable.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from psfbench.core.acquisition.control import AbortRequested, RunControl, RunState
from psfbench.core.acquisition.events import (
    ErrorEvent,
    EventBus,
    Finished,
    FinishStatus,
    FrameSaved,
    Paused,
    Progress,
    Prompt,
    Resumed,
    Started,
    Step,
    WarningEvent,
)
from psfbench.core.acquisition.plans.base import Plan
from psfbench.core.acquisition.writer import FrameSink, FrameWriterThread, WriterFailed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunResult:
    status: FinishStatus
    total: int
    saved_this_run: tuple[int, ...]
    missing: tuple[int, ...]
    message: str = ""
    error: BaseException | None = field(default=None, compare=False)

    @property
    def done(self) -> int:
        return self.total - len(self.missing)


class _Context:
    """The StepContext handed to plans (see plans/base.py)."""

    def __init__(self, engine: AcquisitionEngine) -> None:
        self._engine = engine
        self.bench = engine.bench

    def sleep(self, seconds: float) -> None:
        self._engine.control.sleep(seconds * self._engine.time_scale)

    def checkpoint(self) -> None:
        self._engine.control.checkpoint()

    def warn(self, message: str, index: int | None = None) -> None:
        self._engine.bus.emit(WarningEvent(message=message, index=index))

    def prompt(self, message: str) -> bool:
        return self._engine._prompt(message)

    def grab(self, index: int, retrigger: Callable[[], Any] | None = None) -> Any:
        return self._engine._grab(index, retrigger)

    def arm(self) -> None:
        """Before a hardware trigger: discard stale buffered frames (sequencer bookkeeping)."""
        self._engine._arm()

    def move_to(self, target: int) -> None:
        """Absolute move that an abort can cut short (the engine then stops the motor)."""
        from psfbench.core.devices import DeviceTimeout

        ctl = self.bench.focus
        ctl.move_abs(int(target), wait=False)
        deadline = time.monotonic() + self._engine.move_timeout_s
        while ctl.status().moving:
            if time.monotonic() > deadline:
                raise DeviceTimeout(
                    f"focus controller: move to {target} not finished within "
                    f"{self._engine.move_timeout_s:.0f} s"
                )
            self._engine.control.sleep(0.002)


class AcquisitionEngine:
    """Runs plans against one bench (an object with ``camera``, ``controller``, ``projector``).

    ``time_scale`` multiplies physical waits (settle times); the virtual bench's own
    ``time_scale`` is used when not given, so tests run fast with unchanged plans. ``clock``
    (seconds, monotonic) times the Progress events' elapsed time and ETA.
    """

    def __init__(
        self,
        bench: Any,
        *,
        bus: EventBus | None = None,
        writer_queue: int = 4,
        grab_timeout_s: float = 5.0,
        grab_retries: int = 2,
        time_scale: float | None = None,
        move_timeout_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bench = bench
        #: seconds, for the elapsed time and ETA of Progress events (tests pass a fake clock)
        self.clock = clock
        self.bus = bus if bus is not None else EventBus()
        self.control = RunControl()
        self.writer_queue = writer_queue
        self.grab_timeout_s = grab_timeout_s
        self.grab_retries = grab_retries
        self.move_timeout_s = move_timeout_s
        self.time_scale = float(time_scale if time_scale is not None else bench_time_scale(bench))
        self._thread: threading.Thread | None = None
        self._result: RunResult | None = None
        self._prompts: dict[str, tuple[threading.Event, list[bool]]] = {}
        self._prompt_lock = threading.Lock()
        self._last_dropped: int | None = None
        self._sequencer: Any = None
        self._latest: tuple[int, Any] | None = None

    @property
    def latest_frame(self) -> tuple[int, Any] | None:
        """(step index, image) of the newest acquired frame, for a live view polled on a timer.

        Views pull this at their own pace instead of receiving every frame (a GUI that
        draws each frame of a fast stream freezes); the array must be treated as read-only.
        """
        return self._latest

    # -- control -------------------------------------------------------------------------
    @property
    def state(self) -> RunState:
        return self.control.state

    def pause(self) -> bool:
        """Pause after the current step; returns False if there is nothing to pause."""
        return self.control.request_pause()

    def resume(self) -> bool:
        return self.control.request_resume()

    def abort(self) -> bool:
        """Stop as soon as safe: the motor is stopped, saved frames stay, the rest is missing."""
        return self.control.request_abort()

    def answer(self, prompt_id: str, accepted: bool = True) -> bool:
        """Answer an operator prompt (from the GUI or CLI thread)."""
        with self._prompt_lock:
            entry = self._prompts.get(prompt_id)
        if entry is None:
            return False
        entry[1].append(accepted)
        entry[0].set()
        return True

    # -- running -------------------------------------------------------------------------
    def start(
        self,
        plan: Plan,
        sink: FrameSink,
        *,
        steps: Iterable[int] | None = None,
        session: str = "",
        resumed: bool = False,
    ) -> None:
        """Run ``plan`` on a worker thread; ``steps`` limits it to those indices (resume)."""
        total = plan.total_steps()
        todo = list(range(total)) if steps is None else sorted(set(int(s) for s in steps))
        bad = [s for s in todo if not 0 <= s < total]
        if bad:
            raise ValueError(f"step indices {bad[:5]} are outside the plan's 0..{total - 1}")
        self.control.begin()
        self._result = None
        self._thread = threading.Thread(
            target=self._run,
            args=(plan, sink, todo, total, session, resumed),
            name="acquisition",
            daemon=True,
        )
        self._thread.start()

    def wait(self, timeout: float | None = None) -> RunResult | None:
        """The run's result once finished (None on timeout)."""
        if self._thread is None:
            return self._result
        self._thread.join(timeout)
        if self._thread.is_alive():
            return None
        return self._result

    def run(self, plan: Plan, sink: FrameSink, **kwargs: Any) -> RunResult:
        """Blocking convenience: start and wait (still honours abort from other threads)."""
        self.start(plan, sink, **kwargs)
        while True:
            result = self.wait(0.1)
            if result is not None:
                return result

    # -- worker --------------------------------------------------------------------------
    def _run(
        self,
        plan: Plan,
        sink: FrameSink,
        todo: Sequence[int],
        total: int,
        session: str,
        resumed: bool,
    ) -> None:
        bus = self.bus
        done_before = total - len(todo)
        saved: list[int] = []
        t0 = self.clock()
        first_step_t: list[float] = []
        paused_s = [0.0]  # time spent paused is not acquisition time: keep it out of the ETA

        def on_saved(index: int) -> None:
            saved.append(index)
            bus.emit(FrameSaved(index=index, total=total))
            now = self.clock()
            start = (first_step_t[0] if first_step_t else t0) + paused_s[0]
            n = len(saved)
            remaining = len(todo) - n
            eta = (now - start) / n * remaining if n else None
            bus.emit(
                Progress(
                    done=done_before + n,
                    total=total,
                    done_this_run=n,
                    to_run=len(todo),
                    elapsed_s=now - t0,
                    eta_s=eta,
                )
            )

        bus.emit(
            Started(
                plan=plan.kind,
                total_steps=total,
                steps_to_run=len(todo),
                session=session,
                resumed=resumed,
            )
        )
        ctx = _Context(self)
        writer = FrameWriterThread(sink, maxsize=self.writer_queue, on_saved=on_saved)
        status: FinishStatus = "completed"
        message = ""
        error: BaseException | None = None
        current: int | None = None
        self._last_dropped = None
        self._sequencer = None
        try:
            plan.setup(ctx)
            for i, index in enumerate(todo):
                current = index
                if self.control.enter_pause():
                    bus.emit(Paused(next_index=index))
                    t_pause = self.clock()
                    self.control.wait_while_paused()
                    paused_s[0] += self.clock() - t_pause
                    bus.emit(Resumed(next_index=index))
                self.control.checkpoint()
                if i == 0:
                    first_step_t.append(self.clock())
                frame = plan.acquire(ctx, index)
                self._latest = (index, frame.image)
                fields = frame.fields
                bus.emit(
                    Step(
                        index=index,
                        total=total,
                        position=fields.get("position"),
                        d_mm=fields.get("d_mm"),
                        frame_id=fields.get("frame_id"),
                    )
                )
                writer.put(index, frame.image, fields)
            current = None
            writer.close()
        except AbortRequested:
            status, message = "aborted", "aborted by request"
        except WriterFailed as exc:
            status, error = "failed", exc.cause
            message = f"saving frame {exc.index} failed: {_describe(exc.cause)}"
            current = exc.index
        except Exception as exc:
            status, error = "failed", exc
            message = _describe(exc)
            if not _is_expected(exc):
                log.exception("acquisition failed")
        finally:
            if status != "completed":
                self._stop_motor()
            try:
                plan.teardown(ctx)
            except Exception as exc:
                bus.emit(WarningEvent(message=f"cleanup after the run failed: {_describe(exc)}"))
            try:
                writer.close()  # flush frames already taken: an abort loses nothing acquired
            except WriterFailed as exc:
                if status != "failed":
                    status, error = "failed", exc.cause
                    message = f"saving frame {exc.index} failed: {_describe(exc.cause)}"
                    current = exc.index
            if status == "failed":
                bus.emit(
                    ErrorEvent(
                        message=message,
                        error_type=type(error).__name__ if error else "Error",
                        index=current,
                    )
                )
            missing = tuple(sorted(set(todo) - set(saved)))
            self._result = RunResult(
                status=status,
                total=total,
                saved_this_run=tuple(saved),
                missing=missing,
                message=message,
                error=error,
            )
            bus.emit(
                Finished(
                    status=status,
                    done=total - len(missing),
                    total=total,
                    missing=missing,
                    message=message,
                )
            )
            self.control.finish()

    def _stop_motor(self) -> None:
        controller = getattr(self.bench, "focus", None)
        if controller is None:
            return
        try:
            controller.stop()
        except Exception as exc:  # report, but the run's own error stays the headline
            self.bus.emit(WarningEvent(message=f"could not stop the motor: {_describe(exc)}"))

    def _prompt(self, message: str) -> bool:
        prompt_id = uuid.uuid4().hex[:8]
        ready = threading.Event()
        answers: list[bool] = []
        with self._prompt_lock:
            self._prompts[prompt_id] = (ready, answers)
        try:
            self.bus.emit(Prompt(prompt_id=prompt_id, message=message))
            self.control.wait_event(ready)
            return bool(answers and answers[0])
        finally:
            with self._prompt_lock:
                self._prompts.pop(prompt_id, None)

    def _sequencer_for(self, cam: Any) -> Any:
        if self._sequencer is None or self._sequencer.camera is not cam:
            from psfbench.core.devices.sequencing import FrameSequencer

            self._sequencer = FrameSequencer(cam)
        return self._sequencer

    def _arm(self) -> None:
        cam = self.bench.camera
        if cam.is_streaming:
            stale = self._sequencer_for(cam).arm()
            if stale:
                self.bus.emit(
                    WarningEvent(message=f"discarded {stale} stale frame(s) before a trigger")
                )

    def _grab(self, index: int, retrigger: Callable[[], Any] | None = None) -> Any:
        """One fresh frame; retries timeouts and lost frames, reopens once after a disconnect.

        A streamed frame can only be retried by triggering again (``retrigger``); without it
        the error propagates rather than waiting for a frame that will never come.
        """
        from psfbench.core.devices import (
            DeviceDisconnected,
            DeviceTimeout,
            FrameLost,
            StaleFrameError,
        )

        cam = self.bench.camera
        attempts = 0
        reopened = False
        streaming = bool(cam.is_streaming)
        while True:
            self.control.checkpoint()
            try:
                if streaming:
                    frame = self._sequencer_for(cam).next_frame(self.grab_timeout_s)
                else:
                    frame = cam.grab(self.grab_timeout_s)
            except (DeviceTimeout, FrameLost, StaleFrameError) as exc:
                attempts += 1
                if attempts > self.grab_retries or (streaming and retrigger is None):
                    raise
                self.bus.emit(
                    WarningEvent(
                        message=f"camera {_kind(exc)} at step {index}, retrying "
                        f"({attempts}/{self.grab_retries}): {exc}",
                        index=index,
                    )
                )
                if streaming and retrigger is not None:
                    self._arm()
                    retrigger()
                continue
            except DeviceDisconnected as exc:
                if reopened or streaming:  # reopening ends the stream: fail, resume later
                    raise
                reopened = True
                self.bus.emit(
                    WarningEvent(
                        message=f"camera disconnected at step {index}, reopening: {exc}",
                        index=index,
                    )
                )
                with contextlib.suppress(Exception):
                    cam.close()
                cam.open()
                continue
            dropped = int(getattr(frame, "dropped", 0))
            if self._last_dropped is not None and dropped > self._last_dropped:
                self.bus.emit(
                    WarningEvent(
                        message=f"camera reports {dropped - self._last_dropped} dropped frame(s) "
                        f"before step {index}",
                        index=index,
                    )
                )
            self._last_dropped = dropped
            return frame


def bench_time_scale(bench: Any) -> float:
    """Wall seconds per physical second: the virtual bench may run faster than life."""
    explicit = getattr(bench, "time_scale", None)
    if explicit is not None:
        return float(explicit)
    world = getattr(getattr(bench, "info", None), "world", None)
    clock = getattr(world, "clock", None)
    return float(getattr(clock, "time_scale", 1.0))


def _kind(exc: BaseException) -> str:
    return "timeout" if isinstance(exc, TimeoutError) else "lost frame"


def _describe(exc: BaseException) -> str:
    import errno

    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        where = f" ({exc.filename})" if exc.filename else ""
        return f"disk full{where}: free space on the session's drive, then resume"
    text = str(exc) or type(exc).__name__
    return text


def _is_expected(exc: BaseException) -> bool:
    from psfbench.core.acquisition.plans.base import PlanError
    from psfbench.core.devices import DeviceError

    return isinstance(exc, DeviceError | PlanError | OSError | ValueError)
