"""Energy-conserving layered scatter blur with any model kernel (torch, differentiable).

The scatter model (paper eq. 8) with a spatially varying PSF is linear in the image for a fixed
sigma map, so every pixel is split between the two sigma levels around it with weights linear
in *variance* (which keeps the mixture's second moment equal to the pixel's sigma^2), each
layer is blurred once with its level's kernel (:func:`psfbench.core.psfmodels.kernels.shape_kernel`)
and the layers are summed: the layered renderer's approach (core/render/layered.py) with any
kernel. Convolutions are FFTs of the half-sample mirror-padded image (OpenCV's
BORDER_REFLECT), accumulated in the frequency domain: one inverse FFT per image.
``mode="gather"`` blurs the whole image once per level and mixes the blurred images per pixel
(each output pixel takes the PSF of its own sigma): L FFTs whatever the number of sigma maps;
it differs from the scatter model only near depth edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from psfbench.core.psfmodels.kernels import shape_kernel

#: Ratio between neighbouring sigma levels from 1 px up (finer below).
LEVEL_RATIO = 1.15


def sigma_levels(sigma_max: float) -> list[float]:
    """Level ladder 0, 0.25, 0.5, 0.75, 1, then x LEVEL_RATIO up to >= sigma_max (px)."""
    levels = [0.0, 0.25, 0.5, 0.75, 1.0]
    while levels[-1] < sigma_max:
        levels.append(levels[-1] * LEVEL_RATIO)
    n = next((i for i, s in enumerate(levels) if s >= sigma_max), len(levels) - 1)
    return levels[: max(n + 1, 2)]


def level_weights(sigma: torch.Tensor, levels: list[float]) -> tuple[torch.Tensor, torch.Tensor]:
    """(lower level index, weight of the lower level), linear in sigma^2 (differentiable)."""
    lv = torch.as_tensor(levels, dtype=sigma.dtype, device=sigma.device)
    s = sigma.clamp(0.0, levels[-1])
    hi = torch.searchsorted(lv, s.detach().contiguous(), right=True).clamp(1, len(levels) - 1)
    lo = hi - 1
    v0, v1 = lv[lo] ** 2, lv[hi] ** 2
    w_lo = ((v1 - s * s) / (v1 - v0)).clamp(0.0, 1.0)
    return lo, w_lo


def _mirror_index(n: int, pad: int, device: Any) -> torch.Tensor:
    i = torch.arange(-pad, n + pad, device=device)
    j = torch.remainder(i, 2 * n)
    return torch.where(j < n, j, 2 * n - 1 - j)


def mirror_pad(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Half-sample symmetric padding of the last two dims (any pad, folding repeatedly)."""
    h, w = x.shape[-2:]
    x = x.index_select(-2, _mirror_index(h, pad, x.device))
    return x.index_select(-1, _mirror_index(w, pad, x.device))


def _spectrum(k: torch.Tensor, hp: int, wp: int) -> torch.Tensor:
    r = k.shape[-1] // 2
    full = torch.zeros(hp, wp, dtype=k.dtype, device=k.device)
    full[: 2 * r + 1, : 2 * r + 1] = k
    full = torch.roll(full, shifts=(-r, -r), dims=(0, 1))
    return torch.fft.rfft2(full)


