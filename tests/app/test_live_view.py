"""Live view panel against the virtual bench: frames shown are the camera's, camera settings
reach the device and show its read-back, auto-contrast survives hot pixels, ROI statistics
equal NumPy's, snapshots are the displayed frame on disk with their metadata, input hygiene,
the run hand-over."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QMouseEvent, QWheelEvent
from PySide6.QtWidgets import QApplication

pytest.importorskip("pyqtgraph")

T = 15_000  # ms: generous, the machine is slow and shared


@pytest.fixture
def panel(qtbot, bench_model, gui_settings, tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from psfbench.app.panels.live_view import LiveViewPanel

    p = LiveViewPanel(bench_model, gui_settings)
    qtbot.addWidget(p)
    p.resize(1000, 620)  # the centre of the main window: image left, controls right
    p.show()
    p.folder_edit.setText(str(tmp_path / "snaps"))
    # the camera's settings have been read back from the device
    qtbot.waitUntil(lambda: bool(p._camera), timeout=T)
    yield p
    p.shutdown()
    p.shutdown()  # idempotent


def _frame(image: np.ndarray, seq: int, full_scale: int = 4095, **meta: Any) -> Any:
    from psfbench.app.bench_model import LiveFrame

    image.setflags(write=False)
    return LiveFrame(seq, image, full_scale, "live", time.monotonic(), dict(meta))


def _feed(qtbot, panel: Any, monkeypatch, frame: Any) -> None:  # type: ignore[no-untyped-def]
    """Make the model's newest frame ``frame`` and wait until the panel has drawn it."""
    monkeypatch.setattr(panel.model, "latest_frame", lambda: frame)
    qtbot.waitUntil(lambda: panel._frame is frame, timeout=T)


def _bulk(h: int = 120, w: int = 160, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(1000.0, 50.0, (h, w)), 0, 4095).astype(np.uint16)


def _type(qtbot, box: Any, text: str) -> None:  # type: ignore[no-untyped-def]
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, text)
    qtbot.keyClick(box, Qt.Key.Key_Return)


def _camera(model: Any) -> Any:
    """The camera's (exposure, gain, pixel format, ROI as a tuple, streaming), read on the
    device thread after every queued call."""
    cam = model.bench.camera

    def read() -> tuple[Any, ...]:
        r = cam.roi
        roi = (r.x, r.y, r.width, r.height)
        return (cam.exposure_us, cam.gain_db, cam.pixel_format, roi, cam.is_streaming)

    return model.call(read).result(timeout=10)


# ------------------------------------------------------------------ frames


