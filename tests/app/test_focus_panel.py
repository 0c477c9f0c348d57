"""Focus controller panel against the virtual bench: home, jog, go to, limits, halt, E-STOP,
the d / Df readout and the hand-over to a running sweep. Effects are checked on the device."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

pytest.importorskip("pyqtgraph")

T = 15_000  # ms: generous, the machine is slow and shared


def _status(model: Any) -> Any:
    """The controller's status, read on the device thread (after every queued command)."""
    return model.call(model.bench.focus.status).result(timeout=10)


@pytest.fixture
def panel(qtbot, bench_model, gui_settings) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    from psfbench.app.panels.focus import FocusPanel

    p = FocusPanel(bench_model, gui_settings)
    qtbot.addWidget(p)
    p.resize(420, 760)
    p.show()
    # the first poll has read the soft limits
    qtbot.waitUntil(lambda: p.readout()["limits"] is not None, timeout=T)
    yield p
    p.shutdown()
    p.shutdown()  # idempotent


def _home(qtbot, panel: Any) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(panel.home_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _status(panel.model).homed, timeout=T)
    qtbot.waitUntil(lambda: "Homed" in panel.state_label.text(), timeout=T)


def _idle_at(model: Any, pos: int) -> bool:
    st = _status(model)
    return not st.moving and st.position == pos


def _type_target(qtbot, panel: Any, value: int) -> None:  # type: ignore[no-untyped-def]
    box = panel.target_box
    box.setFocus()
    box.selectAll()
    qtbot.keyClicks(box, str(value))
    qtbot.keyClick(box, Qt.Key.Key_Return)
    assert box.value() == value


