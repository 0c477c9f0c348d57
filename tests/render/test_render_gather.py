import numpy as np
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


def _scalar_reference(flat, levels, rel, scales, lo, hi, noise=None):
    """The sampler before the runs (fb5cab1's scalar loop) in plain Python with float32
    scalars, plus FitProblem.add_noise's formulas: what the compiled runs must equal bit for
    bit (same operations in the same order)."""
    from psfbench.core.render.gather_cpu import _tables

    lv = _tables(tuple(levels))
    out = np.empty((len(scales) * rel.shape[0], flat.shape[0], rel.shape[1]), np.float32)
    with np.errstate(invalid="ignore", over="ignore"):  # the NaN and inf samples
        for b in range(out.shape[0]):
            for ch in range(flat.shape[0]):
                out[b, ch] = _reference_map(flat[ch], lv, rel, scales, lo, hi, noise, b, ch)
    return out


def _reference_map(f, tables, rel, scales, lo, hi, noise, b, ch):
    from psfbench.core.render.gather_cpu import NOISE_CONSTANT

    lv, r0, r1, r2 = tables
    f32, n, (m_maps, hw) = np.float32, len(lv), rel.shape
    a, r = f32(scales[b // m_maps]), rel[b % m_maps]
    out = np.empty(hw, np.float32)
    k = 0
    for p in range(hw):
        s = a * r[p]
        v = s * s
        while k < n - 2 and lv[k + 1] <= v:
            k += 1
        while k > 0 and lv[k] > v:
            k -= 1
        if k == 0:
            w1 = min(max(v / lv[1], f32(0)), f32(1))
            w0, w2, i0 = f32(1) - w1, f32(0), p
        else:
            k0 = k - 1
            da, db, dc = v - lv[k0], v - lv[k0 + 1], v - lv[k0 + 2]
            w0, w1, w2 = db * dc * r0[k0], da * dc * r1[k0], da * db * r2[k0]
            i0 = k0 * hw + p
        x = min(max(w0 * f[i0] + w1 * f[i0 + hw] + w2 * f[i0 + 2 * hw], lo), hi)
        if noise is not None:
            z = noise.field[b % m_maps, ch, p]
            if noise.mode == NOISE_CONSTANT:
                x = x + f32(noise.sd) * z
            else:
                c = min(max(x, f32(0)), f32(1))
                x = x + np.sqrt(c * f32(noise.gain) + f32(noise.var0)) * z
        out[p] = x
    return out


def test_compiled_runs_equal_the_scalar_loop_bit_for_bit():
    from psfbench.core.render.gather_cpu import NOISE_CONSTANT, NOISE_SIGNAL, Noise, sample_stack

    img, sigma = scene_sigma("steps", 16, sigma_max=6.0)
    stack = GatherStack(img, 6.0)
    flat, levels = stack._flat.numpy(), stack.levels
    gen = np.random.default_rng(5)
    hw = 16 * 16
    smooth = (sigma.numpy().reshape(-1) / 6.0).astype(np.float32)
    noisy = gen.random(hw).astype(np.float32)
    odd = smooth.copy()
    odd[[3, 40, 41, 200]] = [np.nan, np.inf, 0.0, 1e-3]  # NaN, beyond the stack, 0, tiny
    rel = np.stack([smooth, noisy, odd])
    scales = np.array([0.5, 3.0, 5.5], np.float32)
    field = gen.normal(size=(3, 3, hw)).astype(np.float32)
    cases = [
        (None, (-np.inf, np.inf)),
        (None, (0.0, 1.0)),
        (Noise(field, NOISE_CONSTANT, sd=0.01), (0.0, 1.0)),
        (Noise(field, NOISE_SIGNAL, var0=float(np.float32(1e-4)), gain=2e-3), (0.0, 1.0)),
    ]
    for noise, (lo, hi) in cases:
        want = _scalar_reference(flat, levels, rel, scales, np.float32(lo), np.float32(hi), noise)
        got = sample_stack(flat, levels, rel, scales, (lo, hi), noise)
        assert np.array_equal(got.view(np.uint32), want.view(np.uint32)), noise
        one = np.empty((1, 3, hw), np.float32)
        sub = None if noise is None else Noise(field[1:2], noise.mode, noise.sd, noise.var0,
                                                noise.gain)  # fmt: skip
        sample_stack(flat, levels, rel[1:2], scales[2:], (lo, hi), sub, one, serial=True)
        assert np.array_equal(one[0].view(np.uint32), want[2 * 3 + 1].view(np.uint32))
