"""Depth from focus: where along the sweep each pixel's focus curve peaks, in mm.

The focus measure of one pixel across the sweep is a bump centred on the frame whose focus
depth matches the pixel's depth. The argmax alone quantises depth to the sweep step; fitting a
parabola (or a Gaussian, i.e. a parabola in log) through the peak and its two neighbours gives
the sub-frame position. Frame positions map to focus depth through the sweep's *measured*
sensor readings d and the fitted offset e (psfbench.core.optics.focus_depth), so the depth map
inherits psfbench's calibration rather than assuming an even step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from psfbench.core.optics import focus_depth

PeakFit = Literal["gaussian", "parabolic", "none"]


@dataclass
class DepthFromFocus:
    index: torch.Tensor  # (H, W) sub-frame peak position in [0, N-1]
    confidence: torch.Tensor  # (H, W) in [0, 1]
    depth_mm: torch.Tensor | None  # (H, W) focus depth of the peak, when d/e/F were given


def subframe_peak(
    focus: torch.Tensor, method: PeakFit = "gaussian"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(index, argmax) of the (N, H, W) focus volume's peak along N, with 3-point refinement.

    Peaks on the first or last frame are not refined (one neighbour is missing).
    """
    n = focus.shape[0]
    k = focus.argmax(dim=0)
    pos = k.to(focus.dtype)
    if n < 3 or method == "none":
        return pos, k
    kc = k.clamp(1, n - 2)
    y0 = torch.gather(focus, 0, (kc - 1)[None])[0]
    y1 = torch.gather(focus, 0, kc[None])[0]
    y2 = torch.gather(focus, 0, (kc + 1)[None])[0]
    if method == "gaussian":
        tiny = torch.finfo(focus.dtype).tiny
        y0, y1, y2 = (torch.log(y.clamp_min(tiny)) for y in (y0, y1, y2))
    elif method != "parabolic":
        raise ValueError(f"unknown peak fit {method!r}: use 'gaussian', 'parabolic' or 'none'")
    denom = y0 - 2 * y1 + y2
    ok = denom < 0  # a real maximum
    delta = torch.where(ok, 0.5 * (y0 - y2) / torch.where(ok, denom, -1.0), 0.0)
    delta = delta.clamp(-0.5, 0.5)
    interior = (k >= 1) & (k <= n - 2)
    return torch.where(interior, kc.to(focus.dtype) + delta, pos), k


def focus_confidence(focus: torch.Tensor, k: torch.Tensor, floor: float = 0.1) -> torch.Tensor:
    """How much to trust each pixel's peak, in [0, 1].

    (peak - mean)/peak says whether the curve has a peak at all (0 for a flat curve);
    peak/(peak + floor * mean peak) discounts textureless pixels whose peak is noise; a peak on
    the first or last frame is halved, since the true focus may lie outside the sweep.
    """
    n = focus.shape[0]
    peak = focus.max(dim=0).values
    mean = focus.mean(dim=0)
    eps = torch.finfo(focus.dtype).eps
    contrast = (peak - mean) / (peak + eps)
    tau = floor * peak.mean() + eps
    strength = peak / (peak + tau)
    conf = contrast * strength * n / max(n - 1, 1)
    edge = (k == 0) | (k == n - 1)
    conf = torch.where(edge, 0.5 * conf, conf)
    return conf.clamp(0, 1)


def index_to_depth(
    index: torch.Tensor,
    *,
    d_mm: Sequence[float] | np.ndarray | None = None,
    e_mm: float | None = None,
    F_mm: float | None = None,
    focus_depths_mm: Sequence[float] | np.ndarray | None = None,
) -> torch.Tensor:
    """Fractional frame index -> focus depth (mm).

    With the sweep's sensor readings ``d_mm`` and the fitted ``e_mm``/``F_mm`` the index is
    interpolated in d (the quantity the motor steps, near-linear in frame number) and mapped
    through eq. 12. With only ``focus_depths_mm`` it is interpolated in 1/Df, which is linear in
    the lens-to-sensor distance.
    """
    pos = index.detach().cpu().numpy().astype(np.float64)
    if d_mm is not None:
        if e_mm is None or F_mm is None:
            raise ValueError("d_mm needs e_mm and F_mm to convert to focus depth")
        d = np.asarray(d_mm, dtype=np.float64)
        d_at = np.interp(pos, np.arange(len(d)), d)
        depth = np.asarray(focus_depth(d_at, e_mm, F_mm))
    elif focus_depths_mm is not None:
        inv = 1.0 / np.asarray(focus_depths_mm, dtype=np.float64)
        depth = 1.0 / np.interp(pos, np.arange(len(inv)), inv)
    else:
        raise ValueError("give d_mm with e_mm and F_mm, or focus_depths_mm")
    return torch.from_numpy(depth.astype(np.float32)).to(index.device)


def depth_from_focus(
    focus: torch.Tensor,
    *,
    method: PeakFit = "gaussian",
    d_mm: Sequence[float] | np.ndarray | None = None,
    e_mm: float | None = None,
    F_mm: float | None = None,
    focus_depths_mm: Sequence[float] | np.ndarray | None = None,
) -> DepthFromFocus:
    """Sub-frame focus peak, its confidence and (when the sweep is calibrated) depth in mm."""
    index, k = subframe_peak(focus, method)
    conf = focus_confidence(focus, k)
    depth = None
    if d_mm is not None or focus_depths_mm is not None:
        n = focus.shape[0]
        src = d_mm if d_mm is not None else focus_depths_mm
        if len(src) != n:  # type: ignore[arg-type]
            raise ValueError(f"sweep has {n} frames but {len(src)} distances")  # type: ignore[arg-type]
        depth = index_to_depth(
            index, d_mm=d_mm, e_mm=e_mm, F_mm=F_mm, focus_depths_mm=focus_depths_mm
        )
    return DepthFromFocus(index=index, confidence=conf, depth_mm=depth)
