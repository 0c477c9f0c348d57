"""Simulated sessions: a synthetic scene seen through a known (or hidden) PSF.

This is how the fitter is validated without hardware: the scene's exact depth map and
all-in-focus image are rendered at a sweep of focus depths with the scatter model (layered
renderer), then corrupted like real data (sensor noise, 12-bit quantisation, distance-sensor
noise, depth-map noise). The true (A, e) go into the session's provenance, so ``psfbench fit``
can report its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from psfbench.core import optics

#: Defaults from the paper's bench: F = 50 mm lens, 3.45 um pixels, e about 23.6 mm.
DEFAULT_F_MM = 50.0
DEFAULT_PIXEL_MM = 3.45e-3


@dataclass(frozen=True)
class SimulationSpec:
    A: float = 800.0
    e_mm: float = 23.6
    scene: str = "planes"
    frames: int = 40
    height: int = 257
    width: int = 307
    noise: float = 0.01  # sensor noise sd, fraction of full scale
    depth_noise_mm: float = 0.1
    d_noise_mm: float = 0.003  # the paper's sensor resolution
    working_distance_mm: float = 500.0
    F_mm: float = DEFAULT_F_MM
    pixel_size_mm: float = DEFAULT_PIXEL_MM
    f_number: float = 1.4
    bit_depth: int = 12
    steps_per_mm: float = 400.0
    #: Scene radiance scale: the brightest all-in-focus pixel sits at this fraction of full
    #: scale, as a technician sets exposure. The scatter model adds light where a blurred
    #: foreground overlaps background (up to ~1.4x locally), which saturates without headroom.
    brightness: float = 0.7
    seed: int = 0


def sweep_distances(spec: SimulationSpec, depth_min: float, depth_max: float) -> np.ndarray:
    """Sensor readings d whose focus depths span the scene (at least +-10 % of the working
    distance, plus a margin), evenly in 1/Df.

    Even spacing in 1/Df is even spacing in lens travel, which is how a motor sweep samples.
    """
    wd = 0.5 * (depth_min + depth_max)
    span = max(depth_max - depth_min, 0.2 * wd)  # a flat scene still needs both-side defocus
    lo = min(depth_min, wd - span / 2) - 0.15 * span
    hi = max(depth_max, wd + span / 2) + 0.15 * span
    inv = np.linspace(1.0 / lo, 1.0 / hi, spec.frames)
    df = 1.0 / inv
    v = optics.sensor_distance(df, spec.F_mm)
    return np.asarray(v - spec.e_mm, dtype=np.float64)


def hidden_parameters(seed: int) -> tuple[float, float]:
    """Plausible (A, e) drawn from the seed, for demos that must not be told the answer."""
    rng = np.random.default_rng([seed, 0xA5])
    return float(rng.uniform(600.0, 1000.0)), float(rng.uniform(23.1, 24.3))


def simulate_session(out: str | Path, spec: SimulationSpec, *, device: str = "cpu") -> Path:
    import torch

    from psfbench.core.dataset import SessionWriter
    from psfbench.core.dataset.schema import (
        Camera,
        Lens,
        PlannedStep,
        Provenance,
        SessionMeta,
        SweepPlan,
    )
    from psfbench.core.render import render
    from psfbench.core.scenes import make_scene

    rng = np.random.default_rng(spec.seed)
    scene = make_scene(
        spec.scene,
        spec.height,
        spec.width,
        working_distance_mm=spec.working_distance_mm,
        seed=spec.seed,
    )
    depth = np.asarray(scene.depth_mm, dtype=np.float64)
    valid = np.isfinite(depth)
    d_true = sweep_distances(spec, float(depth[valid].min()), float(depth[valid].max()))
    d0 = float(d_true[0])
    motor = np.round((d_true - d0) * spec.steps_per_mm).astype(int)
    df_true = optics.focus_depth(d_true, spec.e_mm, spec.F_mm)

    full = 2**spec.bit_depth - 1
    meta = SessionMeta(
        camera=Camera(
            model="psfbench simulated camera",
            pixel_size_mm=spec.pixel_size_mm,
            bit_depth=spec.bit_depth,
            width=spec.width,
            height=spec.height,
            pixel_format="RGB12" if spec.bit_depth == 12 else f"RGB{spec.bit_depth}",
        ),
        lens=Lens(focal_length_mm=spec.F_mm, f_number=spec.f_number),
        plan=SweepPlan(
            steps=[
                PlannedStep(index=i, motor_steps=int(motor[i]), target_d_mm=float(d_true[i]))
                for i in range(spec.frames)
            ],
            parameters={"steps_per_mm": spec.steps_per_mm, "d0_mm": d0},
        ),
        provenance=Provenance(
            profile="simulate",
            source=f"psfbench simulate scene={spec.scene} seed={spec.seed}",
            simulated_truth={
                "A": spec.A,
                "e_mm": spec.e_mm,
                "noise": spec.noise,
                "depth_noise_mm": spec.depth_noise_mm,
                "d_noise_mm": spec.d_noise_mm,
                "scene": spec.scene,
                "renderer": "layered",
            },
        ),
    )
    writer = SessionWriter.create(Path(out), meta)
    aif = np.array(scene.aif, dtype=np.float32) * np.float32(spec.brightness)
    writer.write_aif(_quantise(aif, full, spec.bit_depth))
    noisy_depth = depth + rng.normal(0.0, spec.depth_noise_mm, depth.shape)
    writer.write_depth(noisy_depth.astype(np.float32))

    aif_t = torch.as_tensor(aif, device=device)
    depth_t = torch.as_tensor(np.array(scene.depth_mm), device=device)
    batch = 8
    for start in range(0, spec.frames, batch):
        stop = min(start + batch, spec.frames)
        imgs = render(
            aif_t, depth_t, [float(x) for x in df_true[start:stop]], spec.A, spec.F_mm
        ).cpu()
        for k, i in enumerate(range(start, stop)):
            img = imgs[k].numpy()
            img = img + rng.normal(0.0, spec.noise, img.shape)
            writer.write_frame(
                i,
                _quantise(img, full, spec.bit_depth),
                {
                    "motor_steps": int(motor[i]),
                    "d_mm": float(d_true[i] + rng.normal(0.0, spec.d_noise_mm)),
                    "exposure_us": 10000.0,
                },
            )
    return Path(out)


def _quantise(img: np.ndarray, full: int, bit_depth: int) -> np.ndarray:
    """(C, H, W) float [0, 1] -> (H, W, C) integer image at the camera's bit depth."""
    q = np.clip(np.round(np.asarray(img) * full), 0, full)
    q = q.astype(np.uint8 if bit_depth <= 8 else np.uint16)
    return np.moveaxis(q, 0, -1) if q.ndim == 3 else q
