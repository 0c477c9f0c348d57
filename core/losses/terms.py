"""The four loss terms of eqs. 15-18 and their weighted sum (eq. 19), batched and chunked.

The fitter compares G grid points x M sweep images against M real images. The real image's
features (luminance, Laplacian, SSIM window moments) are computed once and broadcast; the
simulated batch is processed in chunks of at most ``LossConfig.chunk_pixels`` pixels so memory
stays bounded whatever G is.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from core.losses.config import LossConfig
from core.losses.filters import (
    erode,
    gaussian_taps,
    laplacian,
    laplacian_radius,
    pad,
    separable_valid,
    to_gray,
    window_mean,
)
from core.losses.histogram import histogram_distance

TERM_NAMES = ("l2", "laplacian", "histogram", "ssim")


def _chunks(lead: tuple[int, ...], per_item: int, budget: int) -> Iterator[tuple[Any, ...]]:
    """Index tuples into ``lead`` covering it, each selecting at most budget/per_item items."""
    n_max = max(1, budget // max(1, per_item))

    def rec(prefix: tuple[Any, ...], dims: tuple[int, ...]) -> Iterator[tuple[Any, ...]]:
        if not dims:
            yield prefix
            return
        inner = math.prod(dims[1:])
        if inner <= n_max:
            step = max(1, n_max // max(1, inner))
            for i in range(0, dims[0], step):
                yield (*prefix, slice(i, min(i + step, dims[0])))
        else:
            for i in range(dims[0]):
                yield from rec((*prefix, i), dims[1:])

    yield from rec((), lead)


def _as_tensor(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if not (t.is_floating_point()):
        raise TypeError(f"loss_terms: '{name}' must be a float image in [0, 1], got {t.dtype}")
    if t.ndim < 3:
        raise ValueError(f"loss_terms: '{name}' must be (..., C, H, W), got shape {tuple(t.shape)}")
    return t


class _Reducer:
    """Masked reductions over (H, W): mean square or the reference code's ||d||_2 / N."""

    def __init__(self, weight: torch.Tensor | None, n: float, mode: str) -> None:
        self.weight, self.n, self.mode = weight, n, mode

    def __call__(self, d: torch.Tensor) -> torch.Tensor:
        sq = d * d
        if self.weight is not None:
            sq = sq * self.weight
        s = sq.sum(dim=(-2, -1))
        if self.mode == "mean_square":
            return s / self.n
        return torch.sqrt(s) / self.n


