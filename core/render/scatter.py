"""Exact scatter renderer: eq. 8 of the paper, every source with its own Gaussian.

Each source pixel ``s`` spreads ``I(s)`` over a square window of half-width
``R_s = ceil(truncate * sigma_s)`` with its own normalised sampled Gaussian ``k_s(dy) k_s(dx)``
(sum 1). Mass that would fall outside the image is folded back by half-sample symmetric
reflection, so every source keeps exactly its energy *and* a constant image under a constant
sigma stays constant (folding is the adjoint of the mirror padding the fast renderers use).

Cost is what exactness costs: ``sum_s (2 R_s + 1)^2`` multiply-adds. Instead of a scatter-add
per tap (slow on CPU), each source *row* is one dense matrix product: with ``k`` the row's
per-source kernel table (W, 2P+1) and ``Kx`` the banded matrix of the same kernels
(W, W+2P), the row's contribution to output rows ``y-P..y+P`` is ``(k * I)^T @ Kx``. The zeros
outside each source's own window make the product exact; memory is bounded by one row.
"""

from __future__ import annotations

from typing import Any

import torch

from psfbench.core.render.inputs import prepare
from psfbench.core.render.kernels import (
    DEFAULT_TRUNCATE,
    gaussian_kernel_table,
    reflect_index,
    window_radius_map,
)


def _banded(k: torch.Tensor, width: int) -> torch.Tensor:
    """(N, W, 2P+1) kernel rows -> (N, W, W+2P) matrices with ``M[n, s, s + j] = k[n, s, j]``."""
    nb, n, taps = k.shape
    cols = width + taps - 1
    buf = torch.zeros(nb * n * cols, dtype=k.dtype, device=k.device)
    # Element (s, s+j) sits at s*cols + s + j = s*(cols+1) + j: a strided view of the band.
    band = torch.as_strided(buf, (nb, n, taps), (n * cols, cols + 1, 1))
    band.copy_(k)
    return buf.view(nb, n, cols)


def fold_margins(canvas: torch.Tensor, pad: int, height: int, width: int) -> torch.Tensor:
    """Fold a (C, H+2P, W+2P) canvas back into (C, H, W) by half-sample reflection."""
    dev = canvas.device
    rows = reflect_index(torch.arange(-pad, height + pad, device=dev), height)
    cols = reflect_index(torch.arange(-pad, width + pad, device=dev), width)
    c = canvas.shape[0]
    tmp = torch.zeros((c, height, canvas.shape[2]), dtype=canvas.dtype, device=dev)
    tmp.index_add_(1, rows, canvas)
    out = torch.zeros((c, height, width), dtype=canvas.dtype, device=dev)
    out.index_add_(2, cols, tmp)
    return out


def _scatter_one(
    img: torch.Tensor, sigma: torch.Tensor, truncate: float, max_elements: int = 1 << 23
) -> torch.Tensor:
    c, h, w = img.shape
    radius = window_radius_map(sigma, truncate)
    row_pad = radius.amax(dim=1).tolist()
    pad = int(max(row_pad))
    if pad == 0:
        return img.clone()
    canvas = torch.zeros((c, h + 2 * pad, w + 2 * pad), dtype=img.dtype, device=img.device)
    # Blocks of rows share one batched GEMM (fewer, larger calls); the block's widest window
    # sets its band, which costs nothing in exactness (kernels are zero beyond their own R).
    block = max(1, min(16, max_elements // (w * (w + 2 * pad))))
    for y0 in range(0, h, block):
        y1 = min(y0 + block, h)
        p = int(max(row_pad[y0:y1]))
        if p == 0:
            canvas[:, y0 + pad : y1 + pad, pad : pad + w] += img[:, y0:y1]
            continue
        k = gaussian_kernel_table(sigma[y0:y1], p, truncate)  # (n, W, 2p+1)
        left = (img[:, y0:y1, :, None] * k).permute(1, 0, 3, 2).reshape(y1 - y0, -1, w)
        contrib = torch.bmm(left, _banded(k, w)).view(y1 - y0, c, 2 * p + 1, w + 2 * p)
        for i in range(y1 - y0):
            y = y0 + i
            canvas[:, y + pad - p : y + pad + p + 1, pad - p : pad + w + p] += contrib[i]
    return fold_margins(canvas, pad, h, w)


def blur_scatter(
    image: Any,
    sigma: Any,
    *,
    truncate: float = DEFAULT_TRUNCATE,
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> torch.Tensor:
    """Paper-exact scatter blur of ``image`` with a per-pixel sigma map (pixels).

    image (H, W) or (C, H, W); sigma (H, W) -> same shape as image, (B, H, W) -> (B, C, H, W).
    ``truncate`` sets the window half-width in sigmas (paper reading: 4).
    """
    img, sig, layout = prepare(image, sigma, device=device, dtype=dtype)
    outs = [_scatter_one(img, s, truncate) for s in sig]
    return layout.restore(torch.stack(outs))
