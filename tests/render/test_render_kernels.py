import math

import numpy as np
import pytest
import torch

from psfbench.core.render.kernels import (
    gaussian_kernel_1d,
    gaussian_kernel_table,
    reflect_index,
    window_radius,
    window_radius_map,
)
from psfbench.core.render.levels import mixture_mse, sigma_levels, split_weights


def test_window_radius_hand_values():
    assert window_radius(0.0) == 0
    assert window_radius(1.0) == 4
    assert window_radius(2.5) == 10
    assert window_radius(2.51) == 11
    assert window_radius(0.01) == 1
    assert window_radius(3.0, truncate=2.0) == 6
    sig = torch.tensor([0.0, 1.0, 2.5, 2.51, 0.01])
    assert window_radius_map(sig).tolist() == [0, 4, 10, 11, 1]


def test_kernel_hand_values():
    k = gaussian_kernel_1d(1.0)
    n = np.arange(-4, 5)
    raw = np.exp(-(n**2) / 2.0)
    # a sampled Gaussian (taps in the ratio exp(-n^2 / 2 w^2)) whose width w is nudged just
    # enough (+0.004 %) to make up the 4-sigma truncation: variance exactly 1
    np.testing.assert_allclose(k, raw / raw.sum(), rtol=1e-3)
    w2 = -1.0 / (2.0 * math.log(k[5] / k[4]))
    np.testing.assert_allclose(k[4:] / k[4], np.exp(-(n[4:] ** 2) / (2.0 * w2)), rtol=1e-12)
    assert k.sum() == pytest.approx(1.0, abs=1e-15)
    assert float((k * n * n).sum()) == pytest.approx(1.0, rel=1e-9)
    np.testing.assert_array_equal(gaussian_kernel_1d(0.0), [1.0])


@pytest.mark.parametrize("sigma", [0.05, 0.3, 0.45, 0.5, 0.7, 1.0, 2.6, 4.0, 4.01, 11.3, 25.0])
def test_kernel_variance_is_sigma_squared(sigma):
    """Sub-pixel kernels included: a plainly sampled Gaussian of width 0.3 has variance 0.008,
    not 0.09 (it is nearly a delta); ours is widened until the variance is right."""
    k = gaussian_kernel_1d(sigma)
    n = np.arange(len(k)) - len(k) // 2
    assert len(k) == 2 * math.ceil(4 * sigma - 1e-9) + 1
    assert float((k * n * n).sum()) == pytest.approx(sigma * sigma, rel=1e-4)


def test_kernel_table_matches_scalar_kernels():
    sig = torch.tensor([0.0, 0.7, 1.0, 3.2], dtype=torch.float64)
    table = gaussian_kernel_table(sig, 13)
    for row, s in zip(table, sig.tolist(), strict=True):
        k = gaussian_kernel_1d(s)
        r = len(k) // 2
        expect = np.zeros(27)
        expect[13 - r : 14 + r] = k
        np.testing.assert_allclose(row.numpy(), expect, atol=1e-15)


def test_reflect_index_is_half_sample_mirror():
    idx = reflect_index(torch.arange(-5, 9), 4).tolist()
    # -5..-1 -> 3 3 2 1 0 | 0 1 2 3 | 3 2 1 0 0 (period 8)
    assert idx == [3, 3, 2, 1, 0, 0, 1, 2, 3, 3, 2, 1, 0, 0]


def test_levels_reach_sigma_max_and_grow_with_accuracy():
    lv = sigma_levels(20.0)
    assert lv[0] == 0.0 and lv[-1] >= 20.0 and lv[-2] < 20.0
    assert all(b > a for a, b in zip(lv, lv[1:], strict=False))
    assert len(sigma_levels(20.0, accuracy_db=60.0)) > len(lv) > len(sigma_levels(20.0, 40.0))
    assert sigma_levels(0.0) == [0.0]
    # Large-sigma spacing is geometric (scale invariance of the error model).
    ratios = [b / a for a, b in zip(lv[-6:], lv[-5:], strict=False)]
    assert max(ratios) - min(ratios) < 0.05


def test_mixture_error_vanishes_at_levels_and_peaks_between():
    assert mixture_mse(2.0, 3.0, 2.0) < 1e-20
    assert mixture_mse(2.0, 3.0, 3.0) < 1e-20
    assert mixture_mse(2.0, 3.0, 2.5) > mixture_mse(2.0, 3.0, 2.1) > 0


def test_split_weights_interpolate_variance():
    k, t = split_weights(torch.tensor([0.0, 1.0, 1.5, 2.0, 3.0]), [0.0, 1.0, 2.0, 3.0])
    assert k.tolist() == [0, 1, 1, 2, 2]
    np.testing.assert_allclose(t.numpy(), [0.0, 0.0, (2.25 - 1) / 3, 0.0, 1.0], atol=1e-7)
