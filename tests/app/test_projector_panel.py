"""The Projector panel and the Qt projector on the bench, against the virtual bench: test
patterns reach the device (the virtual scene / the window), the preview follows, controls are
disabled with a reason, the settle delay is remembered and applied, a profile with
``[projector] driver = "screen"`` gets a Qt projector attached at connect and closed at
disconnect, and a pattern scan through the engine drives the window end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.app.conftest import FAST_BENCH

T = 30_000

SCREEN_PROFILE = """
name = "screen-projector"
[projector]
driver = "screen"
screen = 1
"""


@pytest.fixture
def panel(qtbot: Any, bench_model: Any, gui_settings: Any) -> Iterator[Any]:
    from psfbench.app.panels.projector import ProjectorPanel

    p = ProjectorPanel(bench_model, gui_settings)
    qtbot.addWidget(p)
    p.resize(420, 700)
    p.show()
    yield p
    p.shutdown()


@pytest.fixture
def screen_model(qtbot: Any, tmp_path: Path) -> Iterator[Any]:
    """A BenchModel on a virtual bench whose profile's projector is a screen window."""
    from psfbench.app.bench_model import BenchModel

    profile = tmp_path / "screen.toml"
    profile.write_text(SCREEN_PROFILE)
    model = BenchModel()
    errors: list[tuple[str, str]] = []
    model.errorOccurred.connect(lambda t, m: errors.append((t, m)))
    model.test_errors = errors  # type: ignore[attr-defined]
    model.test_profile = str(profile)  # type: ignore[attr-defined]
    yield model
    model.close()


def _connect(qtbot: Any, model: Any) -> None:
    model.connect_bench(model.test_profile, dict(FAST_BENCH))
    qtbot.waitUntil(lambda: model.connected, timeout=T)


def _grey(image: Any) -> np.ndarray:
    from PySide6.QtGui import QImage

    img = image.convertToFormat(QImage.Format.Format_RGB32)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    a = np.frombuffer(img.constBits(), np.uint8).reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)
    return a[..., 0].copy()


def test_test_patterns_light_the_virtual_scene_and_show_in_the_preview(
    qtbot: Any, panel: Any
) -> None:
    from PySide6.QtCore import Qt

    from psfbench.app.panels.projector import test_pattern

    world = panel.model.bench.info.world
    assert "Virtual projector, 640×400 px" in panel.status_label.text()
    for kind in ("white", "checkerboard", "grid", "fringe"):
        # disabled while the previous pattern is on its way through the device thread
        qtbot.waitUntil(panel.pattern_buttons[kind].isEnabled, timeout=T)
        qtbot.mouseClick(panel.pattern_buttons[kind], Qt.MouseButton.LeftButton)
        want = test_pattern(kind, 640, 400).astype(np.float32) / 255
        qtbot.waitUntil(
            lambda w=want: world.pattern is not None and np.allclose(world.pattern, w),
            timeout=T,
        )
    fringe = test_pattern("fringe", 640, 400)
    qtbot.waitUntil(  # the preview's timer picks it up; 640 px wide: shown unscaled
        lambda: (
            panel.preview.image is not None and np.array_equal(_grey(panel.preview.image), fringe)
        ),
        timeout=T,
    )
    assert panel.preview.caption.text() == "640×400 px"
    qtbot.mouseClick(panel.blank_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: world.pattern is None, timeout=T)
    qtbot.waitUntil(lambda: panel.preview.image is None, timeout=T)
    assert not panel.open_button.isEnabled()  # no window on the virtual projector
    assert 'driver = "screen"' in panel.open_button.toolTip()
    assert panel.model.test_errors == []


def test_controls_are_disabled_with_a_reason(qtbot: Any, gui_settings: Any) -> None:
    from psfbench.app.bench_model import BenchModel
    from psfbench.app.panels.projector import ProjectorPanel

    model = BenchModel()
    p = ProjectorPanel(model, gui_settings)
    qtbot.addWidget(p)
    try:
        assert not any(b.isEnabled() for b in p.pattern_buttons.values())
        assert not p.blank_button.isEnabled() and not p.open_button.isEnabled()
        assert p.reason_label.text() == "Connect a bench to use its projector."
        assert p.preview.caption.text() == "no projector"
    finally:
        p.shutdown()
        model.close()


