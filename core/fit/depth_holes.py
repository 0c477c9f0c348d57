"""Holes in a measured depth map: what to render there, and which pixels not to trust.

A structured-light depth map has holes: surfaces the projector does not light or the camera
sees only from one side (occlusion shadows), specular or dark spots. The lens still blurs
whatever is there, so a fit cannot simply treat a hole as sharp (sigma 0): measured on frames
rendered through the true depth (issue 11), that made every hole's neighbourhood look too
sharp to the fit, which answered with an A 5-8 % too high.

Two steps, both per connected hole:

1. **Render through a plausible depth** (:func:`fill_holes`). An occlusion hole is, physically,
   the *farther* surface seen past the nearer one's edge, so the hole is filled from its far
   rim: each hole pixel takes the largest depth found on the hole's rim (the valid pixels
   touching it) within a radius that reaches across the hole (twice the hole's largest
   inscribed distance, plus one), not a smooth blend across the edge. The nearest rim depth
   in the same window is kept too (``near``): the hole's true depth lies between the two.
2. **Leave out what the guess can reach** (:func:`hole_band_masks`): light from a hole pixel
   q reaches pixels within ``reach_sigmas * sigma(q)`` (plus a margin for the fit's
   pre-filter), with sigma the blur of the far fill in that frame (what is rendered; the
   larger of the far and near fills on request). Those pixels
   and the hole itself are excluded from the losses of that frame; the rest of the image still
   sees the hole's light rendered through the far fill, which is where it most likely belongs.

Limits: a hole that is not an occlusion (a dark or specular patch *on* a surface) is filled
with its rim's farther side, which is wrong by the surface's depth change across the patch;
the band then covers the error as long as the patch is smaller than the blur. A hole wider
than the whole image's blur leaves few pixels: the fit reports the fraction used per frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

#: Radii (px) the band masks are quantised up to: exact to 8 px, then steps of at most 25 %
#: (15 % from 16 px on).
_RADII = (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 19, 22, 26, 30, 35, 41, 48, 56, 65, 76, 88, 102)


@dataclass(frozen=True)
class HoleFill:
    """A depth map with its holes filled. All (H, W); depths in mm, float32 tensors.

    ``holes``: True where the measured depth was NaN (or non-positive). ``far``: the depth to
    render with (measured where valid, the hole's far rim elsewhere). ``near``: the same with
    the hole's near rim, the other bound of what the hole may hold.
    """

    holes: torch.Tensor
    far: torch.Tensor
    near: torch.Tensor

    @property
    def fraction(self) -> float:
        return float(self.holes.float().mean())


def fill_holes(depth_mm: torch.Tensor | np.ndarray) -> HoleFill:
    """Fill every hole (NaN or <= 0) of an (H, W) depth map from its far rim (module doc).

    Each connected hole (8-connectivity) is filled from its *own* rim only (the valid pixels
    touching it), so a neighbouring hole's rim never leaks in. Raises ValueError if the map
    has no valid pixel. Cost: a few OpenCV calls per hole on its bounding box.
    """
    d_t = torch.as_tensor(depth_mm)
    dev = d_t.device
    depth = d_t.detach().to("cpu", torch.float32).numpy()
    holes = ~(np.isfinite(depth) & (depth > 0))
    if holes.all():
        raise ValueError("depth map has no valid pixel: nothing to fill its holes from")
    if not holes.any():
        t = torch.as_tensor(depth, device=dev)
        return HoleFill(torch.zeros(depth.shape, dtype=torch.bool, device=dev), t, t)
    holes_u8 = holes.astype(np.uint8)
    # distance to the nearest valid pixel; per hole the largest, which is half its width
    dist = cv2.distanceTransform(holes_u8, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    n_lab, labels, stats, _ = cv2.connectedComponentsWithStats(holes_u8, connectivity=8)
    widest = np.zeros(n_lab, np.float32)
    np.maximum.at(widest, labels[holes], dist[holes])
    far = np.where(holes, 0.0, depth).astype(np.float32)
    near = far.copy()
    h, w = depth.shape
    ring = np.ones((3, 3), np.uint8)
    for c in range(1, n_lab):
        x, y, bw, bh = (int(v) for v in stats[c, :4])
        r = int(np.ceil(2.0 * widest[c])) + 1  # reaches across the hole from any pixel
        y0, y1, x0, x1 = (
            max(y - r - 1, 0),
            min(y + bh + r + 1, h),
            max(x - r - 1, 0),
            min(x + bw + r + 1, w),
        )
        comp = labels[y0:y1, x0:x1] == c
        valid = ~holes[y0:y1, x0:x1]
        rim = (cv2.dilate(comp.astype(np.uint8), ring) > 0) & valid
        vals = depth[y0:y1, x0:x1]
        window = np.ones((2 * r + 1, 2 * r + 1), np.uint8)
        hi = cv2.dilate(np.where(rim, vals, 0.0).astype(np.float32), window)
        lo = cv2.erode(np.where(rim, vals, np.inf).astype(np.float32), window)
        far[y0:y1, x0:x1][comp] = hi[comp]
        near[y0:y1, x0:x1][comp] = lo[comp]
    return HoleFill(
        torch.as_tensor(holes, device=dev),
        torch.as_tensor(far, device=dev),
        torch.as_tensor(near, device=dev),
    )


def _radius_levels(r_max: int) -> list[int]:
    levels = [r for r in _RADII if r < r_max]
    top = levels[-1] if levels else 0
    while top < r_max:
        top = max(top + 1, math.ceil(top * 1.15))
        levels.append(top)
    return levels


def hole_band_masks(
    holes: torch.Tensor,
    reach_px: torch.Tensor,
) -> torch.Tensor:
    """Pixels a hole's light can reach, per frame: (M, H, W) bool, True = exclude.

    ``holes`` (H, W) bool; ``reach_px`` (M, H, W) float, how far (px) light from each pixel
    may spread in each frame (read at hole pixels only; e.g. ``reach_sigmas * sigma + margin``).
    A pixel p is excluded from frame m if some hole pixel q has ``|p - q| <= reach_px[m, q]``
    (Euclidean), or is itself a hole. Radii are rounded up to a ladder (exact to 8 px, then
    <= 25 % steps), so the band is never narrower than asked.
    """
    h_np = holes.detach().cpu().numpy().astype(bool)
    m = reach_px.shape[0]
    out = np.zeros((m, *h_np.shape), bool)
    if not h_np.any():
        return torch.as_tensor(out, device=holes.device)
    reach = reach_px.detach().to("cpu", torch.float32).numpy()
    for i in range(m):
        r_q = np.ceil(np.maximum(reach[i][h_np], 0.0)).astype(np.int64)
        excl = h_np.copy()
        levels = _radius_levels(int(r_q.max()) if r_q.size else 0)
        level_of = np.searchsorted(np.asarray(levels), r_q, side="left")  # smallest level >= r
        qy, qx = np.nonzero(h_np)
        for j, lev in enumerate(levels):
            sel = level_of == j
            if not sel.any():
                continue
            seeds = np.ones(h_np.shape, np.uint8)
            seeds[qy[sel], qx[sel]] = 0
            dist = cv2.distanceTransform(seeds, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
            excl |= dist <= lev
        out[i] = excl
    return torch.as_tensor(out, device=holes.device)
