"""Small session builders shared by the dataset tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from psfbench.core.dataset import Camera, Lens, PlannedStep, SessionMeta, SessionWriter, SweepPlan


def make_meta(n_steps: int = 4, bit_depth: int = 12, **lens: float) -> SessionMeta:
    return SessionMeta(
        camera=Camera(pixel_size_mm=0.00345, bit_depth=bit_depth, pixel_format="Mono12"),
        lens=Lens(focal_length_mm=50.0, f_number=1.4, **lens),
        plan=SweepPlan(steps=[PlannedStep(index=i, motor_steps=100 * i) for i in range(n_steps)]),
    )


def image(shape: tuple[int, ...], dtype: str, seed: int, bits: int = 12) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if dtype == "float32":
        return rng.random(shape, dtype=np.float32)
    top = 255 if dtype == "uint8" else 2**bits - 1
    return rng.integers(0, top + 1, shape).astype(dtype)


def write_session(
    root: Path, n_frames: int = 3, n_steps: int = 4, shape: tuple[int, ...] = (12, 16)
) -> Path:
    """A valid uint16 12-bit session with depth and AIF, ``n_frames`` of ``n_steps`` done."""
    with SessionWriter.create(root, make_meta(n_steps)) as w:
        for i in range(n_frames):
            w.write_frame(i, image(shape, "uint16", i), {"d_mm": 30.0 + i, "motor_steps": 100 * i})
        w.write_depth(np.full(shape[:2], 900.0, np.float32))
        w.write_aif(image(shape, "uint16", 99))
    return root
