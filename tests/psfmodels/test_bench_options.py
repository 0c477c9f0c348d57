"""The virtual bench's realism options the PSF models are checked against (issue 19): the disc
of the same second moment and the field-varying blur."""

from __future__ import annotations

import numpy as np

from psfbench.core.bench.psf import disc_blur
from psfbench.core.psfmodels.virtual import virtual_sweep


def test_bench_disc_of_the_same_second_moment() -> None:
    img = np.zeros((1, 61, 61), np.float32)
    img[0, 30, 30] = 1.0
    x = np.arange(61) - 30.0
    for s in (3.0, 6.0):
        out = disc_blur(img, np.full((61, 61), s, np.float32), radius_per_sigma=2.0)[0]
        sd = np.sqrt((out.sum(axis=0) * x * x).sum() / out.sum())
        assert abs(sd - s) / s < 0.03, (s, sd)
        legacy = disc_blur(img, np.full((61, 61), s, np.float32))[0]
        assert np.sqrt((legacy.sum(axis=0) * x * x).sum()) < 0.6 * s  # sigma = omega * diameter


def test_bench_field_varying_blur_blurs_the_corners_more() -> None:
    plain = virtual_sweep("plain", frames=4, width=64, height=48, A=200.0, full_well_e=1e12)
    field = virtual_sweep(
        "plain", frames=4, width=64, height=48, A=200.0, full_well_e=1e12, field_A=(0.0, 0.0, 0.8)
    )
    diff = np.abs(field.frames - plain.frames).mean(axis=(0, 1))  # (H, W)
    centre = diff[20:28, 28:36].mean()
    corners = np.mean([diff[:8, :8].mean(), diff[-8:, -8:].mean()])
    assert corners > 2.5 * max(centre, 1e-4), (centre, corners)  # measured 3.7x
