"""Energy-conserving layered scatter blur with any model kernel (torch, differentiable).

The scatter model (paper eq. 8) with a spatially varying PSF is linear in the image for a fixed
sigma map, so every pixel is split between the two sigma levels around it with weights linear
in *variance* (which keeps the mixture's second moment equal to the pixel's sigma^2), each
layer is blurred once with its level's kernel (:func:`psfbench.core.psfmodels.kernels.shape_kernel`)
and the layers are summed: the layered renderer's approach (core/render/layered.py) with any
kernel. Convolutions are FFTs of the half-sample mirror-padded image (OpenCV's
BORDER_REFLECT), accumulated in the frequency domain: one inverse FFT per image. That
extension is periodic (period twice the image), so a blur wider than half the image is done
on one period with the kernel wrapped onto it (:class:`FftGrid`): the FFT size stops growing
with sigma (a 96x128 sweep at sigma 27 px: 192x256 instead of 312x344 points).
``mode="gather"`` blurs the whole image once per level and mixes the blurred images per pixel
(each output pixel takes the PSF of its own sigma): L FFTs whatever the number of sigma maps;
it differs from the scatter model only near depth edges.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.fft import next_fast_len

from psfbench.core.psfmodels.kernels import shape_kernel

#: Ratio between neighbouring sigma levels from 1 px up (finer below).
LEVEL_RATIO = 1.15
#: Levels transformed together by the scatter blur (bounds its memory: this many layers of
#: every image at the FFT size, complex).
LEVELS_PER_BATCH = 8


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


class _FftAxis:
    """How one image axis of length n is extended for an FFT convolution whose kernel reaches
    ``pad`` px: the half-sample symmetric extension (OpenCV's BORDER_REFLECT, folded as often
    as needed) is periodic with period 2n, so when the mirror padding would be at least as
    long as that, one period is transformed and the kernel's taps are wrapped onto it
    (``periodic``: exact, and the size no longer grows with the blur); otherwise the image is
    mirror-padded by ``pad`` and zero-filled up to a fast FFT length (the crop never reaches
    the zeros: it sees at most ``pad`` px beyond the image)."""

    def __init__(self, n: int, pad: int, device: Any, *, periodic: bool = True) -> None:
        self.n = n
        self.periodic = periodic and n + 2 * pad >= 2 * n
        if self.periodic:
            self.size, self.offset = 2 * n, 0
            i = torch.arange(2 * n, device=device)
            self.index = torch.where(i < n, i, 2 * n - 1 - i)
        else:
            self.size, self.offset = next_fast_len(n + 2 * pad, real=True), pad
            self.index = _mirror_index(n, pad, device)

    def extend(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        y = x.index_select(dim, self.index)
        extra = self.size - int(self.index.numel())
        if extra:
            shape = list(y.shape)
            shape[dim] = extra
            y = torch.cat([y, y.new_zeros(shape)], dim=dim)
        return y

    def tap_positions(self, radius: int, device: Any) -> torch.Tensor:
        """Where the taps -radius..radius of a centred kernel land (wrapped mod the size)."""
        return torch.remainder(torch.arange(-radius, radius + 1, device=device), self.size)


class FftGrid:
    """The FFT frame of (H, W) images blurred by kernels of radius <= ``pad`` px with
    half-sample symmetric borders: :meth:`extend` the images, multiply their ``rfft2`` by
    :meth:`spectrum` of each kernel, ``irfft2`` at :attr:`shape` and :meth:`crop`. The result
    equals a direct convolution of the mirror-extended image (tests/psfmodels/test_blur_fft.py
    checks it against scipy.ndimage in 'reflect' mode). ``periodic=False`` always mirror-pads
    (the frame before the one-period shortcut; benchmarks/model_render.py compares them)."""

    def __init__(self, h: int, w: int, pad: int, device: Any, *, periodic: bool = True) -> None:
        self.rows = _FftAxis(h, pad, device, periodic=periodic)
        self.cols = _FftAxis(w, pad, device, periodic=periodic)
        self.shape = (self.rows.size, self.cols.size)

    def extend(self, x: torch.Tensor) -> torch.Tensor:
        return self.cols.extend(self.rows.extend(x, -2), -1)

    def crop(self, y: torch.Tensor) -> torch.Tensor:
        r, c = self.rows, self.cols
        return y[..., r.offset : r.offset + r.n, c.offset : c.offset + c.n]

    def spectrum(self, k: torch.Tensor) -> torch.Tensor:
        """rfft2 of the (2r+1, 2r+1) kernel ``k`` centred at the origin of the frame (its
        taps summed where they wrap; differentiable in ``k``)."""
        r = k.shape[-1] // 2
        hp, wp = self.shape
        ii = self.rows.tap_positions(r, k.device)
        jj = self.cols.tap_positions(r, k.device)
        flat = (ii[:, None] * wp + jj[None, :]).reshape(-1)
        full = torch.zeros(hp * wp, dtype=k.dtype, device=k.device)
        full = full.index_add(0, flat, k.reshape(-1)).reshape(hp, wp)
        return torch.fft.rfft2(full)


def blur_stack(
    image: torch.Tensor, levels: list[float], edge: torch.Tensor | float | None = None
) -> torch.Tensor:
    """(L, C, H, W): ``image`` (C, H, W) blurred once by every level's kernel (the gather
    model's stack; differentiable in ``edge``)."""
    c, h, w = image.shape
    e = edge.to(torch.float64) if isinstance(edge, torch.Tensor) else edge
    kernels = [shape_kernel(s, e) for s in levels]
    grid = FftGrid(h, w, max(k.shape[-1] // 2 for k in kernels), image.device)
    f_img = torch.fft.rfft2(grid.extend(image))
    specs = torch.stack([grid.spectrum(k.to(image.dtype)) for k in kernels])
    out = torch.fft.irfft2(f_img[None] * specs[:, None], s=grid.shape)
    return grid.crop(out)


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
    if mode == "gather":
        return mix_stack(blur_stack(image, levels, e), levels, sigma)
    kernels = [shape_kernel(s, e) for s in levels]
    grid = FftGrid(h, w, max(k.shape[-1] // 2 for k in kernels), image.device)
    lo, w_lo = level_weights(sigma, levels)
    # every pixel's two level weights, scattered into (L, B, C, H, W) in two ops
    weights = torch.zeros((len(levels), *sigma.shape), dtype=w_lo.dtype, device=w_lo.device)
    weights = weights.scatter_add(0, lo[None], w_lo[None])
    weights = weights.scatter_add(0, (lo + 1).clamp(max=len(levels) - 1)[None], 1.0 - w_lo[None])
    used = (weights.detach() != 0).reshape(len(levels), -1).any(dim=1)
    used_levels = [int(i) for i in torch.nonzero(used).reshape(-1).tolist()]
    acc: torch.Tensor | None = None
    for g0 in range(0, len(used_levels), LEVELS_PER_BATCH):
        group = used_levels[g0 : g0 + LEVELS_PER_BATCH]
        idx = torch.as_tensor(group, device=weights.device)
        layers = grid.extend(image[None, None] * weights.index_select(0, idx))
        specs = torch.stack([grid.spectrum(kernels[i].to(image.dtype)) for i in group])
        term_f = (torch.fft.rfft2(layers) * specs[:, None, None]).sum(dim=0)
        acc = term_f if acc is None else acc + term_f
    if acc is None:
        return torch.zeros_like(sigma)
    out = grid.crop(torch.fft.irfft2(acc, s=grid.shape))
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
