"""The four loss terms of eqs. 15-18 and their weighted sum (eq. 19), batched and chunked.

The fitter compares G grid points x M sweep images against M real images, thousands of pairs
per fit, so this is its hot loop. Everything that depends on the real images alone (grey
image, Laplacian, its histogram source and range, SSIM window moments) is computed once per
call and broadcast; the simulated batch is processed in chunks of at most
``LossConfig.chunk_pixels`` pixels so memory stays bounded whatever G is. On the CPU the
window sums and Laplacians run through OpenCV (``cv_filters``); histograms are binned by a
guess-and-correct index and ``bincount`` (``histogram_distance_fast``), which gives the same
counts as the ``searchsorted`` formulation in ``reference.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from core.losses.common import TERM_NAMES, Reducer, check_inputs, chunks, weighted_total
from core.losses.config import LossConfig
from core.losses.cpu_pairs import CpuPairKernel
from core.losses.cv_filters import cv_laplacian, cv_window_mean
from core.losses.filters import gaussian_taps, laplacian, pad, separable_valid, to_gray, window_mean
from core.losses.histogram import histogram_distance_fast, masked_range


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
    inp = check_inputs(real, sim, mask, cfg)
    real_t, sim_t, lead, dtype = inp.real, inp.sim, inp.lead, inp.dtype
    valid, has_mask = inp.valid, inp.has_mask
    dev = sim_t.device
    h, w = sim_t.shape[-2:]
    n_valid = inp.n_valid
    vw = valid.to(dtype) if has_mask else None
    lw = inp.lap_valid.to(dtype) if has_mask else None
    red_img = Reducer(vw, n_valid, cfg.reduction)
    red_lap = Reducer(lw, inp.n_lap, cfg.reduction)
    hist_valid = inp.lap_valid.reshape(-1) if has_mask else None
    hist_idx = torch.nonzero(hist_valid).reshape(-1) if hist_valid is not None else None

    on_cpu = dev.type == "cpu"
    lap_fn: Callable[[torch.Tensor, str], torch.Tensor] = cv_laplacian if on_cpu else laplacian
    win_fn: Callable[[torch.Tensor, Sequence[float], str], torch.Tensor] = (
        cv_window_mean if on_cpu else window_mean
    )
    taps = gaussian_taps(cfg.ssim_window, cfg.ssim_sigma)
    r = cfg.ssim_window // 2
    # Normalised (masked) windows, as in reference.py: computed once, with the slice filter.
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
        return g, lap_fn(g, cfg.laplacian_kernel)

    def wmean(x: torch.Tensor) -> torch.Tensor:
        m = win_fn(x, taps, cfg.ssim_padding)
        return m.div_(den) if den is not None else m

    def lap_cmp(lap: torch.Tensor) -> torch.Tensor:
        return lap.abs().round_().clamp_max_(255.0) if cfg.laplacian_abs_u8 else lap

    def hist_src(lap: torch.Tensor) -> torch.Tensor:
        return lap.abs() if cfg.hist_source == "abs" else lap

    # Features of the real images, computed once at their own batch shape.
    g_r, lap_r = prep(real_t)
    k = g_r.shape[-3]
    mu_r = wmean(g_r)
    mu_r2 = mu_r * mu_r
    var_r = wmean(g_r * g_r) - mu_r2
    cmp_r = lap_cmp(lap_r)
    hsrc_r = hist_src(lap_r)
    if on_cpu:
        kernel = _cpu_kernel(cfg, inp, g_r, cmp_r, hsrc_r, mu_r, mu_r2, var_r, den, taps)
        n_real = g_r.reshape(-1, h, w).shape[0]
        ridx = torch.arange(n_real).reshape(*g_r.shape[:-2]).expand(*lead, k)
        # The kernel takes the real histograms' ranges from their sorted values.
        lo_r = hi_r = torch.zeros(g_r.shape[:-2], dtype=dtype)
    else:
        lo_r, hi_r = masked_range(hsrc_r.reshape(-1, h * w), hist_idx)
        lo_r, hi_r = lo_r.reshape(hsrc_r.shape[:-2]), hi_r.reshape(hsrc_r.shape[:-2])
    feats = [g_r, cmp_r, hsrc_r, mu_r, mu_r2, var_r]
    feats_x = [f.expand(*lead, *f.shape[-3:]) for f in feats]
    ranges_x = [f.expand(*lead, k) for f in (lo_r, hi_r)]
    sim_x = sim_t.expand(*lead, *sim_t.shape[-3:])

    out = {name: torch.zeros(lead, dtype=dtype, device=dev) for name in TERM_NAMES}
    per_item = max(k, sim_t.shape[-3]) * h * w
    c1, c2 = cfg.ssim_c1, cfg.ssim_c2
    for idx in chunks(lead, per_item, cfg.chunk_pixels):
        s = sim_x[idx]
        sub = s.shape[:-3]
        s = s.reshape(-1, *s.shape[-3:])
        if on_cpu:
            gs = to_gray(s, color=cfg.color, quantize_u8=cfg.quantize_u8, dtype=dtype)
            if has_mask:
                gs = torch.where(valid, gs, torch.zeros((), dtype=dtype))
            planes = gs.contiguous().reshape(-1, h, w).numpy()
            ri = ridx[idx].reshape(-1).tolist()
            vals = np.array([kernel.terms(planes[i], ri[i]) for i in range(len(ri))])
            per = torch.from_numpy(vals).to(dtype).reshape(-1, k, 4).mean(dim=1)
            for j, name in enumerate(TERM_NAMES):
                out[name][idx] = per[:, j].reshape(sub)
            continue
        gr, cr, hr, mr, mr2, vr = (f[idx].reshape(-1, *f.shape[-3:]) for f in feats_x)
        lo_c, hi_c = (f[idx].reshape(-1) for f in ranges_x)
        gs, ls = prep(s)
        b = gs.shape[0]
        l2 = red_img(gr - gs).mean(dim=-1)
        lap_term = red_lap(cr - lap_cmp(ls)).mean(dim=-1)
        hist = histogram_distance_fast(
            hr.reshape(b * k, -1),
            hist_src(ls).reshape(b * k, -1),
            hist_valid,
            bins=cfg.hist_bins,
            closed_edges=cfg.hist_closed_edges,
            squared=cfg.hist_reduction == "squared",
            n_valid=inp.n_lap,
            real_range=(lo_c, hi_c),
            valid_idx=hist_idx,
        ).to(dtype)
        del ls
        ssim = _ssim(gr, gs, mr, mr2, vr, wmean, c1, c2, vw) / n_valid
        out["l2"][idx] = l2.reshape(sub)
        out["laplacian"][idx] = lap_term.reshape(sub)
        out["histogram"][idx] = hist.reshape(b, k).mean(dim=-1).reshape(sub)
        out["ssim"][idx] = ssim.mean(dim=-1).reshape(sub)
    out["total"] = weighted_total(out, cfg)
    return out


def _cpu_kernel(
    cfg: LossConfig,
    inp: Any,
    g_r: torch.Tensor,
    cmp_r: torch.Tensor,
    hsrc_r: torch.Tensor,
    mu_r: torch.Tensor,
    mu_r2: torch.Tensor,
    var_r: torch.Tensor,
    den: torch.Tensor | None,
    taps: Sequence[float],
) -> CpuPairKernel:
    h, w = g_r.shape[-2:]

    def planes(t: torch.Tensor) -> np.ndarray:
        return t.contiguous().reshape(-1, h, w).numpy()

    hsrc = planes(hsrc_r).reshape(-1, h * w)
    lap_valid = inp.lap_valid.numpy() if inp.has_mask else None
    if lap_valid is not None:
        hsrc = np.ascontiguousarray(hsrc[:, lap_valid.reshape(-1)])
    real = {
        "g": planes(g_r),
        "cmp": planes(cmp_r),
        "hsrc": hsrc,
        "mu": planes(mu_r),
        "mu2": planes(mu_r2),
        "var": planes(var_r),
    }
    return CpuPairKernel(
        cfg,
        real,
        inp.valid.numpy() if inp.has_mask else None,
        lap_valid,
        den.numpy() if den is not None else None,
        taps,
        inp.n_valid,
        inp.n_lap,
    )


def _ssim(
    gr: torch.Tensor,
    gs: torch.Tensor,
    mr: torch.Tensor,
    mr2: torch.Tensor,
    vr: torch.Tensor,
    wmean: Callable[[torch.Tensor], torch.Tensor],
    c1: float,
    c2: float,
    vw: torch.Tensor | None,
) -> torch.Tensor:
    """Sum over pixels of (1 - SSIM map) / 2, in place where possible.

    Same arithmetic as reference.py, rearranged only where it is exact (2ab = (2a)b), so
    identical images still give exactly 0.
    """
    mu_s = wmean(gs)
    e_ss = wmean(gs * gs)
    e_rs = wmean(gr * gs)
    mu_s2 = mu_s * mu_s
    t = mr * mu_s
    var_s = e_ss.sub_(mu_s2)
    cov = e_rs.sub_(t)
    num = t.mul_(2.0).add_(c1).mul_(cov.mul_(2.0).add_(c2))
    den = mu_s2.add_(mr2).add_(c1).mul_(var_s.add_(vr).add_(c2))
    dis = num.div_(den).neg_().add_(1.0).div_(2.0)
    if vw is not None:
        dis.mul_(vw)
    return dis.sum(dim=(-2, -1))
