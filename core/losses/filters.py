"""Small image filters written as sums of shifted slices.

Shifted sums instead of ``conv2d``: on CUDA, cuDNN convolutions may run in TF32 (10-bit
mantissa), which breaks SSIM's E[x^2] - mu^2 cancellation and the exact integer Laplacian the
reference preset needs; slices and adds are exact in the compute dtype on every device, so CPU
and GPU agree to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

#: BT.601 luma weights (R, G, B).
LUMA_601 = (0.299, 0.587, 0.114)
#: OpenCV's fixed-point BT.601 for 8-bit images: (R*9798 + G*19235 + B*3735 + 2^14) >> 15
#: (checked bit-exact against cv2.cvtColor(RGB2GRAY) in the tests).
_LUMA_601_Q15 = (9798.0, 19235.0, 3735.0)


def to_gray(x: torch.Tensor, *, color: str, quantize_u8: bool, dtype: torch.dtype) -> torch.Tensor:
    """(..., C, H, W) in [0, 1] -> (..., K, H, W): K = 1 for luma, C for per-channel terms."""
    x = x.to(dtype)
    c = x.shape[-3]
    if quantize_u8:
        x = torch.round(x.clamp(0.0, 1.0) * 255.0)
    if color == "channels" or c == 1:
        return x
    if c != 3:
        raise ValueError(f"luminance needs 1 or 3 channels, got {c} (use color='channels')")
    r, g, b = x[..., 0:1, :, :], x[..., 1:2, :, :], x[..., 2:3, :, :]
    if quantize_u8:
        wr, wg, wb = _LUMA_601_Q15
        return torch.floor((wr * r + wg * g + wb * b + 16384.0) / 32768.0)
    wr, wg, wb = LUMA_601
    return wr * r + wg * g + wb * b


def pad(x: torch.Tensor, r: int, mode: str, value: float = 0.0) -> torch.Tensor:
    """Pad the last two dims by r; 'reflect' is OpenCV's BORDER_REFLECT_101."""
    shape = x.shape
    x4 = x.reshape(-1, 1, shape[-2], shape[-1])
    if mode == "reflect":
        if min(shape[-2], shape[-1]) <= r:
            raise ValueError(
                f"image of {shape[-2]}x{shape[-1]} px is too small for a {2 * r + 1} px window"
            )
        y = F.pad(x4, (r, r, r, r), mode="reflect")
    else:
        y = F.pad(x4, (r, r, r, r), mode="constant", value=value)
    return y.reshape(*shape[:-2], shape[-2] + 2 * r, shape[-1] + 2 * r)


def separable_valid(
    xp: torch.Tensor, taps_y: Sequence[float], taps_x: Sequence[float]
) -> torch.Tensor:
    """Correlate an already padded (..., H+2r, W+2r) tensor; returns (..., H, W)."""
    ry, rx = len(taps_y) // 2, len(taps_x) // 2
    h, w = xp.shape[-2] - 2 * ry, xp.shape[-1] - 2 * rx
    ky = [(k, t) for k, t in enumerate(taps_y) if t != 0.0]
    kx = [(k, t) for k, t in enumerate(taps_x) if t != 0.0]
    # add_(alpha=) fuses the multiply: no temporary per tap (the temporaries cost ~10x here).
    k0, t0 = ky[0]
    acc = xp[..., k0 : k0 + h, :] * t0
    for k, t in ky[1:]:
        acc.add_(xp[..., k : k + h, :], alpha=t)
    k0, t0 = kx[0]
    out = acc[..., :, k0 : k0 + w] * t0
    for k, t in kx[1:]:
        out.add_(acc[..., :, k : k + w], alpha=t)
    return out


def gaussian_taps(window: int, sigma: float) -> list[float]:
    r = window // 2
    g = [math.exp(-((i - r) ** 2) / (2.0 * sigma * sigma)) for i in range(window)]
    s = sum(g)
    return [v / s for v in g]


def window_mean(x: torch.Tensor, taps: Sequence[float], padding: str) -> torch.Tensor:
    """Gaussian-window sum of x (..., H, W), same size; 'zeros' pads with 0 like convolve2d."""
    return separable_valid(pad(x, len(taps) // 2, padding), taps, taps)


#: cv2.Laplacian(ksize=5) = d2/dx2 + d2/dy2 with 5-tap Sobel kernels: smoothing [1 4 6 4 1]
#: across the derivative direction, second difference [1 0 -2 0 1] along it.
_SMOOTH5 = (1.0, 4.0, 6.0, 4.0, 1.0)
_DIFF2_5 = (1.0, 0.0, -2.0, 0.0, 1.0)


def laplacian(x: torch.Tensor, kernel: str) -> torch.Tensor:
    """Laplacian of (..., H, W) with BORDER_REFLECT_101, same size."""
    if kernel == "cross3":
        p = pad(x, 1, "reflect")
        h, w = x.shape[-2], x.shape[-1]
        return (
            p[..., 0:h, 1 : w + 1]
            + p[..., 2 : h + 2, 1 : w + 1]
            + p[..., 1 : h + 1, 0:w]
            + p[..., 1 : h + 1, 2 : w + 2]
            - 4.0 * x
        )
    if kernel == "opencv5":
        p = pad(x, 2, "reflect")
        return separable_valid(p, _SMOOTH5, _DIFF2_5) + separable_valid(p, _DIFF2_5, _SMOOTH5)
    raise ValueError(f"unknown Laplacian kernel {kernel!r}")


def laplacian_radius(kernel: str) -> int:
    return 1 if kernel == "cross3" else 2


def erode(valid: torch.Tensor, radius: int) -> torch.Tensor:
    """Pixels whose whole (2r+1)^2 neighbourhood is valid; outside the image counts as valid
    because borders are handled by reflection, not by the mask."""
    inv = (~valid).to(torch.float32)[None, None]
    grown = F.max_pool2d(F.pad(inv, (radius,) * 4, value=0.0), 2 * radius + 1, stride=1)
    return grown[0, 0] == 0
