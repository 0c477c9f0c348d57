"""Discrete PSF kernels of the models' shapes, with a prescribed second moment.

Every kernel is (k, k), sums to 1 and has per-axis variance sum(k * x^2) = s^2 where s is the
paper's sigma (eq. 7) for that pixel, so a disc and a Gaussian of the same s have the same blur
size and differ only in shape (the comparison of issue 19: "a disc PSF of the same second
moment"). The Gaussian is the renderers' own variance-matched kernel
(:func:`psfbench.core.render.gaussian_kernel_1d`, outer product). The disc is a pillbox of radius
R, integrated over each pixel by 5 x 5 supersampling with an anti-aliased (linear-ramp) rim,
then convolved with a sampled Gaussian of sd sigma_e; R = 2 c sqrt(1 - edge^2) and sigma_e = c
edge, where c is solved (two fixed-point steps) so the discrete variance is s^2 (c ~ s from
s ~ 1 px up). Built in torch so a fit can differentiate through ``edge``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
import torch

from psfbench.core.psfmodels.spec import PsfModel

#: Supersampling of the pillbox per pixel side.
SUPERSAMPLE = 5
#: Below this s (px) every shape is the Gaussian's kernel: a pixel's own integration
#: dominates and shapes cannot be told apart.
MIN_SHAPE_SIGMA = 0.45
#: Gaussian window half-width in sds.
TRUNCATE = 4.0


def gaussian_kernel_t(sigma: float, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(k, k) variance-matched Gaussian, the renderers' discretisation (delta at s = 0)."""
    from psfbench.core.render import gaussian_kernel_1d

    g = torch.as_tensor(gaussian_kernel_1d(float(sigma)), dtype=dtype)
    return torch.outer(g, g)


def _gauss_taps(sd: torch.Tensor, radius: int) -> torch.Tensor:
    n = torch.arange(-radius, radius + 1, dtype=sd.dtype, device=sd.device)
    w = torch.exp(-(n * n) / (2.0 * sd.clamp(min=1e-3) ** 2))
    return w / w.sum()


def _pillbox(radius: torch.Tensor, half: int) -> torch.Tensor:
    """Pixel-integrated pillbox on -half..half (5x5 supersampled, linear-ramp rim)."""
    s = SUPERSAMPLE
    n = 2 * half + 1
    sub = (torch.arange(n * s, dtype=radius.dtype, device=radius.device) + 0.5) / s - (half + 0.5)
    yy, xx = torch.meshgrid(sub, sub, indexing="ij")
    r = torch.sqrt(xx * xx + yy * yy)
    inside = ((radius - r) * s + 0.5).clamp(0.0, 1.0)
    k = inside.reshape(n, s, n, s).sum(dim=(1, 3))
    return k / k.sum().clamp(min=1e-12)


def _full_conv_matrix(taps: torch.Tensor, n: int) -> torch.Tensor:
    """(n + 2g, n) matrix of the full 1-D convolution with ``taps`` (2g + 1)."""
    g = (taps.shape[0] - 1) // 2
    i = torch.arange(n + 2 * g, device=taps.device)[:, None]
    j = torch.arange(n, device=taps.device)[None, :]
    d = i - j
    ok = (d >= 0) & (d <= 2 * g)
    return torch.where(ok, taps[d.clamp(0, 2 * g)], torch.zeros((), dtype=taps.dtype))


def _soft_disc(c: torch.Tensor, edge: torch.Tensor) -> torch.Tensor:
    """Pillbox of radius 2c sqrt(1 - edge^2) convolved with a Gaussian of sd c * edge."""
    radius = 2.0 * c * torch.sqrt((1.0 - edge * edge).clamp(min=0.0))
    radius = radius.clamp(min=0.5 / SUPERSAMPLE)
    sd = c * edge
    sd_f = float(sd.detach())
    g_half = max(1, math.ceil(TRUNCATE * sd_f)) if sd_f > 0.05 else 0
    p_half = math.ceil(float(radius.detach()) + 1.0)
    k = _pillbox(radius, p_half)
    if g_half:
        m = _full_conv_matrix(_gauss_taps(sd, g_half), k.shape[0])
        k = m @ k @ m.T
    return k / k.sum()


#: From this sigma up the moment correction is analytic (pillbox R^2/4 + Gaussian sd^2 + the
#: supersampled pixel's (1 - 1/s^2)/12): within 0.1 % at 3 px, 0.5 % at 2 px (measured).
ANALYTIC_MOMENT_SIGMA = 2.0


def _moment_scale(s: float, edge: float) -> float:
    """c / s such that the disc kernel's discrete variance is s^2 (three fixed-point steps
    below ANALYTIC_MOMENT_SIGMA, the analytic variance above)."""
    pix = (1.0 - 1.0 / SUPERSAMPLE**2) / 12.0
    if s >= ANALYTIC_MOMENT_SIGMA:
        return math.sqrt(max(s * s - pix, 1e-12)) / s
    return _moment_scale_numeric(round(s, 9), round(edge, 4))


