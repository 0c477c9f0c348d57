"""Discrete Gaussian kernels shared by every renderer.

All three scatter-model renderers (exact, layered, gather stack) use the *same* discretisation:
a sampled Gaussian on the integer offsets ``-R..R`` with ``R = ceil(truncate * sigma)``,
normalised to sum to 1. Sharing it is what lets the layered renderer match the exact one to
within its interpolation error alone, and lets tests compare them at 50+ dB.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Window half-width in units of sigma. Our reading of the paper's "dynamic kernel size ... 4
#: times the radius": the window reaches 4 sigma either side (docs/rendering.md).
DEFAULT_TRUNCATE = 4.0


def window_radius(sigma: float, truncate: float = DEFAULT_TRUNCATE) -> int:
    """Half-width R of the square window for one sigma (0 for an in-focus pixel)."""
    if sigma <= 0.0:
        return 0
    return max(1, math.ceil(truncate * sigma - 1e-9))


def window_radius_map(sigma: torch.Tensor, truncate: float = DEFAULT_TRUNCATE) -> torch.Tensor:
    """Per-pixel :func:`window_radius` (int64), identical to the scalar version."""
    r = torch.ceil(sigma * truncate - 1e-9).to(torch.int64)
    return torch.where(sigma > 0, r.clamp(min=1), torch.zeros_like(r))


def gaussian_kernel_1d(sigma: float, truncate: float = DEFAULT_TRUNCATE) -> np.ndarray:
    """Normalised sampled Gaussian on ``-R..R`` (float64); ``[1.0]`` for sigma 0."""
    radius = window_radius(sigma, truncate)
    if radius == 0:
        return np.ones(1)
    n = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-(n * n) / (2.0 * sigma * sigma))
    return k / k.sum()


def gaussian_kernel_table(
    sigma: torch.Tensor, half_width: int, truncate: float = DEFAULT_TRUNCATE
) -> torch.Tensor:
    """Per-source kernels on a common offset grid: (..., 2*half_width+1).

    Each row is that source's own normalised kernel, zero outside its own window, so a batch
    of sources with different sigmas can share one dense layout. sigma 0 gives a delta.
    """
    offsets = torch.arange(
        -half_width, half_width + 1, device=sigma.device, dtype=sigma.dtype
    ).expand(*sigma.shape, 2 * half_width + 1)
    s = sigma.unsqueeze(-1)
    radius = window_radius_map(sigma, truncate).unsqueeze(-1).to(sigma.dtype)
    safe = torch.where(s > 0, s, torch.ones_like(s))
    k = torch.exp(-(offsets * offsets) / (2.0 * safe * safe))
    k = torch.where(offsets.abs() <= radius, k, torch.zeros_like(k))
    k = torch.where(s > 0, k, (offsets == 0).to(k.dtype))
    return k / k.sum(dim=-1, keepdim=True)


def reflect_index(coords: torch.Tensor, size: int) -> torch.Tensor:
    """Half-sample symmetric reflection (``cba|abc|cba``, OpenCV BORDER_REFLECT) into 0..size-1.

    Works for any distance outside the image (repeated reflections), so windows larger than
    the image stay exact.
    """
    period = 2 * size
    m = torch.remainder(coords, period)
    return torch.where(m < size, m, period - 1 - m)