def test_a_run_locks_the_test_patterns(qtbot: Any, panel: Any) -> None:
    from psfbench.core.acquisition import PatternScanPlan

    model = panel.model
    sink = _ListSink()
    model.start_run(PatternScanPlan("levels", {"levels": [0.2] * 40}, settle_s=0.5), sink)
    qtbot.waitUntil(lambda: panel.reason_label.text() == "A run is using the projector.", timeout=T)
    assert not any(b.isEnabled() for b in panel.pattern_buttons.values())
    assert not panel.screen_combo.isEnabled()
    model.abort_run()
    qtbot.waitUntil(lambda: not model.running, timeout=T)
    qtbot.waitUntil(lambda: panel.pattern_buttons["white"].isEnabled(), timeout=T)
    assert not panel.reason_label.isVisible()


def test_screen_profile_attaches_a_qt_projector_and_closes_it(
    qtbot: Any, screen_model: Any, gui_settings: Any
) -> None:
    import shiboken6
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication

    from psfbench.app.panels.projector import ProjectorPanel
    from psfbench.app.projector import QtProjector
    from psfbench.core.devices.protocols import Projector

    p = ProjectorPanel(screen_model, gui_settings)
    qtbot.addWidget(p)
    p.resize(420, 700)
    p.show()
    try:
        _connect(qtbot, screen_model)
        qp = screen_model.bench.projector
        assert isinstance(qp, QtProjector) and isinstance(qp, Projector) and qp.is_open
        # the virtual world's projector size is the fallback window's pattern size
        assert (qp.width, qp.height) == (640, 400)
        if len(QGuiApplication.screens()) == 1:
            assert not qp.fullscreen
            assert p.fallback_label.isVisible()
            assert "Only one screen" in p.fallback_label.text()
            assert "movable window" in p.status_label.text()
        qtbot.mouseClick(p.close_button, Qt.MouseButton.LeftButton)
        assert not qp.is_open and p.open_button.isEnabled()
        assert "Window closed" in p.status_label.text()
        qtbot.mouseClick(p.open_button, Qt.MouseButton.LeftButton)
        assert qp.is_open and p.close_button.isEnabled()
        qtbot.mouseClick(p.pattern_buttons["checkerboard"], Qt.MouseButton.LeftButton)
        from psfbench.app.panels.projector import test_pattern

        board = test_pattern("checkerboard", 640, 400)
        assert np.array_equal(_grey(qp.window.grab().toImage()), board)  # the window itself
        world = screen_model.bench.info.world
        assert np.allclose(world.pattern, board / 255.0)  # mirrored to the virtual scene
        qtbot.waitUntil(lambda: p.preview.image is not None, timeout=T)
        assert "pattern" in p.preview.caption.text()
        win = qp.window
        screen_model.disconnect_bench()
        qtbot.waitUntil(lambda: screen_model.state == "disconnected", timeout=T)
        assert qp.closed and qp.window is None
        qtbot.waitUntil(lambda: not shiboken6.isValid(win), timeout=T)  # deleted
        assert screen_model.test_errors == []
        assert p.reason_label.text() == "Connect a bench to use its projector."
    finally:
        p.shutdown()


