"""Shape and type normalisation shared by the renderers.

Renderers work internally on an image ``(C, H, W)`` and a sigma stack ``(B, H, W)``; these
helpers convert NumPy or torch inputs, remember the caller's layout so the output can be
given back in the same shape, and reject mismatches with messages that name the argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch


class RenderError(ValueError):
    """Inputs a renderer cannot use (wrong shapes, non-finite sigma, unknown option)."""


def resolve_device(device: str | torch.device | None, *inputs: Any) -> torch.device:
    if device is not None:
        return torch.device(device)
    for x in inputs:
        if isinstance(x, torch.Tensor):
            return x.device
    return torch.device("cpu")


def to_tensor(x: Any, name: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().to(device=device, dtype=dtype)
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise RenderError(f"{name}: not a numeric array ({exc})") from exc
    return torch.from_numpy(arr).to(device=device, dtype=dtype)


@dataclass(frozen=True)
class Layout:
    """How the caller shaped the inputs: restored on the way out."""

    mono: bool  # image was (H, W)
    batched: bool  # sigma was (B, H, W)

    def restore(self, out: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) -> the caller's shape."""
        if self.batched:
            return out
        out = out[0]
        return out[0] if self.mono else out


def prepare(
    image: Any,
    sigma: Any,
    *,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
    sigma_name: str = "sigma",
) -> tuple[torch.Tensor, torch.Tensor, Layout]:
    """Image -> (C, H, W), sigma -> (B, H, W), both on one device, with the caller's layout."""
    dev = resolve_device(device, image, sigma)
    img = to_tensor(image, "image", dev, dtype)
    if img.ndim == 2:
        mono, img = True, img.unsqueeze(0)
    elif img.ndim == 3:
        mono = False
    else:
        raise RenderError(f"image: expected (H, W) or (C, H, W), got shape {tuple(img.shape)}")
    sig = to_tensor(sigma, sigma_name, dev, dtype)
    if sig.ndim == 2:
        batched, sig = False, sig.unsqueeze(0)
    elif sig.ndim == 3:
        batched = True
    else:
        raise RenderError(
            f"{sigma_name}: expected (H, W) or (B, H, W), got shape {tuple(sig.shape)}"
        )
    if tuple(sig.shape[-2:]) != tuple(img.shape[-2:]):
        raise RenderError(
            f"{sigma_name}: spatial shape {tuple(sig.shape[-2:])} does not match the image's "
            f"{tuple(img.shape[-2:])}"
        )
    if sig.numel():
        lo, hi = (float(v) for v in torch.aminmax(sig))  # NaN propagates into both
        if not (math.isfinite(lo) and math.isfinite(hi)):
            raise RenderError(f"{sigma_name}: contains NaN or infinite values")
        if lo < 0:
            raise RenderError(f"{sigma_name}: contains negative values (min {lo:.4g})")
    return img, sig, Layout(mono=mono, batched=batched)
