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


def touches_clipped(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H-2, W-2) bool: the 3x3 window at each valid position of (N, 1, H, W) frames
    holds a clipped sample. A separable OR of bools (max_pool2d on floats: 3x slower)."""
    c = clipped(x)
    r = c[..., :-2, :] | c[..., 1:-1, :] | c[..., 2:, :]
    return r[..., :-2] | r[..., 1:-1] | r[..., 2:]


def immerkaer_residual(x: torch.Tensor) -> torch.Tensor:
    """Immerkaer's 3x3 operator [[1, -2, 1], [-2, 4, -2], [1, -2, 1]] on (N, 1, H, W) images,
    valid part only: (N, 1, H-2, W-2). The kernel is the outer product of [1, -2, 1] with
    itself, so it is applied as two second differences: elementwise passes, where torch's
    conv2d on one channel took 0.19 s for a 20-frame 613x514 sweep. Raises ValueError for
    images under 3 x 3 px."""
    if x.shape[-1] < 3 or x.shape[-2] < 3:
        raise ValueError(
            f"noise estimation needs frames of at least 3x3 px, got {x.shape[-2]}x{x.shape[-1]}"
        )
    d = x[..., :-2, :] - 2.0 * x[..., 1:-1, :] + x[..., 2:, :]
    return d[..., :-2] - 2.0 * d[..., 1:-1] + d[..., 2:]


def estimate_noise_sd(frames: torch.Tensor) -> float:
    """Immerkaer (1996) noise sd of (M, C, H, W) images; the minimum over frames.

    The 3x3 kernel cancels locally linear signal; the most defocused frame has the least
    texture left to leak into the estimate, hence the minimum. Windows touching a clipped
    sample are left out: a saturated area is noise-free, and counting it (3-19 % of the
    samples per frame on the virtual planes scene) lowered the estimate, so simulations got too
    little noise and the fit picked A 1.2-2.7 % low.
    """
    m, c, h, w = frames.shape
    x = frames.reshape(m * c, 1, h, w)
    r = immerkaer_residual(x).abs()
    bad = touches_clipped(x).to(x.dtype)
    keep = 1.0 - bad
    n = keep.sum(dim=(1, 2, 3))
    per = (r * keep).sum(dim=(1, 2, 3)) / n.clamp_min(1.0) * math.sqrt(math.pi / 2) / 6.0
    per = torch.where(n > 0, per, torch.full_like(per, float("inf")))
    per = per.reshape(m, c).mean(dim=1)
    best = float(per.min())
    return best if math.isfinite(best) else 0.0


#: Intensity bins of the signal-dependent noise estimate, and the pixels a bin needs.
_NOISE_BINS = 16
_NOISE_MIN_COUNT = 400


def estimate_noise_model(frames: torch.Tensor) -> tuple[float, float]:
    """Poisson-Gaussian noise of (M, C, H, W) frames in [0, 1]: var(I) = sd0^2 + gain * I.

    Returns (sd0, gain), both >= 0 (gain 0: signal-independent noise). Immerkaer's residual
    (:func:`estimate_noise_sd`) estimates the sd per pixel; the pixels are binned by their
    local level (3x3 mean) in 16 bins over [0, 1]; per bin the smallest estimate over frames
    and channels is kept (the most defocused frame leaks the least texture into it), for bins
    that at least 3 (and a quarter of the) frames fill with 400 pixels; a line is fitted to
    the bins' variances by least squares weighted by their pixel counts. Windows that touch a
    clipped sample are left out. Falls back to one sd (:func:`estimate_noise_sd`, gain 0)
    when fewer than 3 bins qualify, their levels span < 0.1, the slope is not positive, or the
    model predicts more noise for the least textured frame than that frame's own estimate
    (texture, not noise, set the slope). Measured on the real-texture sweep of
    tests/fit/test_real_texture_fit.py (read sd 0.004, shot gain 1e-4): a single sd made the
    defocus-histogram term pull A 1.2 % low on its own.
    """
    m, c, h, w = frames.shape
    x = frames.reshape(m * c, 1, h, w)
    r = immerkaer_residual(x).abs() * (math.sqrt(math.pi / 2) / 6.0)
    level = F_nn.avg_pool2d(x, 3, stride=1)
    keep = ~touches_clipped(x)
    b = (level * _NOISE_BINS).long().clamp(0, _NOISE_BINS - 1)
    b = torch.where(keep, b, torch.full_like(b, _NOISE_BINS))  # a dump bin for the rest
    n_img = m * c
    flat = b + torch.arange(n_img, device=x.device).view(-1, 1, 1, 1) * (_NOISE_BINS + 1)
    size = n_img * (_NOISE_BINS + 1)
    count = torch.bincount(flat.reshape(-1), minlength=size).view(n_img, -1)[:, :_NOISE_BINS]
    sum_r = torch.bincount(flat.reshape(-1), r.reshape(-1).double(), minlength=size)
    sum_l = torch.bincount(flat.reshape(-1), level.reshape(-1).double(), minlength=size)
    sum_r = sum_r.view(n_img, -1)[:, :_NOISE_BINS]
    sum_l = sum_l.view(n_img, -1)[:, :_NOISE_BINS]
    ok = count >= _NOISE_MIN_COUNT
    single = estimate_noise_sd(frames)
    # a bin counts only where several frames fill it: one frame's estimate may be all texture
    need = max(3, math.ceil(n_img / 4))
    sd = torch.where(ok, sum_r / count.clamp_min(1), torch.full_like(sum_r, math.inf))
    best, who = sd.min(dim=0)  # per bin, over frames
    good = torch.isfinite(best) & (ok.sum(dim=0) >= need)
    if int(good.sum()) < 3:
        return single, 0.0
    lvl = (sum_l / count.clamp_min(1)).gather(0, who.view(1, -1))[0][good].cpu().numpy()
    var = (best[good] ** 2).cpu().numpy()
    wts = count.gather(0, who.view(1, -1))[0][good].double().cpu().numpy()
    if float(np.ptp(lvl)) < 0.1:
        return single, 0.0
    design = np.stack([np.ones_like(lvl), lvl], axis=1) * np.sqrt(wts)[:, None]
    (a, g), *_ = np.linalg.lstsq(design, var * np.sqrt(wts), rcond=None)
    if g <= 0:
        return single, 0.0
    if a < 0:  # pure shot noise: refit through the origin
        g = float(np.sum(wts * lvl * var) / np.sum(wts * lvl * lvl))
        a = 0.0
    # Consistency: the single estimate (texture included) bounds the noise of its frame from
    # above; a model predicting more there has fitted texture, not noise (measured on a small
    # virtual sweep with constant noise: gain 4e-4 and twice the true sd, A +3.3 %).
    frame_sd = torch.where(
        keep.reshape(n_img, -1).any(dim=1),
        (r * keep).sum(dim=(1, 2, 3)) / keep.sum(dim=(1, 2, 3)).clamp_min(1),
        torch.full((n_img,), math.inf, dtype=r.dtype, device=r.device),
    )
    f_star = int(frame_sd.argmin())
    lv = level[f_star][keep[f_star]].double()
    predicted = float(torch.sqrt(a + g * lv.clamp(0.0, 1.0)).mean())
    if predicted > 1.15 * single:
        return single, 0.0
    return float(math.sqrt(a)), float(g)


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
    if x.device.type == "cpu" and x.dtype == torch.float32 and min(shape[-2:]) > 1:
        import cv2

        from psfbench.core.parallel import map_images

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
