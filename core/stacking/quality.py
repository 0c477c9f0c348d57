"""Fusion quality metrics: PSNR/SSIM against a true all-in-focus image, and the no-reference
gradient metric Q^AB/F (Xydeas & Petrovic 2000) generalised to N source frames.

Q^AB/F asks how much of each source's edge information (Sobel gradient strength and
orientation) survives in the fused image, weighting each pixel by how strong the source's edge
is there. With N frames of a focus stack, at any pixel the sharpest frame has the strongest
gradient and therefore dominates the weight, which is exactly the frame a good fusion should
have preserved. Definition (docs/stacking.md):

    g_n, a_n   Sobel magnitude and orientation of source n; g_F, a_F of the fused image
    G_nF     = min(g_n, g_F) / max(g_n, g_F)                 (edge strength kept)
    A_nF     = 1 - |a_n - a_F|_pi / (pi / 2)                  (orientation kept; |.|_pi folds
                                                                the difference into [0, pi/2])
    Q_nF     = Qg(G_nF) * Qa(A_nF),  Qg(x) = 0.9994 / (1 + exp(-15 (x - 0.5))),
                                     Qa(x) = 0.9879 / (1 + exp(-22 (x - 0.8)))
    Q        = sum_n sum_x Q_nF g_n^L / sum_n sum_x g_n^L,  L = 1

For N = 2 this is the original Q^AB/F. It is 1 for perfect transfer and rewards nothing that
is not in some source (invented edges lower G).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _gray(img: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) float -> (H, W) float32."""
    a = np.asarray(img, dtype=np.float32)
    if a.ndim == 2:
        return a
    if a.shape[0] == 3:
        return np.tensordot(np.array([0.299, 0.587, 0.114], np.float32), a, axes=1)
    return a.mean(axis=0)


def psnr(image: np.ndarray, truth: np.ndarray, peak: float = 1.0) -> float:
    mse = float(np.mean((np.asarray(image, np.float64) - np.asarray(truth, np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(peak * peak / mse)


def ssim(image: np.ndarray, truth: np.ndarray, peak: float = 1.0) -> float:
    """Mean SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5), averaged over channels."""
    import cv2

    a = np.asarray(image, np.float64)
    b = np.asarray(truth, np.float64)
    if a.ndim == 2:
        a, b = a[None], b[None]
    c1, c2 = (0.01 * peak) ** 2, (0.03 * peak) ** 2
    vals = []
    for x, y in zip(a, b, strict=True):

        def g(z: np.ndarray) -> np.ndarray:
            return cv2.GaussianBlur(z, (11, 11), 1.5)

        mx, my = g(x), g(y)
        sxx, syy, sxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
        num = (2 * mx * my + c1) * (2 * sxy + c2)
        den = (mx * mx + my * my + c1) * (sxx + syy + c2)
        vals.append(float(np.mean((num / den)[5:-5, 5:-5])))
    return float(np.mean(vals))


def _sobel(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    return np.hypot(gx, gy), np.arctan2(gy, gx)


def qabf(sources: Sequence[np.ndarray] | np.ndarray, fused: np.ndarray) -> float:
    """Q^AB/F of ``fused`` against N ``sources`` ((C, H, W) or (H, W) float each)."""
    gf, af = _sobel(_gray(fused))
    num = 0.0
    den = 0.0
    for src in sources:
        gs, as_ = _sobel(_gray(src))
        with np.errstate(divide="ignore", invalid="ignore"):
            G = np.where(np.maximum(gs, gf) > 0, np.minimum(gs, gf) / np.maximum(gs, gf), 1.0)
        d = np.abs(as_ - af) % np.pi
        d = np.minimum(d, np.pi - d)
        A = 1.0 - d / (np.pi / 2)
        qg = 0.9994 / (1.0 + np.exp(-15.0 * (G - 0.5)))
        qa = 0.9879 / (1.0 + np.exp(-22.0 * (A - 0.8)))
        num += float(np.sum(qg * qa * gs))
        den += float(np.sum(gs))
    return num / den if den > 0 else 0.0
