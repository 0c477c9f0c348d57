"""FrameLosses (per-frame masks, real side computed once) against loss_terms frame by frame,
and its l2 term against a brute-force NumPy statement with per-frame masks."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import torch

from psfbench.core.losses import TERM_NAMES, FrameLosses, LossConfig, loss_terms
from psfbench.core.losses.cpu_pairs import _workspace
from psfbench.core.losses.cv_filters import cv_erode
from psfbench.core.losses.filters import erode
from psfbench.core.scenes import make_scene

H, W, M = 40, 52, 4
PRESETS = {"paper": LossConfig.paper(), "refcode": LossConfig.refcode()}
# (channels of the images, colour handling)
COLOURS = {"mono": (1, "luma"), "rgb-luma": (3, "luma"), "rgb-channels": (3, "channels")}
NAMES = (*TERM_NAMES, "total")


def _sweep(channels: int, g: int = 3, quantize: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Real (M, C, H, W) and simulated (g, M, C, H, W) sweeps: a textured scene blurred by a
    few Gaussians, the simulations a little off in blur and noisy."""
    aif = make_scene("objects", H, W, seed=3).aif.transpose(1, 2, 0).astype(np.float32)
    img = aif if channels == 3 else np.ascontiguousarray(aif @ np.float32([0.299, 0.587, 0.114]))
    rng = np.random.default_rng(2)

    def blur(s: float) -> torch.Tensor:
        b = cv2.GaussianBlur(img, (0, 0), s)
        b = np.clip(b + rng.normal(0, 0.01, b.shape).astype(np.float32), 0, 1)
        if quantize:  # multiples of 1/256: float32 Laplacians are then exact on every path
            b = np.round(b * 255) / 256
        return torch.from_numpy(
            np.ascontiguousarray(b.transpose(2, 0, 1) if b.ndim == 3 else b[None])
        )

    real = torch.stack([blur(0.8 + 0.6 * j) for j in range(M)])
    sims = torch.stack(
        [torch.stack([blur(0.8 + 0.6 * j + 0.25 * (i - 1)) for j in range(M)]) for i in range(g)]
    )
    return real, sims


def _frame_masks() -> torch.Tensor:
    """(M, H, W): a hole growing with the frame index, a few scattered pixels off, and one
    frame with every pixel valid (its terms then take the unmasked path)."""
    masks = torch.ones(M, H, W, dtype=torch.bool)
    rng = np.random.default_rng(4)
    for m in range(M - 1):
        r = 3 + 3 * m
        masks[m, 20 - r : 20 + r, 10 : 12 + 2 * r] = False
        masks[m].view(-1)[torch.from_numpy(rng.choice(H * W, 40 + 20 * m, replace=False))] = False
    return masks


def _masks(kind: str) -> torch.Tensor | None:
    if kind == "none":
        return None
    if kind == "shared":
        return _frame_masks()[1]
    return _frame_masks()


def _frame_mask(masks: torch.Tensor | None, m: int) -> torch.Tensor | None:
    return masks if masks is None or masks.ndim == 2 else masks[m]


def _assert_equal_terms(got: torch.Tensor, want: torch.Tensor, cfg: LossConfig) -> None:
    rtol = 1e-12 if cfg.float64 else 1e-6
    torch.testing.assert_close(got, want, rtol=rtol, atol=0)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("colour", COLOURS)
@pytest.mark.parametrize("mask_kind", ["none", "shared", "per-frame"])
def test_equals_loss_terms_frame_by_frame(preset: str, colour: str, mask_kind: str) -> None:
    channels, color = COLOURS[colour]
    cfg = PRESETS[preset].with_(color=color)
    real, sims = _sweep(channels)
    masks = _masks(mask_kind)
    fl = FrameLosses(real, masks, cfg)
    dtype = torch.float64 if cfg.float64 else torch.float32
    for batch in (sims, sims[1]):  # leading dims (3,) and none
        out = fl(batch)
        assert set(out) == set(NAMES)
        for m in range(M):
            ref = loss_terms(real[m], batch[..., m, :, :, :], _frame_mask(masks, m), cfg)
            for name in NAMES:
                assert out[name].shape == (*batch.shape[:-4], M)
                assert out[name].dtype == dtype
                _assert_equal_terms(out[name][..., m], ref[name], cfg)


def test_two_leading_dims_and_repeated_calls() -> None:
    real, sims = _sweep(1, g=4)
    masks = _frame_masks()
    fl = FrameLosses(real, masks)
    batch = sims.reshape(2, 2, M, 1, H, W)
    first = fl(batch)
    again = fl(batch)
    for name in NAMES:
        assert first[name].shape == (2, 2, M)
        assert torch.equal(first[name], again[name])
        assert torch.equal(first[name].reshape(4, M), fl(sims)[name])


def test_real_is_copied() -> None:
    real, sims = _sweep(1)
    fl = FrameLosses(real, _frame_masks())
    before = fl(sims)
    real.mul_(0.5)
    after = fl(sims)
    for name in NAMES:
        assert torch.equal(before[name], after[name])


def _grey_np(x: np.ndarray) -> np.ndarray:
    """BT.601 luma of (..., C, H, W) in float64 (the paper preset's grey)."""
    if x.shape[-3] == 1:
        return x[..., 0, :, :].astype(np.float64)
    w = np.array([0.299, 0.587, 0.114])
    return np.einsum("...chw,c->...hw", x.astype(np.float64), w)


