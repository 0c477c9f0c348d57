"""The fringe panel's core: the white/black clipping check, the reasons decode_scan gives for
refused pixels, the virtual bench's shiny patch and projector gamma, and gamma measurement
from grey-level captures."""

from __future__ import annotations

import numpy as np
import pytest

from psfbench.core.acquisition.fringe_scan import calibration_from_world
from psfbench.core.bench.camera import SimCamera
from psfbench.core.bench.projector import SimProjector
from psfbench.core.bench.settings import VirtualBenchSettings
from psfbench.core.bench.world import BenchWorld
from psfbench.core.fringe.check import check_contrast
from psfbench.core.fringe.gamma import GammaFitError, fit_projector_gamma, responses_from_frames
from psfbench.core.fringe.scan import REFUSAL_REASONS, decode_scan, fringe_scan_patterns

PATCH = (0.55, 0.2, 0.8, 0.5)


def _world(**kw: object) -> BenchWorld:
    opts: dict[str, object] = {
        "width": 160,
        "height": 128,
        "time_scale": 0.001,
        "seed": 3,
    }
    opts.update(kw)
    return BenchWorld(VirtualBenchSettings(**opts))  # type: ignore[arg-type]


def _patch_mask(w: BenchWorld) -> np.ndarray:
    m = w.shiny_mask()
    assert m is not None
    return m > 0


def _white_black(w: BenchWorld, exposure_us: float) -> tuple[np.ndarray, np.ndarray]:
    w.set_aperture_scale(0.0)  # stopped down, as for a scan: the glint does not blur out
    proj = SimProjector(w)
    cam = SimCamera(w, pixel_format="Mono12", exposure_us=exposure_us)
    with cam:
        proj.show(np.full((proj.height, proj.width), 255, np.uint8))
        white = cam.grab().image
        proj.show(np.zeros((proj.height, proj.width), np.uint8))
        black = cam.grab().image
    proj.blank()
    return white, black


def test_settings_validate_the_shiny_patch() -> None:
    with pytest.raises(ValueError, match="shiny_patch"):
        VirtualBenchSettings(shiny_patch=(0.5, 0.2, 0.4, 0.6))
    assert _world().shiny_mask() is None
    m = _world(shiny_patch=(0.0, 0.0, 0.5, 0.25)).shiny_mask()
    assert m is not None and m.shape == (128, 160)
    assert m[:32, :80].all() and not m[32:].any() and not m[:, 80:].any()


def test_shiny_patch_mirrors_projector_light_only() -> None:
    w = _world(shiny_patch=PATCH, shiny_gain=5.0, true_A=0.0)
    inside = _patch_mask(w)
    dark = w.illuminate(None)
    np.testing.assert_allclose(dark, w.scene.aif * 1.0)  # ambient: no glint without projector
    white = np.full((w.settings.projector_height, w.settings.projector_width), 255, np.uint8)
    lit = w.illuminate(white)
    mx, my = w.projector_maps()
    covered = (mx >= 0) & (mx <= 639) & (my >= 0) & (my <= 399)
    out = covered & ~inside
    np.testing.assert_allclose(lit[:, out], w.scene.aif[:, out] * 2.0, rtol=1e-5)
    sel = covered & inside
    np.testing.assert_allclose(lit[:, sel], w.scene.aif[:, sel] * 2.0 + 5.0, rtol=1e-5)


def test_check_marks_clipping_on_the_shiny_patch_only() -> None:
    w = _world(shiny_patch=PATCH)
    inside = _patch_mask(w)
    white, black = _white_black(w, exposure_us=4000.0)  # 2 x albedo <= 0.8 full scale
    chk = check_contrast(white, black, 4095)
    assert chk.verdict == "clipped"
    assert "lower the exposure" in chk.hint
    assert chk.clipped[inside].mean() > 0.99
    assert not chk.clipped[~inside].any()
    assert chk.clipped_fraction == pytest.approx(inside.mean(), abs=0.01)
    assert chk.exposure_factor is None  # clipping hides how much too bright it is
    codes = chk.codes()
    assert set(np.unique(codes)) <= {0, 1, 2} and (codes[inside] == 1).mean() > 0.99


def test_check_ok_and_low_contrast() -> None:
    w = _world()
    white, black = _white_black(w, exposure_us=4000.0)
    chk = check_contrast(white, black, 4095)
    assert chk.verdict == "ok" and chk.ok and chk.clipped_fraction == 0.0
    assert chk.exposure_factor is not None and 0.9 < chk.exposure_factor < 1.5
    white, black = _white_black(w, exposure_us=150.0)
    chk = check_contrast(white, black, 4095)
    assert chk.verdict == "low_contrast" and "raise the exposure" in chk.hint
    assert chk.low_contrast_fraction > 0.5
    assert chk.exposure_factor is not None and chk.exposure_factor > 10
    # a colour camera clips when any channel does; shapes must match
    rgb_w = np.zeros((4, 4, 3), np.uint8)
    rgb_w[0, 0, 1] = 255
    chk = check_contrast(rgb_w, np.zeros_like(rgb_w), 255)
    assert chk.clipped[0, 0] and chk.clipped.sum() == 1
    with pytest.raises(ValueError):
        check_contrast(np.zeros((4, 4)), np.zeros((4, 5)), 255)


def _scan(w: BenchWorld, exposure_us: float) -> tuple[np.ndarray, object]:
    s = w.settings
    pats, scan = fringe_scan_patterns(s.projector_width, s.projector_height)
    proj = SimProjector(w)
    cam = SimCamera(w, pixel_format="Mono12", exposure_us=exposure_us)
    w.set_aperture_scale(0.0)
    frames = []
    with cam:
        for p in pats:
            proj.show(p)
            frames.append(cam.grab().image)
    proj.blank()
    return np.stack(frames).astype(np.float32), scan