def test_home_reads_back_homed(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    assert not _status(model).homed  # the virtual controller powers up unhomed
    qtbot.waitUntil(lambda: "NOT HOMED" in panel.state_label.text(), timeout=T)
    _home(qtbot, panel)
    st = _status(model)
    assert st.homed and not st.estopped and st.position == 0
    qtbot.waitUntil(lambda: panel.position_label.text().startswith("0 steps"), timeout=T)
    assert "0 … 4800 steps" in panel.limits_label.text()
    # fits a dock ~400 px wide (with room for the vertical scroll bar of a short dock)
    assert panel.body.minimumSizeHint().width() <= 385


def test_jog_moves_the_device_by_the_chosen_step(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    _home(qtbot, panel)
    expected = 0
    for size, sign, button in ((1, +1, panel.jog_plus), (2, +1, panel.jog_plus),
                               (0, -1, panel.jog_minus)):  # fmt: skip
        qtbot.mouseClick(panel.step_buttons[size], Qt.MouseButton.LeftButton)
        assert panel.step_index() == size
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        expected += sign * panel.jog_steps[size]
        qtbot.waitUntil(lambda e=expected: _idle_at(model, e), timeout=T)
    assert expected == 100 + 1000 - 10
    assert panel.settings.panels["focus"]["jog_index"] == 0
    # the public slot, with its own size index
    panel.jog(-1, 1)
    qtbot.waitUntil(lambda: _idle_at(model, 990), timeout=T)
    qtbot.waitUntil(lambda: panel.readout()["position"] == 990, timeout=T)
    # a jog past the lower soft limit is refused before anything is sent
    panel.goto(5)
    qtbot.waitUntil(lambda: _idle_at(model, 5), timeout=T)
    qtbot.waitUntil(lambda: panel.readout()["position"] == 5, timeout=T)
    qtbot.mouseClick(panel.step_buttons[1], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(panel.jog_minus, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "outside the soft limits" in panel.message_label.text(), timeout=T)
    assert "Jog -100 steps refused" in panel.message_label.text()
    assert _idle_at(model, 5)


def test_goto_within_limits_reaches_target(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    _home(qtbot, panel)
    _type_target(qtbot, panel, 2400)
    assert _idle_at(model, 0)  # Enter in the box sends nothing; only Go moves
    assert "6.000 mm" in panel.target_mm_label.text()
    qtbot.mouseClick(panel.go_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: _idle_at(model, 2400), timeout=T)
    qtbot.waitUntil(lambda: "At 2400 steps" in panel.message_label.text(), timeout=T)


@pytest.mark.parametrize("target", [99_999, -5, 4801])
def test_goto_outside_limits_is_refused(qtbot, panel, target: int) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    _home(qtbot, panel)
    _type_target(qtbot, panel, target)
    assert "outside the soft limits" in panel.target_mm_label.text()
    qtbot.mouseClick(panel.go_button, Qt.MouseButton.LeftButton)
    msg = panel.message_label.text()
    assert f"Go to {target} refused" in msg and "[0, 4800]" in msg and "Not moved" in msg
    assert _idle_at(model, 0)  # FIFO device thread: a sent move would have run by now


def test_estop_during_a_long_move(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    _home(qtbot, panel)
    # slow the drive so the move lasts ~5 s of wall time under the 100x clock
    model.call(model.bench.focus.set_speed, 10.0).result(timeout=10)
    panel.goto(4000)
    qtbot.waitUntil(lambda: _status(model).moving and _status(model).position > 5, timeout=T)
    qtbot.waitUntil(lambda: panel.state_label.text() == "Moving…", timeout=T)
    assert panel.estop_button.isEnabled()
    assert not panel.home_button.isEnabled() and panel.halt_button.isEnabled()
    qtbot.mouseClick(panel.estop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not _status(model).moving, timeout=T)
    st = _status(model)
    assert st.estopped and not st.homed and 5 < st.position < 4000
    qtbot.waitUntil(lambda: panel.readout()["status"].estopped, timeout=T)
    assert "E-STOPPED" in panel.state_label.text() and "not homed" in panel.state_label.text()
    assert "not homed" in panel.position_label.text()
    assert panel.body.minimumSizeHint().width() <= 385
    assert panel.estop_button.isEnabled()
    # moving again is refused until homed
    stopped_at = st.position
    panel.goto(100)
    assert "Press Home" in panel.message_label.text()
    assert _idle_at(model, stopped_at)
    model.call(model.bench.focus.set_speed, 4000.0).result(timeout=10)
    _home(qtbot, panel)
    assert not _status(model).estopped


def test_halt_stops_a_move_keeping_home(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    model = panel.model
    _home(qtbot, panel)
    model.call(model.bench.focus.set_speed, 10.0).result(timeout=10)
    panel.goto(4000)
    qtbot.waitUntil(lambda: _status(model).moving, timeout=T)
    qtbot.mouseClick(panel.halt_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not _status(model).moving, timeout=T)
    st = _status(model)
    assert st.homed and not st.estopped and st.position < 4000
    model.call(model.bench.focus.set_speed, 4000.0).result(timeout=10)


def test_readout_d_and_df_follow_the_profile_lens(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    from psfbench.core.optics import focus_depth

    model = panel.model
    F, e = model.bench.info.settings.nominal_lens()
    assert (F, e) == (50.0, 23.6)
    _home(qtbot, panel)
    panel.goto(2000)
    qtbot.waitUntil(lambda: _idle_at(model, 2000), timeout=T)
    qtbot.waitUntil(lambda: panel.readout()["position"] == 2000, timeout=T)
    qtbot.waitUntil(lambda: not panel.readout()["status"].moving, timeout=T)
    # the next poll is from the stopped motor
    n = panel.poll_count
    qtbot.waitUntil(lambda: panel.poll_count > n + 1, timeout=T)
    r = panel.readout()
    d_dev = model.call(model.bench.sensor.read_mm).result(timeout=10)
    assert r["d_mm"] == pytest.approx(d_dev, abs=0.05)  # sensor noise is 3 um
    assert r["Df_mm"] == pytest.approx(float(focus_depth(r["d_mm"], e, F)), rel=1e-12)
    assert panel.d_label.text() == f"{r['d_mm']:.3f} mm"
    assert panel.df_label.text().startswith(f"{r['Df_mm']:.1f} mm")
    assert "F = 50" in panel.lens_label.text() and "e = 23.6" in panel.lens_label.text()
    assert "5.000 mm" in panel.position_label.text()  # 2000 steps at 400 steps/mm
    assert "4000 steps/s" in panel.motion_label.text()
    xs, ys = panel.curve.getData()
    assert xs is not None and len(ys) >= 2 and ys[-1] == pytest.approx(r["d_mm"])


def test_df_unknown_without_lens(qtbot, bench_model, gui_settings) -> None:  # type: ignore[no-untyped-def]
    from psfbench.app.panels.focus import FocusPanel
    from psfbench.core.config import FocusProfile, SensorProfile

    info = bench_model.bench.info
    # as a real bench with no [lens] section would be
    info.settings = info.settings.model_copy(
        update={
            "focus": FocusProfile(driver="serial", port="COM9"),
            "sensor": SensorProfile(driver="controller"),
        }
    )
    p = FocusPanel(bench_model, gui_settings)
    qtbot.addWidget(p)
    try:
        qtbot.waitUntil(lambda: p.readout()["d_mm"] is not None, timeout=T)
        assert p.df_label.text() == "—"
        assert "focal_length_mm" in p.df_label.toolTip()
        assert "nominal_e_mm" in p.df_label.toolTip()
        assert "unknown" in p.lens_label.text()
    finally:
        p.shutdown()


def test_sweep_owns_the_motor(qtbot, panel, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from psfbench.core.acquisition import FocusSweepPlan
    from psfbench.core.acquisition.session_io import SessionSink
    from psfbench.core.acquisition.sessions import create_sweep_session

    model = panel.model
    plan = FocusSweepPlan.from_range(0, 4000, 40, settle_s=20.0)
    writer = create_sweep_session(tmp_path / "s", model.bench, plan, aif="skip")
    try:
        model.start_run(plan, SessionSink(writer), session=str(writer.path))
        qtbot.waitUntil(lambda: not panel.jog_plus.isEnabled(), timeout=T)
        polls = panel.poll_count
        for w in (panel.home_button, panel.go_button, panel.jog_minus, panel.halt_button):
            assert not w.isEnabled()
        assert panel.estop_button.isEnabled()
        assert "Sweep running" in panel.state_label.text()
        # readout follows the run's step events
        qtbot.waitUntil(lambda: (panel.readout()["position"] or 0) >= 200, timeout=T)
        assert panel.readout()["d_mm"] is not None
        panel.jog(+1)
        assert "sweep is running" in panel.message_label.text()
        assert panel.poll_count == polls  # no polling while the engine owns the serial line
        qtbot.mouseClick(panel.estop_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: not model.running, timeout=T)
        assert model.engine.wait(5).status == "aborted"
        st = _status(model)
        assert st.estopped and not st.homed
        qtbot.waitUntil(lambda: "E-STOPPED" in panel.state_label.text(), timeout=T)
        qtbot.waitUntil(lambda: panel.home_button.isEnabled(), timeout=T)
        # polling again: the controller's own e-stop latch reaches the readout
        qtbot.waitUntil(lambda: panel.readout()["status"].estopped, timeout=T)
        assert panel.poll_count > polls and "E-STOPPED" in panel.state_label.text()
    finally:
        writer.close()


def _contrast(a: Any, b: Any) -> float:
    """WCAG contrast ratio of two colours (QColor or '#rrggbb')."""
    from PySide6.QtGui import QColor

    def lum(c: Any) -> float:
        c = QColor(c)
        ch = [x / 255 for x in (c.red(), c.green(), c.blue())]
        lin = [x / 12.92 if x <= 0.04045 else ((x + 0.055) / 1.055) ** 2.4 for x in ch]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_step_buttons_and_messages_follow_the_theme(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    """A theme switch at run time (View menu): the unselected jog sizes take the dark
    theme's button look (a style sheet once froze them as white boxes), the selected one the
    palette's Highlight; error text, banner and E-STOP stay readable in both themes."""
    from PySide6.QtGui import QPalette

    from psfbench.app.panels import focus
    from psfbench.app.theme import apply_theme

    def centre(image: Any, w: Any) -> Any:
        r = w.rect()
        return image.pixelColor(w.mapTo(panel, r.topLeft()) + r.center() / 4)  # off the text

    qtbot.mouseClick(panel.step_buttons[2], Qt.MouseButton.LeftButton)
    assert panel.step_index() == 2 and panel.settings.panels["focus"]["jog_index"] == 2
    panel.goto(99_999)  # refused: an error message to colour
    assert "refused" in panel.message_label.text()
    try:
        for theme in ("dark", "light"):
            apply_theme(theme, panel)
            qtbot.wait(50)
            pal = panel.palette()
            window = pal.color(QPalette.ColorRole.Window)
            assert (window.lightness() < 128) == (theme == "dark")
            image = panel.grab().toImage()
            for i, b in enumerate(panel.step_buttons):
                assert b.styleSheet() == "" and b.isEnabled()
                bg = centre(image, b)
                if i == 2:  # selected: the Highlight colour
                    want = pal.color(QPalette.ColorRole.Highlight)
                    assert abs(bg.hue() - want.hue()) < 20 and bg.saturation() > 80, bg.name()
                else:  # unselected: a button of this theme, not a white box in the dark one
                    assert abs(bg.lightness() - window.lightness()) < 60, (theme, bg.name())
                    assert bg.saturation() < 40
            # the error message: a red readable on this theme's window
            css = panel.message_label.styleSheet()
            colour = css.split("color:")[1].split(";")[0].strip()
            assert _contrast(colour, window) >= 4.5, (theme, colour)
            # the banner and the E-STOP carry their own colours
            for bg_c, fg_c in focus._BANNER.values():
                assert _contrast(bg_c, fg_c) >= 4.5
            assert _contrast("#c62828", "#ffffff") >= 4.5  # E-STOP
            assert _contrast("#8c5c5c", "#e8dada") >= 3.0  # E-STOP without a bench
    finally:
        apply_theme("light", panel)
