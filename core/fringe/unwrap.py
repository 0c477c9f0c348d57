"""Temporal phase unwrapping: multi-frequency heterodyne and Gray-code assisted, with
detection of fringe-order (2*pi) errors.

Phases are wrapped to [0, 2*pi) and belong to fringe counts ``c`` across the projector
axis (patterns.py): the absolute phase is ``2*pi*c*x/length``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

TWO_PI = 2.0 * np.pi


class UnwrapError(ValueError):
    """Fringe counts or inputs that cannot give an unambiguous absolute phase."""


@dataclass
class Unwrapped:
    """Absolute phase of the finest fringe (``counts[0]``), float32 ``(H, W)``.

    ``suspect`` marks pixels whose fringe order is unreliable (see ``detect_*``);
    ``residual`` is the worst rounding residual of the order decisions, in periods
    (0 = the coarse estimate landed exactly on an order, 0.5 = a coin toss)."""

    phase: NDArray[np.float32]
    order: NDArray[np.int32]
    residual: NDArray[np.float32]
    suspect: NDArray[np.bool_]
    #: absolute phase of every input count (heterodyne), finest first
    per_count: list[NDArray[np.float32]] = field(default_factory=list)


def _wrap_diff(a: NDArray[np.floating], b: NDArray[np.floating]) -> NDArray[np.float32]:
    """``(a - b) mod 2*pi`` for a, b in [0, 2*pi): one subtraction and a masked add, much
    cheaper than np.mod at 5 MP."""
    d = np.subtract(a, b, dtype=np.float32)
    np.add(d, np.float32(TWO_PI), out=d, where=d < 0)
    return d


def _lift(
    coarse_abs: NDArray[np.floating], ratio: float, wrapped: NDArray[np.floating]
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Unwrap ``wrapped`` with ``coarse_abs * ratio`` as the estimate of its absolute value."""
    est = np.multiply(coarse_abs, np.float32(ratio / TWO_PI), dtype=np.float32)
    est -= np.multiply(wrapped, np.float32(1 / TWO_PI), dtype=np.float32)
    k = np.rint(est)
    est -= k
    residual = np.abs(est, out=est)
    out = np.multiply(k, np.float32(TWO_PI), dtype=np.float32)
    out += wrapped
    return out, k, residual


def heterodyne_unwrap(
    phases: Sequence[NDArray[np.floating]],
    counts: Sequence[float],
    *,
    tolerance: float | None = None,
    max_residual: float = 0.3,
    edge_margin: float = 0.25,
    spatial_check: bool = True,
) -> Unwrapped:
    """Multi-frequency heterodyne (beat) unwrapping, the paper's method.

    Neighbouring counts beat: ``wrap(phi_i - phi_j)`` is a fringe of ``c_i - c_j`` periods.
    The beats are beaten again until one fringe (``<= 1`` period) is left, which is absolute;
    then each level is unwrapped back down with the level above as its estimate, ending at
    the finest phase. ``counts`` must be strictly decreasing. For (70, 64, 59): 6 and 5,
    then 1.

    Suspect pixels: an order decision whose residual exceeds ``max_residual`` periods, or a
    finest absolute phase that does not predict the other measured phases within
    ``tolerance`` radians (``consistency_tolerance`` by default), or (when the last beat is
    exactly one period, so projector columns 0 and ``length`` share a phase) a last beat
    within ``edge_margin`` radians of 0 / 2*pi, where noise can flip it across the seam.
    A corrupted wrapped phase can also yield a wrong but self-consistent order (the chain
    has little redundancy left); ``spatial_check`` adds ``detect_jumps``, which catches
    such slips where they are isolated.
    """
    if len(phases) != len(counts) or len(counts) < 1:
        raise UnwrapError(f"need one wrapped phase per count, got {len(phases)} and {len(counts)}")
    cs = [float(c) for c in counts]
    if any(a <= b for a, b in zip(cs, cs[1:], strict=False)):
        raise UnwrapError(f"fringe counts must be strictly decreasing, got {cs}")
    levels: list[list[tuple[NDArray[np.float32], float]]] = [
        [(np.asarray(p, np.float32), c) for p, c in zip(phases, cs, strict=True)]
    ]
    while len(levels[-1]) > 1:
        prev = levels[-1]
        levels.append(
            [
                (_wrap_diff(prev[i][0], prev[i + 1][0]), prev[i][1] - prev[i + 1][1])
                for i in range(len(prev) - 1)
            ]
        )
    top_phase, top_count = levels[-1][0]
    if top_count > 1.0 + 1e-9:
        raise UnwrapError(
            f"fringe counts {cs} beat down to {top_count:g} periods; the last beat must be "
            "<= 1 period across the projector for an unambiguous absolute phase"
        )
    if top_count < 1.0 - 1e-9:
        # The projector spans [0, 2*pi*c) of the last beat: split the unused gap in the
        # middle so that noise on either edge of the projector stays on its own side.
        top_phase = np.where(top_phase > np.pi * (1.0 + top_count), top_phase - TWO_PI, top_phase)
        top_phase = top_phase.astype(np.float32)
    absolute = [top_phase]
    worst = np.zeros(top_phase.shape, np.float32)
    order = np.zeros(top_phase.shape, np.float32)
    for lvl in range(len(levels) - 2, -1, -1):
        upper = levels[lvl + 1]
        new_abs = []
        for i, (wrapped, c) in enumerate(levels[lvl]):
            j = min(i, len(upper) - 1)
            a, order, r = _lift(absolute[j], c / upper[j][1], wrapped)
            np.maximum(worst, r, out=worst)
            new_abs.append(a)
        absolute = new_abs
    finest = absolute[0]
    suspect = worst > max_residual
    if abs(top_count - 1.0) < 1e-9:
        suspect |= (top_phase < edge_margin) | (top_phase > TWO_PI - edge_margin)
    if len(cs) > 1:
        suspect |= detect_inconsistent(finest, phases, cs, tolerance=tolerance)
    if spatial_check and finest.ndim == 2 and min(finest.shape) >= 5:
        suspect |= detect_jumps(finest, ~suspect)
    return Unwrapped(finest, order.astype(np.int32), worst, suspect, list(absolute))