def blur_stack(
    image: torch.Tensor, levels: list[float], edge: torch.Tensor | float | None = None
) -> torch.Tensor:
    """(L, C, H, W): ``image`` (C, H, W) blurred once by every level's kernel (the gather
    model's stack; differentiable in ``edge``)."""
    c, h, w = image.shape
    e = edge.to(torch.float64) if isinstance(edge, torch.Tensor) else edge
    kernels = [shape_kernel(s, e) for s in levels]
    pad = max(k.shape[-1] // 2 for k in kernels)
    hp, wp = h + 2 * pad, w + 2 * pad
    f_img = torch.fft.rfft2(mirror_pad(image, pad))
    specs = torch.stack([_spectrum(k.to(image.dtype), hp, wp) for k in kernels])
    out = torch.fft.irfft2(f_img[None] * specs[:, None], s=(hp, wp))
    return out[..., pad : pad + h, pad : pad + w]


def mix_stack(stack: torch.Tensor, levels: list[float], sigma: torch.Tensor) -> torch.Tensor:
    """Gather model: each pixel of (B, C, H, W) ``sigma`` takes the stack (L, C, H, W) at its
    sigma, linear in variance between the two levels around it (sigma clamped to the top)."""
    lo, w_lo = level_weights(sigma, levels)
    b = sigma.shape[0]
    st = stack[None].expand(b, *stack.shape)
    s_lo = torch.gather(st, 1, lo[:, None])[:, 0]
    s_hi = torch.gather(st, 1, (lo + 1)[:, None])[:, 0]
    return w_lo * s_lo + (1.0 - w_lo) * s_hi


def layered_blur(
    image: torch.Tensor,
    sigma: torch.Tensor,
    edge: torch.Tensor | float | None = None,
    *,
    mode: str = "scatter",
) -> torch.Tensor:
    """Blur ``image`` (C, H, W) float by per-pixel sigma maps ``sigma`` (B, C, H, W) or
    (B, H, W) px, with the disc shape of ``edge`` (None: Gaussian). Returns (B, C, H, W) in
    ``image``'s dtype; differentiable in ``sigma`` and ``edge``. Raises ValueError on shapes."""
    if image.ndim != 3:
        raise ValueError(f"layered_blur: image must be (C, H, W), got {tuple(image.shape)}")
    c, h, w = image.shape
    if sigma.ndim == 3:
        sigma = sigma[:, None].expand(-1, c, -1, -1)
    if sigma.ndim != 4 or sigma.shape[1] not in (1, c) or sigma.shape[-2:] != (h, w):
        raise ValueError(
            f"layered_blur: sigma must be (B, C, H, W) or (B, H, W) for image {tuple(image.shape)},"
            f" got {tuple(sigma.shape)}"
        )
    if mode not in ("scatter", "gather"):
        raise ValueError(f"layered_blur: mode {mode!r}, use 'scatter' or 'gather'")
    sigma = sigma.expand(-1, c, -1, -1).to(image.dtype)
    smax = float(sigma.detach().max()) if sigma.numel() else 0.0
    levels = sigma_levels(smax)
    e = edge
    if isinstance(e, torch.Tensor):
        e = e.to(torch.float64)
    kernels = [shape_kernel(s, e) for s in levels]
    pad = max(k.shape[-1] // 2 for k in kernels)
    hp, wp = h + 2 * pad, w + 2 * pad
    lo, w_lo = level_weights(sigma, levels)
    if mode == "gather":
        return mix_stack(blur_stack(image, levels, e), levels, sigma)
    acc: torch.Tensor | None = None
    for i, k in enumerate(kernels):
        wi = torch.where(lo == i, w_lo, torch.zeros_like(w_lo)) + torch.where(
            lo == i - 1, 1.0 - w_lo, torch.zeros_like(w_lo)
        )
        if not bool((wi.detach() != 0).any()):
            continue
        spec = _spectrum(k.to(image.dtype), hp, wp)
        layer = mirror_pad(image[None] * wi, pad)
        term_f = torch.fft.rfft2(layer) * spec
        acc = term_f if acc is None else acc + term_f
    if acc is None:
        return torch.zeros_like(sigma)
    out = torch.fft.irfft2(acc, s=(hp, wp))[..., pad : pad + h, pad : pad + w]
    return out.to(image.dtype)


def blur(
    image: np.ndarray | torch.Tensor,
    sigma_map: np.ndarray | torch.Tensor,
    model: Any,
    device: str | torch.device | None = None,
    *,
    mode: str = "scatter",
) -> np.ndarray:
    """Blur an (H, W) or (C, H, W) float32 image through ``model``'s PSF (numpy in and out).

    ``sigma_map`` (H, W) px is eq. 7's sigma with the model's base A; the model's channel
    factors (``chromatic``; a 2-D image uses the mean factor), field factor (``field``) and
    shape (``disc``) are applied here. Energy-conserving scatter (:func:`layered_blur`).
    ``device``: torch device (None: CPU). Returns float32 of the input's shape.
    """
    from psfbench.core.psfmodels.kernels import field_factor_map

    dev = torch.device(device) if device is not None else torch.device("cpu")
    img = torch.as_tensor(np.asarray(image, dtype=np.float32), device=dev)
    flat = img.ndim == 2
    if flat:
        img = img[None]
    if img.ndim != 3:
        raise ValueError(f"blur: image must be (H, W) or (C, H, W), got {tuple(img.shape)}")
    sig = torch.as_tensor(np.asarray(sigma_map, dtype=np.float32), device=dev)
    if sig.shape != img.shape[-2:]:
        raise ValueError(f"blur: sigma_map {tuple(sig.shape)} != image {tuple(img.shape[-2:])}")
    sig = torch.nan_to_num(sig, nan=0.0).clamp(min=0.0)
    c, h, w = img.shape
    if "field" in model.params:
        sig = sig * field_factor_map(model.params["field"], h, w, device=dev).clamp(min=0.0)
    factors = [model.channel_factor(-1 if flat else ch) for ch in range(c)]
    sig_c = torch.stack([sig * f for f in factors])[None]
    edge = model.params.get("edge")
    out = layered_blur(img, sig_c, None if edge is None else float(edge), mode=mode)[0]
    res = out.cpu().numpy().astype(np.float32)
    return res[0] if flat else res
