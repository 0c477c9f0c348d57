"""Scale-invariant colour textures so that defocus is measurable everywhere in a scene.

A dead-leaves pattern (opaque disks with radii drawn from p(r) ~ r^-3, stacked back to front) has
sharp edges at every scale and no flat region much larger than its biggest disk. That matters
for PSF fitting: a blur of sigma s changes the image only within a few s of an edge, so a
texture with large uniform patches would leave parts of the depth map unconstrained. Dead
leaves is also the standard camera-sharpness target (ISO 19567-2), for the same reason.
"""

from __future__ import annotations

import cv2
import numpy as np


def dead_leaves_labels(
    height: int,
    width: int,
    n_labels: int,
    rng: np.random.Generator,
    *,
    r_min: float = 1.5,
    r_max: float | None = None,
    coverage: float = 3.0,
) -> np.ndarray:
    """An (H, W) uint8 label image of stacked disks; label 0 also fills any uncovered gap.

    ``coverage`` is the expected number of disks over a pixel: 3 leaves ~5 % of pixels showing
    the background label, which is itself one of the colours.
    """
    if r_max is None:
        r_max = max(4.0, 0.08 * min(height, width))
    r_max = max(r_max, r_min * 1.01)
    # Mean disk area for p(r) ~ r^-3 on [r_min, r_max]:
    # 2 pi ln(r_max / r_min) / (r_min^-2 - r_max^-2).
    inv2 = r_min**-2 - r_max**-2
    mean_area = 2.0 * np.pi * np.log(r_max / r_min) / inv2
    n = int(np.ceil(coverage * height * width / mean_area))
    u = rng.random(n)
    radii = (r_min**-2 - u * inv2) ** -0.5
    # Let disks start beyond the border so the edges of the image are as textured as its centre.
    cx = rng.uniform(-r_max, width + r_max, n)
    cy = rng.uniform(-r_max, height + r_max, n)
    labels = rng.integers(0, n_labels, n)
    # cv2 draws with integer centres and radii; shift=4 gives 1/16 px sub-pixel precision.
    scale = 16
    cxi = np.round(cx * scale).astype(np.int64).tolist()
    cyi = np.round(cy * scale).astype(np.int64).tolist()
    ri = np.round(radii * scale).astype(np.int64).tolist()
    lab = labels.tolist()
    out = np.zeros((height, width), np.uint8)
    for x, y, r, v in zip(cxi, cyi, ri, lab, strict=True):
        cv2.circle(out, (x, y), r, v, -1, cv2.LINE_8, 4)
    return out


def dead_leaves_rgb(
    height: int,
    width: int,
    palette: np.ndarray,
    rng: np.random.Generator,
    *,
    r_min: float = 1.5,
    r_max: float | None = None,
) -> np.ndarray:
    """A (3, H, W) float32 texture whose pixels take the colours of ``palette`` (K, 3)."""
    labels = dead_leaves_labels(height, width, len(palette), rng, r_min=r_min, r_max=r_max)
    return np.ascontiguousarray(palette[labels].transpose(2, 0, 1), dtype=np.float32)
