"""Projector patterns: N-step phase-shifted fringes, Gray codes (+ inverses), black/white.

Conventions (shared by decoding and triangulation, see docs/fringe.md):

* Pixel centres sit at integer coordinates (OpenCV). A fringe with ``count`` periods across
  an axis of ``length`` pixels has phase ``phi(x) = 2*pi*count*x/length`` at pixel ``x``.
* Step ``n`` of ``N`` shows ``I_n = offset + amplitude*cos(phi + delta_n)``, with
  ``delta_n = 2*pi*n/N``. For 4 steps this makes ``phi = atan2(I_270 - I_90, I_0 - I_180)``,
  the textbook formula.
* Gray codes use the layout of OpenCV's ``structured_light.GrayCodePattern`` (column bits
  MSB first, each followed by its inverse, then the row bits the same way), so captures made
  with that tool (and with kamino410/procam-calibration) decode unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

#: The paper's default: 3 frequencies x 4 steps. The counts (fringes across the projector
#: width) beat to 70-64.2 = 5.8 and 64.2-59.2 = 5, then 5.8-5 = 0.8 of a period across the
#: whole width: absolute without ambiguity, and with 0.2 period of slack so noise at the
#: projector's edges cannot wrap the last beat across its seam (as exactly 1 period would).
DEFAULT_FRINGE_COUNTS: tuple[float, ...] = (70.0, 64.2, 59.2)
DEFAULT_STEPS = 4


class PatternError(ValueError):
    """Invalid pattern parameters (the message names the parameter)."""


def _check_size(width: int, height: int) -> None:
    if width < 2 or height < 2:
        raise PatternError(
            f"projector size must be at least 2x2, got width={width} height={height}"
        )


def phase_shifts(steps: int) -> NDArray[np.float64]:
    """The shifts ``delta_n = 2*pi*n/N`` (radians) used by every N-step routine here."""
    if steps < 3:
        raise PatternError(f"phase shifting needs at least 3 steps, got steps={steps}")
    return 2.0 * np.pi * np.arange(steps) / steps


def gamma_precompensate(pattern: NDArray[np.floating], gamma: float) -> NDArray[np.float32]:
    """Pre-distort intensities in [0, 1] so that a projector with response ``I**gamma`` shows
    the intended values (a gamma > 1 projector turns sinusoids into harmonics that ripple
    the 4-step phase at 4x the fringe frequency)."""
    if gamma <= 0:
        raise PatternError(f"gamma must be > 0, got gamma={gamma}")
    return np.power(np.clip(pattern, 0.0, 1.0), 1.0 / gamma).astype(np.float32)


def fringe_patterns(
    width: int,
    height: int,
    counts: Sequence[float] = DEFAULT_FRINGE_COUNTS,
    steps: int = DEFAULT_STEPS,
    *,
    axis: str = "x",
    amplitude: float = 0.5,
    offset: float = 0.5,
    gamma: float | None = None,
) -> NDArray[np.float32]:
    """Phase-shifted fringes, ``(len(counts)*steps, height, width)`` float32 in [0, 1].

    Ordered frequency-major (all steps of ``counts[0]`` first). ``axis="x"`` varies along
    columns (vertical stripes), which is what a horizontal camera-projector baseline needs.
    """
    _check_size(width, height)
    if axis not in ("x", "y"):
        raise PatternError(f"axis must be 'x' or 'y', got axis={axis!r}")
    if not counts or any(c <= 0 for c in counts):
        raise PatternError(f"fringe counts must be positive, got counts={list(counts)}")
    if amplitude < 0 or offset - amplitude < 0 or offset + amplitude > 1:
        raise PatternError(
            f"offset +- amplitude must stay in [0, 1], got offset={offset} amplitude={amplitude}"
        )
    length = width if axis == "x" else height
    coord = np.arange(length, dtype=np.float64)
    deltas = phase_shifts(steps)
    out = np.empty((len(counts) * steps, height, width), dtype=np.float32)
    k = 0
    for count in counts:
        phi = 2.0 * np.pi * count * coord / length
        for d in deltas:
            line = (offset + amplitude * np.cos(phi + d)).astype(np.float32)
            if gamma is not None:
                line = gamma_precompensate(line, gamma)
            out[k] = line[None, :] if axis == "x" else line[:, None]
            k += 1
    return out


def gray_bits(n_codes: int) -> int:
    """Bits needed to give ``n_codes`` distinct Gray codes (OpenCV: ceil(log2))."""
    return max(1, math.ceil(math.log2(n_codes)))


def _gray_planes(n_codes: int, bits: int) -> NDArray[np.uint8]:
    idx = np.arange(n_codes, dtype=np.int64)
    gray = idx ^ (idx >> 1)
    shifts = np.arange(bits - 1, -1, -1)
    return ((gray[None, :] >> shifts[:, None]) & 1).astype(np.uint8)


@dataclass(frozen=True)
class GrayCodeLayout:
    """How many Gray-code images a projector of this size needs, and in what order."""

    width: int
    height: int
    step: int = 1
    columns: bool = True
    rows: bool = True
    col_bits: int = field(init=False)
    row_bits: int = field(init=False)

    def __post_init__(self) -> None:
        _check_size(self.width, self.height)
        if self.step < 1:
            raise PatternError(f"graycode step must be >= 1, got step={self.step}")
        object.__setattr__(self, "col_bits", gray_bits((self.width - 1) // self.step + 1))
        object.__setattr__(self, "row_bits", gray_bits((self.height - 1) // self.step + 1))

    @property
    def n_patterns(self) -> int:
        """Code images (pattern + inverse per bit), without the white/black references."""
        return 2 * (self.col_bits * self.columns + self.row_bits * self.rows)


def graycode_patterns(
    width: int,
    height: int,
    step: int = 1,
    *,
    columns: bool = True,
    rows: bool = True,
    with_references: bool = True,
) -> NDArray[np.uint8]:
    """Gray-code images ``(K, height, width)`` uint8 0/255: each bit then its inverse, column
    bits then row bits, then white and black when ``with_references``.

    ``step`` > 1 codes blocks of ``step`` projector pixels (fewer images; enough when the code
    only has to pick a fringe order)."""
    layout = GrayCodeLayout(width, height, step, columns, rows)
    images: list[NDArray[np.uint8]] = []
    if columns:
        ncol = (width - 1) // step + 1
        planes = _gray_planes(ncol, layout.col_bits)[:, np.arange(width) // step]
        for p in planes:
            line = p * np.uint8(255)
            images.append(np.broadcast_to(line[None, :], (height, width)))
            images.append(np.broadcast_to((255 - line)[None, :], (height, width)))
    if rows:
        nrow = (height - 1) // step + 1
        planes = _gray_planes(nrow, layout.row_bits)[:, np.arange(height) // step]
        for p in planes:
            line = p * np.uint8(255)
            images.append(np.broadcast_to(line[:, None], (height, width)))
            images.append(np.broadcast_to((255 - line)[:, None], (height, width)))
    if with_references:
        images.append(np.full((height, width), 255, np.uint8))
        images.append(np.zeros((height, width), np.uint8))
    return np.stack(images).astype(np.uint8)


def to_uint8(patterns: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Quantise [0, 1] patterns for an 8-bit projector window (rounding, not truncation)."""
    return np.clip(np.rint(patterns * 255.0), 0, 255).astype(np.uint8)
