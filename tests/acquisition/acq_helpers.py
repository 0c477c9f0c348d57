"""Device-free plans and session helpers for engine tests.

The engine's contract (threads, events, pause/abort, backpressure, failures) does not depend on
devices, so these tests drive it with tiny plans that make deterministic images; device-backed
runs on the virtual bench live in test_acq_sweep.py.
"""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from psfbench.core.acquisition.plans.base import AcquiredFrame, StepContext
from psfbench.core.acquisition.session_io import SessionSink, plan_section
from psfbench.core.dataset import SessionWriter


class CountingPlan:
    """Step i stores a 8x10 uint16 frame filled with i and d_mm = 10 + i."""

    kind: ClassVar[str] = "counting"

    def __init__(self, n: int, step_s: float = 0.0, settle_s: float = 0.0) -> None:
        self.n = n
        self.step_s = step_s
        self.settle_s = settle_s
        self.acquired: list[int] = []
        self.torn_down = threading.Event()

    def total_steps(self) -> int:
        return self.n

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "n": self.n}

    def setup(self, ctx: StepContext) -> None:
        pass

    def acquire(self, ctx: StepContext, index: int) -> AcquiredFrame:
        if self.step_s:
            time.sleep(self.step_s)
        ctx.sleep(self.settle_s)
        self.acquired.append(index)
        image = np.full((8, 10), index, dtype=np.uint16)
        return AcquiredFrame(image, {"d_mm": 10.0 + index, "position": index})

    def teardown(self, ctx: StepContext) -> None:
        self.torn_down.set()


class NoDeviceBench:
    camera = None
    focus = None
    projector = None
    time_scale = 1.0


def new_session(path: Path, plan: Any) -> SessionWriter:
    meta = {
        "camera": {"pixel_size_mm": 0.005, "bit_depth": 16},
        "lens": {"focal_length_mm": 50.0},
        "plan": plan_section(plan, None),
    }
    return SessionWriter.create(path, meta)


class SlowSink(SessionSink):
    def __init__(self, writer: SessionWriter, delay_s: float) -> None:
        super().__init__(writer)
        self.delay_s = delay_s

    def write_frame(self, index: int, image: np.ndarray, fields: Any) -> Any:
        time.sleep(self.delay_s)
        return super().write_frame(index, image, fields)


class QuotaSink(SessionSink):
    """A fake filesystem quota: the write that would exceed ``quota_frames`` fails ENOSPC."""

    def __init__(self, writer: SessionWriter, quota_frames: int) -> None:
        super().__init__(writer)
        self.left = quota_frames

    def write_frame(self, index: int, image: np.ndarray, fields: Any) -> Any:
        if self.left <= 0:
            raise OSError(errno.ENOSPC, "No space left on device", str(self.writer.path))
        self.left -= 1
        return super().write_frame(index, image, fields)


class Recorder:
    def __init__(self) -> None:
        self.events: list[Any] = []
        self.lock = threading.Lock()

    def __call__(self, event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def kinds(self) -> list[str]:
        return [e.kind for e in self.events]

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]
