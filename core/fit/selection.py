"""Model selection on held-out frames (issue 19): fit on some focus depths, score on others.

The sweep's frames, in focus order, alternate between a *fit* set and a *held-out* set (the
held-out frames are focus depths no model saw). Every candidate model is fitted on the fit set
from the grid's (A, e) (:func:`psfbench.core.fit.gradient.fit_model`) and scored on the held-out
set through the same renderer for every model. The score is eq. 19 with the fit's smooth
surrogate of the histogram term (:class:`psfbench.core.fit.gradient.Surrogate`: the paper's
terms and weights, each |Laplacian| value shared between its two nearest bins); the paper's own
hard-binned loss (:func:`psfbench.core.losses.loss_terms`) is reported beside it. On small
frames the hard histogram makes the held-out loss jump by ~10 % when A moves by 0.3 % (measured
on a 64x80 Gaussian session: 25.9, 26.8, 25.3 at A = 800, 802.6, 805), more than the
differences between models, and a richer model was chosen on that noise. The table holds
every model's held-out loss, parameters and uncertainties; the preferred model is the
*simplest* (fewest free parameters) whose held-out loss is within a tie margin of the best:
max(one standard error of the paired per-frame difference, ``tie_rel`` of the best loss). So a
richer model must beat the simpler ones by more than the frame-to-frame spread of its gain and
by more than 10 % to be chosen. The 10 %: the held-out frames share the error of the
parameters fitted on the others, which the per-frame spread does not see. On a simulated
193x257 Gaussian session with 3 um noise on each sensor reading, the Gaussian fitted on half
the depths landed 1.2 % and 5 um from the truth and scored 65.2 on the held-out depths, where
the truth scores 57.0, and breathing "won" by 4.3 %; on the plain virtual benches the other
models came within 0.8 % (A 300) and 7.6 % (A 800) of the Gaussian. Real effects of the
benches gained 2.2-8.6x (docs/psf-models.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from psfbench.core.fit.gradient import GradFit, fit_model, simulate, start_params
from psfbench.core.fit.problem import FitProblem, mixed_depth_blocks
from psfbench.core.fit.progress import ProgressCallback, StageTimer
from psfbench.core.losses import LossConfig
from psfbench.core.psfmodels import PsfModel, canonical_name
from psfbench.core.psfmodels.text import format_params

#: Relative held-out loss difference below which two models tie (the simpler wins).
TIE_REL = 0.10
#: Fewer held-out frames than this: the selection warns that its tie margin is uncertain.
MIN_HELDOUT = 5


def candidate_models(channels: int) -> list[str]:
    """The single-component models, simplest first; ``chromatic`` needs colour frames."""
    names = ["gaussian", "disc", "chromatic", "field", "tilt", "breathing"]
    return [n for n in names if n != "chromatic" or channels == 3]


@dataclass
class ModelRow:
    name: str
    n_free: int
    model: PsfModel
    fit_loss: float  # surrogate, mean over fit frames
    heldout_loss: float  # eq. 19, smooth histogram (the score), mean over held-out frames
    heldout_per_frame: list[float]
    time_s: float
    delta: float = 0.0  # held-out loss minus the best's
    margin: float = 0.0  # tie margin against the best
    heldout_paper: list[float] = field(default_factory=list)  # eq. 19, hard histogram

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "n_free": self.n_free,
            "params": self.model.params,
            "std": self.model.std,
            "fit_loss": self.fit_loss,
            "heldout_loss": self.heldout_loss,
            "heldout_per_frame": self.heldout_per_frame,
            "heldout_loss_paper": (
                float(np.mean(self.heldout_paper)) if self.heldout_paper else None
            ),
            "heldout_per_frame_paper": self.heldout_paper,
            "delta_vs_best": self.delta,
            "tie_margin": self.margin,
            "time_s": self.time_s,
        }


@dataclass
class Selection:
    rows: list[ModelRow]
    preferred: str
    reason: str
    fit_frames: list[int]
    heldout_frames: list[int]
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self, name: str) -> ModelRow:
        return next(r for r in self.rows if r.name == canonical_name(name))

    def to_json(self) -> dict[str, Any]:
        return {
            "preferred": self.preferred,
            "reason": self.reason,
            "fit_frames": self.fit_frames,
            "heldout_frames": self.heldout_frames,
            "table": [r.to_json() for r in self.rows],
            **self.extra,
        }

    def format_table(self) -> str:
        lines = [f"{'model':<12} {'free':>4} {'held-out':>10} {'vs best':>9}  parameters"]
        for r in self.rows:
            mark = "*" if r.name == self.preferred else " "
            lines.append(
                f"{mark}{r.name:<11} {r.n_free:>4} {r.heldout_loss:>10.2f} {r.delta:>+9.2f}  "
                + format_params(r.model)
            )
        lines.append(f"preferred: {self.preferred} ({self.reason})")
        if "warning" in self.extra:
            lines.append(f"WARNING: {self.extra['warning']}")
        return "\n".join(lines)


def split_frames(d_mm: np.ndarray) -> tuple[list[int], list[int]]:
    """(fit, held-out) positions: alternate in focus order (held-out = every second depth,
    the extremes kept for fitting so held-out depths lie inside the fitted range)."""
    order = np.argsort(np.asarray(d_mm))
    n = len(order)
    if n < 4:
        raise ValueError(f"model selection needs at least 4 frames, got {n}")
    held = [int(order[i]) for i in range(1, n - 1, 2)]
    fit = [int(i) for i in order if int(i) not in held]
    return sorted(fit), sorted(held)


def heldout_losses(
    problem: FitProblem,
    model: PsfModel,
    cfg: LossConfig,
    *,
    mode: str = "scatter",
    score: str = "smooth",
) -> list[float]:
    """Per-frame eq. 19 totals of ``model`` on ``problem``'s frames, each with its loss mask.
    ``score``: ``smooth`` (the fit's surrogate, soft histogram: the selection's score) or
    ``paper`` (core/losses, hard histogram). Raises ValueError for another ``score``."""
    from psfbench.core.fit.gradient import surrogate_for
    from psfbench.core.losses import loss_terms

    if score not in ("smooth", "paper"):
        raise ValueError(f"score must be 'smooth' or 'paper', got {score!r}")
    with torch.no_grad():
        sims = simulate(problem, dict(model.params), mode=mode)
        if score == "smooth":
            return [float(v) for v in surrogate_for(problem, cfg)(sims)]
        sims = sims.to(torch.float32)
        real = problem.observed()
        keep = problem.loss_masks()
        return [
            float(loss_terms(real[j], sims[j], keep[j], cfg)["total"])
            for j in range(problem.n_images)
        ]


def select_models(
    problem: FitProblem,
    A0: float,
    e0: float,
    names: Sequence[str] | None = None,
    *,
    loss_config: LossConfig | None = None,
    iterations: int = 40,
    mode: str = "scatter",
    tie_rel: float = TIE_REL,
    v_ref_mm: float | None = None,
    uncertainty: bool = True,
    on_model: Callable[[str, int, int], None] | None = None,
) -> Selection:
    """Fit every model of ``names`` (default :func:`candidate_models`) on the fit frames from
    the grid optimum (A0, e0) and score it on the held-out frames. ``problem``: observation
    model and loss masks applied. Raises ValueError (fewer than 4 frames, no sensor data)."""
    cfg = loss_config or LossConfig.paper()
    names = [canonical_name(n) for n in (names or candidate_models(problem.aif.shape[0]))]
    fit_idx, held_idx = split_frames(problem.d_mm)
    p_fit, p_held = problem.subset(fit_idx), problem.subset(held_idx)
    rows: list[ModelRow] = []
    for i, name in enumerate(names):
        if on_model is not None:
            on_model(name, i, len(names))
        t0 = time.perf_counter()
        st = start_params(name, A0, e0, problem)
        if v_ref_mm is not None and "v_ref_mm" in st:
            st["v_ref_mm"] = float(v_ref_mm)
        gf: GradFit = fit_model(
            p_fit,
            name,
            st,
            loss_config=cfg,
            iterations=iterations,
            mode=mode,
            uncertainty=uncertainty,
        )
        held = heldout_losses(p_held, gf.model, cfg, mode=mode)
        paper = heldout_losses(p_held, gf.model, cfg, mode=mode, score="paper")
        rows.append(
            ModelRow(
                name,
                gf.model.n_free(),
                gf.model,
                gf.loss,
                float(np.mean(held)),
                held,
                time.perf_counter() - t0,
                heldout_paper=paper,
            )
        )
    preferred, reason = choose(rows, tie_rel)
    extra: dict[str, Any] = {
        "score": "eq. 19 with the soft histogram (the fit's surrogate); "
        "heldout_loss_paper: the paper's hard histogram"
    }
    if len(held_idx) < MIN_HELDOUT:
        extra["warning"] = (
            f"only {len(held_idx)} held-out focus depths: the tie margin (one standard error "
            f"of {len(held_idx)} paired differences) is itself uncertain; a sweep of "
            f"{2 * MIN_HELDOUT + 1} or more frames gives {MIN_HELDOUT}"
        )
    return Selection(
        rows,
        preferred,
        reason,
        [problem.frame_indices[i] if problem.frame_indices else i for i in fit_idx],
        [problem.frame_indices[i] if problem.frame_indices else i for i in held_idx],
        extra,
    )


def choose(rows: list[ModelRow], tie_rel: float = TIE_REL) -> tuple[str, str]:
    """The simplest model tied with the best (module docstring); fills ``delta``/``margin``."""
    best = min(rows, key=lambda r: r.heldout_loss)
    b = np.asarray(best.heldout_per_frame)
    for r in rows:
        d = np.asarray(r.heldout_per_frame) - b
        se = float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0
        r.delta = float(d.mean())
        r.margin = max(se, tie_rel * best.heldout_loss)
    order = sorted(rows, key=lambda r: (r.n_free, rows.index(r)))
    for r in order:
        if r.delta <= r.margin:
            if r is best:
                others = [o for o in rows if o is not best]
                if not others:
                    return r.name, "only model"
                runner = min(others, key=lambda o: o.heldout_loss)
                return r.name, (
                    f"lowest held-out loss; the simpler models are worse by more than the tie "
                    f"margin (next: {runner.name} {runner.delta:+.2f})"
                    if r.n_free > min(o.n_free for o in rows)
                    else "lowest held-out loss and the simplest"
                )
            return r.name, (
                f"within the tie margin ({r.delta:+.2f} <= {r.margin:.2f}) of the best "
                f"({best.name}) with fewer parameters"
            )
    return best.name, "lowest held-out loss"


# ---------------------------------------------------------------------------- session fits

#: The model fits run on a pyramid level whose short side is at least this (px).
MODEL_MIN_SIZE = 96


def model_problem(
    problem: FitProblem,
    A: float,
    e: float,
    *,
    presmooth_sigma: float = 2.0,
    noise_sd: float | str = "auto",
    hole_reach_sigmas: float = 2.0,
    exclude_clipped: bool = False,
    min_size: int = MODEL_MIN_SIZE,
) -> FitProblem:
    """The loaded problem as the model fits use it: the grid's observation model, a pyramid
    level with short side >= ``min_size`` (each block's depth one of its surfaces', blocks
    across occlusion edges out of the losses: :func:`psfbench.core.fit.problem.
    mixed_depth_blocks`), loss masks for A up to 1.25 x the grid's."""
    from psfbench.core.fit.engine import pyramid_factor

    p = problem.with_observation(presmooth_sigma, noise_sd)
    # each block's depth is one of its surfaces' (a mean across an occlusion edge is a depth
    # nothing has: on a 193x257 objects session the level's render at the truth differed from
    # the downscaled full-resolution render by up to 0.55, and eq. 19 there was 26x the full
    # resolution's; the models then "explained" it, breathing best by 3 % on Gaussian data)
    k = pyramid_factor(tuple(p.aif.shape), min_size)
    full_depth = p.depth_mm
    p = p.downscale(k, depth="member")
    p = p.with_loss_masks(
        1.25 * A, e, reach_sigmas=hole_reach_sigmas, exclude_clipped=exclude_clipped
    )
    if k > 1:  # level pixels that mix two surfaces (occlusion edges) are left out
        mixed = mixed_depth_blocks(full_depth, k).to(p.device)
        excl = mixed[None] if p.exclude is None else p.exclude | mixed[None]
        p = replace(p, exclude=excl)
    return p


