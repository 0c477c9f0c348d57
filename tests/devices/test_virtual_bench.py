"""The virtual bench's physics: render at focus, sensor model, timing, stamping, projector."""

from __future__ import annotations

import numpy as np
import pytest

from psfbench.core import optics
from psfbench.core.bench import (
    BenchWorld,
    SimCamera,
    SimFocusController,
    SimProjector,
    VirtualBenchSettings,
    read_stamp,
)
from psfbench.core.bench.motion import move_duration, trapezoid
from psfbench.core.bench.world import LUMA
from psfbench.core.render import render


def world(**kw: object) -> BenchWorld:
    opts: dict[str, object] = {"width": 48, "height": 40, "time_scale": 0.01}
    opts.update(kw)
    return BenchWorld(VirtualBenchSettings(**opts))  # type: ignore[arg-type]


def homed(w: BenchWorld) -> SimFocusController:
    ctl = SimFocusController(w)
    ctl.connect()
    ctl.home()
    return ctl


def test_camera_sees_render_at_current_focus() -> None:
    w = world(noise=False)
    ctl = homed(w)
    ctl.move_abs(1800)
    cam = SimCamera(w, pixel_format="Mono16", exposure_us=5000.0)
    cam.open()
    frame = cam.grab()
    s = w.settings
    d = s.d_home_mm + 1800 / s.steps_per_mm
    Df = optics.focus_depth(d, s.true_e_mm, s.F_mm)
    expected = np.asarray(render(w.scene.aif, w.scene.depth_mm, Df, s.true_A, s.F_mm))
    mono = np.tensordot(LUMA, expected, axes=1) * 0.5  # exposure 5 ms of the 10 ms reference
    got = frame.image.astype(np.float64) / 65520.0  # 12-bit data << 4
    assert np.abs(got - mono).max() < 1.5 / 4095
    # and not the render at another focus
    other = np.asarray(render(w.scene.aif, w.scene.depth_mm, Df * 1.3, s.true_A, s.F_mm))
    assert np.abs(got - np.tensordot(LUMA, other, axes=1) * 0.5).max() > 20 / 4095


def test_noise_and_quantisation_statistics() -> None:
    w = world(noise=True, scene="planes", full_well_e=4000.0, read_noise_e=6.0)
    cam = SimCamera(w, pixel_format="Mono12", exposure_us=5000.0, gain_db=6.0)
    cam.open()
    clean = SimCamera(world(noise=False, scene="planes"), pixel_format="Mono12")
    stack = np.stack([cam.grab().image.astype(np.float64) for _ in range(40)])
    assert stack.dtype == np.float64 and stack.max() <= 4095
    assert np.all(stack == np.rint(stack))
    mean, var = stack.mean(0), stack.var(0, ddof=1)
    g = 10 ** (6 / 20) * 4095 / 4000.0  # DN per electron
    e = mean / g
    predicted = g**2 * (e + 6.0**2) + 1 / 12
    ratio = float(np.median(var / predicted))
    assert 0.85 < ratio < 1.15, ratio
    del clean


def test_exposure_and_gain_scale_the_signal() -> None:
    w = world(noise=False, scene="planes")
    cam = SimCamera(w, pixel_format="Mono12", exposure_us=2000.0)
    cam.open()
    a = cam.grab().image.astype(np.float64).mean()
    cam.exposure_us = 4000.0
    b = cam.grab().image.astype(np.float64).mean()
    cam.gain_db = 20 * np.log10(1.5)
    c = cam.grab().image.astype(np.float64).mean()
    assert b / a == pytest.approx(2.0, rel=0.01)
    assert c / b == pytest.approx(1.5, rel=0.01)
    cam.exposure_us = 1e6
    assert cam.grab().image.max() == 4095  # saturates at the 12-bit ceiling


def test_trapezoid_timing_model() -> None:
    # 1000 steps at 2000 steps/s, 10000 steps/s^2: 0.2 s ramps + 0.3 s cruise
    assert move_duration(1000, 2000, 10000) == pytest.approx(0.7)
    # short move is triangular: 2 * sqrt(d / a)
    assert move_duration(100, 2000, 10000) == pytest.approx(2 * np.sqrt(100 / 10000))
    t = trapezoid(0.0, 0.0, 1000.0, 2000.0, 10000.0)
    assert t.position(0.35) == pytest.approx(500.0)
    assert t.velocity(0.35) == pytest.approx(2000.0)


