"""Projector response (gamma) calibration.

Show flat grey levels (the acquisition engine's ``levels`` pattern source), average the
camera over a lit region for each, and fit ``I = offset + gain * level**gamma``. The fitted
gamma feeds ``fringe_patterns(..., gamma=...)`` so the projected sinusoids come out
sinusoidal; without it a 4-step phase ripples at 4x the fringe frequency (or use more steps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


class GammaFitError(ValueError):
    """Too few or degenerate grey-level measurements."""


@dataclass(frozen=True)
class GammaFit:
    gamma: float
    offset: float
    gain: float
    rms: float  # residual of the fit, in the units of the responses

    def predict(self, level: np.ndarray | float) -> np.ndarray:
        return self.offset + self.gain * np.power(np.asarray(level, np.float64), self.gamma)


def fit_projector_gamma(levels: Sequence[float], responses: Sequence[float]) -> GammaFit:
    """Least-squares fit of ``offset + gain*level**gamma`` (a 1-D search over gamma, with
    offset and gain solved linearly at each gamma, so no starting guess is needed).

    Exclude saturated responses before calling: clipping flattens the top of the curve."""
    x = np.asarray(levels, np.float64)
    y = np.asarray(responses, np.float64)
    if x.shape != y.shape or x.size < 3:
        raise GammaFitError(
            f"need >= 3 (level, response) pairs of equal length, got {x.size} and {y.size}"
        )
    if np.any((x < 0) | (x > 1)):
        raise GammaFitError("grey levels must lie in [0, 1]")
    if np.ptp(x) <= 0 or np.ptp(y) <= 0:
        raise GammaFitError("grey levels and responses must vary")

    def solve(g: float) -> tuple[float, float, float]:
        A = np.stack([np.ones_like(x), np.power(x, g)], 1)
        coef, *_ = np.linalg.lstsq(A, y, rcond=None)
        r = A @ coef - y
        return float(np.sqrt(np.mean(r * r))), float(coef[0]), float(coef[1])

    grid = np.linspace(0.2, 5.0, 97)
    errs = [solve(g)[0] for g in grid]
    g = float(grid[int(np.argmin(errs))])
    step = float(grid[1] - grid[0])
    for _ in range(40):  # golden-section refinement around the grid minimum
        lo, hi = g - step, g + step
        a, b = hi - 0.618 * (hi - lo), lo + 0.618 * (hi - lo)
        g = a if solve(a)[0] < solve(b)[0] else b
        step *= 0.618
    rms, off, gain = solve(g)
    return GammaFit(gamma=g, offset=off, gain=gain, rms=rms)


def responses_from_frames(
    levels: Sequence[float],
    frames: object,
    full_scale: float,
    *,
    min_contrast: float = 0.05,
) -> tuple[list[float], list[float]]:
    """Camera response per projected grey level, for :func:`fit_projector_gamma`.

    ``frames`` ``(N, H, W)`` are the captures of the N flat ``levels`` (the ``levels`` pattern
    source, same exposure). Averages over the pixels the projector lights well (brightest
    minus darkest level above ``min_contrast`` of ``full_scale``) that never clip, so that
    neither shadows nor saturation bend the curve."""
    x = [float(v) for v in levels]
    stack = np.asarray(frames, np.float32)
    if stack.ndim == 4:  # colour: luminance
        stack = stack @ np.array([0.299, 0.587, 0.114], np.float32)
    if stack.ndim != 3 or stack.shape[0] != len(x):
        raise GammaFitError(
            f"need one (H, W) frame per level: {len(x)} levels, frames of shape {stack.shape}"
        )
    hi, lo = stack[int(np.argmax(x))], stack[int(np.argmin(x))]
    lit = ((hi - lo) > min_contrast * full_scale) & (stack.max(axis=0) < full_scale)
    if not lit.any():
        raise GammaFitError(
            "no pixel is lit by the projector without clipping: adjust the exposure"
        )
    return x, [float(v) for v in stack[:, lit].mean(axis=1)]
