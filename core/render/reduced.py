"""Blurring wide layers at reduced resolution: the layered renderer's main saving.

A layer blurred with a large sigma keeps almost no energy above a low frequency, so it can be
computed on a grid coarser by a factor f = 2, 4 or 8, reached in steps of 2 (a pyramid). Each
step down pre-filters with the binomial [1, 2, 1] / 4 and takes 2 x 2 block means; the layer
is blurred on the coarse grid with a smaller sigma; each step up interpolates bilinearly (cv2's
half-pixel-centred grid: weights 3/4, 1/4) and post-filters with the same binomial. Every step
is a known filter, so the coarse sigma ``sqrt(s^2 - V(f)) / f`` gives the chain the second
moment s^2, with ``V = 2 (f^2 - 1) / 3`` px^2: per step on a grid of spacing g, binomial 1/2,
block mean 1/4, bilinear 3/4 and binomial 1/2, i.e. 2 g^2.

The chain is (nearly) shift-invariant, which is what makes its width right for *every*
source, not only on average: both output pixels of a block see mirror-image weights (equal
variance), and the binomial post-filter turns the bilinear interpolant's kinks into a smooth
curve. The former one-step chain (binomial, f x f block means, f-fold bilinear upsampling)
had the exact second moment only averaged over a source's phase in its block; for one edge its
slope was off by up to 3.4 % at f = 2 and sigma 3 px, 5.5 % at f = 4. Measured for this chain
(max over 8 source phases, tests/render/test_effective_sigma.py): edge slope within 0.06 % at
f = 2 from sigma 6 px (0.22 % at 4 px), 0.14 % at f = 4 and 8 px, 0.12 % at f = 8 and 16 px;
point second moment exact to 1e-5 at every phase. :data:`MIN_SIGMA` keeps each factor where
its error is <= ~0.1 %.

Borders stay exact in the mirror model: the blocks tile the image from its edges, so the
half-sample mirror at full resolution is the half-sample mirror of every coarse grid (constant
images stay constant, energy is conserved). A factor is used on an axis only if it divides the
image size. Layers are cut from the image with a zero guard of f pixels (see ``guard``), so
the pre-filters at a crop's inner edge reflect only zeros. The cost of a layer's blur falls by
~f^3 (the pre- and post-filters are 3 taps).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Smallest sigma (px) blurred on a grid coarser by each factor, for targets up to 50 dB.
MIN_SIGMA: dict[int, float] = {2: 6.0, 4: 10.0, 8: 18.0}
#: Above a 50 dB target the thresholds grow by this fraction per dB (x1.4 at 60 dB).
THRESHOLD_GROWTH_PER_DB = 0.04
#: Variance (px^2 of the grid it runs on) of one 2x step: binomial + block mean + bilinear +
#: binomial = 1/2 + 1/4 + 3/4 + 1/2.
STEP_VAR = 2.0
_BINOMIAL = np.array([0.25, 0.5, 0.25], np.float32)
_ONE = np.ones(1, np.float32)


def reduction_factor(sigma: float, size: int, accuracy_db: float = 50.0) -> int:
    """Largest factor of :data:`MIN_SIGMA` allowed for ``sigma`` that divides ``size``."""
    scale = 1.0 + THRESHOLD_GROWTH_PER_DB * max(0.0, accuracy_db - 50.0)
    best = 1
    for f, s_min in MIN_SIGMA.items():
        if sigma >= s_min * scale and size % f == 0 and size >= 2 * f and f > best:
            best = f
    return best


def chain_variance(factor: int) -> float:
    """Variance (full-resolution px^2) the down- and up-sampling steps of ``factor`` add."""
    return STEP_VAR * (factor * factor - 1) / 3.0


def coarse_sigma(sigma: float, factor: int) -> float:
    """Sigma on the coarse grid so that the whole chain has variance sigma^2."""
    if factor == 1:
        return sigma
    var = sigma * sigma - chain_variance(factor)
    if var <= 0.0:
        raise ValueError(f"sigma {sigma} too small for reduction factor {factor}")
    return math.sqrt(var) / factor


def guard(factor: int) -> int:
    """Zero pixels a layer crop needs beyond its support for the pre-filters (all steps)."""
    return factor


def _steps(f: int) -> int:
    return int(round(math.log2(f))) if f > 1 else 0


def downsample(layer: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """(H, W[, C]) float32 crop -> (H / fy, W / fx[, C]): 2x steps of binomial + block means."""
    out = layer
    ny, nx = _steps(fy), _steps(fx)
    for i in range(max(ny, nx)):
        sy, sx = i < ny, i < nx
        h, w = out.shape[:2]
        pre = cv2.sepFilter2D(
            out,
            cv2.CV_32F,
            _BINOMIAL if sx else _ONE,
            _BINOMIAL if sy else _ONE,
            borderType=cv2.BORDER_REFLECT,
        )
        size = (w // 2 if sx else w, h // 2 if sy else h)
        small = cv2.resize(pre, size, interpolation=cv2.INTER_AREA)
        out = small.reshape((size[1], size[0], *layer.shape[2:]))
    return out


def upsample(small: np.ndarray, h: int, w: int) -> np.ndarray:
    """Coarse grid -> (h, w): 2x steps of bilinear interpolation + binomial post-filter."""
    fy, fx = h // small.shape[0], w // small.shape[1]
    ny, nx = _steps(fy), _steps(fx)
    out = small
    for i in reversed(range(max(ny, nx))):
        sy, sx = i < ny, i < nx
        ch, cw = out.shape[:2]
        size = (cw * 2 if sx else cw, ch * 2 if sy else ch)
        up = cv2.resize(out, size, interpolation=cv2.INTER_LINEAR)
        post = cv2.sepFilter2D(
            up,
            cv2.CV_32F,
            _BINOMIAL if sx else _ONE,
            _BINOMIAL if sy else _ONE,
            borderType=cv2.BORDER_REFLECT,
        )
        out = post.reshape((size[1], size[0], *small.shape[2:]))
    return out