def run_model_fit(
    problem: FitProblem,
    A: float,
    e: float,
    model: str,
    *,
    loss_config: LossConfig | None = None,
    iterations: int = 40,
    on_message: Callable[[str], None] | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """``psfbench fit --model NAME|auto`` after the grid: returns {"model": PsfModel JSON
    (the chosen model fitted on all frames), "models": selection table JSON (``auto``) or the
    one model's row}. ``problem`` from :func:`model_problem`. ``progress`` gets the stage
    "PSF models", one step per model fit (the candidates and the refit). Raises ValueError."""
    cfg = loss_config or LossConfig.paper()
    say = on_message or (lambda _m: None)
    channels = int(problem.aif.shape[0])
    if model == "auto":
        names = candidate_models(channels)
        timer = StageTimer("PSF models", len(names) + 1, progress)
        timer.advance(0)  # the stage starts now (the CLI's line for the zoom ends here)

        def on_model(n: str, i: int, k: int) -> None:
            timer.advance(i - timer.done)
            say(f"model {i + 1}/{k}: {n} (fit on half the depths)")

        sel = select_models(
            problem, A, e, names, loss_config=cfg, iterations=iterations, on_model=on_model
        )
        chosen = sel.row(sel.preferred).model
        timer.advance(len(names) - timer.done)
        # progress only: the table and the refit's parameters are in the result's model table
        say(f"model selection: {sel.preferred}; refitting {sel.preferred} on all frames")
        final = fit_model(
            problem, sel.preferred, dict(chosen.params), loss_config=cfg, iterations=iterations
        )
        timer.advance()
        return {"model": final.model.to_json(), "models": sel.to_json()}
    name = canonical_name(model)
    if "chromatic" in name.split("+") and channels != 3:
        raise ValueError("the chromatic model needs colour losses (--rgb)")
    timer = StageTimer("PSF models", 1, progress)
    timer.advance(0)
    gf = fit_model(
        problem, name, start_params(name, A, e, problem), loss_config=cfg, iterations=iterations
    )
    timer.advance()
    row = {
        "name": name,
        "n_free": gf.model.n_free(),
        "params": gf.model.params,
        "std": gf.model.std,
        "fit_loss": gf.loss,
        "time_s": gf.time_s,
    }
    return {
        "model": gf.model.to_json(),
        "models": {"preferred": name, "reason": "chosen by --model", "table": [row]},
    }
