"""Sigma levels for the layered renderer and the gather stack, and each pixel's level weights.

A pixel of sigma s is rendered as a mixture of the level kernels around it, with weights from
*quadratic* (3-node Lagrange) interpolation in the variance v = s^2: for s_k <= s < s_{k+1}
(k >= 1) the nodes are levels k-1, k, k+1 (:func:`node_weights`). The weights sum to 1 and
reproduce v and v^2 exactly, so the mixture has the Gaussian's second *and* fourth moments
(3 v^2); one weight (on the narrowest node) is slightly negative. Between 0 and the first level
(sub-pixel blur) the mixture is linear in variance, (1-t) delta + t G_{s_1}.

Why not the two nearest levels with linear weights in variance, as before: that mixture has
the right variance but is more peaked and heavier-tailed than G_s (its transfer function is
above the Gaussian's at every frequency, Jensen's inequality on exp(-v w^2 / 2)), so it renders
a slightly *sharper* image. At the former ladder (ratio ~1.23) a step edge came out 1-3 % too
steep and a fit through it returned A ~1 % high (issue 11); PSNR >= 50 dB did not show it.
Linear weights would need a level ratio of 1.06 for 0.13 %; quadratic weights reach 0.13 %
at :data:`MAX_LEVEL_RATIO` 1.10, with 40 % fewer levels (measured in
tests/render/test_effective_sigma.py), which is what the renderer's cost follows on real
scenes, where every level is spread over the whole image.

The mixture's error on an image with power spectrum P is ``sum_f P(f) |sum_j w_j K_j(f) -
K_s(f)|^2`` where K are the DTFTs of the *discrete* kernels the renderers use. Levels are
placed greedily, each as far from the previous as the worst s in between allows (and at most
``MAX_LEVEL_RATIO`` times it), for an image with a 1/f^2 spectrum (sharp edges at every scale,
the dead-leaves statistics of natural scenes) and variance 1/4 (the largest a [0, 1] image can
have), plus a margin calibrated on synthetic scenes. The ladder does not depend on sigma_max,
so one cached ladder serves all calls and is cut where it passes sigma_max.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from psfbench.core.render.kernels import DEFAULT_TRUNCATE, gaussian_kernel_1d

#: Default target PSNR (dB) of the layered renderer against the exact scatter model.
DEFAULT_ACCURACY_DB = 50.0

_N_FREQ = 96
_FREQ = (np.arange(_N_FREQ) + 0.5) / (2 * _N_FREQ)  # (0, 0.5): DC excluded
_F2 = _FREQ[:, None] ** 2 + _FREQ[None, :] ** 2
_SPECTRUM = (1.0 / _F2) / (1.0 / _F2).mean() * 0.25  # 1/f^2, total variance 1/4
#: The 1/f^2 model underestimates the error on dead-leaves scenes by up to ~2.5 dB (measured
#: on psfbench.core.scenes kinds, docs/rendering.md); levels are spaced for the target plus this
# margin.
MODEL_MARGIN_DB = 4.0
#: Largest ratio between neighbouring nonzero levels, whatever the accuracy target: it bounds
#: the error of the blur *width* (edge slope <= 0.12 % at 1.10 with quadratic weights, see the
#: module docstring), which a PSNR target does not. Above ~0.5 px it sets the level count
#: (44 levels up to 25 px).
MAX_LEVEL_RATIO = 1.10


@lru_cache(maxsize=4096)
def _dtft(sigma: float, truncate: float) -> np.ndarray:
    k = gaussian_kernel_1d(sigma, truncate)
    r = len(k) // 2
    n = np.arange(-r, r + 1)
    out: np.ndarray = np.cos(2.0 * np.pi * np.outer(_FREQ, n)) @ k
    return out


def _lagrange(nodes: tuple[float, ...], v: float) -> list[float]:
    """Lagrange weights of ``nodes`` (variances) at v: sum 1, exact for polynomials of v."""
    out = []
    for a, va in enumerate(nodes):
        w = 1.0
        for b, vb in enumerate(nodes):
            if a != b:
                w *= (v - vb) / (va - vb)
        out.append(w)
    return out


def mixture_mse(
    s0: float,
    s1: float,
    s: float,
    truncate: float = DEFAULT_TRUNCATE,
    s_prev: float | None = None,
) -> float:
    """Model MSE of rendering sigma s (s0 <= s <= s1) as the renderers' level mixture: linear
    in variance between s0 and s1 when ``s_prev`` is None (the first interval), else the
    quadratic mixture of the levels s_prev < s0 < s1."""
    sig = (s0, s1) if s_prev is None else (s_prev, s0, s1)
    weights = _lagrange(tuple(x * x for x in sig), s * s)
    ks = _dtft(s, truncate)
    err = -np.outer(ks, ks)
    for w, x in zip(weights, sig, strict=True):
        k = _dtft(x, truncate)
        err += w * np.outer(k, k)
    return float((_SPECTRUM * err * err).mean())


def _worst(s0: float, s1: float, truncate: float, s_prev: float | None = None) -> float:
    return max(
        mixture_mse(s0, s1, s0 + (s1 - s0) * q, truncate, s_prev) for q in (0.2, 0.4, 0.5, 0.6, 0.8)
    )


@lru_cache(maxsize=64)
def _ladder(accuracy_db: float, truncate: float, top: float) -> tuple[float, ...]:
    tol = 10.0 ** (-(accuracy_db + MODEL_MARGIN_DB) / 10.0)
    levels = [0.0]
    while levels[-1] < top:
        s0 = levels[-1]
        prev = levels[-2] if len(levels) >= 2 else None
        if s0 > 0 and _worst(s0, s0 * MAX_LEVEL_RATIO, truncate, prev) <= tol:
            levels.append(s0 * MAX_LEVEL_RATIO)  # the ratio cap binds: no search needed
            continue
        lo, hi = s0, max(2.0 * s0, s0 + 0.25)
        while _worst(s0, hi, truncate, prev) <= tol and hi < 1e4:
            lo, hi = hi, 2.0 * hi
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            if _worst(s0, mid, truncate, prev) <= tol:
                lo = mid
            else:
                hi = mid
            if hi - lo < 1e-3 * hi:
                break
        step = max(lo, s0 + 1e-3)
        if s0 > 0:
            step = min(step, s0 * MAX_LEVEL_RATIO)
        levels.append(step)
    return tuple(levels)


def sigma_levels(
    sigma_max: float,
    accuracy_db: float = DEFAULT_ACCURACY_DB,
    truncate: float = DEFAULT_TRUNCATE,
) -> list[float]:
    """Levels 0 = s_0 < ... < s_L with s_L >= sigma_max, spaced for ``accuracy_db``."""
    if not math.isfinite(sigma_max) or sigma_max < 0:
        raise ValueError(f"sigma_max must be finite and >= 0, got {sigma_max}")
    if sigma_max == 0:
        return [0.0]
    # Cache ladders on a coarse grid of tops so nearby sigma_max values share one ladder.
    top = 2.0 ** math.ceil(math.log2(max(sigma_max, 1.0)))
    ladder = _ladder(float(accuracy_db), float(truncate), top)
    n = next(i for i, s in enumerate(ladder) if s >= sigma_max) + 1
    return list(ladder[:n])


def split_weights(sigma: torch.Tensor, levels: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel lower level index k and weight t of level k+1 (variance interpolation)."""
    lv = torch.tensor(levels, dtype=sigma.dtype, device=sigma.device)
    if len(levels) == 1:
        return torch.zeros_like(sigma, dtype=torch.int64), torch.zeros_like(sigma)
    k = torch.searchsorted(lv, sigma.contiguous(), right=True) - 1
    k = k.clamp(0, len(levels) - 2)
    v0, v1 = lv[k] ** 2, lv[k + 1] ** 2
    t = ((sigma * sigma - v0) / (v1 - v0)).clamp(0.0, 1.0)
    return k, t


