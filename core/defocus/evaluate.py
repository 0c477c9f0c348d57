"""Held-out virtual-bench frames with known sigma maps, and how well a defocus map matches them.

:func:`bench_frame` renders one frame of the virtual bench (:class:`psfbench.core.bench.world.
BenchWorld`, its own renderer: for ``psf_shape="disc"`` the disc lens of
:func:`psfbench.core.bench.psf.disc_blur`) focused at a given depth, with the camera's noise
(Poisson shot noise at the full well, read noise, 12-bit quantisation, as
:class:`psfbench.core.bench.camera.SimCamera` develops a frame), and the exact sigma map.

Sigma is the PSF's second moment (px), the convention of :mod:`psfbench.core.psfmodels`: for
the bench's Gaussian lens it is the renderer's sigma (``true_A`` through eqs. 5-6); the bench's
disc has radius ``sigma / (2 omega)`` (omega = 0.48), and a uniform disc of radius R has a
per-axis standard deviation of R / 2, so its second moment is ``sigma / (4 omega)``: the true
disc lens in psfmodels terms is ``disc`` with edge 0 and A = ``true_A / (4 omega)`` (416.7 for
the bench's 800). :func:`score` compares a map with the truth: per-pixel MAE (px), the share
of pixels whose 20-level class (``round(sigma / step)``, clipped) is right, both over all
pixels and over pixels at least a patch away from any depth edge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from psfbench.core.optics import DEFAULT_OMEGA


@dataclass
class BenchFrame:
    """``image`` (H, W) float32 grey [0, 1] as the camera delivered it (12-bit);
    ``sigma`` (H, W) float32 px, the true second moment; ``depth`` (H, W) float32 mm;
    ``focus_mm`` the focus depth; ``info`` scene, seed, PSF shape, A."""

    image: np.ndarray
    sigma: np.ndarray
    depth: np.ndarray
    focus_mm: float
    info: dict[str, Any] = field(default_factory=dict)


def true_second_moment_A(true_A: float, psf_shape: str) -> float:
    """The bench lens's A in second-moment terms (module docstring)."""
    return true_A / (4.0 * DEFAULT_OMEGA) if psf_shape == "disc" else true_A


def bench_frame(
    focus_mm: float,
    *,
    scene: str = "steps",
    seed: int = 0,
    psf_shape: str = "disc",
    true_A: float = 800.0,
    size: tuple[int, int] = (257, 307),
    noise: bool = True,
) -> BenchFrame:
    """One virtual-bench frame focused as near ``focus_mm`` as the focus drive's steps allow
    (the exact focus depth is in the result). ``size`` (H, W)."""
    from psfbench.core import optics
    from psfbench.core.bench.settings import VirtualBenchSettings
    from psfbench.core.bench.world import BenchWorld

    s = VirtualBenchSettings.model_validate(  # validates the scene and PSF shape names
        {
            "scene": scene,
            "seed": seed,
            "psf_shape": psf_shape,
            "true_A": true_A,
            "height": size[0],
            "width": size[1],
            "travel_steps": 100000,
        }
    )
    world = BenchWorld(s)
    steps = world.steps_for_focus_depth(focus_mm)
    state = {"lens_steps": float(steps), "pattern": None, "pattern_version": 0}
    state["aperture_scale"] = 1.0
    df = float(optics.focus_depth(s.d_home_mm + steps / s.steps_per_mm, s.true_e_mm, s.F_mm))
    img = world.optical_image(state)  # (3, H, W) irradiance
    from psfbench.core.defocus.patches import LUMA

    grey = np.tensordot(LUMA, img, axes=1).astype(np.float64)
    electrons = grey * s.full_well_e
    if noise:
        rng = np.random.default_rng([seed, steps, 0xF0C5])
        electrons = rng.poisson(np.clip(electrons, 0.0, None)).astype(np.float64)
        electrons += rng.normal(0.0, s.read_noise_e, electrons.shape)
    dn = np.clip(np.rint(electrons * 4095.0 / s.full_well_e), 0, 4095)
    depth = np.asarray(world.scene.depth_mm, dtype=np.float32)
    a2 = true_second_moment_A(true_A, psf_shape)
    sigma = np.asarray(optics.sigma_map(depth, df, a2, s.F_mm), dtype=np.float32)
    return BenchFrame(
        (dn / 4095.0).astype(np.float32),
        sigma,
        depth,
        df,
        {"scene": scene, "seed": seed, "psf_shape": psf_shape, "true_A": true_A, "A2": a2},
    )


def edge_free_mask(truth: np.ndarray, radius: int, tol: float = 0.5) -> np.ndarray:
    """True where the truth varies by at most ``tol`` px within ``radius`` px (no depth edge
    within a patch's reach)."""
    import cv2

    k = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    t = truth.astype(np.float32)
    spread = cv2.dilate(t, k) - cv2.erode(t, k)
    return spread <= tol


def score(
    pred: np.ndarray,
    truth: np.ndarray,
    *,
    levels: int = 20,
    step: float = 1.0,
    mask: np.ndarray | None = None,
) -> dict[str, float]:
    """MAE (px), RMSE (px), 20-level class accuracy and bias (mean pred - truth) over ``mask``
    (all pixels when None)."""
    p = np.asarray(pred, np.float64)
    t = np.asarray(truth, np.float64)
    if mask is not None:
        p, t = p[mask], t[mask]
    err = p - t
    cp = np.clip(np.rint(p / step), 0, levels - 1)
    ct = np.clip(np.rint(t / step), 0, levels - 1)
    return {
        "mae_px": float(np.abs(err).mean()),
        "rmse_px": float(np.sqrt((err**2).mean())),
        "bias_px": float(err.mean()),
        "accuracy": float((cp == ct).mean()),
        "within_1_level": float((np.abs(cp - ct) <= 1).mean()),
        "pixels": int(t.size),
    }


def depth_error(
    pred_sigma: np.ndarray, frame: BenchFrame, A: float, F_mm: float = 50.0
) -> dict[str, float]:
    """Depth from ``pred_sigma`` through ``A`` (the model's) on the true side of the focus
    plane (an oracle for the near/far ambiguity), against the frame's depth: MAE mm and
    median relative error; pixels where the truth is within 2 mm of the focus plane are left
    out (there depth is ill-determined by blur)."""
    from psfbench.core.defocus.depth import depth_candidates

    near, far = depth_candidates(pred_sigma, A, F_mm, frame.focus_mm)
    d = frame.depth.astype(np.float64)
    est = np.where(d < frame.focus_mm, near, far).astype(np.float64)
    ok = np.isfinite(d) & (np.abs(d - frame.focus_mm) > 2.0)
    est_ok = ok & np.isfinite(est)
    err = np.abs(est[est_ok] - d[est_ok])
    return {
        "depth_mae_mm": float(err.mean()) if err.size else float("nan"),
        "depth_median_rel": float(np.median(err / d[est_ok])) if err.size else float("nan"),
        "no_depth_share": float(1.0 - est_ok.sum() / max(ok.sum(), 1)),
    }
