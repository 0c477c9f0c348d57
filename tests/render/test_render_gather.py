import pytest
import torch

from psfbench.core.render import GatherStack, blur_scatter, blur_uniform
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


def _brute_force_sample(stack: GatherStack, sigma: torch.Tensor) -> torch.Tensor:
    """Per-pixel loop in float64: the interval by comparison with every level, the Lagrange
    weights in variance written out, no shared code with either sampler."""
    lv = [s * s for s in stack.levels]
    planes = stack.stack.double()  # (K, C, H, W)
    out = torch.empty((sigma.shape[0], planes.shape[1], *sigma.shape[1:]), dtype=torch.float64)
    for b in range(sigma.shape[0]):
        for y in range(sigma.shape[1]):
            for x in range(sigma.shape[2]):
                v = float(sigma[b, y, x]) ** 2
                k = max(i for i in range(len(lv) - 1) if lv[i] <= v or i == 0)
                if k == 0:
                    t = min(max(v / lv[1], 0.0), 1.0)
                    nodes, w = (0, 1), (1.0 - t, t)
                else:
                    nodes = (k - 1, k, k + 1)
                    a, bb, c = (lv[i] for i in nodes)
                    w = (
                        (v - bb) * (v - c) / ((a - bb) * (a - c)),
                        (v - a) * (v - c) / ((bb - a) * (bb - c)),
                        (v - a) * (v - bb) / ((c - a) * (c - bb)),
                    )
                terms = [wi * planes[i, :, y, x] for i, wi in zip(nodes, w, strict=True)]
                out[b, :, y, x] = sum(terms)
    return out


def test_compiled_cpu_sampler_matches_a_brute_force_loop():
    img, sigma = scene_sigma("steps", 20, sigma_max=7.0)
    stack = GatherStack(img, 7.0)
    gen = torch.Generator().manual_seed(3)
    # smooth maps, a noisy one (every interval, jumps both ways) and sigma below level 1
    maps = torch.stack(
        [sigma, 7.0 * torch.rand(20, 20, generator=gen), 0.3 * torch.rand(20, 20, generator=gen)]
    )
    got = stack.sample(maps)
    assert got.shape == (3, 3, 20, 20)
    torch.testing.assert_close(got.double(), _brute_force_sample(stack, maps), atol=2e-6, rtol=0)


def test_sample_scaled_equals_sample_of_the_products_and_clips():
    img, sigma = scene_sigma("steps", 32, sigma_max=5.0)
    stack = GatherStack(img, 5.0)
    rel = torch.stack([sigma / 5.0, sigma.flip(0) / 5.0])  # (M=2, H, W)
    scales = torch.tensor([1.0, 2.5, 4.0])
    got = stack.sample_scaled(scales, rel)
    assert got.shape == (3, 2, 3, 32, 32)
    want = stack.sample((scales.view(-1, 1, 1, 1) * rel[None]).reshape(-1, 32, 32))
    torch.testing.assert_close(got.reshape(-1, 3, 32, 32), want)
    clipped = stack.sample_scaled(scales, rel, clip=(0.2, 0.6))
    torch.testing.assert_close(clipped, got.clamp(0.2, 0.6))
