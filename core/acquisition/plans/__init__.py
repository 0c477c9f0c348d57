"""Acquisition plans; importing this package registers every built-in plan kind."""

from psfbench.core.acquisition.plans.aif_capture import AifCapturePlan, AifSink
from psfbench.core.acquisition.plans.base import (
    PLAN_KINDS,
    AcquiredFrame,
    Plan,
    PlanError,
    StepContext,
    plan_from_dict,
    register_plan,
)
from psfbench.core.acquisition.plans.focus_sweep import FocusSweepPlan, sweep_positions
from psfbench.core.acquisition.plans.pattern_scan import (
    PATTERN_SOURCES,
    PatternScanPlan,
    PatternSource,
    register_pattern_source,
)
from psfbench.core.acquisition.plans.repeat_capture import RepeatCapturePlan

__all__ = [
    "AifCapturePlan",
    "AifSink",
    "RepeatCapturePlan",
    "PATTERN_SOURCES",
    "PLAN_KINDS",
    "AcquiredFrame",
    "FocusSweepPlan",
    "PatternScanPlan",
    "PatternSource",
    "Plan",
    "PlanError",
    "StepContext",
    "plan_from_dict",
    "register_pattern_source",
    "register_plan",
    "sweep_positions",
]
