"""Blurring wide layers at reduced resolution: the layered renderer's main saving.

A layer blurred with a large sigma keeps almost no energy above a low frequency, so it can be
computed on a grid coarser by a factor f: pre-filter with the 3-tap binomial [1, 2, 1] / 4,
block-average (area) downsample by f, blur with a smaller sigma, bilinear upsample by f. Each
step is a known filter: the binomial has variance 1/2 px^2, the f-box (f^2 - 1) / 12 about the
block centre, the bilinear interpolation on cv2's half-pixel-centred grid (taps at
half-integer offsets) (2 f^2 + 1) / 12, so the coarse sigma ``sqrt(s^2 - 1/2 - f^2 / 4) / f``
gives the chain the second moment s^2, averaged over the source's phase in its block (tested).

What remains is aliasing and the interpolation's phase dependence, both damped by the wide
Gaussian. The binomial puts a zero at the coarse grid's sampling frequency, where the box's
aliasing is worst: at f = 2 it gains 9-13 dB, at f = 4 ~2.5 dB. Measured on a dead-leaves layer
with sharp mask edges covering 2/3 of a 512 px image, the chain is >= 62 dB from the
full-resolution blur at the thresholds of :data:`MIN_SIGMA` (f = 2 from 3 px, 4 from 9 px, 8
from 20 px), and better above them; real layers cover less and err less. The cost of a
layer's blur falls by ~f^3.

Borders stay exact in the mirror model: the blocks tile the image from its edges, so the
half-sample mirror at full resolution is the half-sample mirror of the coarse grid. A factor
is used on an axis only if it divides the image size; and the blur of a crop reflects only
its zero margin, as at full resolution.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Smallest sigma (px) blurred on a grid coarser by each factor, for targets up to 50 dB.
#: The chain is exact in the second moment only *averaged* over a source's phase in its block;
#: for one source or one edge the bilinear upsampling and the block means make the response
#: depend on that phase. Measured (max over phases, tests/render/test_effective_sigma.py): the
#: edge slope is off by up to 3.4 % at f = 2 and sigma 3, 2.9 % at f = 4 and 8, 3.2 % at f = 8
#: and 16, falling as (f / sigma)^2. These thresholds keep it under 0.13 % (issue 11: every
#: renderer's effective blur within 0.2 % of the requested sigma); the former ones (3, 9, 20)
#: were chosen for 62 dB PSNR, which does not bound a blur-width error.
MIN_SIGMA: dict[int, float] = {2: 20.0, 4: 40.0, 8: 80.0}
#: Above a 50 dB target the thresholds grow by this fraction per dB (x1.4 at 60 dB): the
#: chain's error falls by ~10 dB when sigma / f grows by ~1 (f >= 4) or ~1.3 px (f = 2), which
#: keeps it ~10 dB below the target's level-mixture error.
THRESHOLD_GROWTH_PER_DB = 0.04
#: Variance (px^2) of the [1, 2, 1] / 4 pre-filter.
PREFILTER_VAR = 0.5
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


def coarse_sigma(sigma: float, factor: int) -> float:
    """Sigma on the coarse grid so that the whole chain has variance sigma^2."""
    if factor == 1:
        return sigma
    var = sigma * sigma - PREFILTER_VAR - factor * factor / 4.0
    if var <= 0.0:
        raise ValueError(f"sigma {sigma} too small for reduction factor {factor}")
    return math.sqrt(var) / factor


def downsample(layer: np.ndarray, fy: int, fx: int) -> np.ndarray:
    """Binomial pre-filter (mirror border) and f-block means of an (H, W[, C]) float32 crop."""
    h, w = layer.shape[:2]
    ky = _BINOMIAL if fy > 1 else _ONE
    kx = _BINOMIAL if fx > 1 else _ONE
    pre = cv2.sepFilter2D(layer, cv2.CV_32F, kx, ky, borderType=cv2.BORDER_REFLECT)
    small = cv2.resize(pre, (w // fx, h // fy), interpolation=cv2.INTER_AREA)
    return small.reshape((h // fy, w // fx, *layer.shape[2:]))


def upsample(small: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling to (h, w) on the half-pixel-centred grid the chain assumes."""
    out = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    return out.reshape((h, w, *small.shape[2:]))
