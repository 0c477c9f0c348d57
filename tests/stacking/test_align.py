"""Alignment recovers a known breathing (scale + shift) to sub-pixel and never crops."""

from __future__ import annotations

import cv2
import numpy as np

from psfbench.core.stacking.align import apply_alignment, estimate_alignment
from psfbench.core.stacking.synthetic import texture


def _warp(img: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Frame whose pixel W(x) shows what the reference shows at x (m = W, ref -> frame)."""
    inv = cv2.invertAffineTransform(m)
    return cv2.warpAffine(
        img,
        inv,
        img.shape[::-1],
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )


def test_recovers_scale_and_shift_subpixel() -> None:
    ref = texture(160, 200, 1, np.random.default_rng(0))[0]
    truths = [
        np.array([[1.015, 0.0, -2.3], [0.0, 1.015, 1.7]]),
        np.array([[0.985, 0.0, 3.1], [0.0, 0.985, -0.8]]),
    ]
    # the other frames are also defocused, as in a real sweep
    frames = [ref] + [cv2.GaussianBlur(_warp(ref, m), (0, 0), 1.2) for m in truths]
    al = estimate_alignment(np.stack(frames), reference=0)
    corners = np.array([[0, 0, 1], [199, 0, 1], [0, 159, 1], [199, 159, 1]], float)
    for got, true in zip(al.warps[1:], truths, strict=True):
        err = np.abs(corners @ got.T - corners @ true.T).max()
        assert err < 0.2, (got, true)
    assert np.allclose(al.scales()[1:], [1.015, 0.985], atol=1e-3)
    assert not al.warnings


def test_apply_keeps_size_channels_and_flags_borders() -> None:
    rng = np.random.default_rng(1)
    ref = texture(64, 80, 3, rng)
    m = np.array([[1.03, 0.0, 1.0], [0.0, 1.03, 0.5]])
    moved = np.stack([_warp(c, m) for c in ref])
    al = estimate_alignment(np.stack([ref, moved]), reference=0)
    out, valid = apply_alignment(np.stack([ref, moved]), al)
    assert out.shape == (2, 3, 64, 80) and out.dtype == np.float32
    assert valid[0].all()  # the reference covers everything
    assert not valid[1].all() and valid[1].mean() > 0.8  # a zoomed-out frame misses a rim
    inner = valid[1]
    assert np.abs(out[1][:, inner] - ref[:, inner]).mean() < 0.01


def test_tiny_motion_passes_frames_through_untouched() -> None:
    ref = texture(48, 64, 1, np.random.default_rng(2))
    al = estimate_alignment(np.stack([ref, ref]), reference=0)
    out, valid = apply_alignment(np.stack([ref, ref]), al)
    assert np.array_equal(out[1], ref) and valid.all()


def test_a_warp_breathing_cannot_make_is_refused_however_well_it_matches() -> None:
    """A 15 degree turn is no focus breathing: refused with a warning, kept when allowed."""
    ref = texture(160, 200, 1, np.random.default_rng(1))[0]
    turn = cv2.getRotationMatrix2D((100.0, 80.0), 15.0, 1.0)
    frames = np.stack([ref, _warp(ref, turn)])
    al = estimate_alignment(frames, reference=0)
    assert np.allclose(al.warps[1], np.eye(2, 3))
    assert any("frame 1: alignment refused (rotation" in w for w in al.warnings)
    free = estimate_alignment(frames, reference=0, max_rotation_deg=30.0)
    assert not np.allclose(free.warps[1], np.eye(2, 3)) and not free.warnings
