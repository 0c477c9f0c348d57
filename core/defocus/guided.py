"""Guided filter and weighted guided filter, in torch (refinement of a patch-level defocus map).

- :func:`box_mean`: the mean over a ``(2r+1)^2`` window clipped at the borders (each output is
  the mean of the pixels that exist), separable, O(r) per pixel.
- :func:`guided_filter`: He, Sun & Tang, "Guided image filtering" (TPAMI 2013), Algorithm 1:
  ``a = cov(I, p) / (var(I) + eps)``, ``b = mean(p) - a mean(I)``, ``q = mean(a) I + mean(b)``.
- :func:`weighted_guided_filter`: Li, Zheng, Zhu, Yao & Wu, "Weighted guided image filtering"
  (TIP 2015), eqs. 7-12: the regulariser becomes ``eps / Gamma(p)`` with the edge-aware
  weight ``Gamma(p) = mean_p' (var3(p) + nu) / (var3(p') + nu)`` from the guide's 3x3 local
  variance (``nu = (0.001 L)^2``, L the guide's dynamic range), so edges (Gamma > 1) are kept
  sharper and flat areas (Gamma < 1) are smoothed more.
- :func:`smooth_guide`: the edge-aware smoothed guide of the defocus seed paper
  (``single-image-deep-defocus-estimation.md`` sec. 3.3, Fig. 4): the WGIF iterated in
  self-guidance mode, which removes texture and keeps silhouettes, so texture is not copied
  into the refined map.

All functions take (H, W) tensors (or (B, 1, H, W)), compute in the input's float dtype on its
device and return the same shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as nnf


def _as4d(x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, ...]]:
    shape = tuple(x.shape)
    if x.ndim == 2:
        return x[None, None], shape
    if x.ndim == 4 and x.shape[1] == 1:
        return x, shape
    raise ValueError(f"guided filter: expected (H, W) or (B, 1, H, W), got {shape}")


def box_mean(x: torch.Tensor, r: int) -> torch.Tensor:
    """Mean over the ``(2r+1) x (2r+1)`` window around each pixel, the window clipped at the
    image border (the mean of the pixels inside). ``x``: (H, W) or (B, 1, H, W) float."""
    if r < 0:
        raise ValueError(f"box radius must be >= 0, got {r}")
    x4, shape = _as4d(x)
    if r == 0:
        return x
    h, w = x4.shape[-2:]
    ky, kx = min(r, h - 1), min(r, w - 1)  # a window wider than the image: the whole axis
    out = x4
    if ky > 0:
        out = nnf.avg_pool2d(
            out, (2 * ky + 1, 1), stride=1, padding=(ky, 0), count_include_pad=False
        )
    if kx > 0:
        out = nnf.avg_pool2d(
            out, (1, 2 * kx + 1), stride=1, padding=(0, kx), count_include_pad=False
        )
    return out.reshape(shape)


def guided_filter(guide: torch.Tensor, src: torch.Tensor, r: int, eps: float) -> torch.Tensor:
    """He et al.'s guided filter of ``src`` with ``guide`` (same shape), radius ``r`` px,
    regulariser ``eps`` (in guide units squared)."""
    mean_i = box_mean(guide, r)
    mean_p = box_mean(src, r)
    cov = box_mean(guide * src, r) - mean_i * mean_p
    var = box_mean(guide * guide, r) - mean_i * mean_i
    a = cov / (var + eps)
    b = mean_p - a * mean_i
    return box_mean(a, r) * guide + box_mean(b, r)


def edge_weight(guide: torch.Tensor, nu: float | None = None) -> torch.Tensor:
    """Li et al.'s edge-aware weight Gamma (eq. 9): ``(var3 + nu) * mean(1 / (var3 + nu))``,
    var3 the guide's variance in 3x3 windows, ``nu = (0.001 L)^2`` by default (L = the
    guide's max - min, at least 1e-6)."""
    if nu is None:
        span = float((guide.max() - guide.min()).clamp_min(1e-6)) if guide.numel() else 1.0
        nu = (0.001 * span) ** 2
    m = box_mean(guide, 1)
    var3 = (box_mean(guide * guide, 1) - m * m).clamp_min(0.0) + nu
    return var3 * (1.0 / var3).mean()


def weighted_guided_filter(
    guide: torch.Tensor, src: torch.Tensor, r: int, eps: float, nu: float | None = None
) -> torch.Tensor:
    """Li et al.'s weighted guided filter (eqs. 10-12): the guided filter with ``eps`` replaced
    by ``eps / Gamma(p)`` (:func:`edge_weight`)."""
    mean_i = box_mean(guide, r)
    mean_p = box_mean(src, r)
    cov = box_mean(guide * src, r) - mean_i * mean_p
    var = box_mean(guide * guide, r) - mean_i * mean_i
    a = cov / (var + eps / edge_weight(guide, nu))
    b = mean_p - a * mean_i
    return box_mean(a, r) * guide + box_mean(b, r)


def smooth_guide(image: torch.Tensor, r: int, eps: float, iterations: int) -> torch.Tensor:
    """The seed's texture-free guide: ``iterations`` passes of the weighted guided filter in
    self-guidance mode (each pass filters the previous result guided by itself)."""
    out = image
    for _ in range(max(int(iterations), 0)):
        out = weighted_guided_filter(out, out, r, eps)
    return out


def refine_map(
    coarse: torch.Tensor,
    image: torch.Tensor,
    *,
    r: int = 16,
    eps: float = 0.005,
    guide_iterations: int = 7,
    iterations: int = 1,
) -> torch.Tensor:
    """Refine a patch-level defocus map ``coarse`` (H, W) with ``image`` (H, W, grey, values
    ~[0, 1]): the guide is :func:`smooth_guide` (``guide_iterations`` passes), then
    ``iterations`` passes of the weighted guided filter of the map with that guide. Defaults
    are the seed paper's (r = 16, eps = 0.005, N_iter = 7; Fig. 5). The result is clamped to
    the coarse map's range (the filter's linear model can overshoot at edges)."""
    guide = smooth_guide(image, r, eps, guide_iterations)
    out = coarse
    for _ in range(max(int(iterations), 0)):
        out = weighted_guided_filter(guide, out, r, eps)
    return out.clamp(float(coarse.min()), float(coarse.max()))
