import pytest
import torch

from core.render import GatherStack, blur_scatter, blur_uniform
from tests.render.helpers import psnr, scene_sigma


def test_sampling_a_level_returns_that_blur():
    img, _ = scene_sigma("planes", 64)
    stack = GatherStack(img, 8.0)
    s = stack.levels[5]
    out = stack.sample(torch.full((64, 64), s))
    torch.testing.assert_close(out, blur_uniform(img, s))
    torch.testing.assert_close(out, blur_scatter(img, torch.full((64, 64), s)), atol=2e-6, rtol=0)
    torch.testing.assert_close(stack.sample(torch.zeros(64, 64)), img)


@pytest.mark.parametrize("sigma", [0.4, 1.7, 6.2, 13.0])
def test_uniform_sigma_matches_scatter_to_the_target_accuracy(sigma):
    img, _ = scene_sigma("planes", 96)
    stack = GatherStack(img, 13.0)
    flat = torch.full((96, 96), sigma)
    assert psnr(stack.sample(flat), blur_scatter(img, flat)) >= 50.0


def test_batch_mono_and_extension_beyond_sigma_max():
    img, sigma = scene_sigma("steps", 48, sigma_max=6.0)
    stack = GatherStack(img[0], 3.0)
    n_levels = len(stack.levels)
    batch = stack.sample(torch.stack([sigma, 0.5 * sigma]))
    assert batch.shape == (2, 1, 48, 48)
    assert len(stack.levels) > n_levels and stack.levels[-1] >= 6.0
    torch.testing.assert_close(batch[1, 0], stack.sample(0.5 * sigma))
    # Per-pixel interpolation: each pixel's value depends on its own sigma only.
    one = torch.full((48, 48), 2.0)
    mixed = one.clone()
    mixed[:, :24] = 5.0
    torch.testing.assert_close(stack.sample(mixed)[:, 24:], stack.sample(one)[:, 24:])


def test_gather_differs_from_scatter_at_depth_edges():
    img, sigma = scene_sigma("steps", 96, sigma_max=8.0)
    gathered = GatherStack(img, 8.0).sample(sigma)
    # Measured, not assumed: near depth steps the receiver's sigma is not the sources'.
    assert psnr(gathered, blur_scatter(img, sigma)) < 45.0
