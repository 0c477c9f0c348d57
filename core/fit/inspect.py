"""One (A, e) examined closely: what the model predicts for each frame, and why it scores so.

The fitting panel's explorer calls this when a researcher clicks a point of the landscape:
the simulated frames (layered scatter renderer, clipped like the camera), the camera's frames,
their difference, each frame's loss terms and mask, and the sigma maps. Same observation model
and masks as the fit (``FitProblem.with_observation`` / ``with_loss_masks``), so the terms
equal the landscape's at that point. Measured on 2 shared CPU cores at 512 x 512: 0.5-1.0 s
for all 20 frames, 0.04 s for one (``frames=[i]``). :func:`problem_for_inspection` prepares a
problem exactly as a finished fit used it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from psfbench.core.fit.grid import TERMS, frame_losses
from psfbench.core.fit.observation import gaussian_smooth
from psfbench.core.fit.problem import FitProblem
from psfbench.core.losses import LossConfig


@dataclass(frozen=True)
class Inspection:
    """Everything about one candidate (A, e); tensors on the problem's device, float32.

    ``simulated``, ``observed``, ``residual`` (simulated - observed): (M, C, H, W) in [0, 1]
    units of full scale, before the observation model's pre-filter; ``sigma``: (M, H, W) blur
    in px of this problem; ``masks``: (M, H, W) bool, pixels the losses use; ``per_image``:
    term -> (M,) float64; ``terms``: term -> mean over frames (eq. 20).
    """

    A: float
    e: float
    frame_indices: tuple[int, ...]
    simulated: torch.Tensor
    observed: torch.Tensor
    residual: torch.Tensor
    sigma: torch.Tensor
    masks: torch.Tensor
    per_image: dict[str, np.ndarray]
    terms: dict[str, float]


def problem_for_inspection(problem: FitProblem, result: Any) -> FitProblem:
    """``problem`` (as loaded for the fit) with the observation model, loss masks and frames
    that the fit ``result`` (a :class:`psfbench.core.fit.FitResult`) used in its final stage, so
    that
    :func:`inspect_point` reproduces its loss values. Raises KeyError if ``result`` lacks the
    settings (a fit.json from before issue 11)."""
    st = result.settings
    p = problem.with_observation(
        st["presmooth_sigma"], st["noise_sd"], st["seed"], st.get("noise_gain", 0.0)
    )
    ref = st["mask_reference"]
    p = p.with_loss_masks(
        ref["A"],
        ref["e"],
        reach_sigmas=st["hole_reach_sigmas"],
        exclude_clipped=st["exclude_clipped"],
        hole_blur=st.get("hole_blur", "far"),
    )
    wanted = list(result.frame_indices)
    if wanted and tuple(wanted) != p.frame_indices:
        pos = {f: i for i, f in enumerate(p.frame_indices)}
        p = p.subset([pos[f] for f in wanted])
    return p


def inspect_point(
    problem: FitProblem,
    A: float,
    e: float,
    *,
    frames: Sequence[int] | None = None,
    loss_config: LossConfig | None = None,
    losses: Any = None,
) -> Inspection:
    """Simulate and score one (A, e). ``frames``: positions in ``problem`` (default all).

    ``problem`` should carry the fit's observation model and loss masks; ``losses`` (from
    :func:`psfbench.core.fit.grid.frame_losses` of the same problem) is reused when given, which
    saves rebuilding the real frames' features on every click. Raises ValueError for A <= 0 or a
    frame position out of range.
    """
    from psfbench.core.render import blur_layered

    if not A > 0:
        raise ValueError(f"A must be > 0, got {A}")
    if frames is not None:
        pos = [int(i) for i in frames]
        if any(i < 0 or i >= problem.n_images for i in pos):
            raise ValueError(f"frames: positions must be in 0..{problem.n_images - 1}, got {pos}")
        problem = problem.subset(pos)
        losses = None
    if losses is None:
        losses = frame_losses(problem, loss_config)
    with torch.no_grad():
        sigma = float(A) * problem.rel_defocus(float(e))  # (M, H, W)
        sim = blur_layered(problem.aif, sigma).clamp_(0.0, 1.0)  # (M, C, H, W)
        compared = gaussian_smooth(sim, problem.presmooth_sigma)
        compared = problem.add_noise(compared)
        values = losses(compared[None])
    per_image = {t: values[t][0].double().cpu().numpy() for t in TERMS}
    return Inspection(
        A=float(A),
        e=float(e),
        frame_indices=problem.frame_indices,
        simulated=sim,
        observed=problem.frames,
        residual=sim - problem.frames,
        sigma=sigma,
        masks=problem.loss_masks(),
        per_image=per_image,
        terms={t: float(v.mean()) for t, v in per_image.items()},
    )
