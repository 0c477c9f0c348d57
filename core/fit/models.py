"""Forward models for the grid: how a candidate (A, e) becomes simulated sweep images.

``gather``: the all-in-focus image is blurred once at a ladder of sigma levels
(``psfbench.core.render.GatherStack``); every candidate then costs one per-pixel interpolation. It
differs from the scatter model of eq. 8 only near depth edges, so it is used for the coarse,
landscape-wide passes. ``layered``: the fast scatter renderer
(``psfbench.core.render.blur_layered``), used where the optimum is polished. ``scatter``: the exact
renderer of eq. 8 (``psfbench.core.render.blur_scatter``), 30-100x slower, to check what the fast
renderer concludes (the fit's refinement must not move by more than 0.2 % in A when it replaces
``layered``). All share one interface so the grid code is model-agnostic.
"""

from __future__ import annotations

from typing import Protocol

import torch

from psfbench.core.fit.observation import gaussian_smooth
from psfbench.core.fit.problem import FitProblem


class ForwardModel(Protocol):
    name: str

    def simulate(self, A_values: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        """(nA,) x (M, H, W) relative defocus -> (nA, M, C, H, W) simulated images, clipped
        to the sensor's full scale like the camera's own response (the scatter model adds
        light at occlusion edges), then passed through the problem's pre-filter (the noise is
        added by the caller)."""
        ...


class GatherModel:
    name = "gather"

    def __init__(self, problem: FitProblem, sigma_max: float) -> None:
        from psfbench.core.render import GatherStack

        # Pre-smoothing the output equals blurring every level by sigma0 wherever sigma is
        # locally constant, which is the gather model's own domain of validity.
        aif = gaussian_smooth(problem.aif, problem.presmooth_sigma)
        self.stack = GatherStack(aif, sigma_max=float(sigma_max))

    def simulate(self, A_values: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        return self.stack.sample_scaled(A_values.to(rel), rel, clip=(0.0, 1.0))


class LayeredModel:
    name = "layered"

    def __init__(self, problem: FitProblem) -> None:
        self.aif = problem.aif
        self.presmooth = problem.presmooth_sigma

    def _blur(self, sigma: torch.Tensor) -> torch.Tensor:
        from psfbench.core.render import blur_layered

        return blur_layered(self.aif, sigma)

    def simulate(self, A_values: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        sigma = A_values.view(-1, 1, 1, 1).to(rel) * rel[None]
        n_a, m, h, w = sigma.shape
        out = self._blur(sigma.reshape(n_a * m, h, w)).clamp_(0.0, 1.0)
        out = gaussian_smooth(out, self.presmooth)
        return out.reshape(n_a, m, *out.shape[1:])


class ScatterModel(LayeredModel):
    """The layered model's simulation with the exact renderer in its place."""

    name = "scatter"

    def _blur(self, sigma: torch.Tensor) -> torch.Tensor:
        from psfbench.core.render import blur_scatter

        return blur_scatter(self.aif, sigma)


def make_model(name: str, problem: FitProblem, sigma_max: float) -> ForwardModel:
    if name == "gather":
        return GatherModel(problem, sigma_max)
    if name == "layered":
        return LayeredModel(problem)
    if name == "scatter":
        return ScatterModel(problem)
    raise ValueError(f"unknown forward model {name!r} (use 'gather', 'layered' or 'scatter')")
