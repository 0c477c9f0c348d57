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


class FolderSink:
    """Each grabbed frame to ``frames/pattern_NNN.tif`` (atomic) and kept for decoding."""

    def __init__(self, folder: Path) -> None:
        from core.dataset.tiff_io import write_tiff

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
    from core.fringe.calibrate import ProcamCalibration

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
    from core.acquisition import PatternScanPlan
    from core.fringe.sources import register_sources

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
    **decode_kw: Any,
) -> Any:
    """Decode the grabbed frames (step index -> image) of a ``fringe_scan`` plan with these
    ``params`` on a projector of ``projector_size`` (w, h): a ``ScanResult``. ``decode_kw``
    go to ``decode_scan`` (e.g. ``saturation``)."""
    from core.fringe.scan import decode_scan
    from core.fringe.sources import fringe_scan_from_params

    scan = fringe_scan_from_params(params, int(projector_size[0]), int(projector_size[1]))
    missing = [i for i in range(scan.n_images) if i not in frames]
    if missing:
        raise ValueError(f"fringe scan incomplete: frames {missing[:5]} missing")
    stack = np.stack([np.asarray(frames[i]) for i in range(scan.n_images)]).astype(np.float32)
    if stack.ndim == 4:  # colour camera: decode luminance
        stack = stack @ np.array([0.299, 0.587, 0.114], np.float32)
    return decode_scan(stack, calibration, scan, **decode_kw)


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


def write_scan_outputs(
    out_dir: str | Path,
    result: Any,
    params: Mapping[str, Any],
    rmse: float | None,
    frames: int,
) -> None:
    """``depth.tif``, ``points.ply`` and ``fringe.json`` beside the frames, as the CLI
    writes them."""
    from core.fringe.export import write_depth_tiff
    from core.fringe.ply import write_ply

    out = Path(out_dir)
    write_depth_tiff(out / "depth.tif", result.depth)
    write_ply(out / "points.ply", np.asarray(result.points)[result.valid])
    summary = {
        "frames": int(frames),
        "params": dict(params),
        "valid_fraction": float(result.valid.mean()),
        "rmse_vs_truth_mm": rmse,
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
) -> FringeScanResult:
    from core.acquisition import AcquisitionEngine

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
    res = decode_frames(sink.frames, plan.params, (int(proj.width), int(proj.height)), cal)
    rmse = rmse_vs_truth(bench, res)
    write_scan_outputs(out, res, plan.params, rmse, plan.total_steps())
    if session is not None:
        from core.dataset import SessionWriter

        with SessionWriter.open_existing(session) as writer:
            writer.write_depth(res.depth)
    return FringeScanResult(out, int(plan.total_steps()), float(res.valid.mean()), rmse, "ok")


def _show_and_grab(bench: Any, patterns: list[np.ndarray], settle_s: float) -> list[np.ndarray]:
    """Show each pattern, settle, grab one frame (software trigger); blank after."""
    from core.acquisition.engine import bench_time_scale

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
    ``core.fringe.check.check_contrast``."""
    from core.fringe.check import clip_level

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
    unclipped pixels (``core.fringe.gamma``): a ``GammaFit`` (device thread)."""
    from core.fringe.check import clip_level
    from core.fringe.gamma import fit_projector_gamma, responses_from_frames

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
