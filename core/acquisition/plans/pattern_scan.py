"""Generic pattern scan: for each pattern, show it on the projector, settle, grab, store.

Structured light (fringes, Gray codes, calibration boards) is "a list of patterns"; what
differs is only how the patterns are made. Patterns are therefore produced by a *named source*
with JSON parameters, not stored in the plan: the session records ``{"source": name,
"params": ...}`` and a resumed scan regenerates exactly the missing patterns. Feature modules
(core/fringe) register their own sources with :func:`register_pattern_source`; two simple
built-in sources (``levels``: flat grey levels, ``fringes``: phase-shifted sinusoids) serve
tests and quick checks.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from psfbench.core.acquisition.plans.base import (
    AcquiredFrame,
    PlanError,
    StepContext,
    average_frames,
    register_plan,
    require,
)
from psfbench.core.acquisition.snapshot import jsonable, snapshot


class PatternSource:
    """``count`` patterns of the projector's size, made on demand (no big arrays in memory)."""

    def __init__(
        self,
        count: int,
        make: Callable[[int, int, int], np.ndarray],
        describe: Callable[[int], dict[str, Any]] | None = None,
    ) -> None:
        self.count = count
        self._make = make
        self._describe = describe

    def pattern(self, index: int, width: int, height: int) -> np.ndarray:
        return self._make(index, width, height)

    def describe(self, index: int) -> dict[str, Any]:
        return self._describe(index) if self._describe else {}


PATTERN_SOURCES: dict[str, Callable[[Mapping[str, Any]], PatternSource]] = {}


def register_pattern_source(
    name: str, factory: Callable[[Mapping[str, Any]], PatternSource]
) -> None:
    PATTERN_SOURCES[name] = factory


#: Modules whose ``register_sources()`` adds sources; imported only when a stored plan names a
#: source not registered yet (a resumed scan in a fresh process), so acquisition never imports
#: feature packages up front.
SOURCE_PROVIDERS: list[str] = ["psfbench.core.fringe.sources"]
_loaded_providers: set[str] = set()


def _load_providers() -> None:
    import importlib

    for module in list(SOURCE_PROVIDERS):
        if module in _loaded_providers:
            continue
        _loaded_providers.add(module)
        try:
            importlib.import_module(module).register_sources()
        except (ImportError, AttributeError):
            continue


def make_source(name: str, params: Mapping[str, Any]) -> PatternSource:
    if name not in PATTERN_SOURCES:
        _load_providers()
    if name not in PATTERN_SOURCES:
        known = ", ".join(sorted(PATTERN_SOURCES))
        raise PlanError(f"plan.source: unknown pattern source {name!r} (known: {known})")
    return PATTERN_SOURCES[name](params)


def _levels(params: Mapping[str, Any]) -> PatternSource:
    levels = params.get("levels")
    if not isinstance(levels, list) or not levels:
        raise PlanError("plan.params.levels: a non-empty list of grey levels in [0, 1]")
    vals = [float(v) for v in levels]
    if any(not 0.0 <= v <= 1.0 for v in vals):
        raise PlanError("plan.params.levels: grey levels must lie in [0, 1]")
    return PatternSource(
        len(vals),
        lambda i, w, h: np.full((h, w), vals[i], dtype=np.float32),
        lambda i: {"level": vals[i]},
    )


