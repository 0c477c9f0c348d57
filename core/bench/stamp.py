"""Hardware state written into a frame's pixels (pymmcore-plus's seq_tester idea).

A test can then prove from the image alone that each frame was exposed in the state the
acquisition engine believed (motor position, frame id, trigger count), which catches stale
buffers and off-by-one pairings that metadata written *by the same code* could not.
Each value is 4 bytes in the first pixel row, one byte per pixel, after a 2-pixel magic.
"""

from __future__ import annotations

import numpy as np

MAGIC = (0xA5, 0x5A)
FIELDS = ("frame_id", "position", "trigger_count")
STAMP_WIDTH = len(MAGIC) + 4 * len(FIELDS)
_OFFSET = 1 << 31  # positions may be negative


def stamp(image: np.ndarray, *, frame_id: int, position: int, trigger_count: int) -> None:
    """Write the state into ``image`` in place ((H, W) or (H, W, 3), any integer dtype)."""
    if image.shape[1] < STAMP_WIDTH:
        raise ValueError(f"image is narrower than the {STAMP_WIDTH}-pixel state stamp")
    values = {"frame_id": frame_id, "position": position + _OFFSET, "trigger_count": trigger_count}
    row = list(MAGIC)
    for name in FIELDS:
        v = int(values[name]) & 0xFFFFFFFF
        row += [(v >> (8 * k)) & 0xFF for k in range(4)]
    px = np.asarray(row, dtype=image.dtype)
    if image.ndim == 3:
        image[0, :STAMP_WIDTH, :] = px[:, None]
    else:
        image[0, :STAMP_WIDTH] = px


def read_stamp(image: np.ndarray) -> dict[str, int]:
    """Decode the state stamp; ValueError if the frame carries none."""
    row = np.asarray(image[0, :STAMP_WIDTH])
    if row.ndim == 2:
        row = row[:, 0]
    row = row.astype(np.int64)
    if tuple(row[:2]) != MAGIC:
        raise ValueError("frame carries no state stamp")
    out: dict[str, int] = {}
    for i, name in enumerate(FIELDS):
        b = row[2 + 4 * i : 6 + 4 * i]
        out[name] = int(sum(int(b[k]) << (8 * k) for k in range(4)))
    out["position"] -= _OFFSET
    return out