def test_refusal_reasons_partition_the_pixels() -> None:
    w = _world(shiny_patch=PATCH)
    inside = _patch_mask(w)
    stack, scan = _scan(w, 4000.0)
    cal = calibration_from_world(w, (w.settings.projector_width, w.settings.projector_height))
    res = decode_scan(stack, cal, scan, saturation=4095)
    assert set(res.refused) == set(REFUSAL_REASONS)
    total = res.valid.astype(int)
    for k in REFUSAL_REASONS:
        total += res.refused[k].astype(int)
    assert (total == 1).all()  # exclusive and complete
    sat = res.refused["saturated"]
    assert sat[inside].mean() > 0.9 and not sat[~inside].any()
    assert res.refused["low_modulation"].any()  # the texture's near-black patches
    assert res.refused["flying"].any()  # the steps scene's depth edges
    fr = res.refused_fractions()
    assert fr["saturated"] == pytest.approx(sat.mean())
    codes = res.refusal_codes()
    assert (codes[res.valid] == 0).all()
    assert (codes[sat] == 1 + REFUSAL_REASONS.index("saturated")).all()
    assert res.min_modulation is not None and res.min_modulation > 0
    # the default finds the level itself (float 12-bit counts: 4095) and refuses the same
    auto = decode_scan(stack, cal, scan)
    assert auto.saturation == 4095 and (auto.refused["saturated"] == sat).all()
    np.testing.assert_array_equal(auto.valid, res.valid)
    # with the check off nothing is refused as saturated, and the valid depth is the same
    # where both decodes keep it
    res0 = decode_scan(stack, cal, scan, saturation=None)
    assert not res0.refused["saturated"].any() and res0.saturation is None
    # the glint's meaningless modulation does not lift the automatic threshold when the
    # saturated pixels are known: fewer good pixels are refused for low modulation
    assert res.min_modulation < 0.8 * res0.min_modulation
    low, low0 = res.refused["low_modulation"], res0.refused["low_modulation"]
    assert low[~inside].mean() < 0.8 * low0[~inside].mean()
    both = res.valid & res0.valid
    np.testing.assert_allclose(res.depth[both], res0.depth[both], atol=1e-3)
    truth = np.asarray(w.scene.depth_mm)
    assert np.sqrt(np.mean((res.depth[res.valid] - truth[res.valid]) ** 2)) < 0.3


def test_refusal_reason_unwrapping() -> None:
    w = _world()
    stack, scan = _scan(w, 4000.0)
    cal = calibration_from_world(w, (w.settings.projector_width, w.settings.projector_height))
    bad = stack.copy()
    # corrupt the second frequency in a block: rotate its steps (phase + 90 deg)
    block = (slice(40, 80), slice(40, 100))
    f2 = bad[4:8].copy()
    bad[4:8][(slice(None), *block)] = np.roll(f2, 1, axis=0)[(slice(None), *block)]
    res = decode_scan(bad, cal, scan)
    unw = res.refused["unwrapping"]
    assert unw[block].mean() > 0.5
    assert unw[block].sum() > 0.9 * unw.sum()


def test_projector_gamma_measured_from_grey_levels() -> None:
    w = _world(projector_gamma=2.2, noise=False)
    proj = SimProjector(w)
    cam = SimCamera(w, pixel_format="Mono12", exposure_us=4000.0)
    levels = [0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0]
    frames = []
    with cam:
        for v in levels:
            proj.show(np.full((proj.height, proj.width), v, np.float32))
            frames.append(cam.grab().image)
    x, y = responses_from_frames(levels, np.stack(frames), 4095)
    assert x == levels and y == sorted(y)
    fit = fit_projector_gamma(x, y)
    assert fit.gamma == pytest.approx(2.2, abs=0.05)
    with pytest.raises(GammaFitError, match="one \\(H, W\\) frame per level"):
        responses_from_frames(levels[:3], np.stack(frames), 4095)
    with pytest.raises(GammaFitError, match="no pixel"):
        responses_from_frames(levels, np.full((8, 4, 4), 4095), 4095)


def test_capture_white_black_and_gamma_on_the_bench() -> None:
    from psfbench.core.acquisition.bench_io import open_bench_from
    from psfbench.core.acquisition.fringe_scan import capture_white_black, measure_projector_gamma
    from psfbench.core.fringe.check import clip_level

    assert clip_level("Mono12") == 4095 and clip_level("Mono16") == 65520
    bench = open_bench_from(
        "virtual", time_scale=0.001, shiny_patch=PATCH, projector_gamma=1.8, width=160, height=128
    )
    try:
        world = bench.info.world
        inside = _patch_mask(world)
        wb = capture_white_black(bench, exposure_us=4000.0)
        assert wb.full_scale == 4095 and wb.exposure_us == 4000.0
        assert bench.camera.exposure_us == 4000.0
        assert world.aperture_scale == 1.0  # restored after the stopped-down shots
        assert bench.projector.current is None  # blanked
        chk = check_contrast(wb.white, wb.black, wb.full_scale)
        assert chk.clipped[inside].mean() > 0.99 and not chk.clipped[~inside].any()
        fit = measure_projector_gamma(bench, exposure_us=3000.0)
        assert fit.gamma == pytest.approx(1.8, abs=0.1)
    finally:
        bench.close()
