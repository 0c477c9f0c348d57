"""Pause / resume / abort as a small state machine shared by the engine and its callers.

Requests come from any thread (GUI, CLI signal handler); the acquisition thread acts on them
only at safe points (between steps, and inside interruptible waits such as settle times), so a
frame is never half-taken and the session never holds half a step. Abort also wakes every wait
(settle, pause, operator prompt) at once, so Ctrl-C or the Stop button takes effect within
milliseconds instead of after a long settle time.
"""

from __future__ import annotations

import enum
import threading
import time


class RunState(enum.Enum):
    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    ABORTING = "aborting"
    FINISHED = "finished"


class AbortRequested(Exception):
    """Raised inside the acquisition thread at a safe point after ``abort()``."""


class IllegalTransition(RuntimeError):
    pass


class RunControl:
    """Thread-safe run state; the acquisition thread polls it via ``checkpoint``/``sleep``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._state = RunState.IDLE
        self._pause_requested = False
        self._abort_requested = False

    @property
    def state(self) -> RunState:
        return self._state

    @property
    def abort_requested(self) -> bool:
        return self._abort_requested

    @property
    def pause_requested(self) -> bool:
        return self._pause_requested

    # -- called by the engine -------------------------------------------------------------
    def begin(self) -> None:
        with self._cond:
            if self._state in (RunState.RUNNING, RunState.PAUSED, RunState.ABORTING):
                raise IllegalTransition(f"a run is already in progress ({self._state.value})")
            self._state = RunState.RUNNING
            self._pause_requested = False
            self._abort_requested = False

    def finish(self) -> None:
        with self._cond:
            self._state = RunState.FINISHED
            self._pause_requested = False
            self._cond.notify_all()

    def enter_pause(self) -> bool:
        """At a safe point: if a pause is pending, mark PAUSED and return True (else False)."""
        with self._cond:
            if self._abort_requested or not self._pause_requested:
                return False
            self._state = RunState.PAUSED
            return True

    def wait_while_paused(self) -> None:
        """Block until resumed; raises AbortRequested if aborted meanwhile."""
        with self._cond:
            self._cond.wait_for(lambda: not self._pause_requested or self._abort_requested)
            if self._abort_requested:
                raise AbortRequested()
            self._state = RunState.RUNNING

    def checkpoint(self) -> None:
        if self._abort_requested:
            raise AbortRequested()

    def sleep(self, seconds: float) -> None:
        """Interruptible sleep: returns early (raising AbortRequested) when aborted."""
        if seconds <= 0:
            self.checkpoint()
            return
        deadline = time.monotonic() + seconds
        with self._cond:
            while not self._abort_requested:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)
        raise AbortRequested()

    def wait_event(self, event: threading.Event, poll_s: float = 0.05) -> None:
        """Wait for an external event (operator answer) while staying abortable."""
        while not event.wait(poll_s):
            self.checkpoint()
        self.checkpoint()

    # -- called by anyone ------------------------------------------------------------------
    def request_pause(self) -> bool:
        with self._cond:
            if self._state not in (RunState.RUNNING, RunState.PAUSED) or self._abort_requested:
                return False
            self._pause_requested = True
            return True

    def request_resume(self) -> bool:
        with self._cond:
            if not self._pause_requested or self._state is RunState.FINISHED:
                return False
            self._pause_requested = False
            self._cond.notify_all()
            return True

    def request_abort(self) -> bool:
        with self._cond:
            if self._state in (RunState.IDLE, RunState.FINISHED):
                return False
            self._abort_requested = True
            self._state = RunState.ABORTING
            self._cond.notify_all()
            return True
