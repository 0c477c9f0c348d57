"""Histogram counts of one image plane on the CPU: a vectorised binning pass and a counting pass.

The CPU loss kernel used to sort every simulated plane (1.1 ms of 315k values on this project's
2-core machine) and count by binary search. Binning directly is O(pixels), but its exact edge
rules need each value compared with the edges around its guessed bin, and a table lookup per
value is a gather, which LLVM does not vectorise on this CPU. The edges need no table: edge k
is ``k * step + lo`` in float64 (``histogram_distance``'s arithmetic, the last edge ``hi``),
and for a float32 value v, ``v >= roundup32(edge)`` exactly when ``float64(v) >= edge`` (the
rounded-up edge is the smallest float32 not below the edge). So the bin of every value is
computed in one elementwise pass in float64 (:func:`bin_index`), and only the counting is
scalar (:func:`count_bins`, four interleaved sub-histograms so that runs of one bin do not wait
on each other's increments). The counts equal ``searchsorted``'s binning, inclusive-edge rule
included (tests/losses/test_losses_fast.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psfbench.core.jit import kernel


@kernel
def bin_index(
    x: Any, lo: float, step: float, hi: float, scale: float, bins: int, out: Any
) -> int:  # pragma: no cover - compiled
    # x (N,) float32/float64 values; lo, step, hi float64: edge k = k * step + lo, edge
    # `bins` = hi; scale = bins / (hi - lo): the guess (x - lo) * scale is off by at most one
    # bin; out (N,) int32: the bin k with edge k <= x < edge k+1 (the last bin closed), clipped
    # to [0, bins - 1]. NaN goes to bin 0. Returns the number of NaN and infinite values
    # (an integer sum, which vectorises where a float test-and-branch would not).
    bad: Any
    f: Any
    g: Any
    e0: Any
    e1: Any
    top = np.float64(bins)
    bad = 0
    for i in range(x.shape[0]):
        vv = np.float64(x[i])
        bad += np.int64(vv - vv != 0.0)
        f = (vv - lo) * scale
        f = f if f >= 0.0 else 0.0
        f = f if f <= top else top
        g = np.int64(f)
        e0 = np.float64(g) * step + lo
        e0 = e0 if g < bins else hi
        e1 = np.float64(g + 1) * step + lo
        # edge `bins` (= hi) moves nothing up: bin `bins` is clipped to the last bin anyway
        e1 = e1 if g + 1 < bins else np.inf
        g = g - np.int64(vv < e0) + np.int64(vv >= e1)
        g = g if g >= 0 else 0
        out[i] = np.int32(g if g < bins else bins - 1)
    return bad


@kernel
def count_bins(
    g: Any,
    x: Any,
    valid: Any,
    use_valid: bool,
    closed: bool,
    lo: float,
    step: float,
    bins: int,
    sub: Any,
) -> Any:  # pragma: no cover - compiled
    # g (N,) int32 bins of the values x (N,); valid (N,) uint8, read when use_valid; sub
    # (4, bins) int64 scratch. Returns (bins,) int64 counts of the valid values; with
    # `closed`, a value exactly on an inner edge k (1 <= k <= bins - 1) also counts in bin k-1.
    sub[:] = 0
    n = g.shape[0]
    for i in range(n):
        if use_valid and valid[i] == 0:
            continue
        k = g[i]
        sub[i & 3, k] += 1
        if closed and k >= 1 and np.float64(x[i]) == np.float64(k) * step + lo:
            sub[i & 3, k - 1] += 1
    out = np.zeros(bins, np.int64)
    for j in range(4):
        for k in range(bins):
            out[k] += sub[j, k]
    return out


def plane_counts(
    x: np.ndarray,
    lo: float,
    hi: float,
    bins: int,
    closed: bool,
    valid: np.ndarray | None,
    gbuf: np.ndarray,
    sub: np.ndarray,
) -> np.ndarray | None:
    """Counts of the (N,) float32/float64 values ``x`` (where ``valid``, (N,) uint8, is
    nonzero; None: all) in ``bins`` equal bins from ``lo`` to ``hi`` (float64 edges as
    :func:`psfbench.core.losses.histogram.histogram_distance`; values outside clamp to the end
    bins). ``gbuf`` (>= N,) int32 and ``sub`` (4, bins) int64 are scratch. Returns (bins,)
    int64, or None when any value (valid or not) is NaN or infinite, whose order the caller
    must settle (the sorting path); with ``lo == hi`` every value goes to the last bin (as
    ``searchsorted`` puts them) without that check. ``lo`` and ``hi`` must be finite."""
    n = x.shape[0]
    g = gbuf[:n]
    if hi == lo:  # zero-width range: every edge is lo; searchsorted puts all in the last bin
        c = np.zeros(bins, np.int64)
        c[-1] = n if valid is None else int(np.count_nonzero(valid))
        return c
    step = (hi - lo) / bins
    if bin_index(x, lo, step, hi, bins / (hi - lo), bins, g):
        return None
    v = np.zeros(1, np.uint8) if valid is None else valid
    return count_bins(g, x, v, valid is not None, closed, lo, step, bins, sub)
