import numpy as np
import pytest
import torch

from psfbench.core.render import blur_scatter
from tests.render.helpers import brute_scatter


def test_matches_brute_force_definition_including_borders():
    rng = np.random.default_rng(0)
    img = rng.random((2, 9, 11))
    # Windows up to radius 12 exceed the 9x11 image: repeated folding is exercised too.
    sigma = rng.uniform(0.0, 3.0, (9, 11))
    sigma[2, 3] = 0.0
    out = blur_scatter(img, sigma, dtype=torch.float64)
    np.testing.assert_allclose(out.numpy(), brute_scatter(img, sigma), atol=1e-12)


def test_truncate_option_changes_window():
    rng = np.random.default_rng(1)
    img, sigma = rng.random((1, 8, 8)), rng.uniform(0.5, 2.0, (8, 8))
    out = blur_scatter(img, sigma, truncate=2.0, dtype=torch.float64)
    np.testing.assert_allclose(out.numpy(), brute_scatter(img, sigma, 2.0), atol=1e-12)
    assert not np.allclose(out.numpy(), brute_scatter(img, sigma, 4.0), atol=1e-6)


def test_conserves_energy_with_varying_sigma():
    g = torch.Generator().manual_seed(2)
    img = torch.rand(3, 64, 80, generator=g)
    sigma = torch.rand(64, 80, generator=g) * 12
    out = blur_scatter(img, sigma, dtype=torch.float64)
    np.testing.assert_allclose(out.sum(dim=(1, 2)), img.double().sum(dim=(1, 2)), rtol=1e-10)


def test_constant_image_stays_constant_under_constant_sigma():
    img = torch.full((48, 40), 0.37)
    out = blur_scatter(img, torch.full((48, 40), 6.3))
    assert out.shape == (48, 40)
    assert float((out - 0.37).abs().max()) < 1e-6


def test_sigma_zero_is_identity():
    img = torch.rand(3, 20, 30)
    out = blur_scatter(img, torch.zeros(20, 30))
    assert torch.equal(out, img)


@pytest.mark.parametrize("sigma", [1.0, 2.5, 6.0, 11.3])
def test_point_source_second_moment_equals_sigma(sigma):
    n = 101
    img = torch.zeros(n, n, dtype=torch.float64)
    img[50, 50] = 1.0
    out = blur_scatter(img, torch.full((n, n), sigma), dtype=torch.float64)
    x = torch.arange(n, dtype=torch.float64) - 50
    var_x = float((out.sum(0) * x * x).sum())
    var_y = float((out.sum(1) * x * x).sum())
    assert float(out.sum()) == pytest.approx(1.0, abs=1e-12)
    # Sampling and the 4-sigma window bias the variance by < 0.2 %.
    assert var_x**0.5 == pytest.approx(sigma, rel=2e-3)
    assert var_y**0.5 == pytest.approx(sigma, rel=2e-3)


def test_batch_equals_individual_renders():
    g = torch.Generator().manual_seed(3)
    img = torch.rand(3, 24, 28, generator=g)
    sig = torch.rand(3, 24, 28, generator=g) * torch.tensor([1.0, 4.0, 0.0]).view(3, 1, 1)
    batch = blur_scatter(img, sig)
    assert batch.shape == (3, 3, 24, 28)
    for b in range(3):
        torch.testing.assert_close(batch[b], blur_scatter(img, sig[b]))


def test_rejects_bad_sigma():
    from psfbench.core.render import RenderError

    with pytest.raises(RenderError, match="sigma"):
        blur_scatter(torch.rand(8, 8), torch.full((8, 8), float("nan")))
    with pytest.raises(RenderError, match="negative"):
        blur_scatter(torch.rand(8, 8), torch.full((8, 8), -1.0))
    with pytest.raises(RenderError, match="spatial shape"):
        blur_scatter(torch.rand(8, 8), torch.zeros(8, 9))
