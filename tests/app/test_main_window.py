"""The application shell: settings across restarts, geometry on a missing screen, actions,
closing while a sweep runs, the entry points."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QGuiApplication, QWheelEvent
from PySide6.QtWidgets import QApplication

from psfbench.app.main_window import MainWindow
from psfbench.app.settings import GuiSettings, load_settings, save_settings
from tests.app.conftest import FAST_BENCH

REPO = Path(__file__).resolve().parents[2]


def _window(qtbot, settings: GuiSettings | None = None) -> MainWindow:  # type: ignore[no-untyped-def]
    w = MainWindow(settings or load_settings(), overrides=dict(FAST_BENCH))
    qtbot.addWidget(w)
    return w


def test_settings_survive_a_restart(qtbot, _gui_settings_file: Path) -> None:
    w = _window(qtbot)
    w.show()
    qtbot.waitExposed(w)
    # a size the window can take on the test screen (above its minimum once shown, with the
    # docks tabbed, inside the screen)
    avail = QGuiApplication.primaryScreen().availableGeometry()
    low = w.minimumSizeHint()
    size = (
        max(low.width(), min(low.width() + 20, avail.width() - 40)),
        max(low.height(), min(low.height() + 20, avail.height() - 40)),
    )
    w.resize(*size)
    w.move(20, 10)
    qtbot.waitUntil(lambda: (w.width(), w.height()) == size, timeout=3000)
    w.actions_["theme_dark"].trigger()
    w.docks["log"].hide()
    w.close()
    saved = json.loads(_gui_settings_file.read_text())
    assert saved["theme"] == "dark" and tuple(saved["window_rect"][2:]) == size

    w2 = _window(qtbot)
    w2.show()
    assert w2.settings.theme == "dark" and w2.actions_["theme_dark"].isChecked()
    assert (w2.width(), w2.height()) == size
    assert not w2.docks["log"].isVisible()
    w2.close()


def test_geometry_from_a_missing_screen_is_not_restored(qtbot, caplog) -> None:
    w = _window(qtbot)
    w.resize(800, 600)
    w.show()
    w.save_layout()
    s = w.settings.model_copy()
    w.close()
    # the window was last on a second monitor to the right that is now unplugged
    screens = QGuiApplication.screens()
    right = max(sc.geometry().right() for sc in screens)
    s.window_rect = (right + 500, 100, 800, 600)
    s.screen_name = "HDMI-2 (unplugged)"
    save_settings(s)
    with caplog.at_level(logging.WARNING):
        w2 = _window(qtbot)
        w2.show()
    assert "not connected" in caplog.text
    centre = w2.geometry().center()
    assert any(sc.availableGeometry().contains(centre) for sc in screens)
    w2.close()


def test_bad_settings_keys_are_dropped_with_a_warning(_gui_settings_file: Path, caplog) -> None:
    _gui_settings_file.write_text(
        json.dumps({"theme": "purple", "no_such_key": 1, "profile": "lab", "jog_steps": [1, 2]})
    )
    with caplog.at_level(logging.WARNING):
        s = load_settings()
    assert s.profile == "lab" and s.theme == "light" and s.jog_steps == (10, 100, 1000)
    assert "no_such_key" in caplog.text and "'theme'" in caplog.text and "jog_steps" in caplog.text
    _gui_settings_file.write_text("{not json")
    assert load_settings() == GuiSettings()


def test_connect_and_disconnect_from_the_toolbar(qtbot) -> None:
    w = _window(qtbot)
    w.show()
    assert w.actions_["connect"].isEnabled() and not w.actions_["disconnect"].isEnabled()
    assert not w.actions_["estop"].isEnabled()
    w.actions_["connect"].trigger()
    qtbot.waitUntil(lambda: w.model.connected, timeout=30_000)
    qtbot.waitUntil(lambda: "connected" in w.status_bench.text(), timeout=5_000)
    qtbot.waitUntil(lambda: "focus:" in w.status_devices.text(), timeout=10_000)
    assert w.actions_["estop"].isEnabled() and not w.profile_box.isEnabled()
    assert "GB" in w.status_disk.text()
    w.actions_["disconnect"].trigger()
    qtbot.waitUntil(lambda: w.model.state == "disconnected", timeout=20_000)
    assert w.model.bench is None and w.actions_["connect"].isEnabled()
    w.close()


def test_close_asks_only_while_a_sweep_runs(qtbot, tmp_path: Path) -> None:
    from psfbench.core.acquisition import FocusSweepPlan
    from psfbench.core.acquisition.session_io import SessionSink
    from psfbench.core.acquisition.sessions import create_sweep_session

    w = _window(qtbot)
    w.show()
    asked: list[bool] = []
    w.confirm_close = lambda: asked.append(True) or False  # type: ignore[method-assign]
    w.connect_bench()
    qtbot.waitUntil(lambda: w.model.connected, timeout=30_000)
    bench = w.model.bench
    plan = FocusSweepPlan.from_range(0, 4000, 40, settle_s=10.0)  # >= 4 s at the fast clock
    writer = create_sweep_session(tmp_path / "s", bench, plan, aif="skip")
    w.model.start_run(plan, SessionSink(writer), session=str(writer.path))
    qtbot.waitUntil(lambda: w.model.running, timeout=5_000)
    w.close()
    assert asked and w.isVisible() and w.model.running  # refused: still open, still running
    w.confirm_close = lambda: True  # type: ignore[method-assign]
    w.close()
    assert not w.isVisible()
    assert w.model.engine.wait(10) is not None and w.model.engine.wait(0).status == "aborted"
    writer.close()


def test_spin_and_combo_boxes_ignore_the_wheel_unless_focused(qtbot) -> None:
    w = _window(qtbot)
    w.show()
    box = w.profile_box
    box.addItems(["a", "b", "c"])
    box.setCurrentIndex(0)
    box.clearFocus()
    ev = QWheelEvent(
        QPointF(5, 5), QPointF(box.mapToGlobal(QPoint(5, 5))), QPoint(0, 0), QPoint(0, -120),
        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
        False,
    )  # fmt: skip
    QApplication.sendEvent(box, ev)
    assert box.currentIndex() == 0
    w.close()


def test_about_lists_versions(qtbot) -> None:
    from psfbench.app.about import AboutDialog

    d = AboutDialog(None)
    qtbot.addWidget(d)
    for key in ("psfbench", "torch", "PySide6", "Qt", "CUDA devices"):
        assert key in d.text


def test_every_action_has_a_handler_and_unique_shortcut(qtbot) -> None:
    from psfbench.app.actions import ACTIONS

    w = _window(qtbot)
    shortcuts = [a.shortcut for a in ACTIONS if a.shortcut]
    assert len(shortcuts) == len(set(shortcuts))
    for info in ACTIONS:
        if info.key in ("quit", "about", "open_session", "sessions_folder"):
            continue  # these close the window or open modal dialogs
        w.trigger(info.key)  # no KeyError, nothing raised without a bench
    w.close()


@pytest.mark.parametrize(
    "cmd", [["-m", "psfbench.core.cli", "gui", "--help"], ["-m", "psfbench.app", "--help"]]
)
def test_entry_points_parse(cmd: list[str]) -> None:
    out = subprocess.run(
        [sys.executable, *cmd], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "--profile" in out.stdout and "--reset-settings" in out.stdout


def test_without_a_display_the_demo_runs_headless(tmp_path: Path) -> None:
    env = {k: v for k, v in __import__("os").environ.items()}
    for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(k, None)
    out = subprocess.run(
        [sys.executable, "-m", "psfbench.app", "--help"], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0
    from psfbench.app.main import has_display

    assert not has_display() or "QT_QPA_PLATFORM" in __import__("os").environ
    out = subprocess.run(
        [sys.executable, "-m", "psfbench.app"], cwd=REPO, env=env, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert out.returncode == 2 and "no display" in out.stderr
