"""One entry point for the three renderers: optics in, rendered focus stack out."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from psfbench.core import optics
from psfbench.core.render.inputs import RenderError, resolve_device, to_tensor
from psfbench.core.render.layered import blur_layered
from psfbench.core.render.refcode import blur_refcode
from psfbench.core.render.scatter import blur_scatter

METHODS = ("layered", "scatter", "refcode")


def render(
    aif: Any,
    depth_mm: Any,
    focus_depth_mm: float | Sequence[float] | np.ndarray | torch.Tensor,
    A: float,
    F_mm: float,
    *,
    method: str = "layered",
    device: str | torch.device | None = None,
    **opts: Any,
) -> torch.Tensor:
    """Render ``aif`` as focused at ``focus_depth_mm`` through the Gaussian PSF of eqs. 5-8.

    aif (H, W) or (C, H, W) in [0, 1]; depth_mm (H, W), NaN = unknown (rendered in focus).
    A scalar focus depth returns aif's shape; a sequence of B returns (B, C, H, W).
    ``method``: ``layered`` (fast, default), ``scatter`` (paper-exact eq. 8) or ``refcode``
    (the authors' code, where the optics value is a CoC diameter c and sigma = c/2).
    ``opts`` go to the method's blur function (e.g. ``accuracy_db``, ``truncate``, ``c_max``).
    """
    if method not in METHODS:
        raise RenderError(f"method: unknown {method!r}, use one of {METHODS}")
    dev = resolve_device(device, aif, depth_mm)
    depth = to_tensor(depth_mm, "depth_mm", dev, torch.float64)
    if depth.ndim != 2:
        raise RenderError(f"depth_mm: expected (H, W), got shape {tuple(depth.shape)}")
    fd = to_tensor(focus_depth_mm, "focus_depth_mm", dev, torch.float64)
    if fd.ndim > 1:
        raise RenderError(f"focus_depth_mm: expected a scalar or a 1-D sequence, got {fd.shape}")
    batched = fd.ndim == 1
    if batched and fd.numel() == 0:
        raise RenderError("focus_depth_mm: empty sequence")
    sigma = optics.sigma_map(depth, fd.reshape(-1, 1, 1), float(A), float(F_mm)).float()
    image = to_tensor(aif, "aif", dev, torch.float32)
    if batched and image.ndim == 2:
        image = image.unsqueeze(0)
    sig: torch.Tensor = sigma if batched else sigma[0]
    if method == "layered":
        return blur_layered(image, sig, device=dev, **opts)
    if method == "scatter":
        return blur_scatter(image, sig, device=dev, **opts)
    return blur_refcode(image, sig, device=dev, **opts)
