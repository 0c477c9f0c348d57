"""The CPU sampler of :class:`psfbench.core.render.gather.GatherStack`: compiled, by runs.

Sampling a blur stack is, per output pixel: find the level interval of its variance, form the
three quadratic Lagrange weights in variance (:func:`psfbench.core.render.levels.node_weights`),
gather three stack values per channel and sum. As NumPy array operations that was ~20 passes over
the map (11-17 ms per 613x514 map on this project's 2-core machine); as one scalar compiled loop
2.3-2.6 ms. The three values come from three different planes of the stack at an index that
changes per pixel, a gather, which LLVM does not vectorise on this CPU. But sigma maps are
smooth almost everywhere, so neighbouring pixels mostly share their level interval: a scalar
scan splits each row of pixels into runs of one interval (the walk from the previous pixel's
interval that the scalar loop did), and each run is one loop of contiguous loads that LLVM
vectorises. 1.4 ms per map, observation noise included, where the scalar loop
took 2.4 ms plus 0.25 ms for the separate noise pass; bit-identical, since every pixel gets the
same float32 operations in the same order (tests/render/test_render_gather.py).

The observation noise of a fit (:meth:`psfbench.core.fit.problem.FitProblem.add_noise`) can be
added in the same pass (``noise``), so the fit's grid writes each simulated frame once.

The kernels are compiled on first use (:mod:`psfbench.core.jit`) and run on the shared pool of
:mod:`psfbench.core.parallel`, never on Numba's own threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from psfbench.core.jit import kernel

#: Pixels per job of :func:`sample_stack`: big enough to amortise the call, small enough that
#: the jobs share out evenly over the pool.
_SPAN = 1 << 14

#: Observation-noise modes of the kernels: none, ``x + sd * z``, ``x + sqrt(var0 + gain *
#: clip(x, 0, 1)) * z`` (the two formulas of FitProblem.add_noise, in its float32 order).
NOISE_NONE, NOISE_CONSTANT, NOISE_SIGNAL = 0, 1, 2


@dataclass(frozen=True)
class Noise:
    """Observation noise to add while sampling: ``field`` (M, C, H*W) float32 unit noise, one
    map per sigma map (rows of ``rel``); ``mode`` NOISE_CONSTANT (``sd``) or NOISE_SIGNAL
    (``var0`` = sd^2 and ``gain``), all float32 arithmetic."""

    field: np.ndarray
    mode: int
    sd: float = 0.0
    var0: float = 0.0
    gain: float = 0.0


@kernel
def mix(
    flat: Any,
    rel: Any,
    scales: Any,
    lv: Any,
    r0: Any,
    r1: Any,
    r2: Any,
    lo: Any,
    hi: Any,
    field: Any,
    mode: int,
    sd: Any,
    var0: Any,
    gain: Any,
    out: Any,
    b0: int,
    b1: int,
    p0: int,
    p1: int,
) -> None:  # pragma: no cover - compiled
    # flat (C, K*HW) f32 stack planes; rel (M, HW) f32 maps and scales (S,) f32: output row
    # b = i*M + m has sigma = scales[i] * rel[m]; lv (K,) f32 levels^2; r0..r2 (K-2,) f32
    # reciprocal Lagrange denominators; out (S*M, C, HW) f32, clipped to [lo, hi], plus the
    # noise field[m, c] (M, C, HW) f32 by `mode` (field unused with mode 0); rows b0..b1,
    # pixels p0..p1.
    m_maps = rel.shape[0]
    nc = flat.shape[0]
    hw = rel.shape[1]
    n = lv.shape[0]
    ninf = np.float32(-np.inf)
    pinf = np.float32(np.inf)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    k = 0
    for b in range(b0, b1):
        a = scales[b // m_maps]
        mi = b % m_maps
        r = rel[mi]
        for ch in range(nc):
            f = flat[ch]
            o = out[b, ch]
            zc = field[mi if mode else 0, ch if mode else 0]
            p = p0
            while p < p1:
                # The interval of pixel p, walking from the previous pixel's ...
                s = a * r[p]
                v = s * s
                while k < n - 2 and lv[k + 1] <= v:
                    k += 1
                while k > 0 and lv[k] > v:
                    k -= 1
                # ... and the run of pixels that walk would leave there (NaN stays).
                lo_v = lv[k] if k > 0 else ninf
                hi_v = lv[k + 1] if k < n - 2 else pinf
                q = p + 1
                while q < p1:
                    s = a * r[q]
                    v = s * s
                    if hi_v <= v or lo_v > v:
                        break
                    q += 1
                # One run: contiguous loads, each loop vectorised. Unsigned indices (no
                # negative-index wrap-around test, which would make the loads gathers) and no
                # slices (a slice's reference counting costs two atomic operations).
                u0, n_run = np.uint64(p), q - p
                if k == 0:  # below level 1: linear in variance between levels 0 and 1
                    u1, u2 = u0 + np.uint64(hw), u0 + np.uint64(2 * hw)
                    v1 = lv[1]
                    for j in range(n_run):
                        u = np.uint64(j)
                        s = a * r[u0 + u]
                        v = s * s
                        w1 = min(max(v / v1, zero), one)
                        w0 = one - w1
                        x = w0 * f[u0 + u] + w1 * f[u1 + u] + zero * f[u2 + u]
                        o[u0 + u] = min(max(x, lo), hi)
                else:
                    k0 = k - 1
                    b0_ = np.uint64(k0 * hw + p)
                    b1_, b2_ = b0_ + np.uint64(hw), b0_ + np.uint64(2 * hw)
                    l0, l1, l2 = lv[k0], lv[k0 + 1], lv[k0 + 2]
                    q0, q1, q2 = r0[k0], r1[k0], r2[k0]
                    for j in range(n_run):
                        u = np.uint64(j)
                        s = a * r[u0 + u]
                        v = s * s
                        da = v - l0
                        db = v - l1
                        dc = v - l2
                        x = db * dc * q0 * f[b0_ + u] + da * dc * q1 * f[b1_ + u]
                        x = x + da * db * q2 * f[b2_ + u]
                        o[u0 + u] = min(max(x, lo), hi)
                if mode == 1:
                    for j in range(n_run):
                        u = u0 + np.uint64(j)
                        o[u] = o[u] + sd * zc[u]
                elif mode == 2:
                    for j in range(n_run):
                        u = u0 + np.uint64(j)
                        c = min(max(o[u], zero), one)
                        o[u] = o[u] + np.sqrt(c * gain + var0) * zc[u]
                p = q


@lru_cache(maxsize=64)
def _tables(levels: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """levels^2 and the three reciprocal Lagrange denominators per first node, float32."""
    lv = np.asarray(levels, np.float64) ** 2
    r0 = 1.0 / ((lv[:-2] - lv[1:-1]) * (lv[:-2] - lv[2:]))
    r1 = 1.0 / ((lv[1:-1] - lv[:-2]) * (lv[1:-1] - lv[2:]))
    r2 = 1.0 / ((lv[2:] - lv[:-2]) * (lv[2:] - lv[1:-1]))
    return tuple(x.astype(np.float32) for x in (lv, r0, r1, r2))


def sample_stack(
    flat: np.ndarray,
    levels: list[float],
    rel: np.ndarray,
    scales: np.ndarray | None = None,
    clip: tuple[float, float] | None = None,
    noise: Noise | None = None,
    out: np.ndarray | None = None,
    serial: bool = False,
) -> np.ndarray:
    """Blur-stack interpolation of every sigma map.

    ``flat``: (C, K*H*W) float32, the K stack planes of each channel end to end; ``levels``:
    the K >= 3 sigmas (px) of the planes, ascending, the first 0; ``rel``: (M, H*W) maps
    and ``scales``: (S,) factors (default one factor 1): the sigma maps (px) are
    ``scales[i] * rel[m]`` (float32 product), each <= ``levels[-1]`` (not checked: the caller
    extends the stack). Returns (S*M, C, H*W) float32 (written into ``out`` when given), row
    i*M + m, clipped to ``clip`` if given, then with ``noise`` (its field's row m) added.
    Raises ValueError for fewer than 3 levels, or a noise field or ``out`` of another shape
    (or not float32). The work is split into pixel spans over the pool of
    :func:`psfbench.core.parallel.map_images`; with ``serial`` it runs in the calling thread
    as one call (what a pool task that samples one map wants).
    """
    from psfbench.core.parallel import map_images

    if len(levels) < 3:
        raise ValueError(f"sample_stack needs at least 3 levels, got {len(levels)}")
    lv, r0, r1, r2 = _tables(tuple(float(s) for s in levels))
    rel32 = np.ascontiguousarray(rel, dtype=np.float32)
    sc = np.ones(1, np.float32) if scales is None else np.ascontiguousarray(scales, np.float32)
    lo, hi = (np.float32(-np.inf), np.float32(np.inf)) if clip is None else map(np.float32, clip)
    nb, hw = len(sc) * rel32.shape[0], rel32.shape[1]
    if out is None:
        out = np.empty((nb, flat.shape[0], hw), np.float32)
    elif out.shape != (nb, flat.shape[0], hw) or out.dtype != np.float32:
        raise ValueError(
            f"sample_stack: out must be float32 {(nb, flat.shape[0], hw)}, got {out.dtype} "
            f"{out.shape}"
        )
    if noise is None:
        field, mode = np.zeros((1, 1, 1), np.float32), NOISE_NONE
        sd = var0 = gain = np.float32(0.0)
    else:
        field, mode = noise.field, noise.mode
        if field.shape != (rel32.shape[0], flat.shape[0], hw) or field.dtype != np.float32:
            raise ValueError(
                f"sample_stack: noise field must be float32 {(rel32.shape[0], flat.shape[0], hw)}"
                f", got {field.dtype} {field.shape}"
            )
        sd, var0, gain = np.float32(noise.sd), np.float32(noise.var0), np.float32(noise.gain)
    args = (flat, rel32, sc, lv, r0, r1, r2, lo, hi, field, mode, sd, var0, gain, out)
    if serial:
        mix(*args, 0, nb, 0, hw)
        return out
    if hw >= _SPAN:  # large maps: spans of pixels, every map
        jobs = [(0, nb, p, min(p + _SPAN, hw)) for p in range(0, hw, _SPAN)]
    else:  # small maps: whole maps, several per job
        per = max(1, _SPAN // hw)
        jobs = [(b, min(b + per, nb), 0, hw) for b in range(0, nb, per)]

    def run(job: tuple[int, int, int, int]) -> None:
        mix(*args, *job)

    map_images(run, jobs)
    return out
