"""All-in-focus capture: ask the operator to stop the lens down, then take one (averaged) shot.

At the minimum aperture the blur circle of every depth in the scene shrinks below a pixel, so
this shot stands in for the sharp image that the fit convolves (design.md, "Acquire"). The
engine cannot turn an aperture ring, so the plan emits a
:class:`~psfbench.core.acquisition.events.Prompt` and waits (abortably) for the answer. A bench that
can set its aperture itself (the virtual bench's ``set_aperture_scale``) is stopped down and
reopened by the plan, with the prompt still shown so the GUI and CLI follow the same path as on real
hardware.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from psfbench.core.acquisition.control import AbortRequested
from psfbench.core.acquisition.plans.base import (
    AcquiredFrame,
    PlanError,
    StepContext,
    average_frames,
    register_plan,
)
from psfbench.core.acquisition.snapshot import snapshot

STOP_DOWN_MESSAGE = (
    "All-in-focus shot: set the lens to its MINIMUM aperture (largest f-number), keep focus "
    "and lighting unchanged, then confirm."
)


def _aperture_setter(bench: Any) -> Any:
    """The bench's own aperture control, if it has one (virtual bench)."""
    world = getattr(getattr(bench, "info", None), "world", None)
    for owner in (bench, world):
        fn = getattr(owner, "set_aperture_scale", None)
        if callable(fn):
            return fn
    return None


@dataclass(frozen=True)
class AifCapturePlan:
    kind: ClassVar[str] = "aif_capture"

    average: int = 4
    exposure_us: float | None = None
    position: int | None = None
    message: str = STOP_DOWN_MESSAGE

    def __post_init__(self) -> None:
        if self.average < 1:
            raise PlanError(f"average: must be >= 1, got {self.average}")
        if self.exposure_us is not None and not self.exposure_us > 0:
            raise PlanError(f"exposure_us: must be > 0, got {self.exposure_us}")

    def total_steps(self) -> int:
        return 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "average": self.average,
            "exposure_us": self.exposure_us,
            "position": self.position,
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AifCapturePlan:
        pos = d.get("position")
        exp = d.get("exposure_us")
        return cls(
            average=int(d.get("average", 4)),
            exposure_us=None if exp is None else float(exp),
            position=None if pos is None else int(pos),
            message=str(d.get("message", STOP_DOWN_MESSAGE)),
        )

    def setup(self, ctx: StepContext) -> None:
        bench = ctx.bench
        ctl = getattr(bench, "focus", None)
        if self.position is not None and ctl is not None:
            if not ctl.status().homed:
                ctl.home()
            ctl.move_abs(self.position, wait=True)
        if not ctx.prompt(self.message):
            raise AbortRequested()
        setter = _aperture_setter(bench)
        if setter is not None:
            setter(0.0)
        cam = bench.camera
        if cam.is_streaming:
            cam.stop_streaming()
        cam.trigger_mode = "software"
        if self.exposure_us is not None:
            cam.exposure_us = self.exposure_us

    def acquire(self, ctx: StepContext, index: int) -> AcquiredFrame:
        bench = ctx.bench
        ctl = getattr(bench, "focus", None)
        frames = []
        for _ in range(self.average):
            ctx.checkpoint()
            frames.append(ctx.grab(index))
        fields = snapshot(bench, frames)
        fields.update({"plan": self.kind, "pixel_format": frames[-1].pixel_format})
        if ctl is not None:
            fields["position"] = int(ctl.position())
            fields["d_mm"] = float(ctl.read_distance_mm())
        image = average_frames([f.image for f in frames])
        return AcquiredFrame(image=np.asarray(image), fields=fields)

    def teardown(self, ctx: StepContext) -> None:
        setter = _aperture_setter(ctx.bench)
        if setter is not None:
            setter(1.0)


class AifSink:
    """Stores the AIF plan's single frame as the session's ``aif.tif`` (and its state)."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.fields: dict[str, Any] | None = None

    def write_frame(self, index: int, image: np.ndarray, fields: Mapping[str, Any]) -> Any:
        from psfbench.core.acquisition.snapshot import jsonable

        path = self.writer.write_aif(image)
        self.fields = jsonable(dict(fields))
        plan = self.writer.meta.plan.model_dump(mode="json")
        plan["parameters"]["aif_capture"] = self.fields
        self.writer.update_meta(plan=plan)
        return path


register_plan(AifCapturePlan.kind, AifCapturePlan.from_dict)
