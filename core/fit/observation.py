"""Observation model: make simulated images comparable with noisy camera frames.

Measured on simulated sweeps (docs/fitting.md): with 1 % sensor noise the paper's Laplacian
and defocus-histogram terms are dominated by noise in the real frames, which a noise-free
simulation can only imitate with too little blur, so the paper's total loss pulls A far below
the truth (A=400 for a true 800). Two standard remedies fix it:

* **noise matching**: the simulation gets noise of the level estimated from the frames
  (Immerkaer's estimator), the same seeded field for every candidate (common random numbers),
  so the landscape stays smooth and both sides of every term see the same noise;
* **pre-smoothing**: both sides are filtered with a small Gaussian (sigma0 ~ 1 px) before the
  losses, so the Laplacian terms measure defocus rather than pixel noise (a LoG).

Both are options of the fit (``noise_sd``, ``presmooth_sigma``); setting them to 0 gives the
paper's plain comparison.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F_nn


def clipped(frames: torch.Tensor) -> torch.Tensor:
    """Samples the camera clipped (at 0 or full scale): they carry no noise."""
    return (frames >= 1.0 - 1e-6) | (frames <= 1e-6)


def estimate_noise_sd(frames: torch.Tensor) -> float:
    """Immerkaer (1996) noise sd of (M, C, H, W) images; the minimum over frames.

    The 3x3 kernel cancels locally linear signal; the most defocused frame has the least
    texture left to leak into the estimate, hence the minimum. Windows touching a clipped
    sample are left out: a saturated area is noise-free, and counting it (3-19 % of the
    samples per frame on the virtual planes scene) lowered the estimate, so simulations got too
    little noise and the fit picked A 1.2-2.7 % low.
    """
    k = torch.tensor(
        [[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]], dtype=frames.dtype
    ).to(frames.device)
    m, c, h, w = frames.shape
    x = frames.reshape(m * c, 1, h, w)
    r = F_nn.conv2d(x, k.view(1, 1, 3, 3)).abs()
    bad = F_nn.max_pool2d(clipped(x).to(x.dtype), 3, stride=1)  # window touches a clipped one
    keep = 1.0 - bad
    n = keep.sum(dim=(1, 2, 3))
    per = (r * keep).sum(dim=(1, 2, 3)) / n.clamp_min(1.0) * math.sqrt(math.pi / 2) / 6.0
    per = torch.where(n > 0, per, torch.full_like(per, float("inf")))
    per = per.reshape(m, c).mean(dim=1)
    best = float(per.min())
    return best if math.isfinite(best) else 0.0


def gaussian_smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (..., H, W) with reflected borders; identity for sigma 0.

    Window half-width ceil(3 sigma), mirror ``dcb|abcd|cba`` (reflect-101). On the CPU the
    planes go through OpenCV on the shared thread pool (torch's conv2d took ~15 ms per
    370 x 250 plane here, OpenCV < 1 ms); elsewhere torch's conv2d. Same result to float32
    rounding.
    """
    if sigma <= 0:
        return x
    r = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t * t) / (2 * sigma * sigma))
    k = k / k.sum()
    shape = x.shape
    if x.device.type == "cpu" and x.dtype == torch.float32 and min(shape[-2:]) > r:
        import cv2

        from core.parallel import map_images

        kn = k.numpy()
        planes = x.detach().reshape(-1, shape[-2], shape[-1]).contiguous().numpy()
        out = np.empty_like(planes)

        def one(i: int) -> None:
            cv2.sepFilter2D(
                planes[i], cv2.CV_32F, kn, kn, dst=out[i], borderType=cv2.BORDER_REFLECT_101
            )

        map_images(one, range(planes.shape[0]))
        return torch.from_numpy(out).reshape(shape)
    y = x.reshape(-1, 1, shape[-2], shape[-1])
    y = F_nn.conv2d(F_nn.pad(y, (r, r, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    y = F_nn.conv2d(F_nn.pad(y, (0, 0, r, r), mode="reflect"), k.view(1, 1, -1, 1))
    return y.reshape(shape)


def noise_field(
    shape: tuple[int, ...], sd: float, seed: int, device: torch.device, dtype: torch.dtype
) -> torch.Tensor:
    """A seeded white-noise field (the same for every candidate of a fit)."""
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    z = torch.randn(shape, generator=gen, dtype=torch.float32)
    return (z * sd).to(device=device, dtype=dtype)
