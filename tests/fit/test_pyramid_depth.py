"""Pyramid levels for the PSF-model fits: a block across an occlusion edge keeps one of its
surfaces' depths and is left out of the losses (core/fit/problem.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.fit.problem import FitProblem, mixed_depth_blocks


def _step_problem() -> FitProblem:
    depth = np.full((8, 12), 550.0)
    depth[:, :5] = 450.0  # the edge runs through the level's column 2 (pixels 4 and 5)
    depth[0, 11] = np.nan
    aif = np.random.default_rng(0).random((1, 8, 12)).astype(np.float32)
    frames = np.stack([aif] * 4)
    return FitProblem.from_arrays(aif, depth, frames, np.array([31.0, 31.5, 32.0, 32.5]), 50.0)


def test_member_depth_is_a_depth_of_the_block() -> None:
    p = _step_problem()
    mean = p.downscale(2).depth_mm.numpy()
    member = p.downscale(2, depth="member").depth_mm.numpy()
    assert mean[0, 2] == pytest.approx(500.0)  # a depth no surface has
    assert set(np.unique(member[np.isfinite(member)])) == {450.0, 550.0}
    np.testing.assert_array_equal(member[:, :2], 450.0)
    np.testing.assert_array_equal(member[1:, 3:], 550.0)
    assert np.isnan(member[0, 5])  # the block with the depth-map hole (its depth is a guess)
    with pytest.raises(ValueError, match="member"):
        p.downscale(2, depth="median")


def test_mixed_blocks_are_the_edge_grown_by_dilate() -> None:
    depth = _step_problem().depth_mm
    m0 = mixed_depth_blocks(depth, 2, dilate=0).numpy()
    assert m0[:, 2].all() and m0.sum() == 4  # the block with the NaN is not mixed
    m1 = mixed_depth_blocks(depth, 2, dilate=1).numpy()
    assert m1[:, 1:4].all() and not m1[:, 0].any() and not m1[:, 4:].any()
    flat = mixed_depth_blocks(torch.full((8, 12), 500.0), 2)
    assert not bool(flat.any())