def loss_terms(
    real: Any,
    sim: Any,
    mask: Any = None,
    config: LossConfig | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms between real and simulated focused images.

    ``real`` (..., C, H, W) broadcasts against ``sim`` (..., C, H, W), floats in [0, 1]; the
    computation runs on ``sim``'s device. ``mask`` (H, W) bool marks valid pixels (e.g.
    :func:`core.optics.valid_depth_mask`); invalid pixels take no part in any term. Returns
    ``l2``, ``laplacian``, ``histogram``, ``ssim`` (unweighted) and ``total`` (eq. 19 times
    ``config.total_scale``), each shaped like the broadcast leading dims.
    """
    cfg = config if config is not None else LossConfig.paper()
    sim_t = _as_tensor(sim, "sim")
    real_t = _as_tensor(real, "real").to(sim_t.device)
    dev = sim_t.device
    dtype = torch.float64 if cfg.float64 else torch.float32
    h, w = sim_t.shape[-2:]
    if tuple(real_t.shape[-2:]) != (h, w):
        raise ValueError(
            f"loss_terms: 'real' is {tuple(real_t.shape[-2:])} px but 'sim' is {(h, w)} px"
        )
    if cfg.color == "channels" and real_t.shape[-3] != sim_t.shape[-3]:
        raise ValueError(
            f"loss_terms: color='channels' needs equal channel counts, got real "
            f"{real_t.shape[-3]} and sim {sim_t.shape[-3]}"
        )
    lead = tuple(torch.broadcast_shapes(real_t.shape[:-3], sim_t.shape[:-3]))

    if mask is None:
        valid = torch.ones(h, w, dtype=torch.bool, device=dev)
        has_mask = False
    else:
        valid = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
        valid = valid.to(device=dev, dtype=torch.bool)
        if tuple(valid.shape) != (h, w):
            raise ValueError(f"loss_terms: 'mask' must be {(h, w)}, got {tuple(valid.shape)}")
        has_mask = not bool(valid.all())
    lap_valid = erode(valid, laplacian_radius(cfg.laplacian_kernel)) if has_mask else valid
    n_valid = float(valid.sum())
    n_lap = float(lap_valid.sum())
    if n_valid == 0 or n_lap == 0:
        raise ValueError("loss_terms: 'mask' leaves no valid pixel (after the Laplacian's border)")
    vw = valid.to(dtype) if has_mask else None
    lw = lap_valid.to(dtype) if has_mask else None
    red_img = _Reducer(vw, n_valid, cfg.reduction)
    red_lap = _Reducer(lw, n_lap, cfg.reduction)

    taps = gaussian_taps(cfg.ssim_window, cfg.ssim_sigma)
    r = cfg.ssim_window // 2
    # Normalised (masked) windows: each window averages only valid pixels. Outside the image a
    # 'zeros' window sees zeros that count (scipy convolve2d 'same'); 'reflect' sees mirrored
    # pixels. Without a mask the window weights already sum to 1 and no division is needed.
    if has_mask:
        if cfg.ssim_padding == "zeros":
            den = separable_valid(pad(valid.to(dtype), r, "constant", 1.0), taps, taps)
        else:
            den = window_mean(valid.to(dtype), taps, "reflect")
        den = den.clamp_min(1e-12)
    else:
        den = None

    def prep(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = to_gray(x, color=cfg.color, quantize_u8=cfg.quantize_u8, dtype=dtype)
        if has_mask:
            g = torch.where(valid, g, torch.zeros((), dtype=dtype, device=dev))
        return g, laplacian(g, cfg.laplacian_kernel)

    def wmean(x: torch.Tensor) -> torch.Tensor:
        m = window_mean(x, taps, cfg.ssim_padding)
        return m / den if den is not None else m

    # Features of the real images, computed once at their own batch shape.
    g_r, lap_r = prep(real_t)
    mu_r = wmean(g_r)
    var_r = wmean(g_r * g_r) - mu_r * mu_r
    k = g_r.shape[-3]
    feats = [g_r, lap_r, mu_r, var_r]
    feats_x = [f.expand(*lead, *f.shape[-3:]) for f in feats]
    sim_x = sim_t.expand(*lead, *sim_t.shape[-3:])

    out = {name: torch.zeros(lead, dtype=dtype, device=dev) for name in TERM_NAMES}
    per_item = max(k, sim_t.shape[-3]) * h * w
    c1, c2 = cfg.ssim_c1, cfg.ssim_c2
    vflat = lap_valid.reshape(-1)
    for idx in _chunks(lead, per_item, cfg.chunk_pixels):
        s = sim_x[idx]
        sub = s.shape[:-3]
        s = s.reshape(-1, *s.shape[-3:])
        gr, lr, mr, vr = (f[idx].reshape(-1, *f.shape[-3:]) for f in feats_x)
        gs, ls = prep(s)
        b = gs.shape[0]
        l2 = red_img(gr - gs).mean(dim=-1)
        if cfg.laplacian_abs_u8:
            lap_term = red_lap(
                lr.abs().round().clamp_max(255.0) - ls.abs().round().clamp_max(255.0)
            )
        else:
            lap_term = red_lap(lr - ls)
        hr, hs = (lr.abs(), ls.abs()) if cfg.hist_source == "abs" else (lr, ls)
        hist = histogram_distance(
            hr.reshape(b * k, -1),
            hs.reshape(b * k, -1),
            vflat,
            bins=cfg.hist_bins,
            closed_edges=cfg.hist_closed_edges,
            squared=cfg.hist_reduction == "squared",
        ).to(dtype)
        mu_s = wmean(gs)
        var_s = wmean(gs * gs) - mu_s * mu_s
        cov = wmean(gr * gs) - mr * mu_s
        ssim_map = ((2 * mr * mu_s + c1) * (2 * cov + c2)) / (
            (mr * mr + mu_s * mu_s + c1) * (vr + var_s + c2)
        )
        dis = (1.0 - ssim_map) / 2.0
        if vw is not None:
            dis = dis * vw
        ssim = dis.sum(dim=(-2, -1)) / n_valid
        out["l2"][idx] = l2.reshape(sub)
        out["laplacian"][idx] = lap_term.mean(dim=-1).reshape(sub)
        out["histogram"][idx] = hist.reshape(b, k).mean(dim=-1).reshape(sub)
        out["ssim"][idx] = ssim.mean(dim=-1).reshape(sub)
    wts = cfg.weights
    out["total"] = cfg.total_scale * sum(
        (wt * out[name] for wt, name in zip(wts, TERM_NAMES, strict=True)),
        torch.zeros(lead, dtype=dtype, device=dev),
    )
    return out
