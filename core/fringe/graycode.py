"""Vectorised Gray-code decoding (whole image at once) with per-bit reliability.

Each bit is decided by comparing the pattern with its inverse, which cancels albedo and
ambient light; a pixel is kept only if every bit differs by at least ``white_thr`` and
the white/black references differ by more than ``black_thr`` (the same two thresholds as
OpenCV's ``GrayCodePattern``, so results can be compared with it pixel by pixel).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psfbench.core.fringe.patterns import GrayCodeLayout


@dataclass
class GrayDecode:
    """Decoded projector coordinates in projector pixels (block centres when step > 1);
    ``-1`` where ``valid`` is False."""

    col: NDArray[np.float32]
    row: NDArray[np.float32]
    valid: NDArray[np.bool_]


def _decode_axis(
    stack: NDArray[Any], bits: int, n_codes: int, white_thr: float
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    pos = stack[0 : 2 * bits : 2]
    neg = stack[1 : 2 * bits : 2]
    diff = pos - neg
    gray = diff > 0
    reliable = np.all(np.abs(diff) >= white_thr, axis=0)
    binary = np.bitwise_xor.accumulate(gray, axis=0)
    weights = (1 << np.arange(bits - 1, -1, -1)).astype(np.int64)
    code = np.tensordot(weights, binary.astype(np.int64), axes=(0, 0))
    return code, reliable & (code < n_codes)


def decode_graycode(
    images: object,
    layout: GrayCodeLayout,
    *,
    white: NDArray[np.generic] | None = None,
    black: NDArray[np.generic] | None = None,
    black_thr: float = 40.0,
    white_thr: float = 5.0,
) -> GrayDecode:
    """Decode a capture stack in ``graycode_patterns`` order.

    ``images`` holds the ``layout.n_patterns`` code images, optionally followed by white and
    black (used when ``white``/``black`` are not given)."""
    stack = np.asarray(images)
    if stack.ndim != 3:
        raise ValueError(f"Gray-code images must be a (K, H, W) stack, got shape {stack.shape}")
    k = layout.n_patterns
    if white is None or black is None:
        if stack.shape[0] != k + 2:
            raise ValueError(
                f"expected {k} Gray-code images + white + black = {k + 2}, got {stack.shape[0]}"
            )
        white, black = stack[k], stack[k + 1]
    elif stack.shape[0] < k:
        raise ValueError(f"expected at least {k} Gray-code images, got {stack.shape[0]}")
    codes = stack[:k].astype(np.int16 if stack.dtype == np.uint8 else np.float32)
    lit = np.asarray(white, np.float32) - np.asarray(black, np.float32) > black_thr
    h, w = stack.shape[1:]
    col = np.full((h, w), -1.0, np.float32)
    row = np.full((h, w), -1.0, np.float32)
    valid = lit.copy()
    half = (layout.step - 1) / 2.0
    offset = 0
    if layout.columns:
        ncol = (layout.width - 1) // layout.step + 1
        c, ok = _decode_axis(codes[offset:], layout.col_bits, ncol, white_thr)
        valid &= ok
        col = (c * layout.step + half).astype(np.float32)
        offset += 2 * layout.col_bits
    if layout.rows:
        nrow = (layout.height - 1) // layout.step + 1
        r, ok = _decode_axis(codes[offset:], layout.row_bits, nrow, white_thr)
        valid &= ok
        row = (r * layout.step + half).astype(np.float32)
    col[~valid] = -1.0
    row[~valid] = -1.0
    return GrayDecode(col=col, row=row, valid=valid)