@pytest.mark.parametrize("channels", [1, 3])
def test_l2_matches_brute_force_with_per_frame_masks(channels: int) -> None:
    real, sims = _sweep(channels)
    masks = _frame_masks()
    # Invalid pixels take no part in any term, whatever they hold.
    sims_nan = sims.clone()
    sims_nan[:, ~masks[:, None, :, :].expand(M, channels, H, W)] = float("nan")
    for cfg, reduce in (
        (LossConfig.paper(), lambda s, n: s / n),
        (LossConfig.paper().with_(reduction="norm_over_n"), lambda s, n: np.sqrt(s) / n),
    ):
        fl = FrameLosses(real, masks, cfg)
        out = fl(sims)
        out_nan = fl(sims_nan)
        gr, gs = _grey_np(real.numpy()), _grey_np(sims.numpy())
        mk = masks.numpy()
        for m in range(M):
            d2 = (gr[m] - gs[:, m]) ** 2
            n = mk[m].sum()
            want = reduce(np.where(mk[m], d2, 0.0).sum(axis=(-2, -1)), n)
            np.testing.assert_allclose(out["l2"][:, m].numpy(), want, rtol=2e-5, atol=0)
        assert np.allclose(fl.valid_fraction, mk.mean(axis=(1, 2)), rtol=0, atol=1e-15)
        for name in NAMES:
            assert bool(torch.isfinite(out_nan[name]).all()), name
            torch.testing.assert_close(out_nan[name], out[name], rtol=1e-6, atol=0)


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("colour", ["mono", "rgb-channels"])
def test_torch_backend_agrees_with_loss_terms(preset: str, colour: str) -> None:
    """The batched torch path (what CUDA runs), forced on the CPU. On multiples of 1/256 the
    Laplacians are exact on both paths, so the histograms agree; the rest differs by the
    filters' and sums' rounding (SSIM's E[x^2] - mu^2 cancels in float32: against the float64
    reference the torch path is off by up to 5.4e-5 relative and the CPU kernel's 11-tap sums
    by up to 7.7e-5, so the two differ by up to 1.3e-4; the other paper-preset terms by
    <= 1.3e-7, the refcode preset's by <= 5e-14)."""
    channels, color = COLOURS[colour]
    cfg = PRESETS[preset].with_(color=color)
    real, sims = _sweep(channels, quantize=True)
    masks = _frame_masks()
    fl = FrameLosses(real, masks, cfg, backend="torch")
    out = fl(sims)
    for m in range(M):
        ref = loss_terms(real[m], sims[:, m], masks[m], cfg)
        for name in NAMES:
            rtol = 1e-12 if cfg.float64 else {"ssim": 2e-4, "total": 1e-5}.get(name, 1e-6)
            torch.testing.assert_close(out[name][:, m], ref[name], rtol=rtol, atol=0)


def test_device_agreement(device: str) -> None:
    """On each device (CUDA when present) FrameLosses equals loss_terms run there."""
    real, sims = _sweep(1)
    masks = _frame_masks()
    for cfg in PRESETS.values():
        fl = FrameLosses(real.to(device), masks.to(device), cfg)
        out = fl(sims)  # moved to the real frames' device
        for m in range(M):
            ref = loss_terms(real[m].to(device), sims[:, m].to(device), masks[m].to(device), cfg)
            for name in NAMES:
                assert out[name].device.type == device
                _assert_equal_terms(out[name][:, m], ref[name], cfg)


def test_errors_name_the_frame() -> None:
    real, sims = _sweep(1)
    masks = torch.ones(M, H, W, dtype=torch.bool)
    masks[2] = False
    with pytest.raises(ValueError, match="frame 2"):
        FrameLosses(real, masks)
    # Valid pixels only on a 3 px wide line: nothing survives the 5x5 Laplacian's erosion.
    masks = torch.ones(M, H, W, dtype=torch.bool)
    masks[1] = False
    masks[1, :, 20:23] = True
    with pytest.raises(ValueError, match="frame 1"):
        FrameLosses(real, masks)
    with pytest.raises(ValueError, match="masks"):
        FrameLosses(real, torch.ones(M + 1, H, W, dtype=torch.bool))
    with pytest.raises(ValueError, match="real"):
        FrameLosses(real[0])
    with pytest.raises(TypeError):
        FrameLosses(real.to(torch.uint8))
    fl = FrameLosses(real)
    with pytest.raises(ValueError, match="sims"):
        fl(sims[:, :2])
    with pytest.raises(ValueError, match="sims"):
        fl(sims[..., 1:, :])


def test_scratch_buffers_are_per_thread_not_per_kernel() -> None:
    """All kernels on one thread share one workspace; another thread gets its own."""
    dt = np.dtype(np.float32)
    a = _workspace(H, W, dt, 256, False)
    assert _workspace(H, W, dt, 256, False) is a
    assert _workspace(H, W, dt, 1000, True) is not a
    other: list[object] = []
    t = threading.Thread(target=lambda: other.append(_workspace(H, W, dt, 256, False)))
    t.start()
    t.join()
    assert other[0] is not a
    # A sweep's kernels hold no plane-sized scratch of their own: only the real features.
    real, _ = _sweep(1)
    fl = FrameLosses(real, _frame_masks())
    for frame in fl._frames:
        kernel = frame.kernel
        assert kernel is not None
        assert not any(hasattr(kernel, k) for k in ("buf", "hbuf", "binner"))


@pytest.mark.parametrize("radius", [1, 2])
def test_opencv_erosion_equals_max_pool_erosion(radius: int) -> None:
    """The CPU masks' erosion (cv_erode) against filters.erode, holes touching the border."""
    gen = torch.Generator().manual_seed(radius)
    for p in (0.01, 0.1, 0.5):
        valid = torch.rand(H, W, generator=gen) > p
        valid[0, 5] = valid[H - 1, W - 1] = valid[7, 0] = False
        assert torch.equal(cv_erode(valid, radius), erode(valid, radius))
