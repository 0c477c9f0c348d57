"""Write a synthetic focus stack as a psfbench session, as the acquisition would store it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from psfbench.core.dataset import Camera, Lens, PlannedStep, SessionMeta, SessionWriter, SweepPlan
from psfbench.core.optics import sensor_distance
from psfbench.core.stacking.io import from_float

E_MM, F_MM = 23.6, 50.0


def write_sweep_session(path: Path, stack, bit_depth: int) -> Path:
    """Mono frames stored LSB-aligned in uint16 at ``bit_depth``, with the d the sensor reads."""
    d = np.asarray(sensor_distance(stack.focus_depths_mm, F_MM)) - E_MM
    meta = SessionMeta(
        camera=Camera(pixel_size_mm=0.00345, bit_depth=bit_depth, pixel_format=f"Mono{bit_depth}"),
        lens=Lens(focal_length_mm=F_MM),
        plan=SweepPlan(steps=[PlannedStep(index=i) for i in range(len(d))]),
    )
    top = float(2**bit_depth - 1)
    with SessionWriter.create(path, meta) as w:
        for i, frame in enumerate(stack.frames):
            w.write_frame(i, from_float(frame, np.dtype(np.uint16), top), {"d_mm": float(d[i])})
    return path