def test_live_view_shows_the_cameras_frames(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    assert not model.live_running
    qtbot.mouseClick(panel.live_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: model.live_running and panel.displayed_frames >= 5, timeout=T)
    assert panel.live_button.isChecked()
    first = panel._frame
    qtbot.waitUntil(lambda: panel._frame.seq > first.seq + 3, timeout=T)
    assert not np.array_equal(panel.view.image.image, first.image)  # it is live (noise)
    assert 0 < panel.display_fps
    assert panel.displayed_frames <= model.live.produced
    assert "camera" in panel.fps_label.text()

    qtbot.mouseClick(panel.live_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not model.live_running, timeout=T)
    assert not panel.live_button.isChecked()
    last = model.latest_frame()
    qtbot.waitUntil(lambda: panel._frame.seq == last.seq, timeout=T)
    shown = panel.view.image.image
    # pixel probes: what the image item draws is the camera's last frame, unmodified
    assert shown.dtype == np.uint16 and shown.shape == (257, 307)  # the virtual Mono12 sensor
    for y, x in [(0, 0), (128, 153), (256, 306), (17, 250)]:
        assert shown[y, x] == last.image[y, x]
    assert np.array_equal(shown, last.image)
    assert shown.max() <= 4095


def test_older_or_repeated_frames_are_not_redrawn(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    f5 = _frame(_bulk(seed=5), 5)
    _feed(qtbot, panel, monkeypatch, f5)
    n = panel.displayed_frames
    old = _frame(_bulk(seed=4), 4)
    old = type(old)(4, old.image, 4095, "live", f5.timestamp - 1.0, {})
    monkeypatch.setattr(panel.model, "latest_frame", lambda: old)
    qtbot.wait(200)  # several display ticks
    assert panel._frame is f5 and panel.displayed_frames == n
    f6 = _frame(_bulk(seed=6), 6)
    _feed(qtbot, panel, monkeypatch, f6)
    assert panel.displayed_frames == n + 1


# ------------------------------------------------------------------ camera settings


def test_exposure_box_sets_the_camera_and_shows_its_read_back(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from psfbench.core.bench.camera import SimCamera

    model = panel.model
    assert panel.exposure_spin.value() == model.bench.camera.exposure_us == 10_000.0
    _type(qtbot, panel.exposure_spin, "2500")
    qtbot.waitUntil(lambda: _camera(model)[0] == 2500.0, timeout=T)
    assert panel.exposure_spin.value() == 2500.0

    # a camera that rounds (as a real one does, to its increment): the box shows what it took
    prop = SimCamera.exposure_us

    def rounding(cam: SimCamera, value: float) -> None:
        prop.fset(cam, 7.0 * round(float(value) / 7.0))

    monkeypatch.setattr(SimCamera, "exposure_us", property(prop.fget, rounding))
    _type(qtbot, panel.exposure_spin, "3000")
    qtbot.waitUntil(lambda: _camera(model)[0] == 3003.0, timeout=T)
    qtbot.waitUntil(lambda: panel.exposure_spin.value() == 3003.0, timeout=T)

    _type(qtbot, panel.gain_spin, "6.5")
    qtbot.waitUntil(lambda: _camera(model)[1] == 6.5, timeout=T)
    assert panel.gain_spin.value() == 6.5


def test_wheel_over_an_unfocused_exposure_box_changes_nothing(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    box = panel.exposure_spin
    panel.snapshot_button.setFocus()  # focus elsewhere (buttons take none: use the tabs)
    panel.tabs.setFocus()
    assert not box.hasFocus()

    def wheel() -> None:
        centre = QPointF(box.width() / 2, box.height() / 2)
        ev = QWheelEvent(
            centre,
            QPointF(box.mapToGlobal(QPoint(box.width() // 2, box.height() // 2))),
            QPoint(0, 0),
            QPoint(0, 120 * 3),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        QApplication.sendEvent(box, ev)

    before = box.value()
    wheel()
    qtbot.wait(100)
    assert box.value() == before
    assert _camera(panel.model)[0] == before
    box.setFocus()  # the same wheel does reach a focused box (the event is a real one)
    qtbot.waitUntil(box.hasFocus, timeout=T)
    wheel()
    assert box.value() != before


def test_pixel_format_and_sensor_roi_restart_live_view(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    panel.start_live()
    qtbot.waitUntil(lambda: panel.displayed_frames >= 2, timeout=T)

    combo = panel.format_combo
    combo.setCurrentIndex(combo.findText("Mono8"))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: _camera(model)[2] == "Mono8", timeout=T)
    qtbot.waitUntil(
        lambda: panel._frame is not None and panel._frame.image.dtype == np.uint8, timeout=T
    )
    assert model.live_running and panel._frame.full_scale == 255

    for box, v in zip(panel.hw_roi_spins, (40, 30, 100, 64), strict=True):
        box.setValueSilently(v)
    qtbot.mouseClick(panel.roi_apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _camera(model)[3] == (40, 30, 100, 64), timeout=T)
    qtbot.waitUntil(lambda: panel.view.image.image.shape == (64, 100), timeout=T)
    assert model.live_running
    assert "100×64 at (40, 30)" in panel.camera_label.text()
    # the view ROI moved onto the smaller image
    x, y, w, h = panel.view.roi_rect()
    assert x + w <= 100 and y + h <= 64

    qtbot.mouseClick(panel.roi_full_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.roi_apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: panel.view.image.image.shape == (257, 307), timeout=T)
    panel.stop_live()


def test_a_refused_setting_is_reported_and_the_device_value_kept(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    for box, v in zip(panel.hw_roi_spins, (300, 0, 100, 64), strict=True):
        box.setValueSilently(v)  # 300 + 100 > 307: the camera refuses
    qtbot.mouseClick(panel.roi_apply_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "sensor ROI" in panel.message_label.text(), timeout=T)
    assert panel.message_label.isVisible()
    assert _camera(model)[3] == (0, 0, 307, 257)
    qtbot.waitUntil(lambda: [b.value() for b in panel.hw_roi_spins] == [0, 0, 307, 257])


# ------------------------------------------------------------------ display


def test_auto_contrast_ignores_a_few_hot_pixels(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    img = _bulk()
    hot = [(3, 7), (50, 60), (100, 150), (119, 0), (60, 80)]
    for y, x in hot:
        img[y, x] = 4095
    assert img.max() == 4095  # a min/max stretch would use 0..4095 here
    assert panel.continuous_check.isChecked()  # default: auto on every frame
    _feed(qtbot, panel, monkeypatch, _frame(img, 1))
    lo, hi = panel.view.levels()
    assert 780 < lo < 950 and 1050 < hi < 1220, (lo, hi)

    # manual: drag-like level change switches auto off; Full range; then Auto once
    qtbot.mouseClick(panel.full_button, Qt.MouseButton.LeftButton)
    assert not panel.continuous_check.isChecked()
    assert panel.view.levels() == (0.0, 4095.0)
    _feed(qtbot, panel, monkeypatch, _frame(img.copy(), 2))
    assert panel.view.levels() == (0.0, 4095.0)  # manual levels stay
    qtbot.mouseClick(panel.auto_button, Qt.MouseButton.LeftButton)
    lo, hi = panel.view.levels()
    assert 780 < lo < 950 and 1050 < hi < 1220, (lo, hi)
    assert not panel.continuous_check.isChecked()

    # the user's percentiles are used and remembered
    _type(qtbot, panel.high_pct_spin, "90")
    assert panel.settings.contrast_percentiles == (0.5, 90.0)


def test_user_dragging_the_levels_switches_to_manual(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _feed(qtbot, panel, monkeypatch, _frame(_bulk(), 1))
    assert panel.continuous_check.isChecked()
    region = panel.view.hist.region
    region.lines[1].setValue(2000.0)  # what a drag of the upper handle does
    region.lines[1].sigPositionChangeFinished.emit(region.lines[1])
    assert not panel.continuous_check.isChecked()
    _feed(qtbot, panel, monkeypatch, _frame(_bulk(seed=3), 2))
    assert panel.view.levels()[1] == pytest.approx(2000.0)


def test_roi_statistics_equal_numpy_including_saturated(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    img = _bulk()
    img[25:28, 12:20] = 4095  # 24 saturated pixels inside the ROI
    img[0:2, 0:5] = 4095  # 10 outside it
    _feed(qtbot, panel, monkeypatch, _frame(img, 1))
    panel.set_roi(10, 20, 40, 30)
    assert panel.view.roi_rect() == (10, 20, 40, 30)
    qtbot.waitUntil(
        lambda: (
            panel.roi_stats is not None
            and (panel.roi_stats.x, panel.roi_stats.y, panel.roi_stats.width) == (10, 20, 40)
        ),
        timeout=T,
    )
    s = panel.roi_stats
    crop = img[20:50, 10:50].astype(np.float64)
    assert (s.width, s.height, s.count) == (40, 30, 1200)
    assert s.mean == pytest.approx(crop.mean(), rel=1e-9)
    assert s.sd == pytest.approx(crop.std(), rel=1e-6)
    assert (s.min, s.max) == (crop.min(), crop.max())
    assert s.saturated == int(np.count_nonzero(crop >= 4095)) == 24
    text = panel.roi_label.text()
    assert "saturated 24" in text and f"mean {crop.mean():.1f}" in text

    # a ROI hanging over the edge is clipped to the frame
    panel.set_roi(150, 100, 40, 40)
    qtbot.waitUntil(lambda: panel.roi_stats.x == 150, timeout=T)
    assert (panel.roi_stats.width, panel.roi_stats.height) == (10, 20)
    assert panel.roi_stats.mean == pytest.approx(img[100:120, 150:160].mean())


def test_saturation_overlay_marks_full_scale_pixels(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    img = _bulk()
    img[5:9, 30:40] = 4095
    img[70, 70] = 4094  # one below full scale: not saturated
    _feed(qtbot, panel, monkeypatch, _frame(img, 1))
    overlay = panel.view.overlay
    assert overlay.isVisible()
    assert np.array_equal(overlay.image.astype(bool), img >= 4095)
    panel.saturation_check.setChecked(False)
    assert not overlay.isVisible()
    _feed(qtbot, panel, monkeypatch, _frame(img.copy(), 2))
    assert not overlay.isVisible()
    assert panel.settings.panels["live_view"]["saturation_overlay"] is False


def test_pixel_readout_under_the_cursor(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    img = _bulk()
    img[40, 90] = 3210
    _feed(qtbot, panel, monkeypatch, _frame(img, 1))
    view = panel.view

    def move_to(x: float, y: float) -> None:
        # a mouse move as the window system delivers it to the view's viewport (QTest's
        # synthetic moves are unreliable on the offscreen platform with several windows)
        pos = QPointF(view.mapFromScene(view.view.mapViewToScene(QPointF(x, y))))
        glob = QPointF(view.viewport().mapToGlobal(pos.toPoint()))
        ev = QMouseEvent(
            QEvent.Type.MouseMove,
            pos,
            glob,
            Qt.MouseButton.NoButton,
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
        )
        QApplication.sendEvent(view.viewport(), ev)

    move_to(90.5, 40.5)
    qtbot.waitUntil(lambda: panel.readout_label.text() == "x 90, y 40: 3210", timeout=T)
    move_to(10.2, 100.9)
    qtbot.waitUntil(lambda: panel.readout_label.text() == f"x 10, y 100: {img[100, 10]}", timeout=T)
    move_to(-20.0, 50.0)  # off the image
    qtbot.waitUntil(lambda: panel.readout_label.text() == "x –, y –", timeout=T)


def test_focus_measure_follows_sharpness(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import cv2

    rng = np.random.default_rng(0)
    sharp = (rng.random((120, 160)) > 0.5).astype(np.float32) * 3000 + 500
    blurred = cv2.GaussianBlur(sharp, (0, 0), 3.0)
    _feed(qtbot, panel, monkeypatch, _frame(blurred.astype(np.uint16), 1))
    qtbot.waitUntil(lambda: panel.focus_value is not None, timeout=T)
    soft = panel.focus_value
    _feed(qtbot, panel, monkeypatch, _frame(sharp.astype(np.uint16), 2))
    qtbot.waitUntil(lambda: panel.focus_value != soft, timeout=T)
    assert panel.focus_value > 10 * soft
    qtbot.waitUntil(lambda: "100 % of peak" in panel.focus_label.text(), timeout=T)


# ------------------------------------------------------------------ snapshots


def test_snapshot_writes_the_displayed_frame_with_metadata(qtbot, panel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import tifffile

    model = panel.model
    _type(qtbot, panel.exposure_spin, "4321")
    qtbot.waitUntil(lambda: _camera(model)[0] == 4321.0, timeout=T)
    panel.start_live()
    qtbot.waitUntil(lambda: panel.displayed_frames >= 3, timeout=T)
    panel.stop_live()
    last = model.latest_frame()
    qtbot.waitUntil(lambda: panel._frame.seq == last.seq, timeout=T)
    displayed = np.array(panel.view.image.image)

    qtbot.mouseClick(panel.snapshot_button, Qt.MouseButton.LeftButton)
    folder = tmp_path / "snaps"
    first = folder / "snap_0001.tif"
    assert first.is_file()
    with tifffile.TiffFile(first) as tif:
        pixels = tif.asarray()
        meta = tif.shaped_metadata[0]
    assert pixels.dtype == displayed.dtype and np.array_equal(pixels, displayed)
    assert meta["exposure_us"] == 4321.0
    assert meta["gain_db"] == 0.0 and meta["pixel_format"] == "Mono12"
    assert meta["timestamp"][:4].isdigit()  # ISO time

    second = panel.snapshot()
    assert second == folder / "snap_0002.tif" and second.is_file()
    assert "snap_0002.tif" in panel.snapshot_label.text()
    assert panel.settings.panels["live_view"]["snapshot_dir"] == str(folder)


# ------------------------------------------------------------------ runs


class _ListSink:
    def __init__(self) -> None:
        self.frames: dict[int, np.ndarray] = {}

    def write_frame(self, index: int, image: np.ndarray, fields: Any) -> None:
        self.frames[index] = np.array(image)


def test_a_run_shows_its_frames_and_locks_the_camera_controls(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    from psfbench.core.acquisition import FocusSweepPlan

    model = panel.model
    panel.start_live()
    qtbot.waitUntil(lambda: panel.displayed_frames >= 1, timeout=T)
    sink = _ListSink()
    plan = FocusSweepPlan.from_range(1700, 2400, 12, settle_s=0.05)
    model.start_run(plan, sink)
    qtbot.waitUntil(lambda: panel._frame is not None and panel._frame.source == "run", timeout=T)
    assert model.pause_run()
    assert not panel.live_button.isEnabled()
    assert not panel.exposure_spin.isEnabled() and not panel.roi_apply_button.isEnabled()
    panel.start_live()  # refused: the run owns the camera
    assert not model.live_running
    frame = panel._frame
    assert np.array_equal(panel.view.image.image, frame.image)
    assert any(np.array_equal(frame.image, f) for f in sink.frames.values())
    assert model.resume_run()
    qtbot.waitUntil(lambda: not model.running, timeout=30_000)
    qtbot.waitUntil(panel.live_button.isEnabled, timeout=T)
    assert panel.exposure_spin.isEnabled()
    assert len(sink.frames) == 12


# ------------------------------------------------------------------ settings


def test_bad_saved_panel_state_is_dropped(qtbot, bench_model, gui_settings, caplog) -> None:  # type: ignore[no-untyped-def]
    from psfbench.app.panels.live_view import LiveViewPanel

    gui_settings.panels["live_view"] = {
        "focus_measure": "nonsense",
        "view_roi": [1, 2, -3, 4],
        "saturation_overlay": False,
        "bogus": 1,
    }
    p = LiveViewPanel(bench_model, gui_settings)
    qtbot.addWidget(p)
    assert p.focus_combo.currentData() == "tenengrad"
    assert not p.saturation_check.isChecked()  # the good key kept
    assert "bogus" in caplog.text and "view_roi" in caplog.text
    p.shutdown()
    assert set(gui_settings.panels["live_view"]) >= {"focus_measure", "snapshot_dir"}
    assert "bogus" not in gui_settings.panels["live_view"]


def test_snapshot_without_a_frame_says_so(qtbot, panel, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert panel.model.latest_frame() is None
    assert panel.snapshot() is None
    assert "no frame" in panel.message_label.text()
    assert not (tmp_path / "snaps").exists()


# ------------------------------------------------------------------ statistics (no Qt)


def test_percentiles_on_a_subsample_ignore_hot_pixels_of_a_large_frame() -> None:
    from psfbench.app.widgets.image_stats import PERCENTILE_SAMPLES, percentile_levels, subsample

    img = _bulk(2048, 2448, seed=7)
    rng = np.random.default_rng(8)
    img[rng.integers(0, 2048, 200), rng.integers(0, 2448, 200)] = 4095
    assert subsample(img).size <= PERCENTILE_SAMPLES
    lo, hi = percentile_levels(img, 0.5, 99.5)
    ref_lo, ref_hi = np.percentile(img, (0.5, 99.5))
    assert abs(lo - ref_lo) < 5 and abs(hi - ref_hi) < 5
    flat = np.full((10, 10), 7, np.uint8)
    assert percentile_levels(flat, 1, 99) == (7.0, 8.0)  # never an empty range


def test_rgb_frames_are_shown_with_stats_over_all_channels(qtbot, panel, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    img = rng.integers(0, 200, (60, 80, 3)).astype(np.uint8)
    img[10, 10, 1] = 255  # one channel saturated: the pixel is saturated
    _feed(qtbot, panel, monkeypatch, _frame(img, 1, full_scale=255))
    assert np.array_equal(panel.view.image.image, img)
    panel.set_roi(0, 0, 80, 60)
    qtbot.waitUntil(lambda: panel.roi_stats is not None and panel.roi_stats.width == 80)
    assert panel.roi_stats.count == img.size and panel.roi_stats.saturated == 1
    assert panel.roi_stats.mean == pytest.approx(img.mean())
    mask = panel.view.overlay.image
    assert mask.shape == (60, 80) and mask.sum() == 1 and mask[10, 10] == 1
    path = panel.snapshot()
    import tifffile

    with tifffile.TiffFile(path) as tif:
        assert np.array_equal(tif.asarray(), img)
        assert tif.shaped_metadata[0]["pixel_format"] == "RGB8"
