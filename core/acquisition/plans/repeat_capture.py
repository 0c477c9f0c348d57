"""Repeat capture: N frames at one focus position, streamed one by one.

Used for sensor-noise and stability checks (how much does a frame vary at a fixed focus?) and
by the acquisition benchmark. The camera streams with the ``one_by_one`` strategy and the
engine triggers each frame only after the previous one was handed to the writer, so when the
disk falls behind the *trigger* waits: no frame is ever overwritten or dropped, and the frame
sequencer proves it (a frame-id gap raises instead of passing silently).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from psfbench.core.acquisition.plans.base import (
    AcquiredFrame,
    PlanError,
    StepContext,
    register_plan,
)
from psfbench.core.acquisition.snapshot import snapshot


@dataclass(frozen=True)
class RepeatCapturePlan:
    kind: ClassVar[str] = "repeat_capture"

    count: int
    position: int | None = None
    exposure_us: float | None = None

    def __post_init__(self) -> None:
        if self.count < 1:
            raise PlanError(f"count: must be >= 1, got {self.count}")

    def total_steps(self) -> int:
        return self.count

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "position": self.position,
            "exposure_us": self.exposure_us,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> RepeatCapturePlan:
        pos, exp = d.get("position"), d.get("exposure_us")
        return cls(
            count=int(d.get("count", 0)),
            position=None if pos is None else int(pos),
            exposure_us=None if exp is None else float(exp),
        )

    def setup(self, ctx: StepContext) -> None:
        bench = ctx.bench
        cam = bench.camera
        if self.position is not None:
            if not bench.focus.status().homed:
                bench.focus.home()
            ctx.move_to(self.position)
        if self.exposure_us is not None:
            cam.exposure_us = self.exposure_us
        if cam.is_streaming:
            cam.stop_streaming()
        cam.trigger_mode = "software"
        cam.start_streaming(strategy="one_by_one")

    def acquire(self, ctx: StepContext, index: int) -> AcquiredFrame:
        bench = ctx.bench
        ctx.arm()
        bench.camera.trigger()
        frame = ctx.grab(index, retrigger=bench.camera.trigger)
        fields = snapshot(bench, [frame])
        ctl = bench.focus
        fields.update(
            {
                "plan": self.kind,
                "step": index,
                "position": int(ctl.position()),
                "d_mm": float(ctl.read_distance_mm()),
                "pixel_format": frame.pixel_format,
            }
        )
        return AcquiredFrame(image=frame.image, fields=fields)

    def teardown(self, ctx: StepContext) -> None:
        cam = ctx.bench.camera
        if cam.is_streaming:
            cam.stop_streaming()


register_plan(RepeatCapturePlan.kind, RepeatCapturePlan.from_dict)
