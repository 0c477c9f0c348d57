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


class _FolderSink:
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


def world_calibration(bench: Any) -> Any:
    """The bench's exact calibration if it is the virtual bench, else None."""
    world = getattr(bench.info, "world", None)
    if world is None:
        return None
    return calibration_from_world(world, (bench.projector.width, bench.projector.height))


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
    from core.acquisition import AcquisitionEngine, PatternScanPlan
    from core.fringe.export import write_depth_tiff
    from core.fringe.ply import write_ply
    from core.fringe.scan import decode_scan
    from core.fringe.sources import fringe_scan_from_params, register_sources

    out = Path(out_dir)
    register_sources()
    plan = PatternScanPlan(
        "fringe_scan", dict(params or {}), settle_s=settle_s, exposure_us=exposure_us
    )
    cal = calibration if calibration is not None else world_calibration(bench)
    if cal is None:
        raise ValueError(
            "no projector-camera calibration: pass --calibration FILE "
            "(from `psfbench calibrate procam`)"
        )
    sink = _FolderSink(out / "frames")
    world = getattr(bench.info, "world", None)
    # Fringe scans are taken stopped down (as the paper's depth maps are): at the working
    # aperture the fine fringes blur away. The virtual bench stops its lens down itself.
    saved = None if world is None else world.aperture_scale
    if world is not None:
        world.set_aperture_scale(0.0)
    try:
        result = AcquisitionEngine(bench, **(engine_kw or {})).run(plan, sink)
    finally:
        if world is not None and saved is not None:
            world.set_aperture_scale(saved)
    if result.status != "completed":
        return FringeScanResult(out, len(sink.frames), 0.0, None, result.status)
    stack = np.stack([sink.frames[i] for i in range(plan.total_steps())]).astype(np.float32)
    if stack.ndim == 4:  # colour camera: decode luminance
        stack = stack @ np.array([0.299, 0.587, 0.114], np.float32)
    proj = bench.projector
    scan = fringe_scan_from_params(plan.params, int(proj.width), int(proj.height))
    res = decode_scan(stack, cal, scan)
    write_depth_tiff(out / "depth.tif", res.depth)
    pts = np.asarray(res.points)[res.valid]
    write_ply(out / "points.ply", pts)
    rmse = None
    if world is not None:
        truth = np.asarray(world.scene.depth_mm, np.float32)
        if truth.shape == res.depth.shape and res.valid.any():
            diff = res.depth[res.valid] - truth[res.valid]
            rmse = float(np.sqrt(np.mean(diff.astype(np.float64) ** 2)))
    summary = {
        "frames": int(plan.total_steps()),
        "params": plan.params,
        "valid_fraction": float(res.valid.mean()),
        "rmse_vs_truth_mm": rmse,
    }
    (out / "fringe.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if session is not None:
        from core.dataset import SessionWriter

        with SessionWriter.open_existing(session) as writer:
            writer.write_depth(res.depth)
    return FringeScanResult(out, int(plan.total_steps()), float(res.valid.mean()), rmse, "ok")
