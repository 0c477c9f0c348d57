"""The models' forward model: optics -> per-frame, per-channel sigma maps -> rendered sweep.

Eqs. 5-8 of the paper with the components of :mod:`psfbench.core.psfmodels.spec`: for frame j
with sensor reading d_j, the lens-sensor distance is v = d_j + e (+ t_x x + t_y y with
``tilt``), Df = F v / (v - F), sigma = A * chroma_c * field(x, y) * |D - Df| / D * F / (Df - F);
the image is blurred through the model's shape
(:func:`psfbench.core.psfmodels.layered.layered_blur`) and, with ``breathing``, magnified
about the frame centre by m = scale0 * (1 + b (v - v_ref) / v_ref) (bilinear, mirrored
border), as the virtual bench does. Parameters are tensors here so a fit can differentiate;
:func:`render` is the numpy entry point.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from psfbench.core.psfmodels.kernels import field_factor_map
from psfbench.core.psfmodels.layered import layered_blur, mix_stack
from psfbench.core.psfmodels.spec import PsfModel


def _t(v: Any, ref: torch.Tensor) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.to(device=ref.device, dtype=ref.dtype)
    return torch.as_tensor(v, dtype=ref.dtype, device=ref.device)


def sigma_maps(
    params: Mapping[str, Any],
    depth_mm: torch.Tensor,
    d_mm: Sequence[float] | np.ndarray | torch.Tensor,
    F_mm: float,
    channels: int,
) -> torch.Tensor:
    """(M, C, H, W) sigma (px, float64) for sensor readings ``d_mm`` (M,) over ``depth_mm``
    (H, W; NaN or <= 0 -> in focus). ``params``: the model's parameters, floats, lists or
    tensors (differentiable). ``channels`` 1 uses the mean chroma factor."""
    depth = depth_mm.to(torch.float64)
    h, w = depth.shape
    d = _t(d_mm, depth).reshape(-1, 1, 1)
    v = d + _t(params["e_mm"], depth)
    if "tilt_mm" in params:
        t = _t(params["tilt_mm"], depth)
        y = torch.linspace(-1.0, 1.0, h, dtype=depth.dtype, device=depth.device)[:, None]
        x = torch.linspace(-1.0, 1.0, w, dtype=depth.dtype, device=depth.device)[None, :]
        v = v + t[0] * x + t[1] * y
    if bool((v.detach() <= F_mm).any()):
        raise ValueError(f"sigma_maps: lens-sensor distance <= F = {F_mm} mm (e too small)")
    Df = F_mm * v / (v - F_mm)
    valid = torch.isfinite(depth) & (depth > 0)
    dep = torch.where(valid, depth, torch.ones_like(depth))
    rel = (dep - Df).abs() / dep * F_mm / (Df - F_mm)
    rel = torch.where(valid, rel, torch.zeros_like(rel))
    A = _t(params["A"], depth)
    sig = A * rel  # (M, H, W)
    if "field" in params:
        sig = sig * field_factor_map(_t(params["field"], depth), h, w, dtype=depth.dtype).clamp(
            min=0.0
        )
    if "chroma" in params:
        ch = _t(params["chroma"], depth)
        if channels == 1:
            return (sig * ch.mean())[:, None]
        return sig[:, None] * ch.reshape(1, -1, 1, 1)[:, :channels]
    return sig[:, None].expand(-1, channels, -1, -1)


def magnification(
    params: Mapping[str, Any], d_mm: Any, *, ref: torch.Tensor
) -> torch.Tensor | None:
    """(M,) breathing magnification per frame, or None without ``breathing``."""
    if "breathing" not in params:
        return None
    d = _t(d_mm, ref).reshape(-1)
    v = d + _t(params["e_mm"], ref)
    v_ref = _t(params["v_ref_mm"], ref)
    v_ref = torch.where(v_ref > 0, v_ref, v.detach().mean())
    return _t(params["scale0"], ref) * (1.0 + _t(params["breathing"], ref) * (v - v_ref) / v_ref)


def magnify(images: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Magnify (M, C, H, W) images about their centres by ``scale`` (M,) (bilinear, mirrored
    border; differentiable in ``scale``), as core/bench/psf.py's scale_about_centre does."""
    m, _, h, w = images.shape
    dt = images.dtype
    ys = torch.linspace(-1.0, 1.0, h, dtype=dt, device=images.device)
    xs = torch.linspace(-1.0, 1.0, w, dtype=dt, device=images.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    s = scale.to(dt).reshape(-1, 1, 1)
    grid = torch.stack([gx[None] / s, gy[None] / s], dim=-1)
    return torch.nn.functional.grid_sample(
        images, grid, mode="bilinear", padding_mode="reflection", align_corners=True
    )


def render_t(
    params: Mapping[str, Any],
    aif: torch.Tensor,
    depth_mm: torch.Tensor,
    d_mm: Any,
    F_mm: float,
    *,
    mode: str = "scatter",
    stack: tuple[list[float], torch.Tensor] | None = None,
) -> torch.Tensor:
    """(M, C, H, W) rendered frames of ``aif`` (C, H, W) for readings ``d_mm`` (M,).

    ``stack``: (levels, blurred stack) from :func:`psfbench.core.psfmodels.layered.blur_stack`,
    reused across calls by a fit whose shape does not change (gather model, sigma clamped to
    the top level)."""
    sig = sigma_maps(params, depth_mm, d_mm, F_mm, aif.shape[0]).to(aif.dtype)
    edge = params.get("edge")
    if stack is not None:
        out = mix_stack(stack[1], stack[0], sig)
    else:
        out = layered_blur(aif, sig, edge, mode=mode)
    mag = magnification(params, d_mm, ref=out)
    if mag is not None:
        out = magnify(out, mag)
    return out


def render(
    model: PsfModel,
    aif: np.ndarray,
    depth_mm: np.ndarray,
    d_mm: Sequence[float] | np.ndarray,
    F_mm: float,
    *,
    device: str | torch.device | None = None,
    mode: str = "scatter",
) -> np.ndarray:
    """Render a focus sweep through ``model``: aif (C, H, W) or (H, W) float in [0, 1], depth
    (H, W) mm (NaN = in focus), sensor readings ``d_mm`` (M,) -> float32 (M, C, H, W) (or
    (M, H, W) for a 2-D aif). Raises ValueError for bad shapes or e <= F - d."""
    dev = torch.device(device) if device is not None else torch.device("cpu")
    img = torch.as_tensor(np.asarray(aif, dtype=np.float32), device=dev)
    flat = img.ndim == 2
    if flat:
        img = img[None]
    depth = torch.as_tensor(np.asarray(depth_mm, dtype=np.float64), device=dev)
    if depth.shape != img.shape[-2:]:
        raise ValueError(f"render: depth {tuple(depth.shape)} != image {tuple(img.shape[-2:])}")
    with torch.no_grad():
        out = render_t(model.params, img, depth, np.asarray(d_mm, np.float64), F_mm, mode=mode)
    res = out.cpu().numpy().astype(np.float32)
    return res[:, 0] if flat else res
