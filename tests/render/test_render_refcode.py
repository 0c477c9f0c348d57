import numpy as np
import torch

from psfbench.core.render import blur_refcode
from tests.render.helpers import brute_refcode


def test_matches_transcription_of_authors_kernel():
    rng = np.random.default_rng(4)
    img = rng.random((3, 13, 15))
    c = rng.uniform(0.0, 9.0, (13, 15))  # covers c <= 1 and c above the clamp
    out = blur_refcode(img, c, dtype=torch.float64)
    np.testing.assert_allclose(out.numpy(), brute_refcode(img, c), atol=1e-12)


def test_options_follow_the_transcription():
    rng = np.random.default_rng(5)
    img, c = rng.random((1, 10, 10)), rng.uniform(0.5, 5.0, (10, 10))
    out = blur_refcode(img, c, ksize=3, c_max=4.0, dtype=torch.float64)
    np.testing.assert_allclose(out.numpy(), brute_refcode(img, c, ksize=3, c_max=4.0), atol=1e-12)


def test_small_coc_passes_through_and_constant_stays_constant():
    img = torch.rand(2, 16, 16)
    torch.testing.assert_close(blur_refcode(img, torch.full((16, 16), 0.9)), img)
    const = torch.full((16, 16), 0.25)
    c = torch.rand(16, 16) * 10
    out = blur_refcode(const, c)
    assert float((out - 0.25).abs().max()) < 1e-6


def test_sigma_is_half_the_coc():
    n = 61
    img = torch.zeros(n, n, dtype=torch.float64)
    img[30, 30] = 1.0
    # A uniform c: the receiver-normalised gather is then a plain blur with sigma c/2.
    out = blur_refcode(img, torch.full((n, n), 6.0), dtype=torch.float64)
    x = torch.arange(n, dtype=torch.float64) - 30
    var = float((out.sum(0) * x * x).sum()) / float(out.sum())
    assert abs(var**0.5 - 3.0) < 0.03
