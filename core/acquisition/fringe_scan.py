"""A fringe scan end to end: project, grab each frame to disk as it arrives, decode to depth.

The pattern scan plan and the decoder already exist (core/acquisition/plans/pattern_scan.py,
core/fringe); this module joins them for ``psfbench acquire fringe``. Frames are written as
TIFF the moment they are grabbed (a crash keeps every frame taken so far); the depth map goes
beside them and, on request, into a focus-sweep session so the fit can use it.

Calibration: a ProcamCalibration JSON from ``psfbench calibrate procam``. On the virtual bench,
without one, the world's exact projector-camera geometry is used (as a calibration would
recover it), and the depth error against the scene's true depth is reported.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class FringeScanResult:
    out_dir: Path
    frames: int
    valid_fraction: float
    rmse_vs_truth_mm: float | None
    status: str
    #: the clip level used (None: not checked) and the pixels refused as clipped
    saturation: float | None = None
    saturated_pixels: int = 0
    saturation_text: str = ""
    pixels: int = 0


def _pixel_format(bench: Any) -> str | None:
    try:
        return str(bench.camera.pixel_format)
    except Exception:  # a camera without the attribute: the level comes from the data
        return None


class FolderSink:
    """Each grabbed frame to ``frames/pattern_NNN.tif`` (atomic) and kept for decoding."""

    def __init__(self, folder: Path) -> None:
        from psfbench.core.dataset.tiff_io import write_tiff

        self._write = write_tiff
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.frames: dict[int, np.ndarray] = {}

    def write_frame(self, index: int, image: np.ndarray, fields: Any) -> None:
        arr = np.asarray(image)
        self._write(self.folder / f"pattern_{index:03d}.tif", arr)
        self.frames[index] = arr


def calibration_from_world(world: Any, projector_size: tuple[int, int]) -> Any:
    """A virtual bench world's exact geometry as a ProcamCalibration (no lens distortion)."""
    from psfbench.core.fringe.calibrate import ProcamCalibration

    R, t = world.projector_pose()
    return ProcamCalibration(
        world.camera_matrix(),
        np.zeros(5),
        (world.width, world.height),
        world.projector_matrix(),
        np.zeros(5),
        (int(projector_size[0]), int(projector_size[1])),
        R,
        np.asarray(t),
        0,
        0,
        0,
    )


_FolderSink = FolderSink  # the name before the GUI shared it


def world_calibration(bench: Any) -> Any:
    """The bench's exact calibration if it is the virtual bench, else None."""
    world = getattr(bench.info, "world", None)
    if world is None:
        return None
    return calibration_from_world(world, (bench.projector.width, bench.projector.height))


def fringe_plan(
    params: dict[str, Any] | None = None,
    *,
    settle_s: float = 0.05,
    exposure_us: float | None = None,
) -> Any:
    """The pattern-scan plan of a fringe scan (source ``fringe_scan``)."""
    from psfbench.core.acquisition import PatternScanPlan
    from psfbench.core.fringe.sources import register_sources

    register_sources()
    return PatternScanPlan(
        "fringe_scan", dict(params or {}), settle_s=settle_s, exposure_us=exposure_us
    )


def stop_down_for_scan(bench: Any) -> Callable[[], None]:
    """Fringe scans are taken stopped down (as the paper's depth maps are): at the working
    aperture the fine fringes blur away. The virtual bench stops its lens down itself; a real
    lens is the operator's job. Returns the function that restores the aperture."""
    world = getattr(bench.info, "world", None)
    if world is None:
        return lambda: None
    saved = world.aperture_scale
    world.set_aperture_scale(0.0)
    return lambda: world.set_aperture_scale(saved)


