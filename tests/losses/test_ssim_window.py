"""The fused 11-tap SSIM kernel (core/losses/ssim_window11.py) against OpenCV's separable
filter and the OpenCV-based SSIM it replaces, and the generated file against its generator."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from psfbench.core.losses.filters import gaussian_taps
from psfbench.core.losses.ssim_cpu import fused_ssim_sum, ssim_dissimilarity_sum, window_mean_cpu

ROOT = Path(__file__).resolve().parents[2]
BORDERS = {"reflect": cv2.BORDER_REFLECT_101, "zeros": cv2.BORDER_CONSTANT}


def _generator():
    spec = importlib.util.spec_from_file_location("gen", ROOT / "tools" / "gen_ssim_window.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(
    shutil.which("ruff", path=str(Path(sys.executable).parent)) is None, reason="needs ruff"
)
def test_generated_kernel_is_the_generators_output() -> None:
    gen = _generator()
    assert gen.TARGET.read_text() == gen.formatted(), "run tools/gen_ssim_window.py"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("padding", ["reflect", "zeros"])
@pytest.mark.parametrize("shape", [(6, 7), (23, 40), (97, 121)])
def test_window_mean_equals_opencv(dtype: type, padding: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    x = rng.random((2, *shape)).astype(dtype)
    taps = np.asarray(gaussian_taps(11, 1.5), dtype)
    got = window_mean_cpu(torch.from_numpy(x), taps, padding).numpy()
    for i in range(2):
        want = cv2.sepFilter2D(x[i], -1, taps, taps, borderType=BORDERS[padding])
        eps = np.finfo(dtype).eps
        np.testing.assert_allclose(got[i], want, rtol=0, atol=8 * eps)


def test_window_mean_refuses_an_image_smaller_than_the_window() -> None:
    taps = gaussian_taps(11, 1.5)
    with pytest.raises(ValueError, match="too small"):
        window_mean_cpu(torch.zeros(5, 30), taps, "reflect")


@pytest.mark.parametrize("padding", ["reflect", "zeros"])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_ssim_equals_the_opencv_filters_path(padding: str, masked: bool) -> None:
    """The same SSIM sum as OpenCV's filters + the compiled map, to float32 rounding."""
    rng = np.random.default_rng(2)
    h, w = 61, 83
    r = cv2.GaussianBlur(rng.random((h, w)).astype(np.float32), (0, 0), 2.0)
    s = np.clip(r + rng.normal(0, 0.02, (h, w)).astype(np.float32), 0, 1)
    taps = np.asarray(gaussian_taps(11, 1.5), np.float32)
    border = BORDERS[padding]
    valid = None
    den = None
    if masked:
        m = np.ones((h, w), np.float32)
        m[20:40, 30:60] = 0
        den = np.maximum(cv2.sepFilter2D(m, -1, taps, taps, borderType=border), 1e-12)
        valid = m.astype(np.uint8).reshape(-1)

    def mean(x: np.ndarray) -> np.ndarray:
        m_ = cv2.sepFilter2D(x, -1, taps, taps, borderType=border)
        return m_ if den is None else m_ / den

    mr = mean(r)
    mr2 = mr * mr
    vr = mean(r * r) - mr2
    c1, c2 = np.float32(1e-4), np.float32(9e-4)
    flat = [
        mean(x).reshape(-1) * (1 if den is None else den.reshape(-1)) for x in (s, s * s, r * s)
    ]
    want = ssim_dissimilarity_sum(
        *flat,
        mr.reshape(-1),
        mr2.reshape(-1),
        vr.reshape(-1),
        None if den is None else den.reshape(-1),
        valid,
        c1,
        c2,
        np.empty(h * w, np.float32),
    )
    got = fused_ssim_sum(s, r, taps, padding == "reflect", mr, mr2, vr, den, valid, c1, c2)
    assert got == pytest.approx(want, rel=2e-5)


@pytest.mark.parametrize("window", [7, 11])
def test_cpu_ssim_with_either_window_matches_the_float64_reference(window: int) -> None:
    """The 11-tap window takes the fused kernel, any other OpenCV's filters: both agree with
    the float64 reference formulation, and identical images give exactly 0."""
    from psfbench.core.losses import LossConfig, loss_terms
    from psfbench.core.losses.reference import loss_terms_reference

    rng = np.random.default_rng(window)
    real = torch.from_numpy(cv2.GaussianBlur(rng.random((40, 56)).astype(np.float32), (0, 0), 1.5))[
        None, None
    ]
    sim = real + 0.02 * torch.from_numpy(rng.normal(size=(2, 1, 40, 56)).astype(np.float32))
    sim = sim.clamp(0, 1)[:, None]  # (2, 1, 1, H, W): two candidates of one image
    cfg = LossConfig.paper().with_(ssim_window=window)
    got = loss_terms(real[0], sim[:, 0], config=cfg)["ssim"]
    want = loss_terms_reference(real[0].double(), sim[:, 0].double(), None, cfg.with_(float64=True))
    torch.testing.assert_close(got.double(), want["ssim"], rtol=2e-4, atol=0)
    same = loss_terms(real[0], real[0].clone()[None], config=cfg)["ssim"]
    assert bool((same == 0).all())
