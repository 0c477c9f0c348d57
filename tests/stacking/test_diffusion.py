"""Diffusion elimination with the known PSF reduces error in transition regions."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from psfbench.core.stacking.diffusion import eliminate_diffusion, sigma_from_depth
from psfbench.core.stacking.fusion import fuse
from psfbench.core.stacking.synthetic import make_plane_stack


def _transition_region(depth: np.ndarray, width: int = 15) -> np.ndarray:
    k = np.ones((3, 3), np.uint8)
    edge = (cv2.dilate(depth, k) != cv2.erode(depth, k)).astype(np.uint8)
    return cv2.dilate(edge, np.ones((width, width), np.uint8)) > 0


def _mse(a: np.ndarray, b: np.ndarray, m: np.ndarray) -> float:
    return float(np.mean((a - b)[:, m] ** 2))


@pytest.mark.parametrize(("A", "seed"), [(150.0, 1), (400.0, 2)])
def test_psf_map_reduces_transition_error(A: float, seed: int) -> None:
    st = make_plane_stack(128, 160, planes=3, A=A, seed=seed)
    res = fuse(st.frames)
    src = sigma_from_depth(st.depth_mm, st.focus_depths_mm, st.A, st.F_mm)
    out = eliminate_diffusion(
        res.image, res.weights, res.index, src, focus_depths_mm=st.focus_depths_mm
    )
    tr = _transition_region(st.depth_mm)
    before = _mse(res.image.numpy(), st.aif, tr)
    after = _mse(out, st.aif, tr)
    assert after < 0.9 * before, (before, after)
    # away from transitions (beyond ~1 sigma of the blurriest layer) nothing much changes
    far = ~_transition_region(st.depth_mm, 41)
    assert np.allclose(out[:, far], res.image.numpy()[:, far], atol=1e-2)


def test_two_frame_scalar_sigma_as_in_the_seed() -> None:
    st = make_plane_stack(128, 160, planes=2, A=300.0, seed=3)
    sigma_fg_in_far_frame = float(
        np.asarray(sigma_from_depth(st.depth_mm, st.focus_depths_mm, st.A, st.F_mm)(1)).max()
    )
    res = fuse(st.frames)
    out = eliminate_diffusion(res.image, res.weights, res.index, sigma_fg_in_far_frame)
    tr = _transition_region(st.depth_mm)
    assert _mse(out, st.aif, tr) < _mse(res.image.numpy(), st.aif, tr)


def test_wrong_order_length_is_rejected() -> None:
    st = make_plane_stack(32, 40, planes=2, seed=4)
    res = fuse(st.frames)
    with pytest.raises(ValueError, match="focus depths"):
        eliminate_diffusion(res.image, res.weights, res.index, 1.0, focus_depths_mm=[1, 2, 3])
