"""Fusion beats every single frame on a synthetic stack with truth and keeps the layout."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.stacking.fusion import FusionParams, fuse
from psfbench.core.stacking.guided import guided_filter
from psfbench.core.stacking.quality import psnr
from psfbench.core.stacking.synthetic import make_plane_stack


@pytest.mark.parametrize("planes", [2, 3])
def test_fused_beats_every_frame(planes: int, device: str) -> None:
    st = make_plane_stack(96, 128, planes=planes, A=300.0, seed=planes)
    res = fuse(st.frames, device=device)
    fused = psnr(res.image.cpu().numpy(), st.aif)
    best_single = max(psnr(f, st.aif) for f in st.frames)
    assert fused > best_single + 5.0, (fused, best_single)
    w = res.weights.cpu()
    assert torch.allclose(w.sum(0), torch.ones_like(w[0]), atol=1e-5)
    assert res.image.shape == st.aif.shape


def test_guided_refinement_is_not_worse_than_box_only() -> None:
    sts = [make_plane_stack(96, 128, planes=3, A=a, seed=s) for a, s in ((200, 5), (400, 6))]

    def mean_psnr(p: FusionParams) -> float:
        return float(np.mean([psnr(fuse(s.frames, params=p).image.numpy(), s.aif) for s in sts]))

    assert mean_psnr(FusionParams()) >= mean_psnr(FusionParams(guided_radius=0)) - 0.05


@pytest.mark.parametrize("channels", [1, 3])
def test_mono_and_colour_keep_shape(channels: int) -> None:
    st = make_plane_stack(40, 56, channels=channels, planes=2, seed=7)
    res = fuse(st.frames)
    assert res.image.shape == (channels, 40, 56)
    assert res.image.dtype == torch.float32
    assert float(res.image.min()) >= 0 and float(res.image.max()) <= 1


def test_invalid_pixels_take_no_weight() -> None:
    st = make_plane_stack(40, 56, planes=2, seed=8)
    valid = np.ones((2, 40, 56), bool)
    valid[1, :, :10] = False
    res = fuse(st.frames, valid=valid)
    assert float(res.weights[1, :, :10].max()) < 1e-5


def test_single_frame_is_returned_unchanged() -> None:
    st = make_plane_stack(32, 40, planes=2, seed=9)
    res = fuse(st.frames[:1])
    assert torch.equal(res.image, torch.from_numpy(st.frames[0]))


def test_guided_filter_backends_agree_in_the_interior() -> None:
    g = torch.rand(48, 64)
    m = torch.rand(3, 48, 64)
    a = guided_filter(g, m, 3, 1e-2, backend="opencv")
    b = guided_filter(g, m, 3, 1e-2, backend="torch")
    assert torch.allclose(a[:, 8:-8, 8:-8], b[:, 8:-8, 8:-8], atol=1e-4)
