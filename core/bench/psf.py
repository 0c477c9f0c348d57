"""True-PSF variants the fitted Gaussian model does not contain (robustness studies).

A real lens's defocus blur is closer to a uniform disc (pillbox) than a Gaussian, and its
magnification changes with focus (breathing). The virtual bench can render both, so one can
measure how much the Gaussian fit is biased when the world is not Gaussian.
"""

from __future__ import annotations

import numpy as np

from psfbench.core.optics import DEFAULT_OMEGA


def disc_kernel(radius: float) -> np.ndarray:
    """Normalised pillbox of ``radius`` pixels, anti-aliased by 4x supersampling."""
    r = max(float(radius), 0.0)
    n = int(np.ceil(r)) + 1
    sub = (np.arange(4 * (2 * n + 1)) + 0.5) / 4.0 - (n + 0.5)
    yy, xx = np.meshgrid(sub, sub, indexing="ij")
    inside = (xx**2 + yy**2 <= max(r, 0.5) ** 2).astype(np.float64)
    k = inside.reshape(2 * n + 1, 4, 2 * n + 1, 4).sum(axis=(1, 3))
    return (k / k.sum()).astype(np.float32)


def disc_blur(
    img: np.ndarray,
    sigma: np.ndarray,
    layers: int = 16,
    radius_per_sigma: float | None = None,
) -> np.ndarray:
    """Energy-conserving scatter blur with a disc PSF whose size follows the sigma map.

    The Gaussian sigma and the blur circle are tied by sigma = omega * diameter (the model's
    omega = 0.48), so a disc world and a Gaussian world have the same blur *size* at every
    pixel and differ only in shape. Each pixel is split between its two nearest radius
    layers (linear weights) and each layer is blurred once: the layered renderer's trick.
    ``radius_per_sigma`` replaces 1 / (2 omega) (2.0: a disc of the same second moment as
    the Gaussian, per-axis sd = radius / 2).
    """
    import cv2

    per = 1.0 / (2.0 * DEFAULT_OMEGA) if radius_per_sigma is None else float(radius_per_sigma)
    radius = np.asarray(sigma, dtype=np.float32) * np.float32(per)
    r_max = float(radius.max()) if radius.size else 0.0
    if r_max <= 0.0:
        return img.copy()
    levels = np.linspace(0.0, r_max, layers, dtype=np.float32)
    pos = radius / r_max * (layers - 1)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, layers - 2)
    frac = (pos - lo).astype(np.float32)
    out = np.zeros_like(img, dtype=np.float32)
    for i, r in enumerate(levels):
        w = np.where(lo == i, 1.0 - frac, 0.0) + np.where(lo + 1 == i, frac, 0.0)
        if not np.any(w):
            continue
        k = disc_kernel(float(r))
        for c in range(img.shape[0]):
            layer = (img[c] * w).astype(np.float32)
            out[c] += cv2.filter2D(layer, -1, k, borderType=cv2.BORDER_REFLECT)
    return out


def scale_about_centre(img: np.ndarray, scale: float) -> np.ndarray:
    """Magnify a (C, H, W) image about its centre (focus breathing)."""
    import cv2

    c, h, w = img.shape
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    M = np.array([[scale, 0.0, cx * (1 - scale)], [0.0, scale, cy * (1 - scale)]])
    hwc = np.ascontiguousarray(np.moveaxis(img, 0, -1))
    warped = cv2.warpAffine(hwc, M, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    warped = warped.reshape(h, w, c)
    return np.ascontiguousarray(np.moveaxis(warped, -1, 0))
