"""Acquisition: one engine running plans on a worker thread, emitting plain-Python events.

See docs/acquisition.md. Nothing here imports Qt; the GUI subscribes to :class:`EventBus`
(``inline=True`` with its thread-safe ``EventPump.post``) and pulls events into Qt itself.
"""

from psfbench.core.acquisition.control import AbortRequested, RunControl, RunState
from psfbench.core.acquisition.engine import AcquisitionEngine, RunResult
from psfbench.core.acquisition.events import (
    ErrorEvent,
    Event,
    EventBus,
    Finished,
    FrameSaved,
    Paused,
    Progress,
    Prompt,
    Resumed,
    Started,
    Step,
    Subscription,
    WarningEvent,
)
from psfbench.core.acquisition.plans import (
    AcquiredFrame,
    FocusSweepPlan,
    PatternScanPlan,
    Plan,
    PlanError,
    plan_from_dict,
    register_pattern_source,
)
from psfbench.core.acquisition.writer import FrameWriterThread, WriterFailed

__all__ = [
    "AbortRequested",
    "AcquiredFrame",
    "AcquisitionEngine",
    "ErrorEvent",
    "Event",
    "EventBus",
    "Finished",
    "FocusSweepPlan",
    "FrameSaved",
    "FrameWriterThread",
    "Paused",
    "PatternScanPlan",
    "Plan",
    "PlanError",
    "Progress",
    "Prompt",
    "Resumed",
    "RunControl",
    "RunResult",
    "RunState",
    "Started",
    "Step",
    "Subscription",
    "WarningEvent",
    "WriterFailed",
    "plan_from_dict",
    "register_pattern_source",
]
