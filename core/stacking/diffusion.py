"""Transition-region diffusion elimination (Liu et al., focus-stacking seed, eqs. 13-15).

In a frame focused behind an object, the object's blurred image spreads over the sharp
background next to it (eq. 4: F = (f M) * K3 + (M̄ * K3) b). Whatever a decision map picks
there, the fused pixel carries that haze. Eq. 8 models it as the blurred colour difference
between foreground and the (hidden) background, confined to the background:

    S = M̄ [(f M - b M) * K]                                           (8)
    b M ≈ ((b M̄) * K) / (M̄ * K + eps)    (background under the object, eq. 13)
    R = R_init - S                                                       (15)

The seed must *estimate* K with a network; psfbench has *measured* the PSF, so K is the
Gaussian of sigma = psfbench.core.optics.sigma_map(depth, Df, A, F) for the foreground's depth in
the frame in question. That is the point of doing this here.

Generalised from the seed's near/far pair to N frames: for every frame n, the foreground is
the set of pixels decided to frames focused nearer than n (each such group m blurred with its
own sigma_{m,n}); the background M̄_n is everything else. Each frame's diffusion S_n is removed
in proportion to that frame's fusion weight, since that is how much of frame n the fused pixel
contains.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

#: sigma (pixels) of frame n's blur per pixel (an (H, W) map) or one value for the frame.
SigmaSource = float | Callable[[int], "np.ndarray | float"]


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def _blur_chw(img: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([_blur(c, sigma) for c in img])


def sigma_from_depth(
    depth_mm: np.ndarray, focus_depths_mm: Sequence[float], A: float, F_mm: float
) -> Callable[[int], np.ndarray]:
    """SigmaSource from a depth map and the fitted PSF: sigma_map(depth, Df_n, A, F)."""
    from psfbench.core.optics import sigma_map

    depth = np.asarray(depth_mm, dtype=np.float64)

    def source(n: int) -> np.ndarray:
        return np.asarray(sigma_map(depth, float(focus_depths_mm[n]), A, F_mm))

    return source


def eliminate_diffusion(
    fused: np.ndarray | torch.Tensor,
    weights: np.ndarray | torch.Tensor,
    index: np.ndarray | torch.Tensor,
    sigma: SigmaSource,
    *,
    focus_depths_mm: Sequence[float] | None = None,
    eps: float = 1e-10,
    min_sigma: float = 0.3,
) -> np.ndarray:
    """R = R_init - sum_n w_n S_n; returns the corrected (C, H, W) float32 image.

    ``fused`` is R_init (C, H, W), ``weights`` the (N, H, W) fusion weights, ``index`` the
    (H, W) per-pixel decision. ``sigma`` gives each frame's blur (see :data:`SigmaSource`);
    with a per-pixel map the blur of group m in frame n is the median over that group.
    ``focus_depths_mm`` orders the frames near to far (default: frame index order).
    Foreground groups blurred less than ``min_sigma`` pixels spread no visible haze and are
    skipped.
    """
    r_init = np.asarray(torch.as_tensor(fused).detach().cpu(), dtype=np.float32)
    w = np.asarray(torch.as_tensor(weights).detach().cpu(), dtype=np.float32)
    idx = np.asarray(torch.as_tensor(index).detach().cpu())
    if r_init.ndim == 2:
        r_init = r_init[None]
    n_frames = w.shape[0]
    depth_order = (
        np.arange(n_frames, dtype=float)
        if focus_depths_mm is None
        else np.asarray(focus_depths_mm, dtype=float)
    )
    if depth_order.shape != (n_frames,):
        raise ValueError(f"need {n_frames} focus depths, got {depth_order.shape}")
    rank = np.argsort(np.argsort(depth_order, kind="stable"), kind="stable")
    pixel_rank = rank[idx]
    groups = {m: idx == m for m in range(n_frames)}
    correction = np.zeros_like(r_init)
    for n in range(n_frames):
        nearer = [m for m in range(n_frames) if rank[m] < rank[n] and groups[m].any()]
        if not nearer or not (w[n] > 1e-4).any():
            continue
        smap = sigma(n) if callable(sigma) else sigma
        mbar = (pixel_rank >= rank[n]).astype(np.float32)
        if not mbar.any():
            continue
        s_n = np.zeros_like(r_init)
        for m in nearer:
            arr = np.asarray(smap, dtype=np.float64)
            s = float(arr) if arr.ndim == 0 else float(np.median(arr[groups[m]]))
            if s < min_sigma:
                continue
            mm = groups[m].astype(np.float32)
            hidden = _blur_chw(r_init * mbar, s) / (_blur(mbar, s) + eps)[None]  # eq. 13
            hidden = np.clip(hidden, 0.0, 1.0)
            s_n += _blur_chw((r_init - hidden) * mm, s)  # eq. 8 / 14 before masking
        correction += (w[n] * mbar)[None] * s_n
    return np.clip(r_init - correction, 0.0, 1.0).astype(np.float32)  # eq. 15
