"""The CPU sampler of :class:`psfbench.core.render.gather.GatherStack`: one compiled pass per pixel.

Sampling a blur stack is, per output pixel: find the level interval of its variance, form the
three quadratic Lagrange weights in variance (:func:`psfbench.core.render.levels.node_weights`),
gather three stack values per channel and sum. As NumPy array operations that was ~20 passes over
the map (11-17 ms per 613x514 map on this project's 2-core machine); as one Numba-compiled
loop it is one pass (2.5-3 ms; the torch path's result to 5e-7: tests/render/
test_render_gather.py). The interval search walks from the previous pixel's interval, since
sigma maps are smooth almost everywhere.

The kernel is compiled on first use (:mod:`psfbench.core.jit`) and runs on the shared pool of
:mod:`psfbench.core.parallel`, never on Numba's own threads.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from psfbench.core.jit import kernel

#: Pixels per kernel call: big enough to amortise the call, small enough to share the work.
_SPAN = 1 << 16


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
    out: Any,
    b0: int,
    b1: int,
    p0: int,
    p1: int,
) -> None:  # pragma: no cover - compiled
    # flat (C, K*HW) f32 stack planes; rel (M, HW) f32 maps and scales (S,) f32: output row
    # b = i*M + m has sigma = scales[i] * rel[m]; lv (K,) f32 levels^2; r0..r2 (K-2,) f32
    # reciprocal Lagrange denominators; out (S*M, C, HW) f32, clipped to [lo, hi]; rows
    # b0..b1, pixels p0..p1.
    m_maps = rel.shape[0]
    nc = flat.shape[0]
    hw = rel.shape[1]
    n = lv.shape[0]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    k = 0
    for b in range(b0, b1):
        a = scales[b // m_maps]
        r = rel[b % m_maps]
        for ch in range(nc):  # weights recomputed per channel: 2x faster than storing them
            f = flat[ch]
            o = out[b, ch]
            for p in range(p0, p1):
                s = a * r[p]
                v = s * s
                while k < n - 2 and lv[k + 1] <= v:
                    k += 1
                while k > 0 and lv[k] > v:
                    k -= 1
                if k == 0:  # below the first level: linear in variance between levels 0, 1
                    w1 = min(max(v / lv[1], zero), one)
                    w0 = one - w1
                    w2 = zero
                    i0 = p
                else:
                    k0 = k - 1
                    da = v - lv[k0]
                    db = v - lv[k0 + 1]
                    dc = v - lv[k0 + 2]
                    w0 = db * dc * r0[k0]
                    w1 = da * dc * r1[k0]
                    w2 = da * db * r2[k0]
                    i0 = k0 * hw + p
                x = w0 * f[i0] + w1 * f[i0 + hw] + w2 * f[i0 + 2 * hw]
                o[p] = min(max(x, lo), hi)


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
) -> np.ndarray:
    """Blur-stack interpolation of every sigma map.

    ``flat``: (C, K*H*W) float32, the K stack planes of each channel end to end; ``levels``:
    the K >= 3 sigmas (px) of the planes, ascending, the first 0; ``rel``: (M, H*W) maps
    and ``scales``: (S,) factors (default one factor 1): the sigma maps (px) are
    ``scales[i] * rel[m]`` (float32 product), each <= ``levels[-1]`` (not checked: the caller
    extends the stack). Returns (S*M, C, H*W) float32, row i*M + m, clipped to ``clip`` if
    given. Raises ValueError for fewer than 3 levels. The work is split into pixel spans over
    the pool of :func:`psfbench.core.parallel.map_images`.
    """
    from psfbench.core.parallel import map_images

    if len(levels) < 3:
        raise ValueError(f"sample_stack needs at least 3 levels, got {len(levels)}")
    lv, r0, r1, r2 = _tables(tuple(float(s) for s in levels))
    rel32 = np.ascontiguousarray(rel, dtype=np.float32)
    sc = np.ones(1, np.float32) if scales is None else np.ascontiguousarray(scales, np.float32)
    lo, hi = (np.float32(-np.inf), np.float32(np.inf)) if clip is None else map(np.float32, clip)
    nb, hw = len(sc) * rel32.shape[0], rel32.shape[1]
    out = np.empty((nb, flat.shape[0], hw), np.float32)
    if hw >= _SPAN:  # large maps: spans of pixels, every map
        jobs = [(0, nb, p, min(p + _SPAN, hw)) for p in range(0, hw, _SPAN)]
    else:  # small maps: whole maps, several per job
        per = max(1, _SPAN // hw)
        jobs = [(b, min(b + per, nb), 0, hw) for b in range(0, nb, per)]

    def run(job: tuple[int, int, int, int]) -> None:
        mix(flat, rel32, sc, lv, r0, r1, r2, lo, hi, out, *job)

    map_images(run, jobs)
    return out
