"""Shared test inputs and independent brute-force models for tests/render."""

from __future__ import annotations

import math

import numpy as np
import torch

from psfbench.core import optics
from psfbench.core.render.kernels import gaussian_kernel_1d


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.double() - b.double()) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def mirror(p: int, n: int) -> int:
    """Half-sample reflection by repeated folding (independent of kernels.reflect_index)."""
    while p < 0 or p >= n:
        p = -p - 1 if p < 0 else 2 * n - 1 - p
    return p


def brute_scatter(img: np.ndarray, sigma: np.ndarray, truncate: float = 4.0) -> np.ndarray:
    """Eq. 8 by explicit loops over sources and taps: the definition, slowly."""
    c, h, w = img.shape
    out = np.zeros_like(img, dtype=np.float64)
    for sy in range(h):
        for sx in range(w):
            k = gaussian_kernel_1d(float(sigma[sy, sx]), truncate)
            r = len(k) // 2
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    y, x = mirror(sy + dy, h), mirror(sx + dx, w)
                    out[:, y, x] += img[:, sy, sx] * k[dy + r] * k[dx + r]
    return out


def brute_refcode(img: np.ndarray, c_raw: np.ndarray, ksize: int = 5, c_max: float = 7.0):
    """Line-by-line transcription of the loop in the authors' CUDA forward kernel."""
    ch, h, w = img.shape
    c = np.clip(c_raw, 1.0, c_max)
    out = img.astype(np.float64).copy()
    for y in range(h):
        for x in range(w):
            if not c[y, x] > 1:
                continue
            size = int(ksize * c[y, x] / 2) * 2 + 1
            mid = size // 2
            num = np.zeros(ch)
            den = 0.0
            for i in range(size):
                for j in range(size):
                    sy, sx = y + i - mid, x + j - mid
                    if 0 <= sy < h and 0 <= sx < w and c[sy, sx] > 1:
                        cs = c[sy, sx]
                        g = (1.0 / (cs * cs)) * math.exp(
                            -2.0 * ((i - mid) ** 2 + (j - mid) ** 2) / (cs * cs)
                        )
                        den += g
                        num += g * img[:, sy, sx]
            out[:, y, x] = num / den
    return out


def scene_sigma(kind: str, size: int, sigma_max: float = 20.0, seed: int = 1):
    """A psfbench.core.scenes scene and a sigma map spanning up to ``sigma_max`` px (focus in
    front)."""
    from psfbench.core.scenes import make_scene

    sc = make_scene(kind, size, size, working_distance_mm=500.0, seed=seed)
    depth = torch.from_numpy(sc.depth_mm.copy()).double()
    rel = optics.sigma_map(depth, float(np.nanmin(sc.depth_mm)) * 0.98, 1.0, 50.0)
    sigma = (rel * (sigma_max / float(rel.max()))).float()
    return torch.from_numpy(sc.aif.copy()), sigma