@lru_cache(maxsize=4096)
def _moment_scale_numeric(s: float, edge: float) -> float:
    e = torch.tensor(edge, dtype=torch.float64)
    c = s
    for _ in range(3):
        v = float(kernel_variance(_soft_disc(torch.tensor(c, dtype=torch.float64), e)))
        c = c * math.sqrt(s * s / max(v, 1e-12))
    return c / s


def kernel_variance(k: torch.Tensor) -> torch.Tensor:
    """Per-axis second moment about the centre: (sum k x^2 + sum k y^2) / 2, px^2."""
    h = k.shape[-1] // 2
    n = torch.arange(-h, h + 1, dtype=k.dtype, device=k.device)
    return ((k.sum(-2) * n * n).sum(-1) + (k.sum(-1) * n * n).sum(-1)) / 2.0


def shape_kernel(sigma: float, edge: torch.Tensor | float | None) -> torch.Tensor:
    """Kernel of second moment ``sigma`` (px) for a disc of ``edge`` (None or >= 1: Gaussian).

    Differentiable in ``edge`` when it is a tensor that requires grad (the moment correction
    factor is held constant in the backward pass). float64 unless ``edge`` is float32.
    """
    s = float(sigma)
    if s < 0 or not math.isfinite(s):
        raise ValueError(f"kernel: sigma must be finite and >= 0, got {sigma}")
    if edge is None or s < MIN_SHAPE_SIGMA:
        dtype = edge.dtype if isinstance(edge, torch.Tensor) else torch.float64
        return gaussian_kernel_t(s, dtype)
    e = edge if isinstance(edge, torch.Tensor) else torch.tensor(float(edge), dtype=torch.float64)
    if float(e.detach()) >= 1.0 and not e.requires_grad:
        return gaussian_kernel_t(s, e.dtype)
    if e.requires_grad:  # a fit: the analytic correction above 2 px (fast)
        ratio = _moment_scale(s, float(e.detach()))
    else:
        ratio = _moment_scale_numeric(round(s, 9), round(float(e), 6))
    return _soft_disc(torch.tensor(s * ratio, dtype=e.dtype), e)


def _pad_to(k: np.ndarray, size: int) -> np.ndarray:
    h = k.shape[0] // 2
    want = size // 2
    if want >= h:
        return np.pad(k, want - h)
    c = k[h - want : h + want + 1, h - want : h + want + 1]
    return c / c.sum()


def kernel(
    model: PsfModel,
    sigma_px: float,
    *,
    channel: int = 0,
    field_xy: tuple[float, float] | None = None,
    size: int | None = None,
) -> np.ndarray:
    """The model's PSF (float64 (k, k), sums to 1) for a pixel whose paper sigma is ``sigma_px``.

    ``sigma_px`` is eq. 7's sigma with the model's base A (A * |D - Df| / D * F / (Df - F)),
    in px; the kernel applies the model's channel factor (``chromatic``; ``channel`` 0..2, -1
    for a single-channel image: the mean factor) and field factor (``field``; ``field_xy`` in
    [-1, 1] across the frame, None = the centre), and its shape (``disc``'s ``edge``). Its
    per-axis second moment equals the resulting sigma. ``tilt`` and ``breathing`` change the
    sigma map and the geometry, not the kernel: see :func:`psfbench.core.psfmodels.sigma_maps`.
    ``size`` (odd) pads or crops (renormalised) to (size, size). Raises ValueError.
    """
    if size is not None and (int(size) < 1 or int(size) % 2 == 0):
        raise ValueError(f"kernel: size must be a positive odd number, got {size}")
    s = float(sigma_px) * model.channel_factor(channel) * field_factor(model, field_xy)
    edge = model.params.get("edge")
    k = shape_kernel(max(s, 0.0), None if edge is None else float(edge)).numpy()
    k = np.asarray(k, dtype=np.float64)
    if size is not None:
        k = _pad_to(k, int(size))
    return k / k.sum()


def field_factor(model: PsfModel, field_xy: tuple[float, float] | None) -> float:
    """A's factor at normalised field position (x, y) in [-1, 1] (1 without ``field``)."""
    f = model.params.get("field")
    if f is None or field_xy is None:
        return 1.0
    x, y = float(field_xy[0]), float(field_xy[1])
    return float(1.0 + f[0] * x + f[1] * y + f[2] * (x * x + y * y) / 2.0)


def field_factor_map(
    field: Any, height: int, width: int, *, dtype: torch.dtype = torch.float32, device: Any = None
) -> torch.Tensor:
    """(H, W) A factor 1 + c_x x + c_y y + c_r r^2 over the frame (x, y in [-1, 1])."""
    f = (
        torch.as_tensor(field, dtype=dtype, device=device)
        if not isinstance(field, torch.Tensor)
        else field
    )
    y = torch.linspace(-1.0, 1.0, height, dtype=dtype, device=f.device)[:, None]
    x = torch.linspace(-1.0, 1.0, width, dtype=dtype, device=f.device)[None, :]
    return 1.0 + f[0] * x + f[1] * y + f[2] * (x * x + y * y) / 2.0