def test_controller_moves_take_model_time_in_simulated_seconds() -> None:
    w = world(time_scale=0.1)
    ctl = homed(w)
    ctl.set_speed(2000.0)
    ctl.set_acceleration(10000.0)
    t0 = w.clock.now()
    r = ctl.sweep_step(1000, settle_s=0.25)
    # the move's end is analytic; only the start can lag t0 by scheduling jitter
    assert 0.7 <= r.t_move_done - t0 < 0.7 + 0.1
    # settle is a guaranteed minimum; the excess is wall-clock jitter on a busy machine
    assert 0.25 <= r.t_trigger - r.t_move_done < 0.25 + 0.2


def test_hardware_trigger_frames_are_stamped_with_the_state() -> None:
    w = world(stamp_state=True, noise=True)
    ctl = homed(w)
    cam = SimCamera(w, trigger_mode="hardware", pixel_format="Mono8")
    cam.open()
    cam.start_streaming()
    try:
        for k, target in enumerate((1500, 1700, 1900)):
            r = ctl.sweep_step(target, 0.02)
            frame = cam.retrieve(5.0)
            st = read_stamp(frame.image)
            assert st == {"frame_id": k, "position": target, "trigger_count": r.trigger_count}
            assert frame.metadata["trigger_count"] == r.trigger_count
            assert frame.timestamp == pytest.approx(r.t_trigger, abs=0.05)
    finally:
        cam.stop_streaming()


def test_stamp_survives_roi_and_rejects_unstamped() -> None:
    w = world(stamp_state=True)
    cam = SimCamera(w, pixel_format="Mono12")
    cam.open()
    assert read_stamp(cam.grab().image)["frame_id"] == 0
    plain = SimCamera(world(), pixel_format="Mono12")
    plain.open()
    with pytest.raises(ValueError):
        read_stamp(plain.grab().image)


