"""The model renderer's FFT frame against scipy.ndimage (a convolution psfbench did not write).

``FftGrid`` mirror-pads narrow kernels and, for kernels reaching past half the image, transforms
one period of the half-sample symmetric extension with the kernel's taps wrapped onto it. Both
must equal a direct convolution of the image extended with ``mode="reflect"`` (scipy's name
for the half-sample symmetric extension, OpenCV's BORDER_REFLECT), also when the kernel is
wider than the image.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from psfbench.core.psfmodels.kernels import shape_kernel
from psfbench.core.psfmodels.layered import FftGrid, layered_blur, sigma_levels


def _fft_blur(img: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    grid = FftGrid(img.shape[-2], img.shape[-1], k.shape[-1] // 2, img.device)
    spec = grid.spectrum(k.to(img.dtype))
    return grid.crop(torch.fft.irfft2(torch.fft.rfft2(grid.extend(img)) * spec, s=grid.shape))


@pytest.mark.parametrize(
    ("h", "w", "sigma", "edge", "periodic"),
    [
        (40, 56, 2.5, None, (False, False)),  # mirror padding on both axes
        (30, 90, 6.0, None, (True, False)),  # one period along the short axis only
        (40, 56, 12.0, None, (True, True)),  # kernel (97 px) wider than the image
        (37, 41, 9.0, 0.3, (True, True)),  # a disc, odd sizes
        (64, 48, 4.0, 0.6, (False, False)),
    ],
)
def test_fft_blur_equals_direct_reflect_convolution(
    h: int, w: int, sigma: float, edge: float | None, periodic: tuple[bool, bool]
) -> None:
    rng = np.random.default_rng(3)
    img = rng.random((h, w))
    k = shape_kernel(sigma, edge)
    grid = FftGrid(h, w, k.shape[-1] // 2, "cpu")
    assert (grid.rows.periodic, grid.cols.periodic) == periodic
    got = _fft_blur(torch.from_numpy(img)[None], k)[0].numpy()
    want = ndimage.convolve(img, k.numpy(), mode="reflect")
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


def test_layered_blur_on_a_level_is_that_level_kernel() -> None:
    """A constant sigma map on a level: one layer, the level's kernel, whatever the frame."""
    rng = np.random.default_rng(5)
    img = rng.random((1, 36, 52))
    for sigma in (sigma_levels(3.0)[-1], sigma_levels(30.0)[-1]):
        sig = torch.full((1, 36, 52), sigma, dtype=torch.float64)
        got = layered_blur(torch.from_numpy(img), sig, 0.4)[0, 0].numpy()
        k = shape_kernel(sigma, 0.4).numpy()
        want = ndimage.convolve(img[0], k, mode="reflect")
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


def test_the_padded_frame_benchmarked_against_gives_the_same_blur() -> None:
    """``periodic=False`` (the frame benchmarks/model_render.py compares with) is the same
    convolution: equal to scipy's for a kernel wider than the image."""
    img = np.random.default_rng(4).random((40, 56))
    k = shape_kernel(12.0, None)
    grid = FftGrid(40, 56, k.shape[-1] // 2, "cpu", periodic=False)
    assert not grid.rows.periodic and not grid.cols.periodic
    spec = grid.spectrum(k)
    t = torch.from_numpy(img)[None]
    got = grid.crop(torch.fft.irfft2(torch.fft.rfft2(grid.extend(t)) * spec, s=grid.shape))
    want = ndimage.convolve(img, k.numpy(), mode="reflect")
    np.testing.assert_allclose(got[0].numpy(), want, rtol=0, atol=1e-12)
