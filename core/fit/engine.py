"""The fit: coarse landscape -> scatter-model zoom -> optimum below the grid step -> uncertainty.

1. **Landscape**: the user's (A, e) grid (the paper's Algorithm 1 by default) with the gather
   model, on a pyramid level small enough to be quick (``coarse_to_fine``) or at full
   resolution. Every term and every image is kept, for plots and for the bootstrap.
2. **Zoom** with the scatter model (layered renderer, eq. 8), from the landscape's quadratic
   optimum: Newton steps on quadratic models of 3 x 3 designs, first on a coarse pyramid
   level (short side >= 128 px, 10 frames), then at full resolution (:mod:`psfbench.core.fit.zoom`);
   the final design's quadratic gives the optimum below the grid step.
3. **Uncertainty**: bootstrap over sweep images on the final design, and its curvature.

Before all of this the observation model (core/fit/observation.py) is applied: simulations get
the frames' noise level and both sides a small pre-filter, without which sensor noise biases
the paper's Laplacian and histogram terms (docs/fitting.md). Depth-map holes are rendered
through a far-side fill and each frame's losses leave out the pixels a hole's light can reach
(core/fit/depth_holes.py); the fraction of pixels each frame uses is reported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from psfbench.core.fit.grid import TERMS, BlockCallback, Landscape, evaluate_grid, frame_losses
from psfbench.core.fit.problem import FitProblem
from psfbench.core.fit.progress import CancelToken, ProgressCallback
from psfbench.core.fit.refine import bootstrap, quadratic_value, refine
from psfbench.core.fit.zoom import ZoomResult, newton_zoom, pattern_zoom
from psfbench.core.losses import LossConfig

#: The paper's grid as used in the authors' code: A 400..1150 step 50, e 23.0..24.8 step 0.2.
PAPER_A = np.arange(400.0, 1150.0 + 1e-9, 50.0)
#: Above this fraction of clipped samples the fit warns. Measured (docs/fitting.md): 5-7 %
#: clipped biased A 1-3 % low; the virtual steps scene's ~2 % left it within 0.4 %.
CLIP_WARN_FRACTION = 0.03
PAPER_E = np.round(np.arange(23.0, 24.8 + 1e-9, 0.2), 6)
#: Frames whose losses keep less than this fraction of pixels (hole reach, clipping) are left
#: out of a stage; below ``LOW_USAGE`` on average the fit warns.
MIN_FRAME_USAGE = 0.05
LOW_USAGE = 0.3
#: Frames (evenly spaced) the zoom's coarse level uses.
COARSE_ZOOM_FRAMES = 10
#: Loss masks are fixed per stage for candidates up to this multiple of the stage's start A.
MASK_A_MARGIN = 1.25


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
    zoom_path: list[Landscape] = field(default_factory=list)  # every zoom design, in order
    frame_usage: list[float] = field(default_factory=list)  # per fitted frame, final stage
    frame_indices: list[int] = field(default_factory=list)  # session indices of those frames
    at_boundary: bool = False
    hessian: list[list[float]] | None = None
    datasheet: dict[str, Any] | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    #: the PSF-model fits of ``psfbench fit --model`` (docs/psf-models.md): ``model`` and
    #: ``models`` of the results JSON; None for the paper's Gaussian alone
    psf_models: dict[str, Any] | None = None

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
            "frame_indices": self.frame_indices,
            "frame_usage": self.frame_usage,
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
    problem: FitProblem,
    A: float,
    e: float,
    *,
    loss_config: LossConfig | None = None,
    losses: Any = None,
) -> dict[str, float]:
    """Loss terms (mean over images) of one (A, e) with the scatter model."""
    ls = evaluate_grid(
        problem, [A], [e], model="layered", loss_config=loss_config, losses=losses, stage="point"
    )
    return {t: float(v[0, 0]) for t, v in ls.terms.items()}


def fit(
    problem: FitProblem,
    A_values: np.ndarray | None = None,
    e_values: np.ndarray | None = None,
    *,
    coarse_to_fine: bool = True,
    min_coarse_size: int = 64,
    zoom: str = "newton",
    max_zoom_iterations: int = 16,
    presmooth_sigma: float = 2.0,
    noise_sd: float | str = "auto",
    loss_config: LossConfig | None = None,
    hole_reach_sigmas: float = 2.0,
    hole_blur: str = "far",
    exclude_clipped: bool = False,
    datasheet_A: float | None = None,
    bootstrap_n: int = 200,
    seed: int = 0,
    memory_budget_mb: float = 384.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_block: BlockCallback | None = None,
) -> FitResult:
    """Fit (A, e) to a focus sweep; see the module docstring for the stages.

    ``A_values``/``e_values``: the landscape grid (default: the paper's). ``zoom``: "newton"
    (default) or "pattern" (the previous search, for comparison). ``hole_reach_sigmas``: how
    many sigmas of a hole's blur are left out around it in each frame. ``exclude_clipped``:
    also leave clipped samples out of the losses. ``on_block`` receives every finished block
    of the landscape and of each zoom design (:class:`psfbench.core.fit.grid.GridBlock`). Raises
    ValueError for bad grids or a problem without usable frames, and
    :class:`psfbench.core.fit.progress.Cancelled` when ``cancel`` is set.
    """
    if zoom not in ("newton", "pattern"):
        raise ValueError(f"zoom: unknown {zoom!r}, use 'newton' or 'pattern'")
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

    clip_fraction = float(problem.clipped_samples().float().mean())
    if clip_fraction > CLIP_WARN_FRACTION:
        warnings.append(
            f"{100 * clip_fraction:.1f}% of the sweep's samples are clipped (saturated or "
            "black): the fit may be biased (A 1-3% low on the virtual bench at 5-7%); lower "
            "the exposure so that the sweep does not saturate"
        )
    mask_kw: dict[str, Any] = dict(reach_sigmas=hole_reach_sigmas, exclude_clipped=exclude_clipped)
    e_mid = float(e_grid[len(e_grid) // 2])
    # each stage compares candidates on its own fixed masks and leaves out the frames those
    # masks leave (almost) empty; the reported frames are the final stage's
    landscape_problem = _drop_unusable_frames(
        problem.with_loss_masks(float(A_grid.max()), e_mid, **mask_kw), warnings, "landscape"
    )
    kw: dict[str, Any] = dict(
        loss_config=loss_config,
        memory_budget_mb=memory_budget_mb,
        cancel=cancel,
        progress=progress,
        on_block=on_block,
    )

    t0 = time.perf_counter()
    factor = pyramid_factor(tuple(problem.aif.shape), min_coarse_size) if coarse_to_fine else 1
    coarse_problem = _drop_unusable_frames(
        landscape_problem.downscale(factor).with_loss_masks(float(A_grid.max()), e_mid, **mask_kw),
        warnings,
        "landscape",
    )
    landscape = evaluate_grid(
        coarse_problem, A_grid, e_grid, model="gather", stage="landscape", **kw
    )
    landscape.meta["pyramid_factor"] = factor
    timings["landscape"] = time.perf_counter() - t0
    coarse = refine(landscape)
    edge_warning = (
        f"landscape minimum at the grid edge (A={coarse.A:.1f}, e={coarse.e:.3f}): "
        "the true optimum may lie outside the grid; widen --A-range/--e-range"
    )
    if coarse.at_boundary:
        warnings.append(edge_warning)

    # Zoom with the scatter model (layered renderer): the gather model that made the
    # landscape is biased wherever sigma varies within a kernel footprint (depth edges and
    # slopes; measured in docs/fitting.md), so the optimum is located with eq. 8 itself.
    zoom_result: ZoomResult | None = None
    opt = coarse
    final_problem = _drop_unusable_frames(
        problem.with_loss_masks(MASK_A_MARGIN * max(coarse.A, 1e-6), coarse.e, **mask_kw),
        warnings,
        "fit",
    )
    final_losses = None
    if len(A_grid) > 1 or len(e_grid) > 1:
        t0 = time.perf_counter()
        dA = float(A_grid[1] - A_grid[0]) if len(A_grid) > 1 else 0.05 * float(A_grid[0])
        de = float(e_grid[1] - e_grid[0]) if len(e_grid) > 1 else 0.0
        level_factor = pyramid_factor(tuple(problem.aif.shape), 2 * min_coarse_size)
        stages: dict[str, Any] = {"full": None}
        if level_factor > 1:
            level = final_problem.downscale(level_factor)
            if level.n_images > COARSE_ZOOM_FRAMES:
                # the coarse level only has to bring the zoom near the minimum: 10 evenly
                # spaced frames (its per-frame overhead dominates at 1/16-1/64 the pixels)
                keep = np.unique(np.linspace(0, level.n_images - 1, COARSE_ZOOM_FRAMES).round())
                level = level.subset(keep.astype(int))
            level = level.with_loss_masks(MASK_A_MARGIN * max(coarse.A, 1e-6), coarse.e, **mask_kw)
            usable = level.frame_usage() >= MIN_FRAME_USAGE
            if usable.any():
                level = level.subset(np.flatnonzero(usable))
                stages["coarse"] = (level, frame_losses(level, loss_config))

        def evaluate(
            which: str, za: np.ndarray, ze: np.ndarray, stage: str, skip: np.ndarray | None
        ) -> Landscape:
            nonlocal final_losses
            if which not in stages:
                which = "full"  # pattern search asks for "coarse" even at factor 1
            if stages[which] is None:
                final_losses = frame_losses(final_problem, loss_config)
                stages[which] = (final_problem, final_losses)
            prob, losses = stages[which]
            return evaluate_grid(
                prob, za, ze, model="layered", losses=losses, stage=stage, skip=skip, **kw
            )

        if zoom == "newton":
            levels = ("coarse", "full") if "coarse" in stages else ("full",)
            zoom_result = newton_zoom(
                evaluate, coarse.A, coarse.e, dA, de, hessian=coarse.hessian, levels=levels
            )
        else:
            zoom_result = pattern_zoom(
                evaluate, coarse.A, coarse.e, dA, de, max_iterations=max_zoom_iterations
            )
        warnings.extend(zoom_result.warnings)
        opt = zoom_result.optimum
        timings["zoom"] = time.perf_counter() - t0
    at_boundary = coarse.at_boundary
    if at_boundary and zoom_result is not None and zoom_result.converged:
        inside_A = len(A_grid) < 2 or A_grid[1] <= opt.A <= A_grid[-2]
        inside_e = len(e_grid) < 2 or e_grid[1] <= opt.e <= e_grid[-2]
        if inside_A and inside_e:
            # the zoom found the minimum well inside the grid: the landscape's edge minimum
            # was its sampling (a valley narrower than the e step), not the range
            at_boundary = False
            warnings[warnings.index(edge_warning)] = (
                f"the landscape's minimum lay at the grid edge (A={coarse.A:.1f}, "
                f"e={coarse.e:.3f}) but the zoom located the minimum inside the grid: the "
                "loss valley is narrower than the landscape's grid steps (a finer --grid "
                "shows it); the result stands"
            )

    t0 = time.perf_counter()
    unc_source = zoom_result.design if zoom_result is not None else landscape
    converged = zoom_result is None or zoom_result.converged
    A_std, e_std, _ = bootstrap(unc_source, n=bootstrap_n, seed=seed, radius=2)
    if not converged:  # no minimum located: a spread around a point on a slope means nothing
        A_std = e_std = math.nan
    timings["bootstrap"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    need_exact = (
        zoom_result is None
        or not converged
        or (datasheet_A is not None and math.isfinite(datasheet_A))
    )
    if need_exact:
        if final_losses is None:
            final_losses = frame_losses(final_problem, loss_config)
        terms = evaluate_point(
            final_problem, opt.A, opt.e, loss_config=loss_config, losses=final_losses
        )
    else:
        # between the final design's points: its quadratic per term (the design brackets the
        # optimum; exact at the design points), instead of one more full render of the sweep
        assert zoom_result is not None
        d = zoom_result.design
        terms = {
            t: quadratic_value(d.A_values, d.e_values, v, opt.A, opt.e) for t, v in d.terms.items()
        }
    datasheet = None
    if datasheet_A is not None and math.isfinite(datasheet_A):
        ds_terms = evaluate_point(
            final_problem, float(datasheet_A), opt.e, loss_config=loss_config, losses=final_losses
        )
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
    usage = final_problem.frame_usage()
    if float(usage.mean()) < LOW_USAGE:
        warnings.append(
            f"the losses use only {100 * float(usage.mean()):.0f}% of the pixels on average "
            f"(least: {100 * float(usage.min()):.0f}% in frame "
            f"{final_problem.frame_indices[int(usage.argmin())]}): depth-map holes and their "
            "blur cover most of the image; the estimate rests on few pixels"
        )

    return FitResult(
        A=opt.A,
        e=opt.e,
        A_std=A_std,
        e_std=e_std,
        loss=terms["total"],
        terms={t: terms[t] for t in TERMS},
        landscape=landscape,
        zoom=zoom_result.design if zoom_result is not None else None,
        zoom_path=zoom_result.evaluations if zoom_result is not None else [],
        frame_usage=[float(u) for u in usage],
        frame_indices=[int(i) for i in final_problem.frame_indices],
        at_boundary=at_boundary,
        hessian=None if opt.hessian is None else opt.hessian.tolist(),
        datasheet=datasheet,
        timings_s=timings,
        warnings=warnings,
        settings={
            "A_grid": [float(A_grid[0]), float(A_grid[-1]), len(A_grid)],
            "e_grid": [float(e_grid[0]), float(e_grid[-1]), len(e_grid)],
            "coarse_to_fine": coarse_to_fine,
            "pyramid_factor": factor,
            "zoom": zoom,
            "zoom_evaluations": None if zoom_result is None else zoom_result.n_evaluations,
            "zoom_converged": converged,
            # sessions that give focus depths directly (All-in-3D): e does not enter the model
            "e_fitted": problem.focus_depths_mm is None,
            "terms_at_optimum": "evaluated" if need_exact else "final design's quadratic",
            "mask_reference": {"A": MASK_A_MARGIN * max(coarse.A, 1e-6), "e": coarse.e},
            "presmooth_sigma": presmooth_sigma,
            "noise_sd": problem.noise_sd,
            "noise_gain": problem.noise_gain,
            "noise_sd_source": "estimated" if noise_sd == "auto" else "given",
            "hole_fraction": 0.0 if problem.hole_fill is None else problem.hole_fill.fraction,
            "hole_reach_sigmas": hole_reach_sigmas,
            "hole_blur": hole_blur,
            "exclude_clipped": exclude_clipped,
            "images": final_problem.n_images,
            "image_shape": list(problem.aif.shape),
            "device": str(problem.device),
            "seed": seed,
        },
    )


def _drop_unusable_frames(problem: FitProblem, warnings: list[str], stage: str) -> FitProblem:
    """Leave out frames whose losses keep less than ``MIN_FRAME_USAGE`` of the pixels under
    the problem's masks, with a warning naming them (session frame indices). Measured: frames
    with 1-3 % of their pixels pulled A 9 % low on a small sweep with 17 % holes (their few
    pixels are all at hole edges, and eq. 20 weights every frame equally)."""
    usage = problem.frame_usage()
    keep = [i for i, u in enumerate(usage) if u >= MIN_FRAME_USAGE]
    if not keep:
        raise ValueError(
            "no frame keeps a usable part of the image: the depth map's holes and their blur "
            f"leave at most {100 * float(usage.max()):.1f}% of any frame's pixels (at least "
            f"{100 * MIN_FRAME_USAGE:.0f}% needed); fill the holes or lower --hole-reach-sigmas"
        )
    if len(keep) < len(usage):
        dropped = [problem.frame_indices[i] for i in range(len(usage)) if i not in keep]
        msg = (
            f"{stage}: frames {dropped} left out: less than {100 * MIN_FRAME_USAGE:.0f}% of "
            "their pixels are clear of depth-map holes and their blur"
        )
        if msg not in warnings:
            warnings.append(msg)
        problem = problem.subset(keep)
    return problem
