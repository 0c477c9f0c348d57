"""Fast layered renderer: the scatter model split into a few sigma layers.

For a fixed sigma map the scatter of eq. 8 is linear in the image, so splitting every source
between its two nearest sigma levels (weights from :func:`core.render.levels.split_weights`)
and blurring each layer with its level's kernel gives the exact scatter of the *mixture* PSF.
The only error is that of the mixture (levels are spaced for a target PSNR); kernels and
borders (half-sample mirror) are those of :mod:`core.render.scatter`.

Backends, one result (within float32 rounding):

* ``opencv`` (CPU): each layer is cropped to its support plus the kernel radius and blurred
  with ``cv2.sepFilter2D`` (BORDER_REFLECT). Mirroring a crop at an inner edge only reflects
  the crop's zero margin, so the crop is exact; the work follows each layer's area.
* ``fft`` (any torch device): the image is mirror-padded once, every layer is transformed,
  multiplied by its separable kernel spectrum and accumulated; one inverse FFT per image.
  Cost does not grow with sigma, which suits GPUs and very large blurs.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import torch

from core.render.inputs import RenderError, prepare
from core.render.kernels import DEFAULT_TRUNCATE, gaussian_kernel_1d, reflect_index
from core.render.levels import DEFAULT_ACCURACY_DB, sigma_levels, split_weights

BACKENDS = ("auto", "opencv", "fft")


def _layer_weights(k: torch.Tensor, t: torch.Tensor, level: int) -> torch.Tensor:
    """Weight of ``level`` at every pixel: 1-t where it is the lower level, t the upper."""
    zero = torch.zeros_like(t)
    return torch.where(k == level, 1.0 - t, zero) + torch.where(k == level - 1, t, zero)


def _opencv_one(
    img_hwc: np.ndarray, k: np.ndarray, t: np.ndarray, levels: list[float], truncate: float
) -> np.ndarray:
    h, w = k.shape
    out = np.zeros_like(img_hwc)
    for level in np.unique(np.concatenate([k.ravel(), k[t > 0] + 1])).tolist():
        wgt = np.where(k == level, 1.0 - t, 0.0) + np.where(k == level - 1, t, 0.0)
        rows = np.flatnonzero(wgt.any(axis=1))
        cols = np.flatnonzero(wgt.any(axis=0))
        if rows.size == 0:
            continue
        kern = gaussian_kernel_1d(levels[level], truncate).astype(np.float32)
        r = len(kern) // 2
        y0, y1 = max(rows[0] - r, 0), min(rows[-1] + r + 1, h)
        x0, x1 = max(cols[0] - r, 0), min(cols[-1] + r + 1, w)
        wc = wgt[y0:y1, x0:x1].astype(np.float32)
        layer = img_hwc[y0:y1, x0:x1] * (wc[..., None] if img_hwc.ndim == 3 else wc)
        if r == 0:
            out[y0:y1, x0:x1] += layer
            continue
        blurred = cv2.sepFilter2D(layer, cv2.CV_32F, kern, kern, borderType=cv2.BORDER_REFLECT)
        out[y0:y1, x0:x1] += blurred.reshape(layer.shape)
    return out


def _blur_opencv(
    img: torch.Tensor, sig: torch.Tensor, levels: list[float], truncate: float
) -> torch.Tensor:
    c = img.shape[0]
    # cv2 filters channels-last images with up to 4 channels in one pass; split beyond that.
    groups = [img[i : i + 4] for i in range(0, c, 4)]
    hwc = [
        np.ascontiguousarray(g.permute(1, 2, 0).cpu().numpy().astype(np.float32)) for g in groups
    ]
    outs = []
    for s in sig:
        k, t = split_weights(s.to(torch.float64).cpu(), levels)
        kn, tn = k.numpy(), t.numpy()
        parts = []
        for g in hwc:
            src = g[..., 0] if g.shape[2] == 1 else g
            o = _opencv_one(src, kn, tn, levels, truncate)
            parts.append(torch.from_numpy(o.reshape(g.shape)).permute(2, 0, 1))
        outs.append(torch.cat(parts))
    return torch.stack(outs).to(device=img.device, dtype=img.dtype)


def _kernel_spectrum(
    sigma: float, n: int, truncate: float, dtype: torch.dtype, device: torch.device, half: bool
) -> torch.Tensor:
    kern = gaussian_kernel_1d(sigma, truncate)
    r = len(kern) // 2
    circ = np.zeros(n)
    circ[: r + 1] = kern[r:]
    if r:
        circ[-r:] = kern[:r]
    spec = np.fft.rfft(circ) if half else np.fft.fft(circ)
    return torch.as_tensor(spec.real, dtype=dtype, device=device)  # symmetric kernel: real


def _fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n: FFT libraries are fastest on these sizes."""
    best = 1 << max(n - 1, 0).bit_length()
    f5 = 1
    while f5 < best:
        f35 = f5
        while f35 < best:
            m = f35
            while m < n:
                m *= 2
            best = min(best, m)
            f35 *= 3
        f5 *= 5
    return best


