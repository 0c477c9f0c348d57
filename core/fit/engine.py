"""The fit: coarse landscape -> scatter-model zoom -> optimum below the grid step -> uncertainty.

1. **Landscape**: the user's (A, e) grid (the paper's Algorithm 1 by default) with the gather
   model, on a pyramid level small enough to be quick (``coarse_to_fine``) or at full
   resolution. Every term and every image is kept, for plots and for the bootstrap.
2. **Zoom** with the scatter model (layered renderer, eq. 8): a pattern search of 3x3 grids
   from the landscape's best point, coarse steps on a half-resolution level, fine steps at
   full resolution, then a 5x5 grid at the final steps; a quadratic fit to it gives the
   optimum below the grid step.
3. **Uncertainty**: bootstrap over sweep images on the final 5x5 grid, and its curvature.

Before all of this the observation model (core/fit/observation.py) is applied: simulations get
the frames' noise level and both sides a small pre-filter, without which sensor noise biases
the paper's Laplacian and histogram terms (docs/fitting.md).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from core.fit.grid import TERMS, Landscape, evaluate_grid
from core.fit.problem import FitProblem
from core.fit.progress import CancelToken, ProgressCallback
from core.fit.refine import bootstrap, quadratic_optimum, refine
from core.losses import LossConfig

#: The paper's grid as used in the authors' code: A 400..1150 step 50, e 23.0..24.8 step 0.2.
PAPER_A = np.arange(400.0, 1150.0 + 1e-9, 50.0)
#: Above this fraction of clipped samples the fit warns. Measured (docs/fitting.md): 5-7 %
#: clipped biased A 1-3 % low; the virtual steps scene's ~2 % left it within 0.4 %.
CLIP_WARN_FRACTION = 0.03
PAPER_E = np.round(np.arange(23.0, 24.8 + 1e-9, 0.2), 6)


@dataclass
class FitResult:
    A: float
    e: float
    A_std: float
    e_std: float
    loss: float
    terms: dict[str, float]
    landscape: Landscape
    zoom: Landscape | None = None
    at_boundary: bool = False
    hessian: list[list[float]] | None = None
    datasheet: dict[str, Any] | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        grid_A, grid_e, grid_loss = self.landscape.best()
        return {
            "A": self.A,
            "e": self.e,
            "A_std": self.A_std,
            "e_std": self.e_std,
            "loss": self.loss,
            "terms": self.terms,
            "grid_optimum": {"A": grid_A, "e": grid_e, "loss": grid_loss},
            "at_boundary": self.at_boundary,
            "hessian": self.hessian,
            "datasheet": self.datasheet,
            "timings_s": self.timings_s,
            "warnings": self.warnings,
            "settings": self.settings,
        }


def pyramid_factor(shape: tuple[int, ...], min_size: int) -> int:
    """Largest power of two (<= 8) that keeps the short image side >= min_size."""
    short = min(shape[-2:])
    factor = 1
    while factor < 8 and short // (factor * 2) >= min_size:
        factor *= 2
    return factor


def evaluate_point(
    problem: FitProblem, A: float, e: float, *, loss_config: LossConfig | None = None
) -> dict[str, float]:
    """Loss terms (mean over images) of one (A, e) with the scatter model."""
    ls = evaluate_grid(problem, [A], [e], model="layered", loss_config=loss_config, stage="point")
    return {t: float(v[0, 0]) for t, v in ls.terms.items()}


def fit(
    problem: FitProblem,
    A_values: np.ndarray | None = None,
    e_values: np.ndarray | None = None,
    *,
    coarse_to_fine: bool = True,
    min_coarse_size: int = 64,
    max_zoom_iterations: int = 16,
    presmooth_sigma: float = 2.0,
    noise_sd: float | str = "auto",
    loss_config: LossConfig | None = None,
    datasheet_A: float | None = None,
    bootstrap_n: int = 200,
    seed: int = 0,
    memory_budget_mb: float = 384.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> FitResult:
    A_grid = PAPER_A if A_values is None else np.asarray(A_values, dtype=np.float64)
    e_grid = PAPER_E if e_values is None else np.asarray(e_values, dtype=np.float64)
    torch.manual_seed(seed)
    problem = problem.with_observation(presmooth_sigma, noise_sd, seed)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    if problem.focus_depths_mm is not None and len(e_grid) > 1:
        e_grid = e_grid[len(e_grid) // 2 : len(e_grid) // 2 + 1]
        warnings.append(
            "the session gives focus depths Df directly (e.g. All-in-3D import): e does not "
            "enter the model, only A is fitted"
        )
    from core.fit.observation import clipped

    clip_fraction = float(clipped(problem.frames).float().mean())
    if clip_fraction > CLIP_WARN_FRACTION:
        warnings.append(
            f"{100 * clip_fraction:.1f}% of the sweep's samples are clipped (saturated or "
            "black): the fit may be biased (A 1-3% low on the virtual bench at 5-7%); lower "
            "the exposure so that the sweep does not saturate"
        )
    kw: dict[str, Any] = dict(
        loss_config=loss_config, memory_budget_mb=memory_budget_mb, cancel=cancel
    )

    t0 = time.perf_counter()
    factor = pyramid_factor(tuple(problem.aif.shape), min_coarse_size) if coarse_to_fine else 1
    coarse_problem = problem.downscale(factor)
    landscape = evaluate_grid(
        coarse_problem, A_grid, e_grid, model="gather", progress=progress, stage="landscape", **kw
    )
    landscape.meta["pyramid_factor"] = factor
    timings["landscape"] = time.perf_counter() - t0
    coarse = refine(landscape)
    if coarse.at_boundary:
        warnings.append(
            f"landscape minimum at the grid edge (A={coarse.A:.1f}, e={coarse.e:.3f}): "
            "the true optimum may lie outside the grid; widen --A-range/--e-range"
        )

    # Zoom with the scatter model (layered renderer): the gather model that made the
    # landscape is biased wherever sigma varies within a kernel footprint (depth edges and
    # slopes; measured in docs/fitting.md), so the optimum is located with eq. 8 itself, by a
    # pattern search: a 3x3 grid re-centred on its best point, steps halved (per axis, down
    # to the target resolution) whenever the centre is best. e is typically determined ~100x
    # more sharply than A relative to the paper's grid steps, hence separate step floors.
    zoom = None
    opt = coarse
    if len(A_grid) > 1 or len(e_grid) > 1:
        t0 = time.perf_counter()
        ia, ie = landscape.argmin()
        dA = float(A_grid[1] - A_grid[0]) if len(A_grid) > 1 else 0.05 * float(A_grid[0])
        de = float(e_grid[1] - e_grid[0]) if len(e_grid) > 1 else 0.0
        cA, ce = float(A_grid[ia]), float(e_grid[ie])
        sA, se = dA, de
        floor_A, floor_e = dA / 16.0, de / 32.0
        level = problem.downscale(pyramid_factor(tuple(problem.aif.shape), 2 * min_coarse_size))
        for _it in range(max_zoom_iterations):
            fine = sA <= dA / 4.0
            zA = cA + sA * np.array([-1.0, 0.0, 1.0])
            zA = zA[zA > 0]
            ze = ce + se * np.array([-1.0, 0.0, 1.0]) if se else np.array([ce])
            zoom = evaluate_grid(
                problem if fine else level,
                zA,
                ze,
                model="layered",
                progress=progress,
                stage="zoom" if fine else "zoom-coarse",
                **kw,
            )
            i, j = zoom.argmin()
            if (float(zA[i]), float(ze[j])) != (cA, ce):
                cA, ce = float(zA[i]), float(ze[j])
                continue
            if sA <= floor_A and se <= floor_e:
                break
            sA = sA / 2 if sA > floor_A else sA
            se = se / 2 if se > floor_e else se
        else:
            warnings.append("zoom did not converge within max_zoom_iterations")
        # the final grid: 5x5 at the last steps, for the quadratic optimum and the bootstrap
        zA = cA + sA * np.arange(-2.0, 3.0)
        zA = zA[zA > 0]
        ze = ce + se * np.arange(-2.0, 3.0) if se else np.array([ce])
        zoom = evaluate_grid(
            problem, zA, ze, model="layered", progress=progress, stage="zoom-final", **kw
        )
        timings["zoom"] = time.perf_counter() - t0
        opt = quadratic_optimum(zoom.A_values, zoom.e_values, zoom.total, radius=2)

    t0 = time.perf_counter()
    unc_source = zoom if zoom is not None else landscape
    A_std, e_std, _ = bootstrap(unc_source, n=bootstrap_n, seed=seed, radius=2)
    timings["bootstrap"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    terms = evaluate_point(problem, opt.A, opt.e, loss_config=loss_config)
    datasheet = None
    if datasheet_A is not None and math.isfinite(datasheet_A):
        ds_terms = evaluate_point(problem, float(datasheet_A), opt.e, loss_config=loss_config)
        datasheet = {
            "A": float(datasheet_A),
            "e": opt.e,
            "loss": ds_terms["total"],
            "terms": ds_terms,
            "loss_ratio": ds_terms["total"] / terms["total"] if terms["total"] > 0 else math.inf,
            "fit_loss_reduction": 1.0 - terms["total"] / ds_terms["total"]
            if ds_terms["total"] > 0
            else 0.0,
        }
    timings["final"] = time.perf_counter() - t0

    return FitResult(
        A=opt.A,
        e=opt.e,
        A_std=A_std,
        e_std=e_std,
        loss=terms["total"],
        terms={t: terms[t] for t in TERMS},
        landscape=landscape,
        zoom=zoom,
        at_boundary=coarse.at_boundary,
        hessian=None if opt.hessian is None else opt.hessian.tolist(),
        datasheet=datasheet,
        timings_s=timings,
        warnings=warnings,
        settings={
            "A_grid": [float(A_grid[0]), float(A_grid[-1]), len(A_grid)],
            "e_grid": [float(e_grid[0]), float(e_grid[-1]), len(e_grid)],
            "coarse_to_fine": coarse_to_fine,
            "pyramid_factor": factor,
            "presmooth_sigma": presmooth_sigma,
            "noise_sd": problem.noise_sd,
            "noise_sd_source": "estimated" if noise_sd == "auto" else "given",
            "images": problem.n_images,
            "image_shape": list(problem.aif.shape),
            "device": str(problem.device),
            "seed": seed,
        },
    )
