"""Blurring wide layers at reduced resolution: the layered renderer's main saving.

A layer blurred with a large sigma keeps almost no energy above a low frequency, so it can be
computed on a grid coarser by a factor f: block-average (area) downsample by f, blur with a
smaller sigma, bilinear upsample by f. Each step is a known filter: the f-box has variance
(f^2 - 1) / 12 full-resolution px^2 about the block centre, the bilinear interpolation (cv2's
half-pixel-centred grid: taps at half-integer offsets) (2 f^2 + 1) / 12, so the coarse sigma
``sqrt(s^2 - f^2 / 4) / f`` gives the chain the second moment s^2, averaged over the source's
phase in its block (tested).
What remains is aliasing and the interpolation's phase dependence, both damped by the wide
Gaussian: measured on a dead-leaves layer with sharp mask edges covering 2/3 of a 512 px
image, the chain is >= 61 dB from the full-resolution blur once s >= 2.5 f (f = 2, 4, 8),
and 70-85 dB a factor 1.5 above that (docs/rendering.md). The cost falls by ~f^3.

Borders stay exact in the mirror model: the blocks tile the image from its edges, so the
half-sample mirror at full resolution is the half-sample mirror of the coarse grid. A factor
is used on an axis only if it divides the image size; and the coarse blur of a crop reflects
only its zero margin, as at full resolution.
"""

from __future__ import annotations

import math

#: A layer of sigma s is blurred at a coarser grid of factor f only when s >= this * f.
SIGMA_PER_FACTOR = 2.5
#: Largest reduction factor (a power of two).
MAX_FACTOR = 8


def reduction_factor(sigma: float, size: int, max_factor: int = MAX_FACTOR) -> int:
    """Largest power-of-two f <= max_factor with sigma >= SIGMA_PER_FACTOR f dividing size."""
    f = 1
    while (
        2 * f <= max_factor
        and sigma >= SIGMA_PER_FACTOR * 2 * f
        and size % (2 * f) == 0
        and size >= 4 * f
    ):
        f *= 2
    return f


def coarse_sigma(sigma: float, factor: int) -> float:
    """Sigma on the coarse grid so that box-down, blur, bilinear-up has variance sigma^2."""
    if factor == 1:
        return sigma
    var = sigma * sigma - factor * factor / 4.0
    if var <= 0.0:
        raise ValueError(f"sigma {sigma} too small for reduction factor {factor}")
    return math.sqrt(var) / factor
