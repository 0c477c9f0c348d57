"""A technician's whole path through the main window, by keyboard and mouse: connect, home,
live view, plan, sweep with pause and resume, the all-in-focus prompt, and the session in the
browser. Checks the devices and the session on disk, not only the widgets."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QMessageBox

from psfbench.app.main_window import MainWindow
from psfbench.app.settings import GuiSettings
from tests.app.conftest import FAST_BENCH


def _key(qtbot, w, key, mods=Qt.KeyboardModifier.ControlModifier) -> None:  # type: ignore[no-untyped-def]
    """A shortcut as the keyboard delivers it to the focused window."""
    target = QApplication.focusWidget() or w
    qtbot.keyClick(target, key, mods)


def test_connect_to_session_by_keyboard_and_mouse(qtbot, tmp_path: Path) -> None:
    from psfbench.core.dataset import Session

    sessions = tmp_path / "sessions"
    w = MainWindow(GuiSettings(sessions_dir=str(sessions)), overrides=dict(FAST_BENCH))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    qtbot.waitExposed(w)
    w.activateWindow()  # shortcuts go to the active window, as on a desktop
    qtbot.waitUntil(lambda: QApplication.activeWindow() is w, timeout=5_000)
    model = w.model

    _key(
        qtbot,
        w,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: model.connected, timeout=30_000)

    _key(qtbot, w, Qt.Key.Key_H)  # home the focus drive
    qtbot.waitUntil(lambda: model.bench.focus.status().homed, timeout=20_000)

    _key(qtbot, w, Qt.Key.Key_L)  # live view on
    qtbot.waitUntil(lambda: model.live_running and model.live.produced > 5, timeout=10_000)
    live = w.panels["live_view"]
    qtbot.waitUntil(lambda: live.displayed_frames > 3, timeout=10_000)
    _key(qtbot, w, Qt.Key.Key_L)  # and off
    qtbot.waitUntil(lambda: not model.live_running, timeout=10_000)

    # plan: 6 steps over the middle of the travel, by typing into the form
    sweep = w.panels["sweep"]
    w.docks["sweep"].raise_()
    unit = sweep.form().unit
    assert unit == "steps"
    for spin, value in ((sweep.near_spin, 600), (sweep.far_spin, 3600), (sweep.steps_spin, 6)):
        spin.setFocus()
        spin.selectAll()
        qtbot.keyClicks(spin, str(value))
        qtbot.keyClick(spin, Qt.Key.Key_Tab)
    assert (sweep.form().near, sweep.form().far, sweep.form().steps) == (600, 3600, 6)
    sweep.settle_spin.setValue(5.0)  # 50 ms at the fast clock: time to pause mid-run
    sweep.settle_spin.editingFinished.emit()

    _key(qtbot, w, Qt.Key.Key_R)  # start
    qtbot.waitUntil(lambda: model.running, timeout=10_000)
    qtbot.waitUntil(lambda: sweep.progress.value() >= 1, timeout=30_000)
    _key(qtbot, w, Qt.Key.Key_P)  # pause
    qtbot.waitUntil(lambda: "paused" in str(model.engine.state).lower(), timeout=10_000)
    done_paused = sweep.progress.value()
    qtbot.wait(300)
    assert sweep.progress.value() <= done_paused + 1  # at most the step that was under way
    _key(qtbot, w, Qt.Key.Key_P)  # resume
    # the all-in-focus prompt: answered with the mouse, like the technician
    qtbot.waitUntil(lambda: sweep.prompt_box is not None, timeout=60_000)
    box = sweep.prompt_box
    assert "aperture" in box.text().lower()
    qtbot.mouseClick(box.button(QMessageBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not model.running, timeout=60_000)

    folders = [p for p in sessions.iterdir() if p.is_dir()]
    assert len(folders) == 1
    report = Session.open(folders[0]).validate()
    assert report.valid and report.frames == 6 and report.has_aif
    assert report.duplicate_indices == []

    # the browser lists it as valid
    w.docks["sessions"].raise_()
    browser = w.panels["sessions"]
    browser.refresh()
    qtbot.waitUntil(
        lambda: (
            "1 session" in browser.status_label.text()
            and "reading" not in browser.status_label.text()
        ),
        timeout=30_000,
    )
    assert "invalid" not in browser.status_label.text()
    w.close()
