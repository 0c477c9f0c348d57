"""The compiled CPU noise step against the formula evaluated in float64 by torch."""

from __future__ import annotations

import torch

from psfbench.core.fit.noise_cpu import add_noise_cpu


def test_compiled_noise_equals_the_formula() -> None:
    gen = torch.Generator().manual_seed(0)
    sims = torch.rand(3, 4, 2, 17, 23, generator=gen) * 1.4 - 0.2  # below 0 and above 1 too
    before = sims.clone()
    field = torch.randn(4, 2, 17, 23, generator=gen)
    gain, sd = 0.004, 0.012
    got = add_noise_cpu(sims, field, gain, sd)
    s = sims.double()
    want = s + (s.clamp(0.0, 1.0) * gain + sd**2).sqrt() * field.double()
    assert got.shape == sims.shape and got.dtype == torch.float32
    torch.testing.assert_close(got.double(), want, atol=3e-7, rtol=0)
    # the input is left alone (the grid keeps noiseless simulations for inspection)
    assert torch.equal(sims, before)
