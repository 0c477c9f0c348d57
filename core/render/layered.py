"""Fast layered renderer: the scatter model split into a few sigma layers.

For a fixed sigma map the scatter of eq. 8 is linear in the image, so splitting every source
between the sigma levels around it (three, with quadratic weights in variance:
:func:`psfbench.core.render.levels.node_weights`) and blurring each layer with its level's kernel
gives the exact scatter of the *mixture* PSF. The only error is that of the mixture (levels are
spaced for a target PSNR and a bounded blur-width error); kernels and borders (half-sample
mirror) are those of :mod:`psfbench.core.render.scatter`.

Backends, one result (within float32 rounding):

* ``opencv`` (CPU): each layer is cropped to its support plus the kernel radius and blurred
  with ``cv2.sepFilter2D`` (BORDER_REFLECT). Mirroring a crop at an inner edge only reflects
  the crop's zero margin, so the crop is exact; the work follows each layer's area. Layers
  with sigma >= 5 px are blurred on a grid 2-8x coarser (:mod:`psfbench.core.render.reduced`) and
  accumulated there, one upsampling per grid: this cuts the cost of the wide layers, which
  dominated, by ~f^3 at an error well below the level mixture's.
* ``fft`` (any torch device): the image is mirror-padded once, every layer is transformed,
  multiplied by its separable kernel spectrum and accumulated; one inverse FFT per image.
  Cost does not grow with sigma, which suits GPUs and very large blurs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import cv2
import numpy as np
import scipy.fft as sp_fft
import torch

from psfbench.core.parallel import map_images
from psfbench.core.render import reduced
from psfbench.core.render.inputs import RenderError, prepare
from psfbench.core.render.kernels import DEFAULT_TRUNCATE, gaussian_kernel_1d, reflect_index
from psfbench.core.render.levels import (
    DEFAULT_ACCURACY_DB,
    node_weights,
    node_weights_np,
    sigma_levels,
)

BACKENDS = ("auto", "opencv", "fft")


def _layer_weights(k0: torch.Tensor, w: torch.Tensor, level: int) -> torch.Tensor:
    """Weight of ``level`` at every pixel from :func:`node_weights` (k0, w (..., 3))."""
    d = level - k0
    zero = torch.zeros_like(w[..., 0])
    out = zero
    for j in range(3):
        out = out + torch.where(d == j, w[..., j], zero)
    return out


#: From this window radius up, a layer is blurred by FFT instead of a separable FIR. Measured
#: here (one thread, 512x600x3 crop): FIR 10 ms at R=32 growing ~0.5 ms per unit of R, FFT a
#: flat ~40 ms, so the FFT only wins beyond R ~ 85 (sigma > 21).
FFT_MIN_RADIUS = 96


def _fft_filter(layer: np.ndarray, kern: np.ndarray) -> np.ndarray:
    """Same result as sepFilter2D(BORDER_REFLECT) for a large kernel, by mirror pad + FFT."""
    r = len(kern) // 2
    h, w = layer.shape[:2]
    if r > min(h, w):  # mirror padding wider than the crop: let OpenCV fold repeatedly
        return cv2.sepFilter2D(layer, cv2.CV_32F, kern, kern, borderType=cv2.BORDER_REFLECT)
    c = 1 if layer.ndim == 2 else layer.shape[2]
    padded = cv2.copyMakeBorder(layer, r, r, r, r, cv2.BORDER_REFLECT)
    ny, nx = sp_fft.next_fast_len(h + 2 * r, True), sp_fft.next_fast_len(w + 2 * r, True)
    # Channels first and contiguous: strided (channels-last) transforms were ~2x slower.
    arr = np.zeros((c, ny, nx), np.float32)
    arr[:, : h + 2 * r, : w + 2 * r] = padded.reshape(h + 2 * r, w + 2 * r, c).transpose(2, 0, 1)
    ky, kx = np.zeros(ny), np.zeros(nx)
    ky[: r + 1], ky[ny - r :] = kern[r:], kern[:r]
    kx[: r + 1], kx[nx - r :] = kern[r:], kern[:r]
    spec = np.outer(sp_fft.fft(ky).real, sp_fft.rfft(kx).real).astype(np.float32)
    f = sp_fft.rfft2(arr, axes=(1, 2), workers=-1)
    f *= spec
    out = sp_fft.irfft2(f, s=(ny, nx), axes=(1, 2), workers=-1)[:, r : r + h, r : r + w]
    return np.ascontiguousarray(out.transpose(1, 2, 0), dtype=np.float32).reshape(layer.shape)


def _filter(layer: np.ndarray, kern_y: np.ndarray, kern_x: np.ndarray) -> np.ndarray:
    """Separable mirror-border blur of an (H, W) or (H, W, C<=4) float32 layer."""
    if len(kern_y) == 1 and len(kern_x) == 1:
        return layer
    if len(kern_y) == len(kern_x) and len(kern_y) // 2 >= FFT_MIN_RADIUS:
        return _fft_filter(layer, kern_y)
    out = cv2.sepFilter2D(layer, cv2.CV_32F, kern_x, kern_y, borderType=cv2.BORDER_REFLECT)
    return out.reshape(layer.shape)


def _block_span(span: tuple[int, int], f: int, n: int) -> tuple[int, int]:
    """[first - g, last + g] (g: the chain's zero guard, 1 at full resolution) widened to
    whole blocks of f and clipped to 0..n (n % f == 0)."""
    g = reduced.guard(f) if f > 1 else 1
    lo = max(span[0] - g, 0) // f * f
    hi = min(-(-(span[1] + 1 + g) // f) * f, n)
    return lo, hi


@lru_cache(maxsize=512)
def _kernel32(sigma: float, truncate: float) -> np.ndarray:
    """float32 kernel, cached (levels repeat across calls); read-only since it is shared."""
    k = gaussian_kernel_1d(sigma, truncate).astype(np.float32)
    k.setflags(write=False)
    return k


def _opencv_one(
    img_hwc: np.ndarray,
    k0: np.ndarray,
    w3: np.ndarray,
    levels: list[float],
    truncate: float,
    reduce_for_db: float | None = 50.0,
) -> np.ndarray:
    """One image (H, W[, C<=4]) blurred with per-pixel level nodes ``k0`` (int32, (H, W)) and
    weights ``w3`` ((3, H, W), :func:`node_weights_np`); ``reduce_for_db``: the accuracy
    target the reduced-resolution thresholds follow (None: all full resolution)."""
    h, w = k0.shape
    out = np.zeros_like(img_hwc)
    coarse: dict[tuple[int, int], np.ndarray] = {}  # (fy, fx) -> accumulator on that grid
    # Pixels sorted by their first node (a radix sort of small ints): the sources of level L
    # (first node L, L-1 or L-2) are then three contiguous runs, so each layer is formed on
    # its exact support, and its bounding box is the support's, not a superset.
    flat = k0.reshape(-1).astype(np.int16)
    order = np.argsort(flat, kind="stable")
    sk = flat[order]
    k_lo, k_hi = int(sk[0]), int(sk[-1])
    starts = np.searchsorted(sk, np.arange(k_lo, k_hi + 2, dtype=np.int16))
    rows_s = (order // w).astype(np.int32)
    cols_s = (order % w).astype(np.int32)
    chans = img_hwc.shape[2:]
    img_s = img_hwc.reshape(h * w, -1)[order]  # (N, C) in sorted order
    w_s = w3.reshape(3, -1)[:, order]
    for level in range(k_lo, min(k_hi + 3, len(levels))):
        runs = []
        for j in range(3):
            k = level - j
            if k_lo <= k <= k_hi and starts[k - k_lo + 1] > starts[k - k_lo]:
                runs.append((j, int(starts[k - k_lo]), int(starts[k - k_lo + 1])))
        if not runs:
            continue
        s = levels[level]
        fy = reduced.reduction_factor(s, h, reduce_for_db) if reduce_for_db is not None else 1
        fx = reduced.reduction_factor(s, w, reduce_for_db) if reduce_for_db is not None else 1
        ky, kx = (
            _kernel32(reduced.coarse_sigma(s, fy), truncate),
            _kernel32(reduced.coarse_sigma(s, fx), truncate),
        )
        ry, rx = len(ky) // 2, len(kx) // 2
        rows = (
            min(int(rows_s[a:b].min()) for _, a, b in runs),
            max(int(rows_s[a:b].max()) for _, a, b in runs),
        )
        cols = (
            min(int(cols_s[a:b].min()) for _, a, b in runs),
            max(int(cols_s[a:b].max()) for _, a, b in runs),
        )
        # The layer is formed (and downsampled) on its support's bounding box with a guard of
        # one zero pixel for the binomial pre-filter, aligned to the blocks; it is then padded
        # with zeros by the kernel radius on the (possibly coarse) grid, so the blur's mirror
        # border at an inner edge only reflects zeros, and the margin costs no full-res work.
        y0, y1 = _block_span(rows, fy, h)
        x0, x1 = _block_span(cols, fx, w)
        lw = x1 - x0
        layer = np.zeros(((y1 - y0) * lw, img_s.shape[1]), np.float32)
        for j, a, b in runs:
            at = (rows_s[a:b] - y0) * lw + (cols_s[a:b] - x0)
            if img_s.shape[1] == 1:
                layer[at, 0] = img_s[a:b, 0] * w_s[j, a:b]
            else:
                layer[at] = img_s[a:b] * w_s[j, a:b, None]
        layer = layer.reshape((y1 - y0, lw, *chans))
        if fy > 1 or fx > 1:
            layer = reduced.downsample(layer, fy, fx)
        cy0, cx0 = y0 // fy, x0 // fx
        cy1, cx1 = cy0 + layer.shape[0], cx0 + layer.shape[1]
        top, left = min(ry, cy0), min(rx, cx0)
        bottom, right = min(ry, h // fy - cy1), min(rx, w // fx - cx1)
        if top or bottom or left or right:
            layer = cv2.copyMakeBorder(
                layer, top, bottom, left, right, cv2.BORDER_CONSTANT, value=0.0
            ).reshape(
                (layer.shape[0] + top + bottom, layer.shape[1] + left + right, *layer.shape[2:])
            )
        blurred = _filter(layer, ky, kx)
        if fy == fx == 1:
            out[cy0 - top : cy1 + bottom, cx0 - left : cx1 + right] += blurred
            continue
        acc = coarse.get((fy, fx))
        if acc is None:
            acc = coarse[fy, fx] = np.zeros((h // fy, w // fx, *img_hwc.shape[2:]), np.float32)
        acc[cy0 - top : cy1 + bottom, cx0 - left : cx1 + right] += blurred
    for acc in coarse.values():
        out += reduced.upsample(acc, h, w)
    return out


def _blur_opencv(
    img: torch.Tensor,
    sig: torch.Tensor,
    levels: list[float],
    truncate: float,
    reduce_for_db: float | None,
) -> torch.Tensor:
    c = img.shape[0]
    # cv2 filters channels-last images with up to 4 channels in one pass; split beyond that.
    host = img.detach().to("cpu", torch.float32).numpy()
    hwc = [np.ascontiguousarray(host[i : i + 4].transpose(1, 2, 0)) for i in range(0, c, 4)]
    sig_np = sig.detach().to("cpu", torch.float32).numpy()
    out = np.empty((sig.shape[0], *host.shape), np.float32)

    def one(b: int) -> None:
        k0, w3 = node_weights_np(sig_np[b], levels)
        for i, g in enumerate(hwc):
            src = g[..., 0] if g.shape[2] == 1 else g
            o = _opencv_one(src, k0, w3, levels, truncate, reduce_for_db)
            out[b, 4 * i : 4 * i + g.shape[2]] = o.reshape(g.shape).transpose(2, 0, 1)

    map_images(one, range(sig.shape[0]))  # sigma maps in parallel (OpenCV releases the GIL)
    return torch.from_numpy(out).to(device=img.device, dtype=img.dtype)


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
    img: torch.Tensor,
    sig: torch.Tensor,
    levels: list[float],
    truncate: float,
    max_elements: int = 1 << 26,
) -> torch.Tensor:
    c, h, w = img.shape
    dev = img.device
    pad = len(gaussian_kernel_1d(levels[-1], truncate)) // 2
    hp, wp = _fft_size(h + 2 * pad), _fft_size(w + 2 * pad)
    rows = reflect_index(torch.arange(-pad, hp - pad, device=dev), h)
    cols = reflect_index(torch.arange(-pad, wp - pad, device=dev), w)
    img_p = img[:, rows][:, :, cols]
    spectra: dict[int, torch.Tensor] = {}
    # Several sigma maps at once (a focus sweep) keep a GPU busy; chunk to bound memory.
    chunk = max(1, max_elements // (c * hp * wp))
    outs = []
    for start in range(0, sig.shape[0], chunk):
        s = sig[start : start + chunk][:, rows][:, :, cols]
        k0, wts = node_weights(s, levels)
        acc = torch.zeros((s.shape[0], c, hp, wp // 2 + 1), dtype=torch.complex64, device=dev)
        direct = torch.zeros((s.shape[0], c, hp, wp), dtype=img.dtype, device=dev)
        used = torch.cat([(k0 + j)[wts[..., j] != 0] for j in range(3)])
        for level in torch.unique(used).tolist():
            layer = img_p * _layer_weights(k0, wts, level)[:, None]
            if levels[level] == 0.0:
                direct += layer
                continue
            if level not in spectra:
                ky = _kernel_spectrum(levels[level], hp, truncate, img.dtype, dev, half=False)
                kx = _kernel_spectrum(levels[level], wp, truncate, img.dtype, dev, half=True)
                spectra[level] = ky[:, None] * kx[None, :]
            acc += torch.fft.rfft2(layer) * spectra[level]
        full = torch.fft.irfft2(acc, s=(hp, wp)) + direct
        outs.append(full[:, :, pad : pad + h, pad : pad + w])
    return torch.cat(outs)


def blur_layered(
    image: Any,
    sigma: Any,
    *,
    accuracy_db: float = DEFAULT_ACCURACY_DB,
    levels: list[float] | None = None,
    truncate: float = DEFAULT_TRUNCATE,
    backend: str = "auto",
    downsample: bool = True,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Fast scatter blur; same shapes as :func:`psfbench.core.render.blur_scatter`.

    Levels come from ``accuracy_db`` (target PSNR vs the exact scatter) unless given. Backend
    ``auto`` uses OpenCV on CPU and FFT on other devices. ``downsample`` (OpenCV backend) blurs
    wide layers on a coarser grid (:mod:`psfbench.core.render.reduced`, thresholds rising with
    ``accuracy_db`` above 50 dB); False keeps every layer at full resolution, exact up to the
    level mixture.
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
        reduce_for_db = float(accuracy_db) if downsample else None
        out = _blur_opencv(img, sig, levels, truncate, reduce_for_db)
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
