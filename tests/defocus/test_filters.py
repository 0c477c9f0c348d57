"""Guided filters, patch cutting, eq. 6's averaging and depth conversion against brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core import optics
from psfbench.core.defocus.depth import depth_candidates, depth_map
from psfbench.core.defocus.guided import (
    box_mean,
    edge_weight,
    guided_filter,
    refine_map,
    weighted_guided_filter,
)
from psfbench.core.defocus.infer import spread_estimates, window_starts
from psfbench.core.defocus.patches import cut_patches, grey01, level_labels


def _box_loop(x: np.ndarray, r: int) -> np.ndarray:
    h, w = x.shape
    out = np.empty_like(x)
    for y in range(h):
        for i in range(w):
            out[y, i] = x[max(0, y - r) : y + r + 1, max(0, i - r) : i + r + 1].mean()
    return out


def _gf_loop(g: np.ndarray, p: np.ndarray, r: int, eps: np.ndarray | float) -> np.ndarray:
    """He et al. Algorithm 1 written out window by window (eps may be per pixel)."""
    h, w = g.shape
    eps_map = np.broadcast_to(np.asarray(eps, dtype=np.float64), g.shape)
    a = np.empty_like(g)
    b = np.empty_like(g)
    for y in range(h):
        for i in range(w):
            gw = g[max(0, y - r) : y + r + 1, max(0, i - r) : i + r + 1]
            pw = p[max(0, y - r) : y + r + 1, max(0, i - r) : i + r + 1]
            cov = (gw * pw).mean() - gw.mean() * pw.mean()
            a[y, i] = cov / (gw.var() + eps_map[y, i])
            b[y, i] = pw.mean() - a[y, i] * gw.mean()
    return _box_loop(a, r) * g + _box_loop(b, r)


@pytest.fixture
def images() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    g = rng.random((19, 23))
    g[:, 12:] += 1.0  # an edge
    p = rng.random((19, 23)) * 5
    return g, p


def test_box_mean_matches_loop(images: tuple[np.ndarray, np.ndarray]) -> None:
    g, _ = images
    for r in (0, 1, 3, 30):  # 30: wider than the image
        got = box_mean(torch.from_numpy(g), r).numpy()
        np.testing.assert_allclose(got, _box_loop(g, r), rtol=1e-12, atol=1e-12)


def test_guided_filter_matches_loop(images: tuple[np.ndarray, np.ndarray]) -> None:
    g, p = images
    got = guided_filter(torch.from_numpy(g), torch.from_numpy(p), 2, 0.01).numpy()
    np.testing.assert_allclose(got, _gf_loop(g, p, 2, 0.01), rtol=1e-9, atol=1e-9)


def test_weighted_guided_filter_matches_loop(images: tuple[np.ndarray, np.ndarray]) -> None:
    g, p = images
    # Li et al. eq. 9 written out: Gamma(p) = (1/N) sum_p' (var3(p) + nu) / (var3(p') + nu)
    nu = (0.001 * (g.max() - g.min())) ** 2
    var3 = _box_loop(g * g, 1) - _box_loop(g, 1) ** 2 + nu
    gamma = np.array([[np.mean(v / var3) for v in row] for row in var3])
    np.testing.assert_allclose(edge_weight(torch.from_numpy(g)).numpy(), gamma, rtol=1e-9)
    got = weighted_guided_filter(torch.from_numpy(g), torch.from_numpy(p), 3, 0.05).numpy()
    np.testing.assert_allclose(got, _gf_loop(g, p, 3, 0.05 / gamma), rtol=1e-9, atol=1e-9)


def test_refinement_snaps_a_blurred_map_step_to_the_guide_edge() -> None:
    # an object edge at x = 40 in the image; the coarse map's step is smeared over 16 px
    # (the reach of overlapping patches): the refined map must step at the image's edge
    h, w = 64, 96
    rng = np.random.default_rng(0)
    image = np.where(np.arange(w) < 40, 0.2, 0.8)[None].repeat(h, 0)
    image = image + 0.02 * rng.standard_normal((h, w))  # texture the guide must not copy
    coarse = np.clip((np.arange(w) - 32) / 16.0, 0.0, 1.0)[None].repeat(h, 0) * 7.0 + 2.0
    refined = refine_map(torch.from_numpy(coarse), torch.from_numpy(image)).numpy()
    jumps = np.diff(refined.mean(axis=0))
    assert int(np.argmax(jumps)) == 39  # between x = 39 and 40
    assert jumps.max() > 3.5 > 6 * np.diff(coarse.mean(axis=0)).max()
    assert refined.std(axis=0).max() < 0.2  # the image's noise is not copied into the map
    assert refined.min() >= coarse.min() - 1e-9 and refined.max() <= coarse.max() + 1e-9


def test_cut_patches_keeps_only_flat_sigma_and_averages() -> None:
    rng = np.random.default_rng(1)
    grey = rng.random((40, 50)).astype(np.float32)
    sigma = np.zeros((40, 50), np.float32)
    sigma[:, 25:] = 3.0
    sigma[:, :25] = np.linspace(0, 0.4, 25)[None]
    got_p, got_s = cut_patches(grey, sigma, 8, 4, 0.5)
    want_p, want_s = [], []
    for y in range(0, 40 - 8 + 1, 4):
        for x in range(0, 50 - 8 + 1, 4):
            s = sigma[y : y + 8, x : x + 8]
            if s.max() - s.min() <= 0.5:
                want_p.append(grey[y : y + 8, x : x + 8])
                want_s.append(s.mean())
    np.testing.assert_array_equal(got_p, np.array(want_p))
    np.testing.assert_allclose(got_s, want_s, rtol=1e-6)


def test_levels_and_grey() -> None:
    np.testing.assert_array_equal(
        level_labels(np.array([0.0, 0.49, 0.51, 18.6, 40.0]), 20, 1.0), [0, 0, 1, 19, 19]
    )
    np.testing.assert_array_equal(level_labels(np.array([1.1, 1.4]), 5, 0.5), [2, 3])
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 1] = 255
    np.testing.assert_allclose(grey01(rgb), 0.587, rtol=1e-6)
    np.testing.assert_allclose(grey01(np.full((2, 2), 65535, np.uint16)), 1.0)


def test_spread_estimates_is_eq6_mean() -> None:
    h, w, p = 21, 30, 8
    ys, xs = window_starts(h, p, 5), window_starts(w, p, 5)
    assert ys[-1] == h - p and xs[-1] == w - p
    vals = np.random.default_rng(2).random((len(ys), len(xs))).astype(np.float32)
    got = spread_estimates((h, w), p, ys, xs, vals)
    for y in range(h):
        for x in range(w):
            covering = [
                vals[i, j]
                for i, y0 in enumerate(ys)
                for j, x0 in enumerate(xs)
                if y0 <= y < y0 + p and x0 <= x < x0 + p
            ]
            assert got[y, x] == pytest.approx(np.mean(covering), rel=1e-6)


def test_depth_candidates_invert_the_optics() -> None:
    A, F, df = 416.7, 50.0, 480.0
    depth = np.array([300.0, 400.0, 470.0, 480.0, 520.0, 700.0, 2000.0])
    sigma = optics.sigma_map(depth, df, A, F)
    near, far = depth_candidates(sigma, A, F, df)
    front = depth <= df
    np.testing.assert_allclose(near[front], depth[front], rtol=1e-5)
    np.testing.assert_allclose(far[~front], depth[~front], rtol=1e-5)
    # each candidate really has that blur
    np.testing.assert_allclose(
        optics.sigma_map(near.astype(np.float64), df, A, F), sigma, rtol=1e-4, atol=1e-6
    )
    # beyond the far side's asymptote (sigma -> A F / Df... k >= 1): no far depth
    k1 = A * F / (df - F)
    assert np.isnan(depth_map(np.array([k1 * 1.01]), A, F, df, "far")).all()
    with pytest.raises(optics.OpticsError):
        depth_candidates(sigma, A, F, 40.0)
