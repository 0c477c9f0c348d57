"""``psfbench-gui --self-test`` (app/self_test.py): the check the installer test runs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from PySide6.QtWidgets import QApplication, QMainWindow

from psfbench.app import self_test


def test_self_test_opens_the_main_window_and_exits_0(tmp_path: Path) -> None:
    """A fresh process, as an installed copy runs it; the user's settings are not touched."""
    settings = tmp_path / "user-gui.json"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PSFBENCH_GUI_SETTINGS": str(settings)}
    proc = subprocess.run(
        [sys.executable, "-m", "psfbench.app", "--self-test"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "self-test: OK: main window 'psfbench'" in proc.stdout
    assert not settings.exists()


def test_self_test_fails_when_a_panel_fails_to_load(tmp_path: Path) -> None:
    """A panel that cannot be imported (a module missing from a bundle) is logged while the
    window is built; the self-test reports it and exits 1."""
    code = (
        "import sys\n"
        "sys.modules['psfbench.app.panels.focus'] = None  # import fails\n"
        "from psfbench.app.main import main\n"
        "sys.exit(main(['--self-test']))\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "panel FocusPanel failed to load" in proc.stdout


def test_self_test_fails_on_a_logged_error(qtbot) -> None:
    app = QApplication.instance()
    window = QMainWindow()
    qtbot.addWidget(window)
    window.show()
    self_test.start(app, window, timeout_s=10)
    logging.getLogger("app").error("a panel failed to load")
    assert app.exec() == 1
