"""The CPU hot loop: all four terms for one (real, simulated) image plane at a time.

Batched torch ops over a chunk of 613x514 planes allocate a fresh multi-megabyte tensor per
operation and stream it through memory; on a small shared CPU that costs more than the
arithmetic. Here each plane is processed with OpenCV filters and in-place NumPy operations on
a handful of plane-sized scratch buffers that stay in cache (the SSIM map's ~16 elementwise
steps are one compiled pass, :mod:`psfbench.core.losses.ssim_cpu`), and everything that depends only
on the real image (its Laplacian, sorted histogram source, SSIM moments) is read from arrays
computed once when the kernel is built. The scratch buffers belong to the thread, not to the
kernel (``_workspace``): a sweep's 20 per-frame kernels used on one thread share one set. The
formulas are those of ``reference.py``; the histogram counts are bit-identical to its
``searchsorted`` binning (``_Binner``).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from psfbench.core.losses.config import LossConfig
from psfbench.core.losses.histogram import histogram_distance
from psfbench.core.losses.histogram_cpu import plane_counts
from psfbench.core.losses.ssim_cpu import WINDOW, fused_ssim_sum, ssim_dissimilarity_sum

_CV_DEPTH = {np.dtype(np.float32): cv2.CV_32F, np.dtype(np.float64): cv2.CV_64F}


class _Binner:
    """Histogram counts with ``histogram_distance``'s edges and edge rules, for 1-D arrays.

    Edges are computed in float64 exactly as there, then rounded *up* to the values' dtype:
    for a value v of that dtype, ``v >= edge`` exactly when ``v >= threshold``. The bin is
    guessed from ``(v - lo) * bins / (hi - lo)`` in v's dtype (off by at most one: its
    relative error is ~1e-7 on a number <= bins) and corrected by one comparison with each
    neighbouring threshold, so the counts equal searchsorted's.
    """

    def __init__(self, bins: int, closed: bool, dtype: np.dtype, size: int) -> None:
        self.bins, self.closed, self.dtype = bins, closed, dtype
        self.f = np.empty(size, dtype)
        self.t = np.empty(size, dtype)
        self.g = np.empty(size, np.intp)
        self.b = np.empty(size, np.bool_)
        self.b2 = np.empty(size, np.bool_)
        self.k = np.arange(bins + 1, dtype=np.float64)

    def usable(self, lo: float, hi: float) -> bool:
        """False where the guess cannot be trusted (NaN, or a range too narrow for float64
        edges to be ordered to within a bin, impossible for float32 values)."""
        if not (math.isfinite(lo) and math.isfinite(hi)):
            return False
        return hi == lo or (hi - lo) / self.bins > 1e-12 * max(abs(lo), abs(hi))

    def thresholds(self, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
        """(edges in float64, the same rounded up to the values' dtype)."""
        step = (hi - lo) / self.bins
        edges = self.k * step + lo
        edges[-1] = hi
        thr = edges.astype(self.dtype)
        up = thr.astype(np.float64) < edges
        thr[up] = np.nextafter(thr[up], self.dtype.type(np.inf))
        return edges, thr

    def counts_sorted(self, s: np.ndarray, lo: float, hi: float) -> np.ndarray | None:
        """Counts of ascending values ``s`` by binary search of the edges (no pass over the
        values); None when rounded edges coincide, where ``counts`` must be used."""
        bins, n = self.bins, s.shape[0]
        if hi == lo:
            return self._degenerate(n)
        edges, thr = self.thresholds(lo, hi)
        if not bool(np.all(thr[1:] > thr[:-1])):
            return None
        below = np.searchsorted(s, thr, side="left")  # values < each edge
        c = np.empty(bins, np.int64)
        c[:-1] = below[1:-1] - below[:-2]
        c[-1] = n - below[-2]  # last bin closed: everything from its lower edge up
        c[0] += below[0]  # values below lo (none when the range covers them) clamp to bin 0
        if self.closed:
            # Inner edges held exactly by the dtype: values on them also count one bin down.
            inner = slice(1, bins)
            on = np.searchsorted(s, thr[inner], side="right") - below[inner]
            c[: bins - 1] += np.where(thr[inner].astype(np.float64) == edges[inner], on, 0)
        return c

    def _degenerate(self, n: int) -> np.ndarray:
        # Zero-width range: all edges equal lo, searchsorted puts every value in the last bin.
        c = np.zeros(self.bins, np.int64)
        c[-1] = n
        return c

    def counts(self, v: np.ndarray, lo: float, hi: float) -> np.ndarray:
        bins, n = self.bins, v.shape[0]
        if hi == lo:
            return self._degenerate(n)
        edges, thr = self.thresholds(lo, hi)
        thr_ext = np.append(thr, self.dtype.type(np.inf))
        f, t, g, b = self.f[:n], self.t[:n], self.g[:n], self.b[:n]
        np.subtract(v, self.dtype.type(lo), out=f)
        np.multiply(f, self.dtype.type(bins / (hi - lo)), out=f)
        with np.errstate(invalid="ignore"):
            np.copyto(g, f, casting="unsafe")
        np.clip(g, 0, bins, out=g)
        np.take(thr_ext, g, out=t)
        np.less(v, t, out=b)
        np.take(thr_ext[1:], g, out=t)
        np.subtract(g, b, out=g)
        np.greater_equal(v, t, out=b)
        np.add(g, b, out=g)
        extra = None
        if self.closed:
            # A value exactly on an inner edge also counts in the bin below.
            exact = np.append(thr.astype(np.float64) == edges, False)
            np.clip(g, 0, bins, out=g)
            np.take(thr_ext, g, out=t)
            np.equal(v, t, out=b)
            b2 = self.b2[:n]
            np.take(exact, g, out=b2)
            b &= b2
            np.greater_equal(g, 1, out=b2)
            b &= b2
            np.less_equal(g, bins - 1, out=b2)
            b &= b2
            extra = np.bincount(g[b] - 1, minlength=bins)
        np.clip(g, 0, bins - 1, out=g)
        c = np.bincount(g, minlength=bins)
        return c if extra is None else c + extra


@dataclass(frozen=True)
class _Workspace:
    """Scratch memory of one thread for (H, W) planes: six planes, the masked histogram
    values, and the binner's arrays (about 11 planes' worth in all)."""

    buf: tuple[np.ndarray, ...]
    hbuf: np.ndarray
    binner: _Binner
    #: Bin of every pixel, and four sub-histograms (:mod:`psfbench.core.losses.histogram_cpu`).
    gbuf: np.ndarray
    sub: np.ndarray


_local = threading.local()
#: Workspaces kept per thread (distinct shapes/dtypes/bin settings); the oldest goes first.
_MAX_WORKSPACES = 4


def _workspace(h: int, w: int, dtype: np.dtype, bins: int, closed: bool) -> _Workspace:
    """This thread's workspace for (H, W) planes of ``dtype`` and these histogram bins,
    allocated on first use and then reused by every kernel that runs on the thread."""
    cache: dict[tuple[object, ...], _Workspace] | None = getattr(_local, "workspaces", None)
    if cache is None:
        cache = _local.workspaces = {}
    key = (h, w, dtype, bins, closed)
    ws = cache.get(key)
    if ws is None:
        if len(cache) >= _MAX_WORKSPACES:
            del cache[next(iter(cache))]
        buf = tuple(np.empty((h, w), dtype) for _ in range(6))
        ws = _Workspace(
            buf,
            np.empty(h * w, dtype),
            _Binner(bins, closed, dtype, h * w),
            np.empty(h * w, np.int32),
            np.empty((4, bins), np.int64),
        )
        cache[key] = ws
    return ws


class CpuPairKernel:
    """Terms for planes of simulated grey images against precomputed real-image features.

    ``real`` holds (R, H, W) arrays indexed by real plane: grey ``g``, Laplacian as compared
    (``cmp``: signed, or ``min(round(|.|), 255)``), histogram source ``hsrc`` (restricted to
    the histogram's valid pixels when masked, so (R, n)), ``mu``, ``mu2`` and ``var``. The
    histogram source is sorted here, once. Nothing of the kernel is written afterwards and
    each ``terms`` call works in the calling thread's scratch buffers (``_workspace``), so
    kernels may be used from any thread.
    """

    def __init__(
        self,
        cfg: LossConfig,
        real: dict[str, np.ndarray],
        valid: np.ndarray | None,
        lap_valid: np.ndarray | None,
        den: np.ndarray | None,
        taps: Sequence[float],
        n_valid: float,
        n_lap: float,
    ) -> None:
        self.cfg = cfg
        self.real = {k: v for k, v in real.items() if k != "hsrc"}
        self.shape = real["g"].shape[-2:]
        self.dtype = real["g"].dtype
        self.depth = _CV_DEPTH[self.dtype]
        self.valid_u8 = None if valid is None else valid.astype(np.uint8)
        self._valid_flat = None if self.valid_u8 is None else self.valid_u8.reshape(-1)
        self.lap_u8 = None if lap_valid is None else lap_valid.astype(np.uint8)
        self._lap_flat = None if self.lap_u8 is None else self.lap_u8.reshape(-1)
        # Indices, not a boolean mask: np.take is ~2x faster than np.compress here.
        self.lap_idx = None if lap_valid is None else np.flatnonzero(lap_valid)
        self.den = den
        self.taps = np.asarray(taps, self.dtype)
        self.border = (
            cv2.BORDER_REFLECT_101 if cfg.ssim_padding == "reflect" else cv2.BORDER_CONSTANT
        )
        self.ksize = 5 if cfg.laplacian_kernel == "opencv5" else 1
        self.n_valid, self.n_lap = n_valid, n_lap
        #: (R, n) ascending histogram source of each real plane.
        self.real_sorted = np.sort(real["hsrc"], axis=-1)
        self.c1 = self.dtype.type(cfg.ssim_c1)
        self.c2 = self.dtype.type(cfg.ssim_c2)

    def _reduce(self, s: float, n: float) -> float:
        return s / n if self.cfg.reduction == "mean_square" else math.sqrt(s) / n

    def terms(self, gs: np.ndarray, ri: int) -> tuple[float, float, float, float]:
        """(l2, laplacian, histogram, ssim) of simulated grey plane ``gs`` vs real plane ri."""
        cfg, real = self.cfg, self.real
        h, w = self.shape
        ws = _workspace(h, w, self.dtype, cfg.hist_bins, cfg.hist_closed_edges)
        b0, b1 = ws.buf[0], ws.buf[1]
        gr = real["g"][ri]
        l2 = self._reduce(cv2.norm(gr, gs, cv2.NORM_L2SQR, self.valid_u8), self.n_valid)
        ls = cv2.Laplacian(
            gs, self.depth, dst=b0, ksize=self.ksize, borderType=cv2.BORDER_REFLECT_101
        )
        if cfg.laplacian_abs_u8:
            cmp_s = np.abs(ls, out=b1)
            np.round(cmp_s, out=cmp_s)
            np.minimum(cmp_s, self.dtype.type(255.0), out=cmp_s)
        else:
            cmp_s = ls
        lap = self._reduce(
            cv2.norm(real["cmp"][ri], cmp_s, cv2.NORM_L2SQR, self.lap_u8), self.n_lap
        )
        hist = self._hist(ls, ri, ws)
        ssim = self._ssim(gs, gr, real["mu"][ri], real["mu2"][ri], real["var"][ri], ws.buf)
        return l2, lap, hist, ssim

    def _hist(self, ls: np.ndarray, ri: int, ws: _Workspace) -> float:
        """Histogram distance: the simulated plane binned directly (one vectorised pass and a
        counting pass, :mod:`psfbench.core.losses.histogram_cpu`) against the real plane's
        values sorted when the kernel was built (counted by binary search for this pair's
        edges). A plane with NaN or infinite values takes the sorting path, whose range and
        counts follow NumPy's ordering of NaN."""
        cfg = self.cfg
        src = np.abs(ls, out=ws.buf[1]) if cfg.hist_source == "abs" else ls
        lo_s, hi_s, _, _ = cv2.minMaxLoc(src, self.lap_u8)  # garbage with NaN: caught below
        real = self.real_sorted[ri]
        lo = min(float(real[0]), lo_s)
        hi = max(float(real[-1]), hi_s)
        binner = ws.binner
        if not binner.usable(lo, hi):
            return self._hist_sorted(src, ri, ws)
        valid = None if self.lap_u8 is None else self._lap_flat
        cs = plane_counts(
            src.reshape(-1), lo, hi, cfg.hist_bins, cfg.hist_closed_edges, valid, ws.gbuf, ws.sub
        )
        if cs is None:
            return self._hist_sorted(src, ri, ws)
        cr = binner.counts_sorted(real, lo, hi)
        if cr is None:
            cr = binner.counts(real, lo, hi)
        return self._hist_value(cr, cs)

    def _hist_value(self, cr: np.ndarray, cs: np.ndarray) -> float:
        d = (cr - cs).astype(np.float64) / self.n_lap
        d2 = float(np.sum(d * d))
        return d2 if self.cfg.hist_reduction == "squared" else math.sqrt(d2)

    def _hist_sorted(self, src: np.ndarray, ri: int, ws: _Workspace) -> float:
        """The histogram distance by sorting the simulated values (any input, NaN included)."""
        flat = src.reshape(-1)
        if self.lap_idx is not None:
            flat = np.take(flat, self.lap_idx, out=ws.hbuf[: self.lap_idx.shape[0]])
        flat.sort()
        real = self.real_sorted[ri]
        lo = min(float(real[0]), float(flat[0]))
        hi = max(float(real[-1]), float(flat[-1]))
        binner = ws.binner
        if not binner.usable(lo, hi):
            return self._hist_reference(real, flat)
        cr = binner.counts_sorted(real, lo, hi)
        cs = binner.counts_sorted(flat, lo, hi)
        if cr is None or cs is None:
            cr, cs = binner.counts(real, lo, hi), binner.counts(flat, lo, hi)
        return self._hist_value(cr, cs)

    def _hist_reference(self, vr: np.ndarray, vs: np.ndarray) -> float:
        cfg = self.cfg
        t_r, t_s = torch.from_numpy(vr.copy())[None], torch.from_numpy(vs.copy())[None]
        d = histogram_distance(
            t_r,
            t_s,
            torch.ones(vs.shape[0], dtype=torch.bool),
            bins=cfg.hist_bins,
            closed_edges=cfg.hist_closed_edges,
            squared=cfg.hist_reduction == "squared",
        )
        return float(d[0])

    def _ssim(
        self,
        gs: np.ndarray,
        gr: np.ndarray,
        mr: np.ndarray,
        mr2: np.ndarray,
        vr: np.ndarray,
        buf: tuple[np.ndarray, ...],
    ) -> float:
        """Mean over valid pixels of (1 - SSIM map) / 2, arithmetic as in reference.py
        (rearranged only where exact, 2ab = (2a)b, so identical images give exactly 0)."""
        if len(self.taps) == WINDOW:
            s = fused_ssim_sum(
                gs,
                gr,
                self.taps,
                self.border == cv2.BORDER_REFLECT_101,
                mr,
                mr2,
                vr,
                self.den,
                self._valid_flat,
                self.c1,
                self.c2,
            )
            return s / 2.0 / self.n_valid
        _, b1, b2, b3, _, b5 = buf
        k, border = self.taps, self.border
        mu = cv2.sepFilter2D(gs, -1, k, k, dst=b1, borderType=border)
        np.multiply(gs, gs, out=b5)
        e_ss = cv2.sepFilter2D(b5, -1, k, k, dst=b2, borderType=border)
        np.multiply(gr, gs, out=b5)
        e_rs = cv2.sepFilter2D(b5, -1, k, k, dst=b3, borderType=border)
        den = None if self.den is None else self.den.reshape(-1)
        s = ssim_dissimilarity_sum(
            mu.reshape(-1),
            e_ss.reshape(-1),
            e_rs.reshape(-1),
            mr.reshape(-1),
            mr2.reshape(-1),
            vr.reshape(-1),
            den,
            self._valid_flat,
            self.c1,
            self.c2,
            b5.reshape(-1),
        )
        return s / 2.0 / self.n_valid
