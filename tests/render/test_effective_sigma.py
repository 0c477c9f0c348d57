"""The blur every renderer applies has the width asked for (issue 11).

PSNR against the exact renderer does not bound a *scale* error in sigma: the layered renderer
once passed >= 50 dB while its edges were 1-3 % too steep, and the fit through it returned A
~1 % high on frames it had not rendered itself. So the width is measured directly, against the
requested sigma, not against another renderer of ours:

* point source: the second moment of the response about its centroid, per axis, must be
  sigma^2 (independent of any kernel: the definition of sigma);
* step edge: the steepest slope of the response must be that of a Gaussian edge,
  1 / (sqrt(2 pi) sigma), for sigma >= 1 px (below ~1 px a sampled edge cannot show its
  slope; there the response must match the exact renderer's own edge, whose kernel is checked
  by its variance in test_render_kernels.py).

Within 0.2 % of sigma, for sigma 0.3-25 px, at several sub-pixel/sub-block phases of the source
(the reduced-resolution levels are not shift-invariant), for the layered renderer (OpenCV
backend with its reduced-resolution levels, and the FFT backend), the gather stack and the
exact scatter.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from psfbench.core.render import GatherStack, blur_layered, blur_scatter
from psfbench.core.render.reduced import MIN_SIGMA, reduction_factor

TOL = 0.002
#: Geometric sweep (points fall between levels, where the mixture errs most) plus sigmas just
#: above the reduced-resolution threshold (the chain's phase error is largest there).
SIGMAS = [*np.round(np.geomspace(0.3, 25.0, 23), 4).tolist(), MIN_SIGMA[2] + 0.3]


def _render(name: str, img: np.ndarray, sigma: float) -> np.ndarray:
    sig = np.full(img.shape, sigma, np.float32)
    if name == "layered":
        return blur_layered(img, sig).numpy()
    if name == "layered-fft":
        return blur_layered(img, sig, backend="fft").numpy()
    if name == "gather":
        return GatherStack(img, sigma).sample(sig).numpy()
    return blur_scatter(img, sig).numpy()


def _size(sigma: float) -> int:
    return 128 if sigma <= 12 else 256  # the 4-sigma window stays inside the image


def _phases(sigma: float, n: int) -> range:
    return range(max(2, reduction_factor(sigma, n)))


def _point_width(resp: np.ndarray) -> tuple[float, float]:
    r = resp.astype(np.float64)
    x = np.arange(r.shape[1], dtype=np.float64)
    out = []
    for m in (r.sum(axis=0), r.sum(axis=1)):
        mu = (m * x).sum() / m.sum()
        out.append(math.sqrt((m * (x - mu) ** 2).sum() / m.sum()))
    return out[0], out[1]


def _edge_peak(resp: np.ndarray) -> float:
    row = resp[resp.shape[0] // 2].astype(np.float64)
    return float(np.diff(row).max())


RENDERERS = ["layered", "layered-fft", "gather", "scatter"]


@pytest.mark.parametrize("name", RENDERERS)
def test_point_source_second_moment_is_sigma(name):
    worst = 0.0
    for sigma in SIGMAS:
        if name == "scatter" and sigma > 12:
            continue  # slow; its kernels are those of every other renderer
        n = _size(sigma)
        for ph in _phases(sigma, n):
            img = np.zeros((n, n), np.float32)
            img[n // 2 + ph, n // 2 + ph] = 1.0
            sx, sy = _point_width(_render(name, img, sigma))
            for s in (sx, sy):
                err = s / sigma - 1.0
                worst = max(worst, abs(err))
                assert abs(err) <= TOL, f"{name}: sigma {sigma} phase {ph}: width {s:.5f}"
    assert worst > 0.0


@pytest.mark.parametrize("name", RENDERERS)
def test_step_edge_slope_is_that_of_sigma(name):
    for sigma in SIGMAS:
        if name == "scatter" and sigma > 12:
            continue
        n = _size(sigma)
        for ph in _phases(sigma, n):
            img = np.zeros((n, n), np.float32)
            img[:, n // 2 + ph :] = 1.0
            peak = _edge_peak(_render(name, img, sigma))
            if sigma >= 1.0:
                width = 1.0 / (math.sqrt(2.0 * math.pi) * peak)
                assert width / sigma - 1.0 == pytest.approx(0.0, abs=TOL), (
                    f"{name}: sigma {sigma} phase {ph}: edge slope width {width:.5f}"
                )
            else:
                ref = _edge_peak(_render("scatter", img, sigma))
                assert peak / ref - 1.0 == pytest.approx(0.0, abs=TOL), (
                    f"{name}: sigma {sigma} phase {ph}: edge peak {peak:.5f} vs exact {ref:.5f}"
                )


def test_every_reduced_resolution_level_keeps_the_width():
    """Factors 4 and 8 start above 25 px; their chains are held to the same tolerance."""
    for f in (4, 8):
        sigma = MIN_SIGMA[f] + 0.5
        n = 2 * int(4 * sigma + 8) // f * f
        assert reduction_factor(sigma, n) == f
        for ph in range(0, f, max(1, f // 4)):
            img = np.zeros((n, n), np.float32)
            img[n // 2 + ph, n // 2 + ph] = 1.0
            resp = blur_layered(img, np.full((n, n), sigma, np.float32)).numpy()
            for s in _point_width(resp):
                assert s / sigma - 1.0 == pytest.approx(0.0, abs=TOL), (f, ph, s)
            edge = np.zeros((n, n), np.float32)
            edge[:, n // 2 + ph :] = 1.0
            peak = _edge_peak(blur_layered(edge, np.full((n, n), sigma, np.float32)).numpy())
            width = 1.0 / (math.sqrt(2.0 * math.pi) * peak)
            assert width / sigma - 1.0 == pytest.approx(0.0, abs=TOL), (f, ph, width)


def test_torch_inputs_and_float64_do_not_change_the_width():
    img = torch.zeros(64, 64, dtype=torch.float64)
    img[32, 32] = 1.0
    out = blur_layered(img, torch.full((64, 64), 2.3, dtype=torch.float64)).numpy()
    assert _point_width(out)[0] == pytest.approx(2.3, rel=TOL)
