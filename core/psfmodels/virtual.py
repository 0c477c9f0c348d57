"""Virtual-bench sweeps for the PSF models' checks (tests, benchmarks/psf_models.py).

Renders a focus sweep straight from :class:`psfbench.core.bench.world.BenchWorld` (its own
renderers: core/render's layered Gaussian, core/bench/psf.py's OpenCV disc, its breathing
warp), independent of :mod:`psfbench.core.psfmodels`' renderer, with Poisson-Gaussian camera
noise, and returns the arrays a :class:`psfbench.core.fit.problem.FitProblem` takes plus the
hidden truth in the models' parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from psfbench.core import optics

#: Named bench variants: the realism option each switches on (VirtualBenchSettings fields).
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "disc": {"psf_shape": "disc", "disc_radius_per_sigma": 2.0},
    "chromatic": {"chromatic_A": (1.12, 1.0, 0.9)},
    # magnification 1 + b (v - v_ref) / v_ref: 0.5 is ~3 % across a 450-550 mm sweep
    "breathing": {"focus_breathing": 0.5},
    "field": {"field_A": (0.1, -0.05, 0.2)},
    # the lens-sensor distance 25 um longer at the right edge, 15 um longer at the top (about
    # 0.1 degree across a 30 mm sensor; the sweep moves the sensor by ~2 mm)
    "tilt": {"sensor_tilt_mm": (0.025, -0.015)},
}
#: The model each variant's realism corresponds to.
MATCHING_MODEL = {
    "plain": "gaussian",
    "disc": "disc",
    "chromatic": "chromatic",
    "breathing": "breathing",
    "field": "field",
    "tilt": "tilt",
}


@dataclass
class VirtualSweep:
    aif: np.ndarray  # (3, H, W) float32
    depth_mm: np.ndarray  # (H, W)
    frames: np.ndarray  # (M, 3, H, W) float32 in [0, 1]
    d_mm: np.ndarray  # (M,)
    F_mm: float
    truth: dict[str, Any]  # hidden parameters in the models' terms
    v_ref_mm: float  # lens-sensor distance of the all-in-focus image


def virtual_sweep(
    variant: str = "plain",
    *,
    frames: int = 10,
    width: int = 120,
    height: int = 100,
    A: float = 800.0,
    e_mm: float = 23.6,
    scene: str = "steps",
    full_well_e: float = 20000.0,
    seed: int = 0,
    ambient: float = 0.8,
    **overrides: Any,
) -> VirtualSweep:
    """A noisy sweep of ``frames`` images over the scene's depth range on the virtual bench
    with ``variant``'s realism (VARIANTS) plus ``overrides`` (VirtualBenchSettings fields)."""
    from psfbench.core.bench.settings import VirtualBenchSettings
    from psfbench.core.bench.world import BenchWorld

    if variant not in VARIANTS:
        raise ValueError(f"virtual_sweep: unknown variant {variant!r}, use one of {list(VARIANTS)}")
    kw = {**VARIANTS[variant], **overrides}
    s = VirtualBenchSettings.model_validate(
        {
            "scene": scene,
            "width": width,
            "height": height,
            "true_A": A,
            "true_e_mm": e_mm,
            "noise": False,
            "seed": seed,
            "ambient": ambient,
            **kw,
        }
    )
    world = BenchWorld(s)
    depth = np.asarray(world.scene.depth_mm, dtype=np.float64)
    lo, hi = float(np.nanmin(depth)), float(np.nanmax(depth))
    focus = np.linspace(lo * 0.93, hi * 1.07, frames)
    v = np.asarray(optics.sensor_distance(focus, s.F_mm), dtype=np.float64)
    d = v - e_mm
    v_ref = float(optics.sensor_distance(s.working_distance_mm, s.F_mm))

    def state(d_mm: float, aperture: float) -> dict[str, Any]:
        return {
            "lens_steps": (d_mm - s.d_home_mm) * s.steps_per_mm,
            "pattern": None,
            "pattern_version": 0,
            "aperture_scale": aperture,
        }

    aif = np.array(world.optical_image(state(v_ref - e_mm, 0.0)), dtype=np.float32)
    if float(aif.max()) > 1.0:
        raise ValueError(f"virtual_sweep: radiance {aif.max():.3f} > 1 clips; lower ambient")
    rng = np.random.default_rng(seed + 17)
    out = []
    for dj in d:
        img = np.clip(np.array(world.optical_image(state(float(dj), 1.0))), 0.0, 1.0)
        noisy = rng.poisson(img * full_well_e) / full_well_e
        out.append(np.clip(noisy, 0.0, 1.0).astype(np.float32))
    truth: dict[str, Any] = {"A": A, "e_mm": e_mm}
    if variant == "disc":
        truth["edge"] = 0.0
    if variant == "chromatic":
        f = s.chromatic_A
        truth["chroma"] = [f[0] / f[1], 1.0, f[2] / f[1]]
        truth["A"] = A * f[1]
    if variant == "breathing":
        truth["breathing"] = s.focus_breathing
        truth["scale0"] = 1.0
    if variant == "field":
        truth["field"] = list(s.field_A)
    if variant == "tilt":
        truth["tilt_mm"] = list(s.sensor_tilt_mm)
    aif_clean = np.clip(aif, 0.0, 1.0)
    return VirtualSweep(aif_clean, depth, np.stack(out), d, s.F_mm, truth, v_ref)
