"""The four loss terms of eqs. 15-18 and their weighted sum (eq. 19), batched and chunked.

The fitter compares G grid points x M sweep images against M real images, thousands of pairs
per fit, so this is its hot loop. Everything that depends on the real images alone (grey
image, Laplacian, its histogram source and range, SSIM window moments) is computed once, by
:class:`RealFeatures`, and broadcast; ``loss_terms`` builds one per call, and
``psfbench.core.losses.frames.FrameLosses`` one per sweep frame, kept across calls. The simulated
batch is processed in chunks of at most ``LossConfig.chunk_pixels`` pixels so memory stays bounded
whatever G is. On the CPU the window sums and Laplacians run through OpenCV (``cv_filters``)
and the pairs through ``cpu_pairs.CpuPairKernel``; elsewhere histograms are binned by a
guess-and-correct index and ``bincount`` (``histogram_distance_fast``), which gives the same
counts as the ``searchsorted`` formulation in ``reference.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from psfbench.core.losses.common import (
    TERM_NAMES,
    MaskInfo,
    Reducer,
    check_inputs,
    chunks,
    compute_dtype,
    weighted_total,
)
from psfbench.core.losses.config import LossConfig
from psfbench.core.losses.cpu_pairs import CpuPairKernel
from psfbench.core.losses.cv_filters import cv_laplacian
from psfbench.core.losses.filters import (
    gaussian_taps,
    laplacian,
    pad,
    separable_valid,
    to_gray,
    window_mean,
)
from psfbench.core.losses.histogram import histogram_distance_fast, masked_range
from psfbench.core.losses.ssim_cpu import window_mean_cpu


def loss_terms(
    real: Any,
    sim: Any,
    mask: Any = None,
    config: LossConfig | None = None,
) -> dict[str, torch.Tensor]:
    """Loss terms between real and simulated focused images.

    ``real`` (..., C, H, W) broadcasts against ``sim`` (..., C, H, W), floats in [0, 1]; the
    computation runs on ``sim``'s device. ``mask`` (H, W) bool marks valid pixels (e.g.
    :func:`psfbench.core.optics.valid_depth_mask`); invalid pixels take no part in any term. Returns
    ``l2``, ``laplacian``, ``histogram``, ``ssim`` (unweighted) and ``total`` (eq. 19 times
    ``config.total_scale``), each shaped like the broadcast leading dims.
    """
    cfg = config if config is not None else LossConfig.paper()
    inp = check_inputs(real, sim, mask, cfg)
    feats = RealFeatures(inp.real, inp.mask, cfg, cpu_kernel=inp.sim.device.type == "cpu")
    out = feats.terms(inp.sim, inp.lead)
    out["total"] = weighted_total(out, cfg)
    return out


class RealFeatures:
    """What the loss terms need from fixed real images and one mask, computed once.

    ``real`` (..., C, H, W) float in [0, 1], on the device the terms will run on; ``mask``
    its (H, W) :class:`MaskInfo` on that device. With ``cpu_kernel`` (``real`` must then be
    on the CPU) the features go into a :class:`CpuPairKernel` (OpenCV filters, sorted real
    histogram values); otherwise they stay tensors for the batched torch path (shifted-slice
    filters, ``bincount`` histograms), which runs on any device. Raises ValueError for an
    image smaller than the SSIM window (reflect padding) or a colour layout ``to_gray``
    rejects.
    """

    def __init__(
        self, real: torch.Tensor, mask: MaskInfo, cfg: LossConfig, *, cpu_kernel: bool
    ) -> None:
        self.cfg, self.mask, self.dtype = cfg, mask, compute_dtype(cfg)
        dtype = self.dtype
        self.taps = gaussian_taps(cfg.ssim_window, cfg.ssim_sigma)
        self.lap_fn: Callable[[torch.Tensor, str], torch.Tensor] = (
            cv_laplacian if cpu_kernel else laplacian
        )
        self.win_fn: Callable[[torch.Tensor, Sequence[float], str], torch.Tensor] = (
            window_mean_cpu if cpu_kernel else window_mean
        )
        r = cfg.ssim_window // 2
        # Normalised (masked) windows, as in reference.py: computed once, with the slice filter.
        self.den: torch.Tensor | None = None
        if mask.has_mask:
            vf = mask.valid.to(dtype)
            if cfg.ssim_padding == "zeros":
                den = separable_valid(pad(vf, r, "constant", 1.0), self.taps, self.taps)
            else:
                den = window_mean(vf, self.taps, "reflect")
            self.den = den.clamp_min(1e-12)
        g_r, lap_r = self._prep(real)
        #: Grey planes per image (1 for luma, C for per-channel terms).
        self.k = g_r.shape[-3]
        mu_r = self._wmean(g_r)
        mu_r2 = mu_r * mu_r
        var_r = self._wmean(g_r * g_r) - mu_r2
        cmp_r = self._lap_cmp(lap_r)
        hsrc_r = self._hist_src(lap_r)
        h, w = g_r.shape[-2:]
        if cpu_kernel:
            self.kernel: CpuPairKernel | None = _cpu_kernel(
                cfg, mask, g_r, cmp_r, hsrc_r, mu_r, mu_r2, var_r, self.den, self.taps
            )
            n_real = g_r.reshape(-1, h, w).shape[0]
            self.ridx = torch.arange(n_real).reshape(*g_r.shape[:-2])
            return
        self.kernel = None
        self.feats = (g_r, cmp_r, hsrc_r, mu_r, mu_r2, var_r)
        vw = mask.valid.to(dtype) if mask.has_mask else None
        lw = mask.lap_valid.to(dtype) if mask.has_mask else None
        self.vw = vw
        self.red_img = Reducer(vw, mask.n_valid, cfg.reduction)
        self.red_lap = Reducer(lw, mask.n_lap, cfg.reduction)
        self.hist_valid = mask.lap_valid.reshape(-1) if mask.has_mask else None
        hv = self.hist_valid
        self.hist_idx = torch.nonzero(hv).reshape(-1) if hv is not None else None
        lo_r, hi_r = masked_range(hsrc_r.reshape(-1, h * w), self.hist_idx)
        self.ranges = (lo_r.reshape(hsrc_r.shape[:-2]), hi_r.reshape(hsrc_r.shape[:-2]))

    def _prep(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(grey, Laplacian) of (..., C, H, W) images, invalid pixels zeroed."""
        g = self._grey(x)
        return g, self.lap_fn(g, self.cfg.laplacian_kernel)

    def _grey(self, x: torch.Tensor) -> torch.Tensor:
        cfg, dtype = self.cfg, self.dtype
        g = to_gray(x, color=cfg.color, quantize_u8=cfg.quantize_u8, dtype=dtype)
        if self.mask.has_mask:
            g = torch.where(self.mask.valid, g, torch.zeros((), dtype=dtype, device=g.device))
        return g

    def _wmean(self, x: torch.Tensor) -> torch.Tensor:
        m = self.win_fn(x, self.taps, self.cfg.ssim_padding)
        return m.div_(self.den) if self.den is not None else m

    def _lap_cmp(self, lap: torch.Tensor) -> torch.Tensor:
        return lap.abs().round_().clamp_max_(255.0) if self.cfg.laplacian_abs_u8 else lap

    def _hist_src(self, lap: torch.Tensor) -> torch.Tensor:
        return lap.abs() if self.cfg.hist_source == "abs" else lap

    def terms(self, sim: torch.Tensor, lead: tuple[int, ...]) -> dict[str, torch.Tensor]:
        """Unweighted terms (no ``total``) of ``sim`` (..., C, H, W) on the features' device.

        ``sim``'s and the real images' leading dims broadcast to ``lead``; each term comes
        back shaped ``lead``, in the compute dtype.
        """
        cfg = self.cfg
        h, w = sim.shape[-2:]
        sim_x = sim.expand(*lead, *sim.shape[-3:])
        out = {name: torch.zeros(lead, dtype=self.dtype, device=sim.device) for name in TERM_NAMES}
        per_item = max(self.k, sim.shape[-3]) * h * w
        for idx in chunks(lead, per_item, cfg.chunk_pixels):
            s = sim_x[idx]
            sub = s.shape[:-3]
            s = s.reshape(-1, *s.shape[-3:])
            if self.kernel is not None:
                per = self._cpu_chunk(self.kernel, s, self.ridx.expand(*lead, self.k)[idx])
            else:
                per = self._torch_chunk(s, idx, lead)
            for name, v in zip(TERM_NAMES, per, strict=True):
                out[name][idx] = v.reshape(sub)
        return out

    def frame_terms(self, sim: torch.Tensor) -> list[torch.Tensor]:
        """The unweighted terms (l2, laplacian, histogram, ssim) of one simulated image
        ``sim`` (C, H, W) float CPU against the real image, each a 0-d tensor in the compute
        dtype, computed in the calling thread by the CPU kernel: the same numbers as
        :meth:`terms`. Raises RuntimeError without a CPU kernel."""
        if self.kernel is None:
            raise RuntimeError("frame_terms needs the CPU kernel (features built on the CPU)")
        per = self._cpu_chunk(self.kernel, sim[None], self.ridx.expand(1, self.k))
        return [v[0] for v in per]

    def _cpu_chunk(
        self, kernel: CpuPairKernel, s: torch.Tensor, ridx: torch.Tensor
    ) -> list[torch.Tensor]:
        h, w = s.shape[-2:]
        planes = self._grey(s).contiguous().reshape(-1, h, w).numpy()
        ri = ridx.reshape(-1).tolist()
        vals = np.array([kernel.terms(planes[i], ri[i]) for i in range(len(ri))])
        per = torch.from_numpy(vals).to(self.dtype).reshape(-1, self.k, 4).mean(dim=1)
        return [per[:, j] for j in range(4)]

    def _torch_chunk(
        self, s: torch.Tensor, idx: tuple[Any, ...], lead: tuple[int, ...]
    ) -> list[torch.Tensor]:
        cfg, k = self.cfg, self.k
        gr, cr, hr, mr, mr2, vr = (
            f.expand(*lead, *f.shape[-3:])[idx].reshape(-1, *f.shape[-3:]) for f in self.feats
        )
        lo_c, hi_c = (f.expand(*lead, k)[idx].reshape(-1) for f in self.ranges)
        gs, ls = self._prep(s)
        b = gs.shape[0]
        l2 = self.red_img(gr - gs).mean(dim=-1)
        lap_term = self.red_lap(cr - self._lap_cmp(ls)).mean(dim=-1)
        hist = histogram_distance_fast(
            hr.reshape(b * k, -1),
            self._hist_src(ls).reshape(b * k, -1),
            self.hist_valid,
            bins=cfg.hist_bins,
            closed_edges=cfg.hist_closed_edges,
            squared=cfg.hist_reduction == "squared",
            n_valid=self.mask.n_lap,
            real_range=(lo_c, hi_c),
            valid_idx=self.hist_idx,
        ).to(self.dtype)
        del ls
        ssim = _ssim(gr, gs, mr, mr2, vr, self._wmean, cfg.ssim_c1, cfg.ssim_c2, self.vw)
        ssim = ssim / self.mask.n_valid
        return [l2, lap_term, hist.reshape(b, k).mean(dim=-1), ssim.mean(dim=-1)]


def _cpu_kernel(
    cfg: LossConfig,
    mask: MaskInfo,
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
    lap_valid = mask.lap_valid.numpy() if mask.has_mask else None
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
        mask.valid.numpy() if mask.has_mask else None,
        lap_valid,
        den.numpy() if den is not None else None,
        taps,
        mask.n_valid,
        mask.n_lap,
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
