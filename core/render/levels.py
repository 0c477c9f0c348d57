"""Sigma levels for the layered renderer and the gather stack, chosen from a target accuracy.

A pixel of sigma s between levels s_k < s_{k+1} is rendered as ``(1-t) G_{s_k} + t G_{s_{k+1}}``
with ``t = (s^2 - s_k^2) / (s_{k+1}^2 - s_k^2)``: linear weights in *variance*, so the mixture
has exactly the requested second moment (linear weights in sigma over-blur slightly).

The mixture differs from ``G_s`` in its higher moments. Its error on an image with power
spectrum P is ``sum_f P(f) |(1-t) K_k(f) + t K_{k+1}(f) - K_s(f)|^2`` where K are the DTFTs of
the *discrete* kernels the renderers use. Levels are placed greedily, each as far from the
previous as the worst s in between allows, for an image with a 1/f^2 spectrum (sharp edges at
every scale, the dead-leaves statistics of natural scenes) and variance 1/4 (the largest a
[0, 1] image can have), plus a margin calibrated on synthetic scenes. The ladder does not
depend on sigma_max, so one cached ladder serves all calls and is cut where it passes
sigma_max.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from core.render.kernels import DEFAULT_TRUNCATE, gaussian_kernel_1d

#: Default target PSNR (dB) of the layered renderer against the exact scatter model.
DEFAULT_ACCURACY_DB = 50.0

_N_FREQ = 96
_FREQ = (np.arange(_N_FREQ) + 0.5) / (2 * _N_FREQ)  # (0, 0.5): DC excluded
_F2 = _FREQ[:, None] ** 2 + _FREQ[None, :] ** 2
_SPECTRUM = (1.0 / _F2) / (1.0 / _F2).mean() * 0.25  # 1/f^2, total variance 1/4
#: The 1/f^2 model underestimates the error on dead-leaves scenes by up to ~2.5 dB (measured
#: on core.scenes kinds, docs/rendering.md); levels are spaced for the target plus this margin.
MODEL_MARGIN_DB = 4.0
#: Largest ratio between neighbouring nonzero levels, whatever the accuracy target. A mixture
#: of two Gaussians with the right variance is more peaked and heavier-tailed than the Gaussian
#: it stands for (its transfer function is above the Gaussian's at every frequency: Jensen's
#: inequality on exp(-v w^2 / 2)), so it renders a slightly *sharper* image: at the 50 dB
#: ladder's ratio of ~1.23 a step edge came out with a 1-3 % steeper slope, and a fit through
#: it returned A ~1 % high (issue 11). The slope error grows with the squared log-ratio; 1.06
#: keeps it below 0.13 % (tests/render/test_effective_sigma.py). Above the PSNR target's own
#: spacing this is what sets the level count (72 levels up to 25 px instead of 24).
MAX_LEVEL_RATIO = 1.06


@lru_cache(maxsize=4096)
def _dtft(sigma: float, truncate: float) -> np.ndarray:
    k = gaussian_kernel_1d(sigma, truncate)
    r = len(k) // 2
    n = np.arange(-r, r + 1)
    out: np.ndarray = np.cos(2.0 * np.pi * np.outer(_FREQ, n)) @ k
    return out


def mixture_mse(s0: float, s1: float, s: float, truncate: float = DEFAULT_TRUNCATE) -> float:
    """Model MSE of rendering sigma s as the variance-weighted mix of levels s0 < s1."""
    t = (s * s - s0 * s0) / (s1 * s1 - s0 * s0)
    k0, k1, ks = _dtft(s0, truncate), _dtft(s1, truncate), _dtft(s, truncate)
    err = (1 - t) * np.outer(k0, k0) + t * np.outer(k1, k1) - np.outer(ks, ks)
    return float((_SPECTRUM * err * err).mean())


def _worst(s0: float, s1: float, truncate: float) -> float:
    return max(mixture_mse(s0, s1, s0 + (s1 - s0) * q, truncate) for q in (0.2, 0.4, 0.5, 0.6, 0.8))


@lru_cache(maxsize=64)
def _ladder(accuracy_db: float, truncate: float, top: float) -> tuple[float, ...]:
    tol = 10.0 ** (-(accuracy_db + MODEL_MARGIN_DB) / 10.0)
    levels = [0.0]
    while levels[-1] < top:
        s0 = levels[-1]
        if s0 > 0 and _worst(s0, s0 * MAX_LEVEL_RATIO, truncate) <= tol:
            levels.append(s0 * MAX_LEVEL_RATIO)  # the ratio cap binds: no search needed
            continue
        lo, hi = s0, max(2.0 * s0, s0 + 0.25)
        while _worst(s0, hi, truncate) <= tol and hi < 1e4:
            lo, hi = hi, 2.0 * hi
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            if _worst(s0, mid, truncate) <= tol:
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