def decode_frames(
    frames: Mapping[int, np.ndarray],
    params: Mapping[str, Any],
    projector_size: tuple[int, int],
    calibration: Any,
    *,
    pixel_format: str | None = None,
    **decode_kw: Any,
) -> Any:
    """Decode the grabbed frames (step index -> image) of a ``fringe_scan`` plan with these
    ``params`` on a projector of ``projector_size`` (w, h): a ``ScanResult``. ``decode_kw``
    go to ``decode_scan`` (e.g. ``saturation``: a level, None for no check, or ``"auto"``,
    the default: the camera's clip level when ``pixel_format`` is given, else
    :func:`psfbench.core.fringe.scan.saturation_level` of the frames' own type and range). Colour
    frames are decoded on luminance; a pixel where any channel clips counts as clipped."""
    from psfbench.core.fringe.scan import decode_scan, saturation_level
    from psfbench.core.fringe.sources import fringe_scan_from_params

    scan = fringe_scan_from_params(params, int(projector_size[0]), int(projector_size[1]))
    missing = [i for i in range(scan.n_images) if i not in frames]
    if missing:
        raise ValueError(f"fringe scan incomplete: frames {missing[:5]} missing")
    raw = [np.asarray(frames[i]) for i in range(scan.n_images)]
    kw = dict(decode_kw)
    level = kw.get("saturation", "auto")
    if isinstance(level, str) and level == "auto":
        # from the frames as grabbed or read (their type), before the float conversion
        level, source = saturation_level(np.stack(raw), pixel_format)
    else:
        source = "given" if level is not None else "not checked"
    kw["saturation"] = level
    stack = np.stack(raw).astype(np.float32)
    if stack.ndim == 4:  # colour camera: decode luminance
        lum = stack @ np.array([0.299, 0.587, 0.114], np.float32)
        if level is not None:
            # a clipped channel makes the pixel's fringe meaningless even where the
            # luminance stays below the level
            lum[(stack >= np.float32(level)).any(axis=-1)] = np.float32(level)
        stack = lum
    res = decode_scan(stack, calibration, scan, **kw)
    res.saturation_source = source
    return res


def rmse_vs_truth(bench: Any, result: Any) -> float | None:
    """Depth RMSE (mm) over the valid pixels against the virtual scene's true depth; None
    on a real bench (or when nothing is valid)."""
    world = getattr(bench.info, "world", None)
    if world is None:
        return None
    truth = np.asarray(world.scene.depth_mm, np.float32)
    if truth.shape != result.depth.shape or not result.valid.any():
        return None
    diff = result.depth[result.valid] - truth[result.valid]
    return float(np.sqrt(np.mean(diff.astype(np.float64) ** 2)))


def refusal_summary(result: Any) -> dict[str, Any]:
    """What ``fringe.json`` says about the refused pixels: the saturation level used (None:
    not checked) and how it was chosen, the clipped pixel count, and the count per reason."""
    counts = result.refused_counts() if hasattr(result, "refused_counts") else {}
    level = getattr(result, "saturation", None)
    return {
        "pixels": int(np.asarray(result.valid).size),
        "valid_pixels": int(np.count_nonzero(result.valid)),
        "saturation_level": level,
        "saturation_source": str(getattr(result, "saturation_source", "")),
        "saturated_pixels": int(counts.get("saturated", 0)),
        "refused_pixels": counts,
    }


def saturation_line(result: Any) -> str:
    """One line for the terminal: how many pixels clipped and at what level."""
    level = getattr(result, "saturation", None)
    if level is None:
        return "saturation: not checked; clipped pixels may carry wrong depths"
    n = int(np.count_nonzero(result.refused.get("saturated", False)))
    total = max(1, int(np.asarray(result.valid).size))
    return (
        f"refused, saturated: {n} pixels ({100 * n / total:.1f}%) clipped at or above "
        f"{level:g} ({result.saturation_source})"
    )


def write_scan_outputs(
    out_dir: str | Path,
    result: Any,
    params: Mapping[str, Any],
    rmse: float | None,
    frames: int,
) -> None:
    """``depth.tif``, ``points.ply`` and ``fringe.json`` beside the frames, as the CLI
    writes them."""
    from psfbench.core.fringe.export import write_depth_tiff
    from psfbench.core.fringe.ply import write_ply

    out = Path(out_dir)
    write_depth_tiff(out / "depth.tif", result.depth)
    write_ply(out / "points.ply", np.asarray(result.points)[result.valid])
    summary = {
        "frames": int(frames),
        "params": dict(params),
        "valid_fraction": float(result.valid.mean()),
        "rmse_vs_truth_mm": rmse,
        **refusal_summary(result),
    }
    (out / "fringe.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")


