"""The grid's per-frame CPU pipeline (render, noise and score each frame in one task) against
the general path it replaces for the gather model (render a block, add noise, score), on whole
landscapes: the numbers must be identical, not close."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.fit import evaluate_grid
from psfbench.core.fit.grid import TERMS, frame_losses
from psfbench.core.fit.grid_cpu import FramePipeline
from psfbench.core.fit.models import GatherModel
from psfbench.core.fit.session_io import problem_from_session
from psfbench.core.losses import LossConfig


class _Blockwise:
    """The gather model behind the ForwardModel protocol only: FramePipeline.create must
    refuse it (evaluate_grid then renders a block, adds noise and scores)."""

    def __init__(self, model: GatherModel) -> None:
        self.model, self.name = model, model.name

    def simulate(self, A_values: torch.Tensor, rel: torch.Tensor) -> torch.Tensor:
        return self.model.simulate(A_values, rel)


def _with_hole(problem, rows: slice, cols: slice):
    """The same problem with a NaN hole in its depth map (rebuilt, so the hole is filled for
    rendering and left out of the losses as a session's would be)."""
    depth = problem.depth_mm.clone()
    depth[rows, cols] = float("nan")
    return type(problem).from_arrays(
        problem.aif.numpy(), depth.numpy(), problem.frames.numpy(), problem.d_mm, problem.F_mm
    )


def _both(problem, A, e, cfg=None):
    sigma_max = max(float(problem.rel_defocus(float(x)).max()) for x in e) * max(A)
    model = GatherModel(problem, sigma_max)
    losses = frame_losses(problem, cfg)
    assert FramePipeline.create(problem, model, losses) is not None
    fused = evaluate_grid(problem, A, e, model=model, losses=losses)
    general = evaluate_grid(problem, A, e, model=model, losses=losses, per_frame=False)
    return fused, general


@pytest.mark.parametrize(
    "observation",
    [("auto", 0.0), (0.01, 0.0), (0.0, 0.0), (0.004, 2e-4)],
    ids=["auto", "constant-sd", "no-noise", "sd-and-gain"],
)
def test_pipeline_equals_the_blockwise_path(small_session, observation) -> None:
    path, _ = small_session
    problem, _ = problem_from_session(path, max_frames=5)
    sd, gain = observation
    obs = problem.with_observation(2.0, sd, noise_gain=gain).with_loss_masks(1000.0, 23.6)
    A = np.array([500.0, 700.0, 800.0, 950.0, 1300.0])
    e = np.array([23.4, 23.6, 23.9])
    fused, general = _both(obs, A, e)
    for t in TERMS:
        assert np.array_equal(fused.per_image[t], general.per_image[t]), t
    assert fused.best() == general.best()


def test_pipeline_equals_the_blockwise_path_with_holes_and_refcode_losses(small_session) -> None:
    """Per-frame masks from depth-map holes, and the other loss preset (float64, inclusive
    histogram edges, signed Laplacian histogram)."""
    path, _ = small_session
    problem, _ = problem_from_session(path, max_frames=4)
    holed = _with_hole(problem, slice(30, 45), slice(40, 70))
    obs = holed.with_observation(2.0, "auto").with_loss_masks(1000.0, 23.6)
    assert obs.loss_masks() is not None
    A = np.array([600.0, 800.0, 1100.0])
    e = np.array([23.5, 23.7])
    for cfg in (LossConfig.paper(), LossConfig.refcode()):
        fused, general = _both(obs, A, e, cfg)
        for t in TERMS:
            assert np.array_equal(fused.per_image[t], general.per_image[t]), (cfg, t)


def test_pipeline_is_not_used_where_it_does_not_apply(small_session) -> None:
    path, _ = small_session
    problem, _ = problem_from_session(path, max_frames=3)
    obs = problem.with_observation(2.0, "auto")
    losses = frame_losses(obs)
    model = GatherModel(obs, 30.0)
    assert FramePipeline.create(obs, _Blockwise(model), losses) is None
    from psfbench.core.losses.frames import FrameLosses

    torch_losses = FrameLosses(obs.observed(), obs.loss_masks(), backend="torch")
    assert FramePipeline.create(obs, model, torch_losses) is None


def test_max_rel_defocus_from_the_depth_extremes_equals_the_maps(small_session) -> None:
    """The stack's size comes from two depths per frame, not the maps: it must be their max."""
    path, _ = small_session
    problem, _ = problem_from_session(path, max_frames=6)
    holed = _with_hole(problem, slice(10, 20), slice(10, 30))
    for p in (problem, holed):
        for e in ([23.6], [22.0, 23.6, 25.5]):
            want = max(float(p.rel_defocus(x).max()) for x in e)
            assert p.max_rel_defocus(e) == want


def test_pipeline_equals_the_blockwise_path_on_colour_frames(small_session) -> None:
    """Three channels: each sampled with its own noise field, then turned to luma (or compared
    channel by channel) by the losses."""
    path, _ = small_session
    problem, _ = problem_from_session(path, max_frames=3)
    tint = np.array([1.0, 0.8, 0.6], np.float32)[:, None, None]
    aif = problem.aif.numpy() * tint
    frames = problem.frames.numpy() * tint[None]
    rgb = type(problem).from_arrays(
        aif, problem.depth_mm.numpy(), frames, problem.d_mm, problem.F_mm
    )
    obs = rgb.with_observation(2.0, "auto").with_loss_masks(1000.0, 23.6)
    assert tuple(obs.aif.shape)[0] == 3
    A = np.array([600.0, 800.0, 1100.0])
    e = np.array([23.5, 23.7])
    for cfg in (LossConfig.paper(), LossConfig.paper().with_(color="channels")):
        fused, general = _both(obs, A, e, cfg)
        for t in TERMS:
            assert np.array_equal(fused.per_image[t], general.per_image[t]), (cfg.color, t)
