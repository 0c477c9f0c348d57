"""PSF model kernels: second moments by brute-force sums, the disc against the bench's disc,
JSON round trips and the energy-conserving blur against a brute-force scatter loop."""

from __future__ import annotations

import json

import numpy as np
import pytest

from psfbench.core.bench.psf import disc_kernel
from psfbench.core.psfmodels import PsfModel, PsfModelError, blur, from_fit_json, kernel


def _moment(k: np.ndarray) -> float:
    """Per-axis second moment by an explicit double loop (independent of the library)."""
    h = k.shape[0] // 2
    total = 0.0
    for i in range(k.shape[0]):
        for j in range(k.shape[1]):
            total += k[i, j] * ((i - h) ** 2 + (j - h) ** 2) / 2.0
    return total


@pytest.mark.parametrize(
    "name,extra",
    [("gaussian", {}), ("disc", {"edge": 0.0}), ("disc", {"edge": 0.4}), ("disc", {"edge": 0.9})],
)
@pytest.mark.parametrize("sigma", [0.8, 2.0, 5.5, 12.0])
def test_second_moment_equals_sigma(name: str, extra: dict, sigma: float) -> None:
    m = PsfModel.create(name, {"A": 800.0, "e_mm": 23.6, **extra})
    k = kernel(m, sigma)
    assert k.dtype == np.float64 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert abs(k.sum() - 1.0) < 1e-9
    assert np.sqrt(_moment(k)) == pytest.approx(sigma, rel=2e-3)
    assert np.allclose(k, k.T) and np.allclose(k, k[::-1])


def test_channel_and_field_factors_scale_sigma() -> None:
    m = PsfModel.create(
        "chromatic+field",
        {"A": 800.0, "e_mm": 23.6, "chroma": [1.2, 1.0, 0.8], "field": [0.1, 0.0, 0.2]},
    )
    for ch, f in ((0, 1.2), (1, 1.0), (2, 0.8)):
        assert np.sqrt(_moment(kernel(m, 3.0, channel=ch))) == pytest.approx(3.0 * f, rel=2e-3)
    fxy = 1.0 + 0.1 * 1.0 + 0.2 * (1.0 + 1.0) / 2.0
    k = kernel(m, 3.0, channel=1, field_xy=(1.0, 1.0), size=41)
    assert k.shape == (41, 41)
    assert np.sqrt(_moment(k)) == pytest.approx(3.0 * fxy, rel=2e-3)


@pytest.mark.parametrize("radius", [2.0, 4.5, 9.0])
def test_hard_disc_matches_bench_disc_kernel(radius: float) -> None:
    # A hard disc (edge 0) of radius R has per-axis sd ~R / 2 (plus the pixel's integration):
    # the model's kernel at the bench kernel's own second moment must be the bench's
    # anti-aliased pillbox of radius R (4x supersampled, hard rim), up to the rim's
    # anti-aliasing (5x with a linear ramp here).
    ref = disc_kernel(radius).astype(np.float64)
    m = PsfModel.create("disc", {"A": 800.0, "e_mm": 23.6, "edge": 0.0})
    k = kernel(m, float(np.sqrt(_moment(ref))), size=ref.shape[0])
    assert np.abs(k - ref).max() < 0.1 * ref.max()  # rim pixels only
    assert np.abs(k - ref).sum() < 0.04
    # and it is far from the Gaussian of the same moment (the test can fail)
    g = kernel(PsfModel.gaussian(800.0, 23.6), radius / 2.0, size=ref.shape[0])
    assert np.abs(g - ref).sum() > 0.15


def test_blur_matches_bruteforce_scatter() -> None:
    rng = np.random.default_rng(1)
    img = rng.random((2, 23, 27)).astype(np.float32)
    yy, xx = np.mgrid[0:23, 0:27]
    sigma = (0.6 + 2.4 * xx / 26.0).astype(np.float32)
    m = PsfModel.create("disc", {"A": 800.0, "e_mm": 23.6, "edge": 0.3})
    out = blur(img, sigma, m)
    # brute force: each source pixel scatters its own kernel (mirror-reflected at the borders
    # as OpenCV's BORDER_REFLECT folds the mass back), summed.
    ref = np.zeros_like(img, dtype=np.float64)
    for y in range(23):
        for x in range(27):
            k = kernel(m, float(sigma[y, x]))
            h = k.shape[0] // 2
            for dy in range(-h, h + 1):
                ty = y + dy
                ty = -ty - 1 if ty < 0 else (2 * 23 - ty - 1 if ty >= 23 else ty)
                for dx in range(-h, h + 1):
                    tx = x + dx
                    tx = -tx - 1 if tx < 0 else (2 * 27 - tx - 1 if tx >= 27 else tx)
                    ref[:, ty, tx] += img[:, y, x] * k[dy + h, dx + h]
    assert abs(out.sum() - img.sum()) < 1e-3 * img.sum()
    err = np.abs(out - ref).max()
    psnr = 10 * np.log10(1.0 / np.mean((out - ref) ** 2))
    assert psnr > 40.0, (err, psnr)


def test_json_round_trip_and_errors(tmp_path) -> None:
    m = PsfModel.create(
        "breathing+disc",
        {"A": 700.0, "e_mm": 23.5, "edge": 0.5, "breathing": 0.01, "scale0": 1.0, "v_ref_mm": 51.0},
        {"A": 3.0},
    )
    assert m.name == "disc+breathing"
    doc = json.loads(json.dumps(m.to_json()))
    assert PsfModel.from_json(doc) == m
    with pytest.raises(PsfModelError, match="edge"):
        PsfModel.from_json({**doc, "params": {**doc["params"], "edge": 1.5}})
    with pytest.raises(PsfModelError, match="missing"):
        PsfModel.from_json({"name": "disc", "params": {"A": 1.0, "e_mm": 23.0}})
    with pytest.raises(PsfModelError, match="unknown"):
        PsfModel.create("pillbox")
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"A": 812.0, "e": 23.61, "A_std": 4.0, "e_std": 0.01}))
    g = from_fit_json(fit)
    assert g.name == "gaussian" and g.A == 812.0 and g.std["A"] == 4.0
    fit.write_text(json.dumps({"A": 812.0, "e": 23.61, "model": m.to_json()}))
    assert from_fit_json(tmp_path) == m
