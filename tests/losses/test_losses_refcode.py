"""The refcode preset against an independent NumPy/OpenCV/SciPy statement of the authors'
formulas (PSFgit.py in cubhe/precise-point-spread-function-estimation: loss_all, L2_loss,
defocus_loss, defocus_num_loss, calSSIM). Inputs are exact 8-bit values so the 8-bit pipeline
of their code applies without rounding ambiguity."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from scipy.signal import convolve2d

from psfbench.core.losses import LossConfig, loss_terms
from psfbench.core.losses.filters import laplacian, to_gray
from psfbench.core.losses.histogram import histogram_distance
from psfbench.core.scenes import make_scene


def _u8_pair(h: int = 48, w: int = 56) -> tuple[np.ndarray, np.ndarray]:
    aif = make_scene("planes", h, w, seed=9).aif.transpose(1, 2, 0)
    a = cv2.GaussianBlur(aif, (0, 0), 1.2)
    b = cv2.GaussianBlur(aif, (0, 0), 2.4)
    return (np.round(a * 255).astype(np.uint8), np.round(b * 255).astype(np.uint8))


def _as_input(u8_hwc: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(u8_hwc.transpose(2, 0, 1).astype(np.float32) / 255.0)


def _oracle(real_rgb: np.ndarray, sim_rgb: np.ndarray) -> dict[str, float]:
    r = cv2.cvtColor(real_rgb, cv2.COLOR_RGB2GRAY)
    s = cv2.cvtColor(sim_rgb, cv2.COLOR_RGB2GRAY)
    n = r.size
    out = {"l2": np.linalg.norm(r.astype(float) - s.astype(float)) / n}
    lr = cv2.Laplacian(r, cv2.CV_64F, ksize=5)
    ls = cv2.Laplacian(s, cv2.CV_64F, ksize=5)
    ar = cv2.convertScaleAbs(lr).astype(float)
    as_ = cv2.convertScaleAbs(ls).astype(float)
    out["laplacian"] = np.linalg.norm(ar - as_) / n
    edges = np.linspace(min(lr.min(), ls.min()), max(lr.max(), ls.max()), 1001)
    lo_e, hi_e = edges[:-1, None], edges[1:, None]
    cr = ((lr.ravel() >= lo_e) & (lr.ravel() <= hi_e)).sum(axis=1)
    cs = ((ls.ravel() >= lo_e) & (ls.ravel() <= hi_e)).sum(axis=1)
    out["histogram"] = np.linalg.norm(cr - cs) / n
    g = cv2.getGaussianKernel(11, 1.5)
    win = g @ g.T
    rf, sf = r.astype(float), s.astype(float)

    def conv(x: np.ndarray) -> np.ndarray:
        return convolve2d(x, win, "same")

    mr, ms = conv(rf), conv(sf)
    vr, vs, cov = conv(rf * rf) - mr**2, conv(sf * sf) - ms**2, conv(rf * sf) - mr * ms
    c1, c2 = 0.01**2, 0.03**2
    ssim = ((2 * mr * ms + c1) * (2 * cov + c2)) / ((mr**2 + ms**2 + c1) * (vr + vs + c2))
    out["ssim"] = float(np.mean(1 - ssim) / 2)
    out["total"] = (
        out["l2"] * 50000 + out["laplacian"] * 10000 + out["histogram"] * 40000 + out["ssim"] * 5000
    ) / 4
    return out


def test_refcode_preset_reproduces_the_authors_formulas() -> None:
    a, b = _u8_pair()
    got = loss_terms(_as_input(a), _as_input(b), config=LossConfig.refcode())
    want = _oracle(a, b)
    for name, v in want.items():
        assert float(got[name]) == pytest.approx(v, rel=1e-9, abs=1e-12), name


def test_refcode_grayscale_is_opencvs_fixed_point_bt601() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    g = to_gray(_as_input(rgb), color="luma", quantize_u8=True, dtype=torch.float64)
    assert np.array_equal(g[0].numpy(), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(float))


@pytest.mark.parametrize(("kernel", "ksize"), [("cross3", 1), ("opencv5", 5)])
def test_laplacians_match_opencv(kernel: str, ksize: int) -> None:
    rng = np.random.default_rng(1)
    img = rng.random((33, 41))
    ours = laplacian(torch.from_numpy(img), kernel).numpy()
    theirs = cv2.Laplacian(img, cv2.CV_64F, ksize=ksize)
    assert np.allclose(ours, theirs, atol=1e-12)


def test_closed_edges_count_values_on_inner_edges_twice() -> None:
    # Integer data over the range 0..10 with 5 bins: edges 0, 2, 4, 6, 8, 10.
    real = torch.arange(11, dtype=torch.float64)[None]
    sim = torch.zeros(1, 11, dtype=torch.float64)
    valid = torch.ones(11, dtype=torch.bool)
    d_closed = histogram_distance(real, sim, valid, bins=5, closed_edges=True, squared=True)
    d_open = histogram_distance(real, sim, valid, bins=5, closed_edges=False, squared=True)
    # closed: real counts (3, 3, 3, 3, 3)/11, sim (11, 0, 0, 0, 0)/11
    assert float(d_closed) == pytest.approx(((3 - 11) ** 2 + 4 * 9) / 121)
    # half-open, last bin closed: real (2, 2, 2, 2, 3)/11
    assert float(d_open) == pytest.approx(((2 - 11) ** 2 + 3 * 4 + 9) / 121)
