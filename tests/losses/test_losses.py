"""Loss terms (eqs. 15-19): zero at identity, grow with blur mismatch, batch, mask, presets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from psfbench.core.losses import TERM_NAMES, LossConfig, loss_terms
from psfbench.core.scenes import make_scene

H, W = 64, 80
PRESETS = {"paper": LossConfig.paper(), "refcode": LossConfig.refcode()}
VARIANTS = {
    **PRESETS,
    "cross3": LossConfig.paper().with_(laplacian_kernel="cross3"),
    "channels": LossConfig.paper().with_(color="channels", hist_bins=64),
}


@pytest.fixture(scope="module")
def aif() -> np.ndarray:
    return np.ascontiguousarray(make_scene("planes", H, W, seed=4).aif.transpose(1, 2, 0))


def _blur(img_hwc: np.ndarray, sigma: float) -> torch.Tensor:
    out = img_hwc if sigma == 0 else cv2.GaussianBlur(img_hwc, (0, 0), sigma)
    return torch.from_numpy(np.ascontiguousarray(out.transpose(2, 0, 1)))


@pytest.mark.parametrize("preset", PRESETS)
def test_identical_inputs_give_zero(aif: np.ndarray, preset: str) -> None:
    x = _blur(aif, 1.5)
    mask = torch.ones(H, W, dtype=torch.bool)
    mask[10:20, 30:50] = False
    for m in (None, mask):
        out = loss_terms(x, x.clone(), mask=m, config=PRESETS[preset])
        for name in (*TERM_NAMES, "total"):
            assert float(out[name]) == 0.0, name


@pytest.mark.parametrize("preset", VARIANTS)
@pytest.mark.parametrize("direction", ["blurrier", "sharper"])
def test_each_term_grows_with_blur_mismatch(aif: np.ndarray, preset: str, direction: str) -> None:
    ref = _blur(aif, 2.0)
    sigmas = [2.0, 2.4, 3.0, 4.0, 6.0] if direction == "blurrier" else [2.0, 1.6, 1.1, 0.6]
    sims = torch.stack([_blur(aif, s) for s in sigmas])
    out = loss_terms(ref, sims, config=VARIANTS[preset])
    for name in (*TERM_NAMES, "total"):
        v = out[name].tolist()
        assert v[0] == 0.0
        assert all(b > a for a, b in zip(v, v[1:], strict=False)), f"{name}: {v}"


def test_weights_and_total_scale_apply(aif: np.ndarray) -> None:
    ref, sim = _blur(aif, 1.0), _blur(aif, 2.5)
    for cfg in PRESETS.values():
        out = loss_terms(ref, sim, config=cfg)
        expect = cfg.total_scale * sum(
            w * out[n] for w, n in zip(cfg.weights, TERM_NAMES, strict=True)
        )
        assert torch.allclose(out["total"], expect, rtol=1e-6)
    for i, name in enumerate(TERM_NAMES):
        wts = [0.0, 0.0, 0.0, 0.0]
        wts[i] = 3.0
        out = loss_terms(ref, sim, config=LossConfig.paper().with_(weights=tuple(wts)))
        assert torch.allclose(out["total"], 3.0 * out[name])
    assert LossConfig.paper().weights == (50000.0, 10000.0, 40000.0, 5000.0)
    assert LossConfig.refcode().total_scale == 0.25


@pytest.mark.parametrize("preset", PRESETS)
def test_batches_broadcast_like_the_fitter_uses_them(aif: np.ndarray, preset: str) -> None:
    cfg = PRESETS[preset]
    G, M = 3, 2
    real = torch.stack([_blur(aif, s) for s in (1.0, 3.0)])  # (M, C, H, W)
    sim = torch.stack(
        [torch.stack([_blur(aif, g + m) for m in range(M)]) for g in (0.5, 1.5, 2.5)]
    )  # (G, M, C, H, W)
    out = loss_terms(real, sim, config=cfg)
    for name in (*TERM_NAMES, "total"):
        assert out[name].shape == (G, M)
    for g in range(G):
        for m in range(M):
            one = loss_terms(real[m], sim[g, m], config=cfg)
            for name in (*TERM_NAMES, "total"):
                assert one[name].shape == ()
                assert torch.allclose(out[name][g, m], one[name], rtol=1e-5, atol=1e-9)
    # A single real image against a batch; tiny chunks give the same numbers.
    small = loss_terms(real[0], sim, config=cfg.with_(chunk_pixels=1))
    big = loss_terms(real[0].expand(G, M, -1, -1, -1), sim, config=cfg)
    for name in (*TERM_NAMES, "total"):
        assert small[name].shape == (G, M)
        assert torch.allclose(small[name], big[name], rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("preset", VARIANTS)
def test_mask_excludes_pixels_from_every_term(aif: np.ndarray, preset: str) -> None:
    cfg = VARIANTS[preset]
    ref, sim = _blur(aif, 1.0), _blur(aif, 2.0)
    mask = torch.ones(H, W, dtype=torch.bool)
    mask[20:40, 25:45] = False
    bad_ref, bad_sim = ref.clone(), sim.clone()
    bad_ref[:, ~mask] = float("nan")
    bad_sim[:, ~mask] = torch.rand(
        3, int((~mask).sum()), generator=torch.Generator().manual_seed(0)
    )
    clean = loss_terms(ref, sim, mask=mask, config=cfg)
    dirty = loss_terms(bad_ref, bad_sim, mask=mask, config=cfg)
    unmasked = loss_terms(ref, sim, config=cfg)
    for name in (*TERM_NAMES, "total"):
        assert torch.isfinite(dirty[name]), name
        assert torch.allclose(clean[name], dirty[name], rtol=1e-6, atol=1e-12), name
        assert not torch.allclose(clean[name], unmasked[name], rtol=1e-4, atol=0), name
    # The same holds for a numpy mask, e.g. from psfbench.core.optics.valid_depth_mask.
    np_mask = loss_terms(ref, sim, mask=mask.numpy(), config=cfg)
    assert torch.equal(np_mask["total"], clean["total"])
    with pytest.raises(ValueError, match="mask"):
        loss_terms(ref, sim, mask=torch.zeros(H, W, dtype=torch.bool), config=cfg)


def test_presets_differ_where_documented() -> None:
    p, r = LossConfig.paper(), LossConfig.refcode()
    differ = {
        f
        for f in p.__dataclass_fields__
        if getattr(p, f) != getattr(r, f) and f not in ("chunk_pixels",)
    }
    assert differ == {
        "total_scale",
        "quantize_u8",
        "reduction",
        "laplacian_abs_u8",
        "hist_source",
        "hist_bins",
        "hist_closed_edges",
        "hist_reduction",
        "ssim_padding",
        "float64",
    }
    assert p.weights == r.weights and p.ssim_window == r.ssim_window == 11
    assert p.laplacian_kernel == r.laplacian_kernel == "opencv5"


def test_deterministic(aif: np.ndarray) -> None:
    ref = _blur(aif, 1.0)
    sims = torch.stack([_blur(aif, s) for s in (0.5, 2.0, 4.0)])
    for cfg in PRESETS.values():
        a = loss_terms(ref, sims, config=cfg)
        b = loss_terms(ref, sims, config=cfg)
        for name in a:
            assert torch.equal(a[name], b[name])


def test_per_channel_option(aif: np.ndarray) -> None:
    ref, sim = _blur(aif, 1.0), _blur(aif, 2.0)
    cfg = LossConfig.paper().with_(color="channels")
    out = loss_terms(ref, sim, config=cfg)
    per = [loss_terms(ref[c : c + 1], sim[c : c + 1], config=cfg) for c in range(3)]
    for name in TERM_NAMES:
        assert torch.allclose(out[name], sum(p[name] for p in per) / 3, rtol=1e-5)


def test_bad_inputs_name_the_argument() -> None:
    x = torch.zeros(3, 16, 16)
    with pytest.raises(ValueError, match="'real'"):
        loss_terms(torch.zeros(3, 16, 17), x)
    with pytest.raises(ValueError, match="'sim'"):
        loss_terms(x, torch.zeros(16, 16))
    with pytest.raises(TypeError, match="'sim'"):
        loss_terms(x, torch.zeros(3, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="hist_bins"):
        LossConfig(hist_bins=1)
    with pytest.raises(ValueError, match="mask"):
        loss_terms(x, x, mask=torch.ones(8, 8, dtype=torch.bool))


def test_device_agreement(aif: np.ndarray, device: str) -> None:
    ref = torch.stack([_blur(aif, s) for s in (1.0, 2.0)])
    sims = torch.stack([torch.stack([_blur(aif, s + g) for s in (1.5, 2.5)]) for g in (0, 1, 2)])
    mask = torch.ones(H, W, dtype=torch.bool)
    mask[5:15, 5:25] = False
    for cfg in PRESETS.values():
        cpu = loss_terms(ref, sims, mask=mask, config=cfg)
        dev = loss_terms(ref.to(device), sims.to(device), mask=mask.to(device), config=cfg)
        for name in cpu:
            assert dev[name].device.type == device
            assert torch.allclose(dev[name].cpu(), cpu[name], rtol=1e-4, atol=1e-9), name
