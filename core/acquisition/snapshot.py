"""Device-state snapshots stored with every frame.

A frame is only evidence if the record says how it was taken: where the motor was, what the
distance sensor read, the camera settings and the frame's own id and timestamp. When something
looks wrong weeks later (a blurred step, a jump in d) the session alone must explain it, so the
snapshot is taken right after the frame arrives and stored in the same record. Everything is
plain JSON (no NaN: unreadable values become ``None`` with the reason beside them).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, is_dataclass
from typing import Any


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if hasattr(value, "item"):  # numpy scalars
        return _jsonable(value.item())
    return str(value)


def camera_state(camera: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("exposure_us", "gain_db", "pixel_format", "trigger_mode", "roi"):
        try:
            out[name] = _jsonable(getattr(camera, name))
        except Exception as exc:  # a settings read must never cost the frame
            out[name] = None
            out[f"{name}_error"] = str(exc)
    try:
        out["dropped_frames"] = int(camera.dropped_frames)
    except Exception:
        out["dropped_frames"] = None
    return out


def controller_state(controller: Any) -> dict[str, Any]:
    if controller is None:
        return {}
    try:
        return {"status": _jsonable(controller.status())}
    except Exception as exc:
        return {"status": None, "status_error": str(exc)}


def frame_fields(frame: Any) -> dict[str, Any]:
    return {
        "frame_id": int(frame.frame_id),
        "camera_timestamp_s": _jsonable(float(frame.timestamp)),
        "frame_dropped_count": int(getattr(frame, "dropped", 0)),
        "frame_metadata": _jsonable(getattr(frame, "metadata", {}) or {}),
    }


def host_time() -> dict[str, Any]:
    return {"host_time_unix_s": time.time(), "host_monotonic_s": time.monotonic()}


def snapshot(bench: Any, frames: list[Any]) -> dict[str, Any]:
    """Record fields for one stored (possibly averaged) frame."""
    last = frames[-1]
    fields: dict[str, Any] = {
        **frame_fields(last),
        "frame_ids": [int(f.frame_id) for f in frames],
        "frames_averaged": len(frames),
        "camera": camera_state(bench.camera),
        "controller": controller_state(getattr(bench, "focus", None)),
        **host_time(),
    }
    return fields


jsonable = _jsonable