def node_weights(sigma: torch.Tensor, levels: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pixel first node k0 (int64) and weights (..., 3) of levels k0, k0+1, k0+2.

    For s in [s_k, s_{k+1}): k >= 1 takes the Lagrange weights in variance of levels k-1, k,
    k+1 (k0 = k-1); k = 0 takes (1-t, t, 0) on levels 0, 1 (linear in variance). With fewer
    than 3 levels the third weight is 0 and its index is clamped to the last level.
    """
    k, t = split_weights(sigma, levels)
    n = len(levels)
    if n < 3:
        w = torch.stack([1.0 - t, t, torch.zeros_like(t)], dim=-1)
        return torch.zeros_like(k), w
    lv = torch.tensor(levels, dtype=torch.float64, device=sigma.device) ** 2
    v = sigma.to(torch.float64) ** 2
    k0 = (k - 1).clamp(min=0)
    va, vb, vc = lv[k0], lv[k0 + 1], lv[(k0 + 2).clamp(max=n - 1)]
    wa = (v - vb) * (v - vc) / ((va - vb) * (va - vc))
    wb = (v - va) * (v - vc) / ((vb - va) * (vb - vc))
    wc = (v - va) * (v - vb) / ((vc - va) * (vc - vb))
    tt = t.to(torch.float64)
    first = k == 0
    w = torch.stack(
        [
            torch.where(first, 1.0 - tt, wa),
            torch.where(first, tt, wb),
            torch.where(first, torch.zeros_like(tt), wc),
        ],
        dim=-1,
    )
    return k0, w.to(sigma.dtype)


@lru_cache(maxsize=64)
def _bucket_table(levels: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Interval lookup by the float32 bit pattern of v = sigma^2: the top 12 bits (exponent
    and 3 mantissa bits) split v into buckets of ratio 2^(1/8); each bucket's entry is the
    interval of its lower end, and one comparison with the next level corrects it (levels are
    >= 1.2x apart in v, so a bucket holds at most one level)."""
    v = np.asarray(levels, np.float64) ** 2
    v32 = v.astype(np.float32)
    top = int(np.float32(max(v[-1] * 4.0, 1.0)).view(np.int32)) >> _BUCKET_SHIFT
    lows = (np.arange(top + 2, dtype=np.int64) << _BUCKET_SHIFT).astype(np.int32).view(np.float32)
    lut = np.clip(np.searchsorted(v32, lows, side="right") - 1, 0, len(v) - 2).astype(np.int32)
    nxt = np.append(v32[1:], np.float32(np.inf)).astype(np.float32)
    return lut, nxt


_BUCKET_SHIFT = 20


def _interval_index(v: np.ndarray, levels: tuple[float, ...]) -> np.ndarray:
    """int32 k with levels[k]^2 <= v < levels[k+1]^2 (clamped to 0..n-2); v float32 >= 0.

    Equals ``searchsorted(levels^2, v, 'right') - 1`` (tested), ~10x faster than it."""
    n = len(levels)
    if n > 1 and min(b * b / (a * a) for a, b in zip(levels[1:], levels[2:], strict=False)) < 1.1:
        k = np.searchsorted(np.square(np.asarray(levels, np.float32)), v, side="right") - 1
        return np.clip(k, 0, n - 2).astype(np.int32)
    lut, nxt = _bucket_table(levels)
    key = v.view(np.int32) >> _BUCKET_SHIFT
    np.minimum(key, len(lut) - 1, out=key)
    k = np.take(lut, key)
    k += v >= np.take(nxt, k)
    np.minimum(k, n - 2, out=k)
    return k


def _interval_thresholds(levels: tuple[float, ...]) -> np.ndarray:
    """The (K,) float32 levels^2 that :func:`_interval_index` compares v with (its two
    branches round them differently)."""
    if (
        len(levels) > 1
        and min(b * b / (a * a) for a, b in zip(levels[1:], levels[2:], strict=False)) < 1.1
    ):
        return np.square(np.asarray(levels, np.float32))
    return (np.asarray(levels, np.float64) ** 2).astype(np.float32)


def _node_weights_compiled(sigma: np.ndarray, levels: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """node_weights_np's result from one compiled pass (core/render/weights_cpu.py)."""
    from psfbench.core.render.gather_cpu import _tables
    from psfbench.core.render.weights_cpu import node_weights_pass

    key = tuple(float(x) for x in levels)
    lv, r0, r1, r2 = _tables(key)
    k0 = np.empty(sigma.shape, np.int32)
    w = np.empty((3, *sigma.shape), np.float32)
    node_weights_pass(
        np.ascontiguousarray(sigma).reshape(-1),
        _interval_thresholds(key),
        lv,
        r0,
        r1,
        r2,
        k0.reshape(-1),
        w.reshape(3, -1),
    )
    return k0, w


def node_weights_np(sigma: np.ndarray, levels: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`node_weights` for a float32 NumPy map: k0 (int32, (H, W)) and weights (3, H, W)
    float32 (the layered renderer's CPU path; per-level tables, a few passes per pixel)."""
    s32 = np.asarray(sigma, np.float32)
    v = np.square(s32)
    n = len(levels)
    if n < 3:
        t = np.zeros_like(v) if n == 1 else np.clip(v / np.float32(levels[1] ** 2), 0.0, 1.0)
        return np.zeros(v.shape, np.int32), np.stack([1.0 - t, t, np.zeros_like(t)])
    if v.size and not np.isnan(v).any():
        return _node_weights_compiled(s32, levels)
    lv = np.asarray(levels, np.float64) ** 2
    k = _interval_index(v, tuple(levels))
    k0 = np.maximum(k - 1, 0)
    # Lagrange basis of nodes (a, b, c) = levels k0..k0+2 at v, as w_j = (v - p_j)(v - q_j) * r_j
    a, b, c = (np.take(x.astype(np.float32), k0) for x in (lv[:-2], lv[1:-1], lv[2:]))
    da, db, dc = v - a, v - b, v - c
    rec = [1.0 / ((lv[:-2] - lv[1:-1]) * (lv[:-2] - lv[2:]))]
    rec.append(1.0 / ((lv[1:-1] - lv[:-2]) * (lv[1:-1] - lv[2:])))
    rec.append(1.0 / ((lv[2:] - lv[:-2]) * (lv[2:] - lv[1:-1])))
    w = np.empty((3, *v.shape), np.float32)
    for j, (p, q) in enumerate(((db, dc), (da, dc), (da, db))):
        np.multiply(p, q, out=w[j])
        w[j] *= np.take(rec[j].astype(np.float32), k0)
    first = k == 0  # between 0 and the first level: linear in variance
    if first.any():
        t = np.clip(v[first] / np.float32(lv[1]), 0.0, 1.0)
        w[0][first], w[1][first], w[2][first] = 1.0 - t, t, 0.0
    return k0, w
