"""The straightforward formulation of the loss terms, kept as the oracle for the fast path.

It states every term with shifted-slice filters (``psfbench.core.losses.filters``) and a
``searchsorted`` histogram (``histogram_distance``): slow, but each line maps onto the
definitions in docs/losses.md. ``tests/losses/test_losses_fast.py`` checks
:func:`psfbench.core.losses.loss_terms` against it, and ``benchmarks/losses.py`` times both.
"""

from __future__ import annotations

from typing import Any

import torch

from psfbench.core.losses.common import TERM_NAMES, Reducer, check_inputs, chunks, weighted_total
from psfbench.core.losses.config import LossConfig
from psfbench.core.losses.filters import (
    gaussian_taps,
    laplacian,
    pad,
    separable_valid,
    to_gray,
    window_mean,
)
from psfbench.core.losses.histogram import histogram_distance


def loss_terms_reference(
    real: Any,
    sim: Any,
    mask: Any = None,
    config: LossConfig | None = None,
) -> dict[str, torch.Tensor]:
    """Same contract and results (to float rounding) as :func:`psfbench.core.losses.loss_terms`."""
    cfg = config if config is not None else LossConfig.paper()
    inp = check_inputs(real, sim, mask, cfg)
    real_t, sim_t, lead, dtype = inp.real, inp.sim, inp.lead, inp.dtype
    valid, lap_valid, has_mask = inp.valid, inp.lap_valid, inp.has_mask
    dev = sim_t.device
    h, w = sim_t.shape[-2:]
    n_valid = inp.n_valid
    vw = valid.to(dtype) if has_mask else None
    lw = lap_valid.to(dtype) if has_mask else None
    red_img = Reducer(vw, n_valid, cfg.reduction)
    red_lap = Reducer(lw, inp.n_lap, cfg.reduction)

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
    for idx in chunks(lead, per_item, cfg.chunk_pixels):
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
    out["total"] = weighted_total(out, cfg)
    return out
