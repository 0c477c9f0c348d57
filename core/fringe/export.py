"""Depth-map export: float32 TIFF in mm with NaN where invalid (opens in Fiji / napari)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray


def write_depth_tiff(path: Path | str, depth: NDArray[np.floating]) -> Path:
    """Atomic float32 TIFF; NaN marks invalid pixels (never 0, which is a depth)."""
    from psfbench.core.dataset.tiff_io import write_tiff

    d = np.asarray(depth)
    if d.ndim != 2:
        raise ValueError(f"{path}: a depth map is (H, W), got shape {d.shape}")
    d = np.ascontiguousarray(d, np.float32)
    if np.any(np.isinf(d)):
        raise ValueError(f"{path}: depth map has infinite values (use NaN for invalid)")
    p = Path(path)
    write_tiff(p, d)
    return p
