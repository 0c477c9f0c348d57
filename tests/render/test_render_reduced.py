import math

import pytest
import torch

from psfbench.core.render import blur_layered, blur_scatter
from psfbench.core.render.reduced import MIN_SIGMA, coarse_sigma, reduction_factor
from tests.render.helpers import psnr


def test_reduction_factor_needs_wide_blur_and_a_dividing_size():
    assert reduction_factor(MIN_SIGMA[2] - 0.01, 512) == 1
    assert reduction_factor(MIN_SIGMA[2], 512) == 2
    assert reduction_factor(MIN_SIGMA[4], 512) == 4
    assert reduction_factor(MIN_SIGMA[8], 512) == 8
    assert reduction_factor(100.0, 512) == 8
    assert reduction_factor(100.0, 50) == 2  # 50 = 2 * 25: blocks must tile the axis
    assert reduction_factor(100.0, 51) == 1
    # A higher accuracy target raises the thresholds (x1.4 at 60 dB).
    assert reduction_factor(MIN_SIGMA[4], 512, accuracy_db=60.0) == 2
    assert reduction_factor(MIN_SIGMA[4] * 1.4, 512, accuracy_db=60.0) == 4
    assert reduction_factor(MIN_SIGMA[2], 512, accuracy_db=40.0) == 2
    assert coarse_sigma(3.0, 1) == 3.0
    with pytest.raises(ValueError, match="too small"):
        coarse_sigma(0.5, 4)


@pytest.mark.parametrize(("sigma", "n"), [(21.0, 256), (41.0, 512)])
def test_reduced_chain_has_the_requested_variance(sigma, n):
    # Impulses at every phase of the block grid: box-down, blur, bilinear-up moves each by at
    # most half a block, by nothing on average, and spreads it by sigma^2 per axis on average
    # about its true position (the chain's compensation); energy is kept.
    c = n // 2  # window (4 sigma) inside the image: no mirror folding
    f = reduction_factor(sigma, n)
    assert f > 1
    yy, xx = torch.meshgrid(torch.arange(n + 0.0), torch.arange(n + 0.0), indexing="ij")
    shift, var = [], []
    for phase in range(f):
        img = torch.zeros(n, n, dtype=torch.float64)
        img[c + phase, c + phase] = 1.0
        out = blur_layered(img, torch.full((n, n), sigma), levels=[0.0, sigma]).double()
        assert float(out.sum()) == pytest.approx(1.0, abs=1e-5)
        shift.append(float((out * xx).sum()) - (c + phase))
        assert float((out * yy).sum()) - (c + phase) == pytest.approx(shift[-1], abs=1e-4)
        var.append(float((out * (xx - c - phase) ** 2).sum()))
    assert max(abs(d) for d in shift) <= (f - 1) / 2 + 1e-3
    assert sum(shift) / f == pytest.approx(0.0, abs=1e-3)
    assert sum(var) / f == pytest.approx(sigma * sigma, rel=1e-3)


@pytest.mark.parametrize(("h", "w", "level"), [(64, 80, 12.0), (40, 50, 25.0)])
def test_reduced_level_close_to_exact_and_constant_preserving(h, w, level):
    # Sharp-edged half layer (a depth edge) on noise: the hardest case for aliasing; 50 px
    # wide and 40 px high: factors 2 and 8 per axis, window wider than the image.
    g = torch.Generator().manual_seed(3)
    img = torch.rand(3, h, w, generator=g)
    sigma = torch.full((h, w), level)
    sigma[:, : w // 2] = 0.0
    ref = blur_scatter(img, sigma)
    out = blur_layered(img, sigma, levels=[0.0, level])
    assert 55.0 <= psnr(out, ref) < math.inf
    flat = blur_layered(torch.full((h, w), 0.7), torch.full((h, w), level), levels=[0.0, level])
    torch.testing.assert_close(flat, torch.full((h, w), 0.7), atol=2e-6, rtol=0)