def test_settle_delay_is_remembered_and_applied(
    qtbot: Any, screen_model: Any, gui_settings: Any
) -> None:
    from psfbench.app.panels.projector import ProjectorPanel
    from psfbench.app.projector import projector_for_bench

    p = ProjectorPanel(screen_model, gui_settings)
    qtbot.addWidget(p)
    try:
        _connect(qtbot, screen_model)
        qp = screen_model.bench.projector
        assert qp.settle_ms == 100  # default
        p.settle_spin.setValue(250)
        p.settle_spin.editingFinished.emit()
        assert qp.settle_ms == 250
        assert gui_settings.panels["projector"]["settle_ms"] == 250
        other = projector_for_bench(screen_model.bench, gui_settings)  # e.g. next connect
        try:
            assert other.settle_ms == 250
        finally:
            other.close()
        # a hand-edited bad value falls back to the default
        gui_settings.panels = {"projector": {"settle_ms": "slow", "screen": 5}}
        from psfbench.app.projector import projector_options

        assert projector_options(gui_settings) == {"screen": "", "settle_ms": 100}
    finally:
        p.shutdown()


class _ListSink:
    def __init__(self) -> None:
        self.frames: dict[int, np.ndarray] = {}

    def write_frame(self, index: int, image: np.ndarray, fields: Any) -> None:
        self.frames[index] = np.array(image)


def test_a_pattern_scan_through_the_engine_drives_the_window(qtbot: Any, screen_model: Any) -> None:
    from psfbench.core.acquisition import PatternScanPlan

    _connect(qtbot, screen_model)
    qp = screen_model.bench.projector
    qp.settle_ms = 10
    win = qp.window
    real_show = qp.show
    checks: list[tuple[bool, float]] = []

    def spy(pattern: np.ndarray, **kw: Any) -> None:  # runs on the engine's thread
        real_show(pattern, **kw)
        want = np.rint(np.asarray(pattern) * 255).astype(np.uint8)
        checks.append((np.array_equal(win.painted_pattern, want), float(np.mean(pattern))))

    qp.show = spy  # type: ignore[method-assign]
    events: list[Any] = []
    screen_model.acquisitionEvent.connect(events.append)
    levels = [0.0, 0.25, 0.5, 0.75, 1.0]
    sink = _ListSink()
    screen_model.start_run(PatternScanPlan("levels", {"levels": levels}, settle_s=0.0), sink)
    qtbot.waitUntil(lambda: any(e.kind == "finished" for e in events), timeout=T)
    finished = next(e for e in events if e.kind == "finished")
    assert finished.status == "completed", finished.message
    assert checks == [(True, v) for v in levels]  # each show returned with its pattern painted
    assert sorted(sink.frames) == list(range(len(levels)))
    # the virtual camera saw the window's patterns (mirrored into the scene): brighter per level
    means = [float(sink.frames[i].mean()) for i in range(len(levels))]
    assert all(b > a for a, b in zip(means, means[1:], strict=False)), means
    # blank_after: the window is black again
    assert qp.current is None and not _grey(win.grab().toImage()).any()
    qtbot.waitUntil(lambda: not screen_model.running, timeout=T)
    assert screen_model.test_errors == []


def test_a_fringe_scan_source_paints_its_patterns_exactly(qtbot: Any, screen_model: Any) -> None:
    from psfbench.core.acquisition import PatternScanPlan

    _connect(qtbot, screen_model)
    qp = screen_model.bench.projector
    qp.settle_ms = 0
    win = qp.window
    plan = PatternScanPlan("fringes", {"periods_px": [32, 20], "shifts": 4}, settle_s=0.0)
    real_show = qp.show
    painted: list[bool] = []

    def spy(pattern: np.ndarray, **kw: Any) -> None:
        real_show(pattern, **kw)
        want = np.rint(np.asarray(pattern) * 255).astype(np.uint8)
        painted.append(bool(np.array_equal(win.painted_pattern, want)))

    qp.show = spy  # type: ignore[method-assign]
    events: list[Any] = []
    screen_model.acquisitionEvent.connect(events.append)
    sink = _ListSink()
    screen_model.start_run(plan, sink)
    qtbot.waitUntil(lambda: any(e.kind == "finished" for e in events), timeout=T)
    assert next(e for e in events if e.kind == "finished").status == "completed"
    assert painted == [True] * 8 and len(sink.frames) == 8
    # the camera frames carry the fringes: shifted patterns give different images
    assert not np.array_equal(sink.frames[0], sink.frames[2])
