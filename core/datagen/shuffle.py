"""Histogram-invariant spatial aliasing sampling (the seed paper on defocus-map estimation,
``defocus-map-spatial-aliasing-sampling.md``, Fig. 3).

Every pixel's colour triple is moved to a random position of the same image: the colour
histogram (and each channel's) is unchanged, while any blur the source had is gone, since
neighbouring pixels no longer share light. The result is a sharp all-in-focus image with the
source's colour statistics, which a PSF can then blur with a known sigma per pixel (the paper's
COCO_shuffle: its Laplacian variance rose from 4.4 to 40808). The depth map is not moved: the
shuffled texture is painted onto the scene's geometry.
"""

from __future__ import annotations

import numpy as np


def spatial_shuffle(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``image`` (C, H, W) with its pixels (all C channels together) permuted at random.

    Same shape and dtype; each channel's values are a permutation of the input's, so every
    histogram is unchanged exactly. ``rng`` decides the permutation (bit-identical for the same
    generator state). Raises ValueError for an image that is not 3-D."""
    arr = np.asarray(image)
    if arr.ndim != 3:
        raise ValueError(f"spatial_shuffle: expected (C, H, W), got shape {arr.shape}")
    c, h, w = arr.shape
    perm = rng.permutation(h * w)
    return np.ascontiguousarray(arr.reshape(c, h * w)[:, perm].reshape(c, h, w))
