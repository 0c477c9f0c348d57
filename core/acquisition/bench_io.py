"""From a device profile to an opened bench and a session that can be fitted and resumed.

The session must carry everything the fitter and a later resume need without the profile
file or the virtual world still existing: optics (F, pixel size, bit depth), the engine plan,
the profile as it was used, and for the virtual bench its ground truth (depth map now, hidden
A and e in provenance for checking a fit; the fitter never reads the latter).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from psfbench.core.acquisition.plans.base import Plan
from psfbench.core.acquisition.session_io import bit_depth, plan_section


def open_bench_from(profile: str | Path | dict[str, Any], **overrides: Any) -> Any:
    """``open_bench`` for a profile name/path, or a stored profile dict (resume)."""
    from psfbench.core.devices.factory import open_bench

    if isinstance(profile, dict):
        from psfbench.core.config.profiles import parse_profile

        data = dict(profile)
        source = str(data.pop("_source", "session.json"))
        return open_bench(parse_profile(data, f"{source} (stored in session.json)"))
    return open_bench(profile, virtual_overrides=overrides or None)


def profile_record(bench: Any) -> dict[str, Any]:
    """The profile exactly as used, so a resume reopens the same bench."""
    data: dict[str, Any] = bench.info.settings.model_dump(mode="json")
    data["_source"] = bench.info.source
    return data


def world_of(bench: Any) -> Any:
    return getattr(getattr(bench, "info", None), "world", None)


def _f_number(bench: Any, world: Any) -> float | None:
    """The lens's f-number: the profile's ``[lens] f_number``, else the virtual lens's."""
    lens = getattr(getattr(bench.info, "settings", None), "lens", None)
    f_number = getattr(lens, "f_number", None)
    if f_number is None and world is not None:
        f_number = world.settings.f_number
    return None if f_number is None else float(f_number)


def _focal_length(bench: Any, world: Any) -> float | None:
    """The lens's focal length F (mm): the virtual lens's where the frames come from the
    virtual world (it renders with that F), else the profile's ``[lens] focal_length_mm``;
    None when neither says."""
    if world is not None:
        return float(world.settings.F_mm)
    lens = getattr(getattr(bench.info, "settings", None), "lens", None)
    f_mm = getattr(lens, "focal_length_mm", None)
    return None if f_mm is None else float(f_mm)


def session_meta(bench: Any, plan: Plan, *, notes: str = "") -> dict[str, Any]:
    cam = bench.camera
    info = cam.info
    world = world_of(bench)
    pixel_um = info.pixel_size_um
    if pixel_um is None and world is not None:
        pixel_um = world.settings.pixel_size_um
    roi = cam.roi
    focal_mm = _focal_length(bench, world)
    meta: dict[str, Any] = {
        "camera": {
            "model": f"{info.vendor} {info.model}".strip(),
            "serial": info.serial,
            "pixel_size_mm": (pixel_um or 5.0) / 1000.0,
            "bit_depth": bit_depth(cam.pixel_format),
            "width": roi.width,
            "height": roi.height,
            "pixel_format": cam.pixel_format,
        },
        "lens": {
            "focal_length_mm": focal_mm if focal_mm is not None else 50.0,
            "f_number": _f_number(bench, world),
        },
        "plan": plan_section(plan, profile_record(bench)),
        "provenance": {"profile": bench.info.profile, "source": bench.info.source},
        "notes": notes,
    }
    if pixel_um is None:
        meta["notes"] = notes + " pixel size unknown: 5 um assumed; edit camera.pixel_size_mm"
    if focal_mm is None:  # a real bench whose profile does not state the lens
        meta["notes"] = (
            meta["notes"] + " focal length unknown: 50 mm assumed; set [lens] focal_length_mm in "
            "the profile, or edit lens.focal_length_mm"
        ).strip()
    if world is not None:
        s = world.settings
        meta["provenance"]["simulated_truth"] = {
            "A": s.true_A,
            "e_mm": s.true_e_mm,
            "F_mm": s.F_mm,
            "scene": s.scene,
            "seed": s.seed,
            "psf_shape": s.psf_shape,
            "note": "hidden truth of the virtual bench, for checking a fit; never a fit input",
        }
    return meta


def write_ground_truth(writer: Any, bench: Any) -> bool:
    """Virtual bench: store its exact depth map (stand-in for fringe profilometry)."""
    world = world_of(bench)
    if world is None:
        return False
    import numpy as np

    depth = np.asarray(world.scene.depth_mm, dtype=np.float32)
    roi = bench.camera.roi
    writer.write_depth(depth[roi.y : roi.y + roi.height, roi.x : roi.x + roi.width])
    return True


def default_range(bench: Any) -> tuple[int, int]:
    """Sweep range when none is given: the virtual scene's depths, else the soft limits."""
    suggested = getattr(bench.info, "suggested_sweep_steps", None)
    if suggested is not None:
        return int(suggested[0]), int(suggested[1])
    lo, hi = bench.focus.soft_limits()
    return int(lo), int(hi)


def steps_per_mm(bench: Any) -> float:
    return float(bench.info.settings.focus.steps_per_mm)
