"""The fit's observation model treats clipped samples as the camera makes them: noise-free."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.fit.observation import estimate_noise_sd
from psfbench.core.fit.problem import FitProblem


def _frames(sd: float, saturated: float, seed: int = 0) -> torch.Tensor:
    """(2, 1, 96, 128) smooth ramps plus noise, with the left ``saturated`` part clipped."""
    rng = np.random.default_rng(seed)
    h, w = 96, 128
    ramp = np.linspace(0.3, 0.7, w)[None, :].repeat(h, 0)
    frames = ramp[None, None] + rng.normal(0.0, sd, (2, 1, h, w))
    frames[..., : int(saturated * w)] = 1.5  # far over full scale, as a bright blob
    return torch.as_tensor(np.clip(frames, 0.0, 1.0), dtype=torch.float32)


def test_noise_estimate_ignores_saturated_areas() -> None:
    clean = estimate_noise_sd(_frames(0.01, 0.0))
    sat = estimate_noise_sd(_frames(0.01, 0.4))
    assert abs(clean - 0.01) < 0.001
    # counting the noise-free 40 % would give ~0.006
    assert abs(sat - 0.01) < 0.001, sat


def test_simulation_noise_is_absent_where_the_frames_are_clipped() -> None:
    frames = _frames(0.01, 0.4)
    depth = np.full((96, 128), 500.0, np.float32)
    p = FitProblem.from_arrays(frames[0], depth, frames, np.array([30.0, 31.0]), 50.0)
    q = p.with_observation(presmooth_sigma=1.0, noise_sd="auto")
    assert q.sim_noise is not None
    inner_clipped = q.sim_noise[..., 8:-8, 4 : int(0.4 * 128) - 6]
    free = q.sim_noise[..., 8:-8, int(0.4 * 128) + 6 : -4]
    assert float(inner_clipped.abs().max()) == 0.0
    assert float(free.std()) > 0.002


def test_a_saturated_sweep_is_reported_in_the_fit_warnings() -> None:
    from psfbench.core.fit import fit

    frames = _frames(0.01, 0.2)
    depth = np.full((96, 128), 500.0, np.float32)
    p = FitProblem.from_arrays(frames[0], depth, frames, np.array([30.0, 31.0]), 50.0)
    res = fit(p, np.array([600.0, 800.0, 1000.0]), np.array([23.4, 23.6, 23.8]))
    assert any("clipped" in w and "exposure" in w for w in res.warnings), res.warnings


@pytest.mark.parametrize(("sd0", "gain"), [(0.004, 1e-4), (0.005, 0.0), (0.0, 2e-4), (0.01, 5e-5)])
def test_poisson_gaussian_noise_model_is_recovered(sd0, gain):
    """Frames with read noise sd0 and shot noise var gain * I, on smooth ramps over the whole
    range: the model's variance matches the truth within 20 % (10 % in sd) at every level,
    where one sd for all levels is off by up to a factor 3 (shot noise at the dark end)."""
    from psfbench.core.fit.observation import estimate_noise_model

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:200, 0:240] / 240.0
    base = np.stack([0.05 + 0.9 * x, 0.5 + 0.15 * np.sin(6 * y), 0.2 + 0.6 * y])
    noisy = base + rng.normal(0.0, 1.0, base.shape) * np.sqrt(sd0**2 + gain * base)
    t = torch.as_tensor(noisy[:, None], dtype=torch.float32)
    a, g = estimate_noise_model(t)
    assert a >= 0.0 and g >= 0.0
    for level in (0.1, 0.5, 0.9):
        truth = sd0**2 + gain * level
        assert a * a + g * level == pytest.approx(truth, rel=0.2), level


def test_separable_operators_equal_the_convolutions() -> None:
    """Immerkaer's residual and the clipped-window test, done as separable passes, against
    torch's conv2d and max_pool2d (which they replaced for speed)."""
    import torch.nn.functional as F_nn

    from psfbench.core.fit.observation import clipped, immerkaer_residual, touches_clipped

    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, 1, 37, 52, generator=gen) * 1.2 - 0.1
    x = x.clamp(0.0, 1.0)  # about 8 % of the samples clipped, at both ends
    k = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]]).view(1, 1, 3, 3)
    torch.testing.assert_close(immerkaer_residual(x), F_nn.conv2d(x, k), rtol=0, atol=2e-6)
    pooled = F_nn.max_pool2d(clipped(x).to(x.dtype), 3, stride=1) > 0
    assert 0 < int(pooled.sum()) < pooled.numel()
    assert torch.equal(touches_clipped(x), pooled)