def test_projector_lights_the_scene() -> None:
    w = world(noise=False, ambient=0.2, projector_gain=1.0, true_A=0.0)
    proj = SimProjector(w)
    cam = SimCamera(w, pixel_format="Mono12", exposure_us=4000.0)
    cam.open()
    dark = cam.grab().image.astype(np.float64)
    stripes = np.zeros((proj.height, proj.width), np.uint8)
    stripes[:, : proj.width // 2] = 255
    proj.show(stripes)
    lit = cam.grab().image.astype(np.float64)
    gain = lit / np.maximum(dark, 1)
    # some pixels see the bright half (x6 at ambient 0.2), others the dark half (x1)
    assert gain.max() > 4.0 and gain.min() < 1.2
    # illuminate() is the documented model: radiance = aif * (ambient + gain * pattern)
    rad = w.illuminate(np.full((proj.height, proj.width), 255, np.uint8))
    mx, my = w.projector_maps()
    inside = (mx >= 0) & (mx <= proj.width - 1) & (my >= 0) & (my <= proj.height - 1)
    assert inside.mean() > 0.9  # the default projector covers the camera's view
    np.testing.assert_allclose(rad[:, inside], w.scene.aif[:, inside] * 1.2, rtol=1e-5)
    proj.blank()
    np.testing.assert_array_equal(cam.grab().image, dark)


def test_realism_options_change_the_image_but_not_the_api() -> None:
    base = SimCamera(world(noise=False), pixel_format="Mono16")
    base.open()
    ref = base.grab().image.astype(np.float64)
    for opts in (
        {"psf_shape": "disc"},
        {"focus_breathing": 1.0},
        {"vignetting": 0.4},
        {"chromatic_A": (0.8, 1.0, 1.3)},
    ):
        cam = SimCamera(world(noise=False, **opts), pixel_format="Mono16")
        cam.open()
        img = cam.grab().image.astype(np.float64)
        assert img.shape == ref.shape
        assert np.abs(img - ref).mean() > 1.0, opts


def test_backlash_makes_the_lens_lag_on_reversal() -> None:
    w = world(backlash_steps=40.0)
    ctl = homed(w)
    ctl.move_abs(1000)
    d_up = w.true_d_mm()
    ctl.move_abs(1200)
    ctl.move_abs(1000)
    d_back = w.true_d_mm()
    assert (d_back - d_up) * w.settings.steps_per_mm == pytest.approx(40.0, abs=0.5)


def test_aperture_scale_zero_gives_the_all_in_focus_image() -> None:
    w = world(noise=False)
    cam = SimCamera(w, pixel_format="Mono16")
    cam.open()
    w.set_aperture_scale(0.0)
    img = cam.grab().image.astype(np.float64) / 65520.0
    aif = np.tensordot(LUMA, w.scene.aif, axes=1)
    assert np.abs(img - aif).max() < 1.5 / 4095


def test_faults_surface_as_device_errors() -> None:
    from psfbench.core.devices import DeviceDisconnected, DeviceError, DeviceTimeout, FrameLost

    w = world()
    ctl = homed(w)
    cam = SimCamera(w)
    cam.open()
    w.faults.camera_failed_frames = 1
    with pytest.raises(FrameLost):
        cam.grab()
    w.faults.camera_timeout = True
    with pytest.raises(DeviceTimeout):
        cam.grab(0.05)
    w.faults.camera_timeout = False
    w.faults.sensor_error = True
    with pytest.raises(DeviceError):
        ctl.read_distance_mm()
    assert ctl.status().sensor_error
    w.faults.sensor_error = False
    w.faults.camera_disconnected = True
    with pytest.raises(DeviceDisconnected):
        cam.grab()
    w.faults.controller_disconnected = True
    with pytest.raises(DeviceDisconnected):
        ctl.position()


def test_hidden_parameters_explain_a_virtual_sweep_best() -> None:
    """Frames + measured d + the AIF shot are consistent with the hidden (A, e) and nothing
    else on a small grid: the virtual bench is fittable by the paper's model."""
    w = world(width=64, height=48, noise=True)
    s = w.settings
    ctl = homed(w)
    cam = SimCamera(w, pixel_format="Mono12", exposure_us=8000.0, trigger_mode="hardware")
    cam.open()
    w.set_aperture_scale(0.0)
    cam.trigger_mode = "software"
    aif = cam.grab().as_float().astype(np.float64)
    w.set_aperture_scale(1.0)
    cam.trigger_mode = "hardware"
    lo, hi = w.suggested_sweep_steps()
    cam.start_streaming()
    shots = []
    try:
        for target in np.linspace(lo, hi, 3).round().astype(int):
            r = ctl.sweep_step(int(target), 0.01)
            shots.append((r.d_mm, cam.retrieve(10.0).as_float().astype(np.float64)))
    finally:
        cam.stop_streaming()

    def loss(A: float, e: float) -> float:
        total = 0.0
        for d, img in shots:
            Df = optics.focus_depth(d, e, s.F_mm)
            sim = np.asarray(render(aif[None], w.scene.depth_mm, Df, A, s.F_mm))[0]
            total += float(np.mean((sim - img) ** 2))
        return total

    grid = {(A, e): loss(A, e) for A in (600.0, 800.0, 1000.0) for e in (23.2, 23.6, 24.0)}
    best = min(grid, key=grid.__getitem__)
    assert best == (s.true_A, s.true_e_mm)


def test_sequencer_accounts_for_a_failed_buffer_once() -> None:
    from psfbench.core.devices import FrameLost
    from psfbench.core.devices.sequencing import FrameSequencer

    w = world()
    cam = SimCamera(w)
    cam.open()
    cam.start_streaming()
    try:
        seq = FrameSequencer(cam)
        cam.trigger()
        seq.next_frame(5.0)
        w.faults.camera_failed_frames = 1
        cam.trigger()
        with pytest.raises(FrameLost):
            seq.next_frame(5.0)
        cam.trigger()
        frame = seq.next_frame(5.0)
        assert frame.frame_id == 2 and frame.dropped == 1
    finally:
        cam.stop_streaming()
