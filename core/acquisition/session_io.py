"""Glue between acquisition and the session format (core/dataset).

The engine's plans produce flat, descriptive record fields; the session schema keeps a few
typed columns (d, motor position, exposure, averaging, time) and everything else under
``device_state``. This module does that split, builds ``session.json`` from a plan and a bench,
and stores the engine plan and the device profile in the session so that ``psfbench acquire
resume DIR`` needs nothing but the folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.acquisition.plans.base import Plan, PlanError, plan_from_dict
from psfbench.core.acquisition.snapshot import jsonable

#: Key under ``session.json: plan.parameters`` holding the engine's own plan (for resume).
ENGINE_PLAN_KEY = "engine_plan"
#: Key under ``plan.parameters`` holding the device profile the session was taken with.
PROFILE_KEY = "device_profile"

_TYPED = ("d_mm", "focus_depth_mm", "exposure_us", "frames_averaged", "timestamp")


def record_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Split flat plan fields into the schema's typed columns + ``device_state``."""
    out: dict[str, Any] = {k: fields[k] for k in _TYPED if fields.get(k) is not None}
    if fields.get("position") is not None:
        out["motor_steps"] = int(fields["position"])
    if "exposure_us" not in out:
        cam = fields.get("camera") or {}
        if isinstance(cam, Mapping) and cam.get("exposure_us") is not None:
            out["exposure_us"] = float(cam["exposure_us"])
    if fields.get("host_monotonic_s") is not None:
        out["monotonic_s"] = float(fields["host_monotonic_s"])
    out["device_state"] = jsonable(
        {k: v for k, v in fields.items() if k not in _TYPED and k != "position"}
    )
    return out


class SessionSink:
    """What the engine's writer thread calls: one ``SessionWriter.write_frame`` per step."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    def write_frame(self, index: int, image: np.ndarray, fields: Mapping[str, Any]) -> Any:
        return self.writer.write_frame(index, image, record_fields(fields))


def planned_steps(plan: Plan) -> list[dict[str, Any]]:
    positions = getattr(plan, "positions", None)
    if positions is not None:
        return [{"index": i, "motor_steps": int(p)} for i, p in enumerate(positions)]
    return [{"index": i} for i in range(plan.total_steps())]


def plan_section(plan: Plan, profile: Mapping[str, Any] | None) -> dict[str, Any]:
    """``session.json: plan``: the schema's step list plus our plan and profile for resume."""
    params: dict[str, Any] = {ENGINE_PLAN_KEY: plan.to_dict()}
    if profile is not None:
        params[PROFILE_KEY] = jsonable(dict(profile))
    return {"kind": plan.kind, "steps": planned_steps(plan), "parameters": params}


def stored_plan(meta: Any, where: str = "session.json") -> Plan:
    """The engine plan stored in a session (resume); errors name the file and field."""
    params = meta.plan.parameters
    data = params.get(ENGINE_PLAN_KEY)
    if not isinstance(data, dict):
        raise PlanError(
            f"{where}: plan.parameters.{ENGINE_PLAN_KEY}: missing; this session was not "
            "written by `psfbench acquire` and cannot be resumed"
        )
    try:
        return plan_from_dict(data)
    except PlanError as exc:
        raise PlanError(f"{where}: {exc}") from None


def stored_profile(meta: Any) -> dict[str, Any] | None:
    value = meta.plan.parameters.get(PROFILE_KEY)
    return dict(value) if isinstance(value, dict) else None


def bit_depth(pixel_format: str) -> int:
    return {"Mono8": 8, "Mono12": 12, "Mono16": 16, "RGB8": 8}.get(pixel_format, 16)


def session_path_ok(path: Path) -> None:
    """Refuse to start a new session on top of another (resume is a separate command).

    A folder holding only empty sub-folders and temporary files is what a crash *while
    creating* a session leaves (nothing was acquired, ``session.json`` never appeared): it is
    cleared and reused.
    """
    from psfbench.core.dataset.atomic import is_temp_file

    if path.is_dir() and not (path / "session.json").exists():
        entries = list(path.iterdir())
        debris = [p.is_dir() and not any(p.iterdir()) or is_temp_file(p) for p in entries]
        if entries and all(debris):
            for p in entries:
                if p.is_dir():
                    p.rmdir()
                else:
                    p.unlink()
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise PlanError(
            f"--out {path}: already exists and is not empty; "
            f"use `psfbench acquire resume {path}` to continue it, or choose a new folder"
        )
