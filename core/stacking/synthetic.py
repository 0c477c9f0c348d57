"""Small layered focus stacks with exact ground truth, for tests and as a benchmark fallback.

Each scene is a few fronto-parallel textured planes; nearer planes occlude farther ones through
soft-edged shapes. A frame focused at Df composites the planes back to front, each plane *and
its mask* blurred with the Gaussian PSF of its depth (sigma from psfbench.core.optics.sigma_map).
That is the occlusion model behind the focus-stacking seed's eq. 4: a blurred foreground spreads
over the sharp background near the boundary (the transition-region problem), which a per-pixel
gather blur would not reproduce.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psfbench.core.optics import sigma_map


@dataclass
class SyntheticStack:
    frames: np.ndarray  # (N, C, H, W) float32
    aif: np.ndarray  # (C, H, W) float32
    depth_mm: np.ndarray  # (H, W) float32
    focus_depths_mm: np.ndarray  # (N,)
    plane_depths_mm: np.ndarray  # (L,) near to far
    A: float
    F_mm: float


def _blur(img: np.ndarray, sigma: float) -> np.ndarray:
    import cv2

    if sigma < 0.05:
        return img
    return cv2.GaussianBlur(img, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)


def texture(h: int, w: int, channels: int, rng: np.random.Generator) -> np.ndarray:
    """Multi-scale coloured noise plus a few hard-edged blobs: detail at every frequency."""
    import cv2

    out = np.zeros((h, w, channels), np.float32)
    for s, amp in ((0.7, 0.35), (2.0, 0.35), (6.0, 0.3)):
        noise = rng.standard_normal((h, w, channels)).astype(np.float32)
        smooth = np.asarray(cv2.GaussianBlur(noise, (0, 0), s)).reshape(h, w, channels)
        out += amp * smooth / (smooth.std() + 1e-6)
    for _ in range(6):
        cx, cy, r = rng.integers(0, w), rng.integers(0, h), rng.integers(4, max(5, h // 6))
        disc = np.zeros((h, w), np.float32)
        cv2.circle(disc, (int(cx), int(cy)), int(r), 1.0, -1)
        out += 0.6 * disc[..., None] * rng.uniform(-1, 1, channels).astype(np.float32)
    out = 0.5 + 0.15 * out
    return np.clip(out, 0.02, 0.98).transpose(2, 0, 1)


def make_plane_stack(
    h: int = 96,
    w: int = 128,
    *,
    channels: int = 3,
    planes: int = 3,
    frames: int | None = None,
    A: float = 300.0,
    F_mm: float = 50.0,
    near_mm: float = 400.0,
    far_mm: float = 600.0,
    seed: int = 0,
) -> SyntheticStack:
    """A stack focused at each plane depth (or ``frames`` depths spanning near..far)."""
    import cv2

    rng = np.random.default_rng(seed)
    depths = np.linspace(near_mm, far_mm, planes)
    texs = [texture(h, w, channels, rng) for _ in range(planes)]
    masks = []
    for k in range(planes):
        if k == planes - 1:
            masks.append(np.ones((h, w), np.float32))
            continue
        m = np.zeros((h, w), np.float32)
        for _ in range(2):
            cx, cy = int(rng.integers(w // 5, 4 * w // 5)), int(rng.integers(h // 5, 4 * h // 5))
            ax = (int(rng.integers(w // 10, w // 4)), int(rng.integers(h // 10, h // 4)))
            cv2.ellipse(m, (cx, cy), ax, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
        masks.append(m)
    focus = depths if frames is None else np.linspace(near_mm, far_mm, frames)
    aif = np.zeros((channels, h, w), np.float32)
    depth = np.zeros((h, w), np.float32)
    for k in reversed(range(planes)):
        aif = masks[k] * texs[k] + (1 - masks[k]) * aif
        depth = np.where(masks[k] > 0.5, depths[k], depth).astype(np.float32)
    stack = np.zeros((len(focus), channels, h, w), np.float32)
    for i, df in enumerate(focus):
        img = np.zeros((channels, h, w), np.float32)
        for k in reversed(range(planes)):
            s = float(sigma_map(float(depths[k]), float(df), A, F_mm))
            mk = _blur(masks[k], s)
            tk = np.stack([_blur(masks[k] * c, s) for c in texs[k]])
            img = tk + (1 - mk) * img
        stack[i] = np.clip(img, 0, 1)
    return SyntheticStack(
        frames=stack,
        aif=aif,
        depth_mm=depth,
        focus_depths_mm=np.asarray(focus, float),
        plane_depths_mm=depths,
        A=A,
        F_mm=F_mm,
    )
