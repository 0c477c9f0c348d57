"""N-step wrapped phase, modulation, bias, and a quality mask.

With ``I_n = A + B*cos(phi + delta_n)`` and ``delta_n = 2*pi*n/N`` (see patterns.py):
``S = sum I_n sin(delta_n) = -N/2 B sin(phi)``, ``C = sum I_n cos(delta_n) = N/2 B cos(phi)``,
so ``phi = atan2(-S, C)``, ``B = 2/N*hypot(S, C)``, ``A = mean(I_n)``. The sums are one
matrix product over the stack (BLAS, multi-threaded), the only full-resolution passes.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from psfbench.core.fringe.patterns import phase_shifts


@dataclass
class PhaseMap:
    """Per-pixel result of one N-step set; all float32 ``(H, W)``.

    ``phase`` is wrapped to [0, 2*pi); ``modulation`` (B) and ``bias`` (A) are in the
    units of the input images."""

    phase: NDArray[np.float32]
    modulation: NDArray[np.float32]
    bias: NDArray[np.float32]
    peak: NDArray[np.float32]


def _as_stack(images: object) -> NDArray[np.float32]:
    arr = np.asarray(images)
    if arr.ndim != 3:
        raise ValueError(f"phase images must be a (N, H, W) stack, got shape {arr.shape}")
    return arr


def wrapped_phase(images: object, shifts: NDArray[np.floating] | None = None) -> PhaseMap:
    """Wrapped phase of an N-step stack ``(N, H, W)`` (any real dtype).

    ``shifts`` defaults to ``2*pi*n/N`` (which is also what OpenCV's ``SinusoidalPattern``
    PSP patterns use); pass others to decode foreign patterns."""
    stack = _as_stack(images)
    n, h, w = stack.shape
    deltas = phase_shifts(n) if shifts is None else np.asarray(shifts, np.float64)
    if deltas.shape != (n,):
        raise ValueError(f"need {n} shifts for {n} images, got {deltas.shape}")
    # Accumulate image by image (one float conversion each, OpenCV's multi-threaded loops)
    # instead of converting the whole stack: half the memory traffic at 5 MP.
    standard4 = shifts is None and n == 4
    ns = np.zeros((h, w), np.float32)  # -S
    c = np.zeros((h, w), np.float32)
    a = np.zeros((h, w), np.float32)
    peak = np.array(stack[0], copy=True)
    if standard4:
        # sin/cos of 0, 90, 180, 270 deg are 0/+-1: two differences and a sum, computed by
        # OpenCV straight from the integer images into float32 (no conversion passes).
        i0, i1, i2, i3 = (np.ascontiguousarray(stack[k]) for k in range(4))
        cv2.subtract(i3, i1, ns, dtype=cv2.CV_32F)
        cv2.subtract(i0, i2, c, dtype=cv2.CV_32F)
        cv2.add(i0, i1, a, dtype=cv2.CV_32F)
        cv2.add(a, i2, a, dtype=cv2.CV_32F)
        cv2.add(a, i3, a, dtype=cv2.CV_32F)
        for img in (i1, i2, i3):
            np.maximum(peak, img, out=peak)
    for k in range(0 if not standard4 else n, n):
        img = stack[k]
        f = img if img.dtype == np.float32 else img.astype(np.float32)
        sk, ck = float(np.sin(deltas[k])), float(np.cos(deltas[k]))
        if abs(sk) > 1e-9:
            cv2.scaleAdd(f, -sk, ns, ns)
        if abs(ck) > 1e-9:
            cv2.scaleAdd(f, ck, c, c)
        cv2.add(a, f, a)
        if k:
            np.maximum(peak, img, out=peak)
    a *= np.float32(1.0 / n)
    # cv2.cartToPolar: fast magnitude + angle in [0, 2*pi) in one pass.
    mag, ang = cv2.cartToPolar(c, ns, angleInDegrees=False)
    mag *= np.float32(2.0 / n)
    ang[ang >= 2 * np.pi] = 0.0  # cartToPolar can round to exactly 2*pi
    return PhaseMap(
        phase=np.asarray(ang, np.float32),
        modulation=np.asarray(mag, np.float32),
        bias=a,
        peak=peak.astype(np.float32, copy=False),
    )


def textbook_4step(
    i0: NDArray[np.floating],
    i90: NDArray[np.floating],
    i180: NDArray[np.floating],
    i270: NDArray[np.floating],
) -> NDArray[np.float64]:
    """``atan2(I270 - I90, I0 - I180)`` wrapped to [0, 2*pi): the reference formula."""
    p = np.arctan2(
        np.asarray(i270, np.float64) - np.asarray(i90, np.float64),
        np.asarray(i0, np.float64) - np.asarray(i180, np.float64),
    )
    return np.mod(p, 2 * np.pi)


def quality_mask(
    pm: PhaseMap,
    *,
    min_modulation: float,
    saturation: float | None = None,
    min_contrast: float = 0.1,
    min_bias: float | None = None,
) -> NDArray[np.bool_]:
    """Pixels whose phase is worth unwrapping.

    * low modulation: ``B < min_modulation`` (noise dominates the phase);
    * shadows: the projector does not reach the pixel, so ``B/A < min_contrast`` even when
      ambient light makes A large, or ``A < min_bias``;
    * saturation: any step at or above ``saturation`` clips the sinusoid and biases phase.
    """
    ok = pm.modulation >= min_modulation
    ok &= pm.modulation >= min_contrast * np.maximum(pm.bias, 1e-12)
    if min_bias is not None:
        ok &= pm.bias >= min_bias
    if saturation is not None:
        ok &= pm.peak < saturation
    return np.asarray(ok, dtype=bool)


def _sample(x: NDArray[np.floating], target: int = 250_000) -> NDArray[np.float32]:
    """A regular sub-grid for histogram statistics: percentiles of 5 MP cost 0.3 s."""
    m = np.asarray(x, np.float32)
    step = max(1, int(np.sqrt(m.size / target)))
    return np.ascontiguousarray(m[::step, ::step]) if m.ndim == 2 else m


def otsu_modulation_threshold(modulation: NDArray[np.floating]) -> float:
    """A data-driven ``min_modulation``: Otsu's split of the modulation histogram separates
    lit fringes from background when the images have no known noise level."""
    m = _sample(modulation)
    top = float(np.percentile(m, 99.9))
    if top <= 0:
        return 0.0
    u8 = np.clip(m / top * 255.0, 0, 255).astype(np.uint8)
    t, _ = cv2.threshold(u8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    return float(t) / 255.0 * top


def auto_modulation_threshold(modulation: NDArray[np.floating], fraction: float = 0.3) -> float:
    """Default ``min_modulation``: Otsu's split when the histogram is bimodal (lit fringes vs
    background), capped at ``fraction`` of the 99th percentile so that a fully lit scene
    (unimodal histogram, which Otsu would cut in half) keeps all its pixels."""
    top = float(np.percentile(_sample(modulation), 99.0))
    return min(otsu_modulation_threshold(modulation), fraction * top)
