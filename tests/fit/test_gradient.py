"""Gradient fit of the PSF models (core/fit/gradient.py) on virtual-bench sweeps rendered by
the bench's own renderers (core/render, core/bench/psf.py), not by the fit's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.fit.gradient import fit_model, start_params
from psfbench.core.fit.problem import FitProblem
from psfbench.core.fit.selection import heldout_losses
from psfbench.core.losses import LossConfig
from psfbench.core.psfmodels import PsfModel
from psfbench.core.psfmodels.virtual import virtual_sweep


def _problem(variant: str, **kw) -> tuple[FitProblem, object]:
    vs = virtual_sweep(variant, frames=6, width=80, height=64, A=200.0, **kw)
    p = FitProblem.from_arrays(vs.aif, vs.depth_mm, vs.frames, vs.d_mm, vs.F_mm, gray=True)
    return p.with_observation(1.0, "auto").with_loss_masks(260.0, 23.6), vs


def test_gaussian_gradient_fit_recovers_A_e_from_an_off_start() -> None:
    torch.manual_seed(0)
    p, vs = _problem("plain")
    start = start_params("gaussian", 220.0, 23.64, p)
    gf = fit_model(p, "gaussian", start, iterations=20, bootstrap=100)
    A, e = gf.model.params["A"], gf.model.params["e_mm"]
    assert abs(A - 200.0) / 200.0 < 0.03, A
    assert abs(e - 23.6) < 0.015, e
    assert 0 < gf.model.std["A"] < 15 and 0 < gf.model.std["e_mm"] < 0.02
    assert gf.history[-1] < gf.history[0]
    # the paper's own loss (hard histogram, core/losses) agrees it improved
    cfg = LossConfig.paper()
    before = np.mean(heldout_losses(p, PsfModel.gaussian(220.0, 23.64), cfg))
    after = np.mean(heldout_losses(p, gf.model, cfg))
    assert after < before


def test_models_need_sensor_readings() -> None:
    p, vs = _problem("plain")
    from dataclasses import replace

    given = replace(p, focus_depths_mm=np.full(p.n_images, 500.0))
    with pytest.raises(ValueError, match="sensor readings"):
        fit_model(given, "disc", start_params("disc", 200.0, 23.6, p), iterations=1)


@pytest.mark.parametrize("name", ["gaussian", "disc"])
def test_frame_gradients_one_frame_at_a_time_equal_the_batched_ones(name: str) -> None:
    """The bootstrap's per-frame gradients, each frame rendered alone, against a backward pass
    per frame through the batched render (the way they were computed before). They differ by
    float rounding only, which the soft histogram's bin edges amplify to ~1 % of the largest
    gradient (measured 0.2-0.8 %)."""
    from psfbench.core.fit.gradient import _frame_gradients, _Space, simulate, surrogate_for

    p, _ = _problem("disc" if name == "disc" else "plain")
    cfg = LossConfig.paper()
    start = start_params(name, 210.0, 23.62, p)
    space = _Space(name, start)
    theta = space.theta0().clone()
    t = theta.clone().requires_grad_(True)
    per = surrogate_for(p, cfg)(simulate(p, space.params(t), mode="scatter"))
    batched = np.stack(
        [torch.autograd.grad(per[j], t, retain_graph=True)[0].numpy() for j in range(p.n_images)]
    )
    alone = _frame_gradients(p, space, theta, cfg, "scatter", None)
    scale = np.abs(batched).max(axis=0)
    assert alone.shape == batched.shape == (p.n_images, space.n)
    assert np.all(np.abs(alone - batched) <= 0.02 * scale), (alone, batched)


def test_bootstrap_leaves_a_flat_direction_undetermined() -> None:
    """A loss that does not depend on the disc's edge at all (the Gaussian end, where the edge
    does not change the PSF): its sd is NaN (not determined), A's and e's stay finite. Before,
    pinv inverted the flat direction's rounding noise (an edge sd of 4e-4 in one run, 0.4 in
    the next, and A's sd with it)."""
    from psfbench.core.fit.gradient import _bootstrap_std, _Space

    space = _Space("disc", start_params("disc", 800.0, 23.6, _problem("plain")[0]))
    rng = np.random.default_rng(1)
    centres = torch.as_tensor(rng.normal(0.0, 0.01, (8, 2)))

    def loss_vec(theta: torch.Tensor) -> torch.Tensor:
        d = theta[None, :2] - centres
        return 50.0 * d[:, 0] ** 2 + 300.0 * d[:, 1] ** 2 + 0.0 * theta[2]

    def frame_grads(theta: torch.Tensor) -> np.ndarray:
        t = theta.detach().clone().requires_grad_(True)
        per = loss_vec(t)
        return np.stack(
            [torch.autograd.grad(per[j], t, retain_graph=True)[0].numpy() for j in range(8)]
        )

    std = _bootstrap_std(loss_vec, frame_grads, space, space.theta0(), 200, 0)
    assert np.isnan(std["edge"])
    assert 0 < std["A"] < 50 and 0 < std["e_mm"] < 0.01, std


def test_newton_polish_hands_its_hessian_to_the_bootstrap_only_where_it_was_taken() -> None:
    """The polish returns the Hessian it computed when that was at the returned theta (its
    last step changed nothing), saving the bootstrap 2n gradient evaluations; after a step
    that moved theta it returns None (the bootstrap recomputes)."""
    from psfbench.core.fit.gradient import _hessian, _newton_polish

    target = torch.tensor([0.3, -0.2], dtype=torch.float64)

    def loss_vec(theta: torch.Tensor) -> torch.Tensor:
        d = theta - target
        return torch.stack([2.0 * d[0] ** 2 + d[1] ** 2 + 0.5 * d[0] * d[1]] * 3)

    start = torch.zeros(2, dtype=torch.float64)
    th, loss, H = _newton_polish(loss_vec, start, float(loss_vec(start).mean()), 3)
    assert torch.allclose(th, target, atol=1e-6)
    assert H is not None  # converged: the last Hessian was taken at th
    np.testing.assert_allclose(H, _hessian(loss_vec, th), rtol=1e-9, atol=1e-9)
    _, _, H1 = _newton_polish(loss_vec, start, float(loss_vec(start).mean()), 1)
    assert H1 is None  # one step that moved theta