def run_fringe_scan(
    bench: Any,
    out_dir: str | Path,
    *,
    params: dict[str, Any] | None = None,
    calibration: Any = None,
    settle_s: float = 0.05,
    exposure_us: float | None = None,
    session: str | Path | None = None,
    engine_kw: dict[str, Any] | None = None,
    saturation: float | str | None = "auto",
) -> FringeScanResult:
    """Project, grab and decode a fringe scan into ``out_dir`` (frames/, depth.tif,
    points.ply, fringe.json). ``saturation``: as in :func:`decode_frames`; ``"auto"`` takes
    the camera's clip level from its pixel format."""
    from psfbench.core.acquisition import AcquisitionEngine

    out = Path(out_dir)
    plan = fringe_plan(params, settle_s=settle_s, exposure_us=exposure_us)
    cal = calibration if calibration is not None else world_calibration(bench)
    if cal is None:
        raise ValueError(
            "no projector-camera calibration: pass --calibration FILE "
            "(from `psfbench calibrate procam`)"
        )
    sink = FolderSink(out / "frames")
    restore = stop_down_for_scan(bench)
    try:
        result = AcquisitionEngine(bench, **(engine_kw or {})).run(plan, sink)
    finally:
        restore()
    if result.status != "completed":
        return FringeScanResult(out, len(sink.frames), 0.0, None, result.status)
    proj = bench.projector
    res = decode_frames(
        sink.frames,
        plan.params,
        (int(proj.width), int(proj.height)),
        cal,
        pixel_format=_pixel_format(bench),
        saturation=saturation,
    )
    rmse = rmse_vs_truth(bench, res)
    write_scan_outputs(out, res, plan.params, rmse, plan.total_steps())
    if session is not None:
        from psfbench.core.dataset import SessionWriter

        with SessionWriter.open_existing(session) as writer:
            writer.write_depth(res.depth)
    return FringeScanResult(
        out,
        int(plan.total_steps()),
        float(res.valid.mean()),
        rmse,
        "ok",
        saturation=res.saturation,
        saturated_pixels=res.refused_counts()["saturated"],
        saturation_text=saturation_line(res),
        pixels=int(res.valid.size),
    )


def _show_and_grab(bench: Any, patterns: list[np.ndarray], settle_s: float) -> list[np.ndarray]:
    """Show each pattern, settle, grab one frame (software trigger); blank after."""
    from psfbench.core.acquisition.engine import bench_time_scale

    cam, proj = bench.camera, bench.projector
    if proj is None:
        raise ValueError("the bench has no projector (profile [projector] driver)")
    if cam.is_streaming:
        cam.stop_streaming()
    saved_mode = cam.trigger_mode
    cam.trigger_mode = "software"
    scale = bench_time_scale(bench)
    out = []
    try:
        for p in patterns:
            proj.show(p)
            if settle_s > 0:
                time.sleep(settle_s * scale)
            out.append(np.asarray(cam.grab().image))
    finally:
        try:
            proj.blank()
        finally:
            cam.trigger_mode = saved_mode
    return out


@dataclass
class WhiteBlack:
    white: np.ndarray
    black: np.ndarray
    full_scale: int  # the value a clipped pixel reads (check.clip_level)
    exposure_us: float


def capture_white_black(
    bench: Any, *, exposure_us: float | None = None, settle_s: float = 0.05
) -> WhiteBlack:
    """Project white then black and grab each, stopped down as for a scan (device thread:
    this talks to the camera and the projector). Feed the result to
    ``psfbench.core.fringe.check.check_contrast``."""
    from psfbench.core.fringe.check import clip_level

    cam, proj = bench.camera, bench.projector
    if proj is None:
        raise ValueError("the bench has no projector (profile [projector] driver)")
    if exposure_us is not None:
        cam.exposure_us = float(exposure_us)
    w, h = int(proj.width), int(proj.height)
    restore = stop_down_for_scan(bench)
    try:
        white, black = _show_and_grab(
            bench, [np.full((h, w), 255, np.uint8), np.zeros((h, w), np.uint8)], settle_s
        )
    finally:
        restore()
    return WhiteBlack(white, black, clip_level(cam.pixel_format), float(cam.exposure_us))


#: grey levels for a gamma measurement (denser at the dark end, where gamma bends most)
GAMMA_LEVELS: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0)


def measure_projector_gamma(
    bench: Any,
    *,
    levels: tuple[float, ...] = GAMMA_LEVELS,
    exposure_us: float | None = None,
    settle_s: float = 0.05,
) -> Any:
    """Show flat grey levels, grab each, fit ``offset + gain * level**gamma`` over the lit,
    unclipped pixels (``psfbench.core.fringe.gamma``): a ``GammaFit`` (device thread)."""
    from psfbench.core.fringe.check import clip_level
    from psfbench.core.fringe.gamma import fit_projector_gamma, responses_from_frames

    cam, proj = bench.camera, bench.projector
    if proj is None:
        raise ValueError("the bench has no projector (profile [projector] driver)")
    if exposure_us is not None:
        cam.exposure_us = float(exposure_us)
    w, h = int(proj.width), int(proj.height)
    restore = stop_down_for_scan(bench)
    try:
        frames = _show_and_grab(
            bench, [np.full((h, w), float(v), np.float32) for v in levels], settle_s
        )
    finally:
        restore()
    x, y = responses_from_frames(levels, np.stack(frames), clip_level(cam.pixel_format))
    return fit_projector_gamma(x, y)