def _fringes(params: Mapping[str, Any]) -> PatternSource:
    periods = params.get("periods_px", [32])
    shifts = int(params.get("shifts", 4))
    axis = params.get("axis", "x")
    if not isinstance(periods, list) or not periods or any(float(p) <= 1 for p in periods):
        raise PlanError("plan.params.periods_px: a non-empty list of periods > 1 pixel")
    if shifts < 3:
        raise PlanError(f"plan.params.shifts: phase shifting needs >= 3 shifts, got {shifts}")
    if axis not in ("x", "y"):
        raise PlanError(f"plan.params.axis: 'x' or 'y', got {axis!r}")

    def make(i: int, w: int, h: int) -> np.ndarray:
        period = float(periods[i // shifts])
        phase = 2 * math.pi * (i % shifts) / shifts
        n = w if axis == "x" else h
        line = 0.5 + 0.5 * np.cos(2 * math.pi * np.arange(n) / period + phase)
        img = np.broadcast_to(line[None, :] if axis == "x" else line[:, None], (h, w))
        return np.ascontiguousarray(img, dtype=np.float32)

    return PatternSource(
        len(periods) * shifts,
        make,
        lambda i: {"period_px": float(periods[i // shifts]), "shift": i % shifts},
    )


register_pattern_source("levels", _levels)
register_pattern_source("fringes", _fringes)


@dataclass(frozen=True)
class PatternScanPlan:
    kind: ClassVar[str] = "pattern_scan"

    source: str
    params: dict[str, Any] = field(default_factory=dict)
    settle_s: float = 0.1
    average: int = 1
    exposure_us: float | None = None
    blank_after: bool = True

    def __post_init__(self) -> None:
        if self.settle_s < 0:
            raise PlanError(f"settle_s: must be >= 0, got {self.settle_s}")
        if self.average < 1:
            raise PlanError(f"average: must be >= 1, got {self.average}")
        object.__setattr__(self, "_source", make_source(self.source, self.params))

    @property
    def pattern_source(self) -> PatternSource:
        src: PatternSource = object.__getattribute__(self, "_source")
        return src

    def total_steps(self) -> int:
        return self.pattern_source.count

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "source": self.source,
            "params": jsonable(self.params),
            "settle_s": self.settle_s,
            "average": self.average,
            "exposure_us": self.exposure_us,
            "blank_after": self.blank_after,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PatternScanPlan:
        exposure = d.get("exposure_us")
        return cls(
            source=require(d, "source", str, "plan"),
            params=dict(require(d, "params", dict, "plan")),
            settle_s=float(require(d, "settle_s", (int, float), "plan")),
            average=int(require(d, "average", int, "plan")),
            exposure_us=None if exposure is None else float(exposure),
            blank_after=bool(d.get("blank_after", True)),
        )

    def setup(self, ctx: StepContext) -> None:
        bench = ctx.bench
        if getattr(bench, "projector", None) is None:
            raise PlanError("plan: a pattern scan needs a projector in the device profile")
        if self.exposure_us is not None:
            bench.camera.exposure_us = self.exposure_us
        if bench.camera.is_streaming:
            bench.camera.stop_streaming()
        bench.camera.trigger_mode = "software"

    def acquire(self, ctx: StepContext, index: int) -> AcquiredFrame:
        bench = ctx.bench
        proj = bench.projector
        pattern = self.pattern_source.pattern(index, proj.width, proj.height)
        proj.show(pattern)
        ctx.sleep(self.settle_s)
        frames = []
        for _ in range(self.average):
            ctx.checkpoint()
            frames.append(ctx.grab(index))
        fields = snapshot(bench, frames)
        ctl = getattr(bench, "focus", None)
        if ctl is not None:  # the focus state the patterns were seen at (d is a record column)
            fields["position"] = int(ctl.position())
            fields["d_mm"] = float(ctl.read_distance_mm())
        fields.update(
            {
                "plan": self.kind,
                "step": index,
                "pattern_source": self.source,
                "pattern": jsonable(self.pattern_source.describe(index)),
                "pixel_format": frames[-1].pixel_format,
            }
        )
        return AcquiredFrame(image=average_frames([f.image for f in frames]), fields=fields)

    def teardown(self, ctx: StepContext) -> None:
        proj = getattr(ctx.bench, "projector", None)
        if self.blank_after and proj is not None:
            proj.blank()


register_plan(PatternScanPlan.kind, PatternScanPlan.from_dict)