def _blur_fft(
    img: torch.Tensor, sig: torch.Tensor, levels: list[float], truncate: float
) -> torch.Tensor:
    c, h, w = img.shape
    dev = img.device
    pad = len(gaussian_kernel_1d(levels[-1], truncate)) // 2
    hp, wp = _fft_size(h + 2 * pad), _fft_size(w + 2 * pad)
    rows = reflect_index(torch.arange(-pad, hp - pad, device=dev), h)
    cols = reflect_index(torch.arange(-pad, wp - pad, device=dev), w)
    img_p = img[:, rows][:, :, cols]
    outs = []
    for s in sig:
        k, t = split_weights(s[rows][:, cols], levels)
        acc = torch.zeros((c, hp, wp // 2 + 1), dtype=torch.complex64, device=dev)
        direct = torch.zeros((c, hp, wp), dtype=img.dtype, device=dev)
        for level in torch.unique(torch.cat([k.flatten(), (k + (t > 0))[t > 0]])).tolist():
            layer = img_p * _layer_weights(k, t, level)
            if levels[level] == 0.0:
                direct += layer
                continue
            ky = _kernel_spectrum(levels[level], hp, truncate, img.dtype, dev, half=False)
            kx = _kernel_spectrum(levels[level], wp, truncate, img.dtype, dev, half=True)
            acc += torch.fft.rfft2(layer) * (ky[:, None] * kx[None, :])
        full = torch.fft.irfft2(acc, s=(hp, wp)) + direct
        outs.append(full[:, pad : pad + h, pad : pad + w])
    return torch.stack(outs)


def blur_layered(
    image: Any,
    sigma: Any,
    *,
    accuracy_db: float = DEFAULT_ACCURACY_DB,
    levels: list[float] | None = None,
    truncate: float = DEFAULT_TRUNCATE,
    backend: str = "auto",
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Fast scatter blur; same shapes as :func:`core.render.blur_scatter`.

    Levels come from ``accuracy_db`` (target PSNR vs the exact scatter) unless given. Backend
    ``auto`` uses OpenCV on CPU and FFT on other devices.
    """
    img, sig, layout = prepare(image, sigma, device=device)
    if backend not in BACKENDS:
        raise RenderError(f"backend: unknown {backend!r}, use one of {BACKENDS}")
    smax = float(sig.max()) if sig.numel() else 0.0
    if levels is None:
        levels = sigma_levels(smax, accuracy_db, truncate)
    elif (
        levels[0] != 0.0
        or levels[-1] < smax
        or any(b <= a for a, b in zip(levels, levels[1:], strict=False))
    ):
        raise RenderError("levels: must start at 0, increase, and reach the largest sigma")
    if backend == "auto":
        backend = "opencv" if img.device.type == "cpu" else "fft"
    if backend == "opencv":
        out = _blur_opencv(img, sig, levels, truncate)
    else:
        out = _blur_fft(img, sig, levels, truncate)
    return layout.restore(out)


def blur_uniform(
    img: torch.Tensor, sigma: float, truncate: float = DEFAULT_TRUNCATE
) -> torch.Tensor:
    """(C, H, W) blurred with one sigma, same kernel and mirror border as the scatter model."""
    if sigma <= 0.0:
        return img.clone()
    if img.device.type == "cpu":
        kern = gaussian_kernel_1d(sigma, truncate).astype(np.float32)
        planes = [
            cv2.sepFilter2D(
                np.ascontiguousarray(p.numpy(), dtype=np.float32),
                cv2.CV_32F,
                kern,
                kern,
                borderType=cv2.BORDER_REFLECT,
            )
            for p in img
        ]
        return torch.from_numpy(np.stack(planes)).to(img.dtype)
    sig = torch.full((1, *img.shape[1:]), float(sigma), dtype=img.dtype, device=img.device)
    return _blur_fft(img, sig, [0.0, float(sigma)], truncate)[0]
