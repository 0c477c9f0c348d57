"""Session-level workflows shared by the CLI and the GUI: new sweep, what is left, the AIF step.

A sweep session is "sweep steps, then (optionally) the all-in-focus shot". Keeping that
sequencing here rather than in the CLI means the GUI's Start/Resume buttons and
``psfbench acquire`` make the same decisions from the same data in ``session.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from psfbench.core.acquisition.bench_io import session_meta, write_ground_truth
from psfbench.core.acquisition.plans.aif_capture import AifCapturePlan
from psfbench.core.acquisition.plans.base import Plan
from psfbench.core.acquisition.session_io import session_path_ok, stored_plan, stored_profile

AifMode = Literal["capture", "skip"]


def create_sweep_session(
    out: str | Path,
    bench: Any,
    plan: Plan,
    *,
    aif: AifMode = "capture",
    aif_average: int = 4,
) -> Any:
    """A new session folder for ``plan`` (refuses a non-empty folder); returns its writer.

    The virtual bench's ground-truth depth map is written at once, so even a session
    interrupted after one frame has everything but the missing frames.
    """
    from psfbench.core.dataset import SessionWriter

    path = Path(out)
    session_path_ok(path)
    meta = session_meta(bench, plan)
    meta["plan"]["parameters"]["aif_mode"] = aif
    meta["plan"]["parameters"]["aif_average"] = int(aif_average)
    writer = SessionWriter.create(path, meta)
    try:
        write_ground_truth(writer, bench)
    except Exception:
        writer.close()
        raise
    return writer


@dataclass(frozen=True)
class PendingWork:
    """What an existing session still needs (``resume``)."""

    plan: Plan
    missing_steps: list[int]
    aif_needed: bool
    profile: dict[str, Any] | None

    @property
    def complete(self) -> bool:
        return not self.missing_steps and not self.aif_needed


def pending_work(writer: Any) -> PendingWork:
    """Plan, missing steps and AIF status of a session opened with ``open_existing``."""
    meta = writer.meta
    plan = stored_plan(meta, f"{writer.path}/session.json")
    aif_mode = meta.plan.parameters.get("aif_mode", "skip")
    aif_needed = aif_mode == "capture" and not (Path(writer.path) / "aif.tif").exists()
    return PendingWork(plan, writer.missing_steps(), aif_needed, stored_profile(meta))


def aif_plan_for(writer: Any, average: int | None = None) -> AifCapturePlan:
    """The AIF shot for a sweep session: at the middle of the sweep's focus range."""
    params = writer.meta.plan.parameters
    n = average if average is not None else int(params.get("aif_average", 4))
    positions = sorted(s.motor_steps for s in writer.meta.plan.steps if s.motor_steps is not None)
    middle = positions[len(positions) // 2] if positions else None
    return AifCapturePlan(average=n, position=middle)


def wants_aif(writer: Any) -> bool:
    return writer.meta.plan.parameters.get("aif_mode") == "capture"


def complete_ground_truth(writer: Any, bench: Any) -> bool:
    """Write the virtual depth map if a crash during session creation left it out."""
    if (Path(writer.path) / "depth.tif").exists():
        return False
    return write_ground_truth(writer, bench)
