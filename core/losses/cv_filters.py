"""OpenCV versions of the window mean and the Laplacian, for tensors on the CPU.

The shifted-slice filters in ``psfbench.core.losses.filters`` make one full pass over the image per
tap (22 for an 11x11 Gaussian) and dominate the CPU time of a grid fit; OpenCV's separable
filters do the same sums in one cache-friendly pass, about 10x faster on 613x514 images. On
the CPU there is no TF32 to worry about, so the results differ from the slice sums only by
float rounding (tests/losses/test_losses_fast.py). Other devices keep the slice filters.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

_DEPTH = {torch.float32: cv2.CV_32F, torch.float64: cv2.CV_64F}
_NP = {torch.float32: np.float32, torch.float64: np.float64}


def _planes(x: torch.Tensor) -> tuple[torch.Tensor, np.ndarray, torch.Tensor, np.ndarray]:
    if x.device.type != "cpu" or x.dtype not in _DEPTH:
        raise ValueError(f"OpenCV filters need a float32/float64 CPU tensor, got {x.dtype}")
    src = x.contiguous()
    out = torch.empty_like(src)
    h, w = x.shape[-2], x.shape[-1]
    return src, src.reshape(-1, h, w).numpy(), out, out.reshape(-1, h, w).numpy()


def cv_window_mean(x: torch.Tensor, taps: Sequence[float], padding: str) -> torch.Tensor:
    """Same as ``filters.window_mean`` ('reflect' = BORDER_REFLECT_101, 'zeros' = 0 outside)."""
    r = len(taps) // 2
    if padding == "reflect" and min(x.shape[-2], x.shape[-1]) <= r:
        raise ValueError(
            f"image of {x.shape[-2]}x{x.shape[-1]} px is too small for a {2 * r + 1} px window"
        )
    border = cv2.BORDER_REFLECT_101 if padding == "reflect" else cv2.BORDER_CONSTANT
    _, a, out, o = _planes(x)
    k = np.asarray(taps, dtype=_NP[x.dtype])
    for i in range(a.shape[0]):
        cv2.sepFilter2D(a[i], -1, k, k, dst=o[i], borderType=border)
    return out


def cv_laplacian(x: torch.Tensor, kernel: str) -> torch.Tensor:
    """Same as ``filters.laplacian``: ksize 5 ('opencv5') or the 3x3 cross ('cross3')."""
    ksize = {"opencv5": 5, "cross3": 1}.get(kernel)
    if ksize is None:
        raise ValueError(f"unknown Laplacian kernel {kernel!r}")
    depth = _DEPTH.get(x.dtype, cv2.CV_32F)
    _, a, out, o = _planes(x)
    for i in range(a.shape[0]):
        cv2.Laplacian(a[i], depth, dst=o[i], ksize=ksize, borderType=cv2.BORDER_REFLECT_101)
    return out


def cv_erode(valid: torch.Tensor, radius: int) -> torch.Tensor:
    """Same as ``filters.erode`` for an (H, W) bool CPU tensor (outside the image counts as
    valid): a 514x613 mask takes under 1 ms here, ~16 ms with the max-pool. Raises ValueError
    for anything else."""
    if valid.device.type != "cpu" or valid.dtype != torch.bool or valid.ndim != 2:
        raise ValueError(
            f"cv_erode needs an (H, W) bool CPU tensor, got {valid.dtype} {valid.shape}"
        )
    src = valid.contiguous().numpy().view(np.uint8)
    kernel = np.ones((2 * radius + 1, 2 * radius + 1), np.uint8)
    out = cv2.erode(src, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=1)
    return torch.from_numpy(out.view(np.bool_))
