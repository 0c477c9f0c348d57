"""Depth from focus: sub-frame peak on synthetic focus curves, index -> Df, real depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.optics import focus_depth
from psfbench.core.stacking.dff import depth_from_focus, index_to_depth, subframe_peak
from psfbench.core.stacking.pipeline import synthesize_aif
from psfbench.core.stacking.synthetic import make_plane_stack


def _curves(peaks: np.ndarray, n: int = 9, width: float = 1.3) -> torch.Tensor:
    k = np.arange(n)[:, None]
    return torch.from_numpy(np.exp(-0.5 * ((k - peaks[None]) / width) ** 2)).float()[..., None]


def test_gaussian_fit_is_exact_on_gaussian_curves() -> None:
    peaks = np.array([1.0, 2.3, 4.5, 5.75, 6.9])
    idx, _ = subframe_peak(_curves(peaks), "gaussian")
    assert np.allclose(idx[:, 0].numpy(), peaks, atol=1e-3)


def test_parabolic_fit_is_subframe_and_better_than_argmax() -> None:
    peaks = np.array([2.3, 4.4, 5.8])
    idx, k = subframe_peak(_curves(peaks), "parabolic")
    err = np.abs(idx[:, 0].numpy() - peaks)
    assert err.max() < 0.15
    assert err.mean() < np.abs(k[:, 0].numpy() - peaks).mean()


def test_confidence_is_low_for_flat_curves() -> None:
    focus = torch.ones(7, 1, 2)
    focus[:, 0, 1] = torch.tensor([0.1, 0.2, 0.5, 1.0, 0.5, 0.2, 0.1])
    res = depth_from_focus(focus)
    assert float(res.confidence[0, 0]) < 0.05 < 0.5 < float(res.confidence[0, 1])


def test_index_maps_through_measured_d_and_e() -> None:
    d = np.array([30.0, 30.5, 31.5, 32.0])  # uneven steps, as measured
    idx = torch.tensor([[0.0, 1.5, 3.0]])
    got = index_to_depth(idx, d_mm=d, e_mm=23.6, F_mm=50.0).numpy()[0]
    want = focus_depth(np.array([30.0, 31.0, 32.0]), 23.6, 50.0)
    assert np.allclose(got, want, rtol=1e-5)
    with pytest.raises(ValueError, match="e_mm"):
        index_to_depth(idx, d_mm=d)


def test_depth_from_focus_tracks_true_depth() -> None:
    st = make_plane_stack(96, 128, planes=3, frames=7, A=300.0, seed=11)
    res = synthesize_aif(st.frames, align=False, focus_depths_mm=st.focus_depths_mm)
    assert res.depth_mm is not None
    conf = res.confidence > 0.3
    r = np.corrcoef(res.depth_mm[conf], st.depth_mm[conf])[0, 1]
    assert r > 0.9
