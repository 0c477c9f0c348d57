"""The virtual bench's realism options the PSF models are checked against (issue 19): the disc
of the same second moment, the field-varying blur and the tilted sensor."""

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


def test_bench_tilted_sensor_focuses_each_edge_at_its_own_distance() -> None:
    """sensor_tilt_mm = (t, 0): at the right edge the lens-sensor distance is d + e + t, at the
    left d + e - t. Checked against untilted benches whose offset e is moved by +-t."""
    from psfbench.core.bench.settings import VirtualBenchSettings
    from psfbench.core.bench.world import BenchWorld

    t, e = 0.03, 23.6
    base = {"scene": "steps", "width": 96, "height": 48, "true_A": 200.0, "noise": False,
            "ambient": 0.8}  # fmt: skip

    def image(**kw: object) -> np.ndarray:
        w = BenchWorld(VirtualBenchSettings.model_validate({**base, **kw}))
        d = 32.0  # sensor reading (mm), inside the scene's focus range
        st = {"lens_steps": (d - w.settings.d_home_mm) * w.settings.steps_per_mm,
              "pattern": None, "pattern_version": 0, "aperture_scale": 1.0}  # fmt: skip
        return np.asarray(w.optical_image(st), dtype=np.float64).mean(axis=0)

    tilted = image(true_e_mm=e, sensor_tilt_mm=(t, 0.0))
    plain, longer, shorter = (image(true_e_mm=e + dv) for dv in (0.0, t, -t))
    right, left = np.s_[:, -6:], np.s_[:, :6]

    def err(a: np.ndarray, b: np.ndarray, sl: object) -> float:
        return float(np.abs(a[sl] - b[sl]).mean())  # type: ignore[index]

    assert err(tilted, longer, right) < 0.4 * err(tilted, plain, right)
    assert err(tilted, shorter, left) < 0.4 * err(tilted, plain, left)  # measured 0.25, 0.07, 0.05
    assert err(tilted, plain, np.s_[:, 44:52]) < 0.4 * err(tilted, longer, np.s_[:, 44:52])
