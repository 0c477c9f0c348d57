"""The focus sweep: step the focus ring through N positions, read d, store one frame per step.

Targets are resolved to integer motor positions when the plan is made and stored in the
session, so a resumed sweep revisits exactly the same positions even if the profile's
steps-per-mm calibration changed in between. ``d`` is read once per exposure (right before
it) and averaged, which lowers the sensor noise by the same factor as the image noise.

Two trigger paths: ``software`` (move, settle, read d, grab: works with any camera) and
``hardware`` (the controller's atomic ``sweep_step`` fires the camera line; the camera streams
one-by-one so no frame is dropped or reused, and each frame's id is checked for gaps).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import numpy as np

from psfbench.core.acquisition.plans.base import (
    AcquiredFrame,
    PlanError,
    StepContext,
    average_frames,
    register_plan,
    require,
)
from psfbench.core.acquisition.snapshot import snapshot

Trigger = Literal["software", "hardware"]


def sweep_positions(start: float, stop: float, steps: int) -> tuple[int, ...]:
    """``steps`` evenly spaced integer positions from start to stop inclusive (no repeats)."""
    if steps < 1:
        raise PlanError(f"steps: need at least 1 step, got {steps}")
    values = np.rint(np.linspace(start, stop, steps)).astype(np.int64)
    positions = tuple(int(v) for v in values)
    if len(set(positions)) != len(positions):
        raise PlanError(
            f"steps: {steps} steps between {start} and {stop} motor steps repeat positions; "
            "use fewer steps or a wider range"
        )
    return positions


@dataclass(frozen=True)
class FocusSweepPlan:
    kind: ClassVar[str] = "focus_sweep"

    positions: tuple[int, ...]
    settle_s: float = 0.2
    average: int = 1
    exposure_us: float | None = None
    gain_db: float | None = None
    trigger: Trigger = "software"
    home_first: bool = True
    spec: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.positions:
            raise PlanError("positions: a sweep needs at least one position")
        if self.settle_s < 0 or not np.isfinite(self.settle_s):
            raise PlanError(f"settle_s: must be a finite number >= 0, got {self.settle_s}")
        if self.average < 1:
            raise PlanError(f"average: frames per step must be >= 1, got {self.average}")
        if self.exposure_us is not None and not self.exposure_us > 0:
            raise PlanError(f"exposure_us: must be > 0, got {self.exposure_us}")
        if self.trigger not in ("software", "hardware"):
            raise PlanError(f"trigger: must be 'software' or 'hardware', got {self.trigger!r}")

    @classmethod
    def from_range(
        cls,
        start: float,
        stop: float,
        steps: int,
        *,
        unit: Literal["steps", "mm"] = "steps",
        steps_per_mm: float | None = None,
        **kwargs: Any,
    ) -> FocusSweepPlan:
        """A sweep over a range given in motor steps, or in mm of focus travel.

        mm are converted with the profile's ``steps_per_mm`` (positions are counted from the
        home position, where both are 0).
        """
        if unit == "mm":
            if not steps_per_mm:
                raise PlanError("unit: a range in mm needs the profile's steps_per_mm")
            lo, hi = start * steps_per_mm, stop * steps_per_mm
        elif unit == "steps":
            lo, hi = start, stop
        else:
            raise PlanError(f"unit: must be 'steps' or 'mm', got {unit!r}")
        spec = {"start": start, "stop": stop, "steps": steps, "unit": unit}
        if steps_per_mm:
            spec["steps_per_mm"] = steps_per_mm
        return cls(positions=sweep_positions(lo, hi, steps), spec=spec, **kwargs)

    # -- Plan protocol ---------------------------------------------------------------------
    def total_steps(self) -> int:
        return len(self.positions)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "positions": list(self.positions),
            "settle_s": self.settle_s,
            "average": self.average,
            "exposure_us": self.exposure_us,
            "gain_db": self.gain_db,
            "trigger": self.trigger,
            "home_first": self.home_first,
            "spec": dict(self.spec),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FocusSweepPlan:
        where = "plan"
        positions = require(d, "positions", list, where)
        if not all(isinstance(p, int) and not isinstance(p, bool) for p in positions):
            raise PlanError(f"{where}.positions: must be a list of integer motor positions")
        return cls(
            positions=tuple(positions),
            settle_s=float(require(d, "settle_s", (int, float), where)),
            average=int(require(d, "average", int, where)),
            exposure_us=_opt_float(d, "exposure_us", where),
            gain_db=_opt_float(d, "gain_db", where),
            trigger=d.get("trigger", "software"),
            home_first=bool(d.get("home_first", True)),
            spec=dict(d.get("spec", {})),
        )

    def setup(self, ctx: StepContext) -> None:
        bench = ctx.bench
        cam, ctl = bench.camera, bench.focus
        if self.exposure_us is not None:
            cam.exposure_us = self.exposure_us
        if self.gain_db is not None:
            cam.gain_db = self.gain_db
        lo, hi = ctl.soft_limits()
        outside = [p for p in self.positions if not lo <= p <= hi]
        if outside:
            raise PlanError(
                f"positions: {len(outside)} sweep positions (e.g. {outside[0]}) lie outside the "
                f"controller's soft limits [{lo}, {hi}]"
            )
        if self.home_first and not ctl.status().homed:
            ctl.home()
        if cam.is_streaming:  # settings below cannot change mid-stream (left by live view)
            cam.stop_streaming()
        if self.trigger == "hardware":
            cam.trigger_mode = "hardware"
            cam.start_streaming(strategy="one_by_one")
        else:
            cam.trigger_mode = "software"

    def acquire(self, ctx: StepContext, index: int) -> AcquiredFrame:
        bench = ctx.bench
        ctl = bench.focus
        target = self.positions[index]
        frames: list[Any] = []
        d_readings: list[float] = []
        if self.trigger == "software":
            ctx.move_to(target)
            ctx.sleep(self.settle_s)
            for _ in range(self.average):
                ctx.checkpoint()
                d_readings.append(float(ctl.read_distance_mm()))
                frames.append(ctx.grab(index))
        else:
            ctx.arm()
            result = ctl.sweep_step(target, self.settle_s)
            d_readings.append(float(result.d_mm))
            frames.append(ctx.grab(index, retrigger=ctl.fire_trigger))
            for _ in range(self.average - 1):
                ctx.checkpoint()
                d_readings.append(float(ctl.read_distance_mm()))
                ctx.arm()
                ctl.fire_trigger()
                frames.append(ctx.grab(index, retrigger=ctl.fire_trigger))
        image = average_frames([f.image for f in frames])
        fields = snapshot(bench, frames)
        fields.update(
            {
                "plan": self.kind,
                "step": index,
                "target_position": target,
                "position": int(ctl.position()),
                "d_mm": float(np.mean(d_readings)),
                "d_readings_mm": d_readings,
                "settle_s": self.settle_s,
                "pixel_format": frames[-1].pixel_format,
            }
        )
        return AcquiredFrame(image=image, fields=fields)

    def teardown(self, ctx: StepContext) -> None:
        cam = ctx.bench.camera
        if self.trigger == "hardware" and cam.is_streaming:
            cam.stop_streaming()


def _opt_float(d: Mapping[str, Any], key: str, where: str) -> float | None:
    value = d.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PlanError(f"{where}.{key}: expected a number or null, got {value!r}")
    return float(value)


def _from_dict(d: Mapping[str, Any]) -> FocusSweepPlan:
    return FocusSweepPlan.from_dict(d)


register_plan(FocusSweepPlan.kind, _from_dict)


def describe(positions: Sequence[int]) -> str:
    return f"{len(positions)} steps from {positions[0]} to {positions[-1]}"
