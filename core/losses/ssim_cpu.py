"""The SSIM term on the CPU: the fused 11-tap kernel, or OpenCV filters and a compiled map.

With the paper's 11-tap window (both presets) the whole term is one compiled pass per row
(:mod:`psfbench.core.losses.ssim_window11`), and the real images' window means come from the
same code (:func:`window_mean_cpu`), so identical images still give exactly 0. Other windows
take OpenCV's filters and the map below.

The map:
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

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np
import torch

from psfbench.core.jit import kernel
from psfbench.core.losses.ssim_window11 import windows11

#: The window the fused kernel is written for (both loss presets).
WINDOW = 11


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


def window_mean_cpu(x: torch.Tensor, taps: Sequence[float], padding: str) -> torch.Tensor:
    """Window mean of (..., H, W) float CPU planes, as ``filters.window_mean`` ('reflect' =
    BORDER_REFLECT_101, 'zeros' = 0 outside): by the fused kernel's own sums for the 11-tap
    window (what :func:`fused_ssim_sum` compares against), by OpenCV otherwise. Raises
    ValueError for a plane too small for the window with 'reflect'."""
    from psfbench.core.losses.cv_filters import cv_window_mean

    if len(taps) != WINDOW or x.dtype not in (torch.float32, torch.float64):
        return cv_window_mean(x, taps, padding)
    h, w = x.shape[-2:]
    if padding == "reflect" and min(h, w) <= WINDOW // 2:
        raise ValueError(f"image of {h}x{w} px is too small for a {WINDOW} px window")
    planes = x.detach().contiguous().reshape(-1, h * w).numpy()
    out = np.empty_like(planes)
    k = np.asarray(taps, planes.dtype)
    z = np.zeros(1, planes.dtype)
    one = planes.dtype.type(1.0)
    for i in range(planes.shape[0]):
        windows11(planes[i], planes[i], h, w, k, padding == "reflect", False,
                  z, z, z, z, np.zeros(1, np.uint8), one, one, one, one + one, False, False,
                  out[i])  # fmt: skip
    return torch.from_numpy(out).reshape(x.shape)


def fused_ssim_sum(
    s: np.ndarray,
    r: np.ndarray,
    taps: np.ndarray,
    reflect: bool,
    mr: np.ndarray,
    mr2: np.ndarray,
    vr: np.ndarray,
    den: np.ndarray | None,
    valid: np.ndarray | None,
    c1: Any,
    c2: Any,
) -> float:
    """Sum over valid pixels of 1 - SSIM of the simulated (H, W) plane ``s`` against the real
    plane ``r`` (same dtype), 11-tap ``taps``: window means by :func:`window_mean_cpu`'s
    sums, divided by ``den`` (H, W) when given; ``mr``, ``mr2``, ``vr`` (H, W) the real
    image's mean, squared mean and variance; ``valid`` (H*W,) uint8 or None (all). Raises
    ValueError for a plane too small for the window with ``reflect``."""
    h, w = s.shape
    if reflect and min(h, w) <= WINDOW // 2:
        raise ValueError(f"image of {h}x{w} px is too small for a {WINDOW} px window")
    dt = s.dtype.type
    flat = np.zeros(1, s.dtype)
    return float(
        windows11(
            s.reshape(-1), r.reshape(-1), h, w, taps, reflect, True,
            mr.reshape(-1), mr2.reshape(-1), vr.reshape(-1),
            flat if den is None else den.reshape(-1),
            np.zeros(1, np.uint8) if valid is None else valid,
            c1, c2, dt(1.0), dt(2.0), den is not None, valid is not None, flat,
        )
    )  # fmt: skip


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
