"""The per-pixel part of the SSIM term on the CPU, compiled into one vectorised pass.

After the three window filters (simulated mean, mean of squares, mean of the product with the
real image), SSIM is ~16 elementwise operations and a masked sum: as in-place NumPy calls
that was 16 passes over the plane (2 ms per 613x514 plane on this project's 2-core machine).
Compiled, the map is one pass; summing inside the loop in float64 kept the loop scalar (a float
reduction cannot be reordered), 0.8 ms per plane, so the map is written to a buffer in one
SIMD pass and OpenCV sums it (``cv2.sumElems``, float64 accumulation): 0.2 ms. The float
arithmetic of each pixel is the same, in the same order, as ``reference.py`` (identical images
give exactly 0); only the float64 sum's order differs.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from psfbench.core.jit import kernel


@kernel
def ssim_dissimilarity_map(
    mu: Any,
    e_ss: Any,
    e_rs: Any,
    mr: Any,
    mr2: Any,
    vr: Any,
    den: Any,
    valid: Any,
    c1: Any,
    c2: Any,
    one: Any,
    two: Any,
    use_den: bool,
    use_valid: bool,
    out: Any,
) -> None:  # pragma: no cover - compiled
    # Flattened float planes of one dtype: mu, e_ss, e_rs the window means of s, s^2 and r*s
    # (divided by den, the window's valid weight, when use_den), mr, mr2, vr the real image's
    # mean, squared mean and variance; valid uint8 (read when use_valid); c1, c2 the SSIM
    # constants and one, two 1 and 2, all in the planes' dtype (a Python float would promote
    # float32 arithmetic to float64). out[i] = 1 - SSIM, 0 where not valid.
    zero = one - one
    for i in range(mu.shape[0]):
        m = mu[i]
        ess = e_ss[i]
        ers = e_rs[i]
        if use_den:
            d = den[i]
            m = m / d
            ess = ess / d
            ers = ers / d
        mu2 = m * m
        t = mr[i] * m
        var_s = ess - mu2
        cov = ers - t
        num = (t * two + c1) * (cov * two + c2)
        dnm = (mu2 + mr2[i] + c1) * (var_s + vr[i] + c2)
        x = one - num / dnm
        if use_valid:
            x = x if valid[i] != 0 else zero
        out[i] = x


def ssim_dissimilarity_sum(
    mu: np.ndarray,
    e_ss: np.ndarray,
    e_rs: np.ndarray,
    mr: np.ndarray,
    mr2: np.ndarray,
    vr: np.ndarray,
    den: np.ndarray | None,
    valid: np.ndarray | None,
    c1: Any,
    c2: Any,
    out: np.ndarray,
) -> float:
    """Sum over valid pixels of 1 - SSIM.

    Flattened (N,) float planes of one dtype: ``mu``, ``e_ss``, ``e_rs`` the window means of
    s, s^2 and r*s (divided by ``den``, the window's valid weight, when given), ``mr``,
    ``mr2``, ``vr`` the real image's mean, squared mean and variance; ``valid`` (N,) uint8 or
    None (all); ``c1``, ``c2`` the SSIM constants in the planes' dtype; ``out`` (N,) scratch of
    that dtype (it receives the map, 0 where not valid). Returns the float64 sum.
    """
    dt = mu.dtype.type
    ssim_dissimilarity_map(
        mu,
        e_ss,
        e_rs,
        mr,
        mr2,
        vr,
        mu if den is None else den,
        np.zeros(1, np.uint8) if valid is None else valid,
        c1,
        c2,
        dt(1.0),
        dt(2.0),
        den is not None,
        valid is not None,
        out,
    )
    return float(cv2.sumElems(out)[0])
