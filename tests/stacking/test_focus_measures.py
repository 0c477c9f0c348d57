"""Focus measures must rank a sharp image above blurred copies of it, on CPU and CUDA."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from psfbench.core.stacking.focus_measures import (
    FOCUS_MEASURES,
    box_mean,
    focus_volume,
    image_sharpness,
    to_gray,
)
from psfbench.core.stacking.synthetic import texture


@pytest.fixture(scope="module")
def blur_stack() -> np.ndarray:
    img = texture(64, 80, 1, np.random.default_rng(3))[0]
    frames = [img] + [cv2.GaussianBlur(img, (0, 0), s) for s in (0.8, 1.5, 3.0)]
    return np.stack(frames).astype(np.float32)


@pytest.mark.parametrize("method", FOCUS_MEASURES)
def test_sharp_ranks_above_blurred(method: str, blur_stack: np.ndarray, device: str) -> None:
    fm = focus_volume(torch.from_numpy(blur_stack).to(device), method, window=5)  # type: ignore[arg-type]
    per_frame = fm.mean(dim=(1, 2)).cpu().numpy()
    assert np.all(np.diff(per_frame) < 0), per_frame  # strictly less sharp with more blur
    # and per pixel: the sharp frame wins nearly everywhere there is texture
    assert (fm.argmax(dim=0) == 0).float().mean() > 0.95


@pytest.mark.parametrize("method", FOCUS_MEASURES)
def test_whole_image_sharpness(method: str, blur_stack: np.ndarray) -> None:
    scores = [image_sharpness(f, method) for f in blur_stack]  # type: ignore[arg-type]
    assert scores == sorted(scores, reverse=True)


def test_box_mean_matches_opencv_interior() -> None:
    x = torch.rand(2, 30, 40)
    ours = box_mean(x, 7).numpy()
    ref = np.stack([cv2.blur(m, (7, 7)) for m in x.numpy()])
    assert np.allclose(ours[:, 3:-3, 3:-3], ref[:, 3:-3, 3:-3], atol=1e-5)


def test_gray_uses_luma_and_passes_mono() -> None:
    rgb = torch.zeros(1, 3, 2, 2)
    rgb[:, 1] = 1.0
    assert torch.allclose(to_gray(rgb), torch.full((1, 2, 2), 0.587))
    mono = torch.rand(2, 1, 3, 3)
    assert torch.equal(to_gray(mono), mono[:, 0])


def test_unknown_measure_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown focus measure"):
        focus_volume(torch.zeros(2, 8, 8), "sobel")  # type: ignore[arg-type]


def test_opencv_and_torch_backends_agree() -> None:
    x = torch.rand(3, 40, 56)
    a = focus_volume(x, "modified_laplacian", window=7, backend="opencv")
    b = focus_volume(x, "modified_laplacian", window=7, backend="torch")
    assert torch.allclose(a, b, atol=1e-5)