def consistency_tolerance(counts: Sequence[float]) -> float:
    """Half the smallest prediction error that a one-or-more order error in the finest phase
    leaves in the other frequencies (radians): a tolerance that is noise-robust yet still
    flags every single 2*pi slip."""
    cs = [float(c) for c in counts]
    worst = np.inf
    for m in range(1, max(2, int(cs[0] // 2)) + 1):
        shift = [abs(np.angle(np.exp(1j * TWO_PI * m * c / cs[0]))) for c in cs[1:]]
        worst = min(worst, max(shift))
    return float(worst / 2.0)


def detect_inconsistent(
    absolute: NDArray[np.floating],
    phases: Sequence[NDArray[np.floating]],
    counts: Sequence[float],
    *,
    tolerance: float | None = None,
) -> NDArray[np.bool_]:
    """Pixels where ``absolute`` (finest count) fails to predict the other wrapped phases.

    A 2*pi error in the finest order shifts the predicted phase of count ``c_k`` by
    ``2*pi*c_k/c_0`` (mod 2*pi), far above phase noise, so order slips cannot hide."""
    tol = consistency_tolerance(counts) if tolerance is None else tolerance
    bad = np.zeros(np.shape(absolute), bool)
    a = np.asarray(absolute, np.float32)
    for p, c in zip(phases[1:], counts[1:], strict=True):
        # distance of (predicted - measured) to the nearest multiple of 2*pi, in periods
        d = np.multiply(a, np.float32(c / counts[0] / TWO_PI), dtype=np.float32)
        d -= np.multiply(np.asarray(p, np.float32), np.float32(1 / TWO_PI))
        d -= np.rint(d)
        bad |= np.abs(d, out=d) > np.float32(tol / TWO_PI)
    return bad


def detect_jumps(
    absolute: NDArray[np.floating], valid: NDArray[np.bool_] | None = None, *, size: int = 3
) -> NDArray[np.bool_]:
    """Spatial check for single-frequency methods: a pixel more than pi away from the median
    of its valid neighbourhood almost surely carries a wrong fringe order."""
    import cv2

    if size not in (3, 5):
        raise ValueError(f"size must be 3 or 5 (cv2.medianBlur on float32), got size={size}")
    a = np.asarray(absolute, np.float32).copy()
    ok = np.isfinite(a) if valid is None else (np.asarray(valid, bool) & np.isfinite(a))
    filled = np.where(ok, a, 0.0).astype(np.float32)
    med = cv2.medianBlur(filled, size)
    return ok & (np.abs(a - med) > np.pi)


def combined_coordinate(
    per_count: Sequence[NDArray[np.floating]], counts: Sequence[float], length: int
) -> NDArray[np.float32]:
    """Projector coordinate from all unwrapped frequencies, weighted by ``count**2``: each
    gives the coordinate with noise proportional to 1/count, so this is the least-squares
    combination (about sqrt(3) less noise than the finest alone for close counts)."""
    w = np.asarray(counts, np.float64) ** 2
    w /= w.sum()
    acc = np.zeros(np.shape(per_count[0]), np.float32)
    for p, c, wk in zip(per_count, counts, w, strict=True):
        acc += np.asarray(p, np.float32) * np.float32(wk * length / (TWO_PI * c))
    return acc


def graycode_unwrap(
    wrapped: NDArray[np.floating],
    code_coord: NDArray[np.floating],
    count: float,
    length: int,
    *,
    valid: NDArray[np.bool_] | None = None,
    max_residual: float = 0.35,
) -> Unwrapped:
    """Gray-code assisted unwrapping: the decoded projector coordinate ``code_coord`` (pixels,
    block centres) gives a coarse absolute phase, which only has to pick the fringe order.

    Robust while the code error stays below half a period, so Gray blocks of up to about a
    quarter period suffice (fewer patterns than full resolution)."""
    coarse = TWO_PI * float(count) * np.asarray(code_coord, np.float32) / float(length)
    est = (coarse - np.asarray(wrapped, np.float32)) / TWO_PI
    k = np.rint(est)
    residual = np.abs(est - k).astype(np.float32)
    phase = (np.asarray(wrapped, np.float32) + TWO_PI * k).astype(np.float32)
    suspect = residual > max_residual
    if valid is not None:
        suspect &= np.asarray(valid, bool)
    return Unwrapped(phase, k.astype(np.int32), residual, suspect)
