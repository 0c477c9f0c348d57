"""The benchmark's metrics behave as defined in docs/stacking.md."""

from __future__ import annotations

import cv2
import numpy as np

from psfbench.core.stacking.quality import psnr, qabf, ssim
from psfbench.core.stacking.synthetic import texture


def test_qabf_prefers_the_sharp_source() -> None:
    sharp = texture(64, 80, 1, np.random.default_rng(0))
    blurred = cv2.GaussianBlur(sharp[0], (0, 0), 2.0)[None]
    sources = [sharp, blurred]
    q_sharp = qabf(sources, sharp)
    q_blur = qabf(sources, blurred)
    assert 0.6 < q_sharp <= 1.0 and q_blur < q_sharp - 0.1, (q_sharp, q_blur)
    assert qabf([sharp], sharp) > 0.97  # one source, perfect copy: the sigmoid ceilings


def test_psnr_ssim_identity_and_noise() -> None:
    a = texture(48, 48, 3, np.random.default_rng(1))
    noisy = np.clip(a + 0.01 * np.random.default_rng(2).standard_normal(a.shape), 0, 1)
    assert psnr(a, a) == float("inf") and abs(ssim(a, a) - 1) < 1e-9
    assert 38 < psnr(noisy, a) < 42 and 0.8 < ssim(noisy, a) < 1
