"""The authors' published renderer, reproduced for side-by-side comparison.

Behaviour of ``gauss_psf_cuda_forward_kernel`` in ``ext/gauss_psf_cuda_kernel.cu`` of
cubhe/precise-point-spread-function-estimation, driven as ``GaussPSF(7)`` with ``ksize=5`` by
``PSFgit.py`` (see docs/rendering.md for the line-by-line reading). It differs from eq. 8:

* the optics value ``c = A |D-Df|/D F/(Df-F)`` is clamped to ``[1, c_max]`` and used as a CoC
  *diameter*: the Gaussian is ``exp(-2 d^2 / c^2) / c^2``, i.e. sigma = c / 2;
* it is a *gather*: each receiver sums its neighbours' Gaussians (each with the neighbour's own
  c) and divides by the summed weights, so energy is not conserved near depth edges;
* the window half-width is ``floor(ksize * c / 2)`` of the *receiver's* c;
* receivers with c <= 1 copy the input, and sources with c <= 1 contribute nothing.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from psfbench.core.render.inputs import prepare

#: ``GaussPSF(7)`` in the authors' script: the clamp ceiling of c.
REFCODE_C_MAX = 7.0
#: ``ksize=5`` passed by the authors' script: sets the window, half-width floor(5 c / 2).
REFCODE_KSIZE = 5


def _refcode_one(img: torch.Tensor, c_raw: torch.Tensor, c_max: float, ksize: int) -> torch.Tensor:
    _, h, w = img.shape
    c = c_raw.clamp(min=1.0, max=c_max)
    active = c > 1.0
    if not bool(active.any()):
        return img.clone()
    half = torch.floor(ksize * c / 2.0).to(torch.int64)
    half = torch.where(active, half, torch.zeros_like(half))
    hmax = int(half.max())
    # Sources outside the image or with c <= 1 carry zero weight: pad them as inactive.
    c_src = F.pad(torch.where(active, c, torch.ones_like(c)), (hmax,) * 4, value=1.0)
    img_src = F.pad(img, (hmax,) * 4)
    num = torch.zeros_like(img)
    den = torch.zeros_like(c)
    for dy in range(-hmax, hmax + 1):
        for dx in range(-hmax, hmax + 1):
            recv = active & (half >= max(abs(dy), abs(dx)))
            cs = c_src[hmax + dy : hmax + dy + h, hmax + dx : hmax + dx + w]
            g = torch.exp(-2.0 * (dy * dy + dx * dx) / (cs * cs)) / (cs * cs)
            g = torch.where(recv & (cs > 1.0), g, torch.zeros_like(g))
            num += g * img_src[:, hmax + dy : hmax + dy + h, hmax + dx : hmax + dx + w]
            den += g
    blurred = num / torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(active, blurred, img)


def blur_refcode(
    image: Any,
    coc: Any,
    *,
    c_max: float = REFCODE_C_MAX,
    ksize: int = REFCODE_KSIZE,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """The authors' gather renderer on a map of c values (the unclamped optics value).

    image (H, W) or (C, H, W); coc (H, W) -> image's shape, (B, H, W) -> (B, C, H, W).
    """
    img, cc, layout = prepare(image, coc, device=device, dtype=dtype, sigma_name="coc")
    outs = [_refcode_one(img, c, c_max, ksize) for c in cc]
    return layout.restore(torch.stack(outs))
