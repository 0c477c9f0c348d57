"""``psfbench-gui --self-test``: open the main window, wait until the GUI is idle, exit.

For installers and support: it proves that Qt, its platform plugin, pyqtgraph and every panel
load and paint on this machine. Without a display it uses Qt's offscreen platform. The user's
saved settings are neither read nor written (a throw-away settings file is used). Exit status
0 when the window was shown, painted (``grab``) and the event loop went idle with no error
logged; 1 otherwise (timeout, or an error logged: its message is printed).

Idle: the window is visible, no Qt thread-pool job runs, and a chain of zero-delay timers
(which fire only once every pending event is handled) ticks ``IDLE_TICKS`` times in a row with
no gap longer than ``MAX_GAP_S``.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from typing import Any

IDLE_TICKS = 5
MAX_GAP_S = 0.05


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(f"{record.name}: {record.getMessage()}")


#: errors logged from prepare() on: a panel that fails while the window is built counts too
_errors = _Errors()


def prepare() -> tempfile.TemporaryDirectory[str]:
    """Before Qt starts: count logged errors, use a throw-away settings file, and offscreen
    when there is no display. Keep the returned folder alive until the application exits."""
    from psfbench.app.settings import ENV_PATH

    _errors.messages.clear()
    logging.getLogger().addHandler(_errors)
    tmp = tempfile.TemporaryDirectory(prefix="psfbench-selftest-")
    os.environ[ENV_PATH] = os.path.join(tmp.name, "gui.json")
    if sys.platform.startswith("linux") and not (
        os.environ.get("QT_QPA_PLATFORM")
        or os.environ.get("DISPLAY")
        or os.environ.get("WAYLAND_DISPLAY")
    ):
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    return tmp


def start(app: Any, window: Any, timeout_s: float = 60.0) -> None:
    """Schedule the checks on ``app``'s event loop; it exits with the verdict."""
    from PySide6.QtCore import QThreadPool, QTimer

    t0 = time.perf_counter()
    errors = _errors
    if errors not in logging.getLogger().handlers:  # start() without prepare() (tests)
        errors.messages.clear()
        logging.getLogger().addHandler(errors)
    state = {"ticks": 0, "last": t0}

    def finish(code: int, message: str) -> None:
        logging.getLogger().removeHandler(errors)
        print(f"self-test: {message}", flush=True)
        for line in errors.messages:
            print(f"self-test: error logged: {line}", flush=True)
        app.exit(code)

    def tick() -> None:
        now = time.perf_counter()
        if now - t0 > timeout_s:
            finish(1, f"FAILED: not idle after {timeout_s:.0f} s")
            return
        busy = not window.isVisible() or QThreadPool.globalInstance().activeThreadCount() > 0
        quick = now - state["last"] <= MAX_GAP_S
        state["ticks"] = 0 if busy or not quick else state["ticks"] + 1
        state["last"] = now
        if state["ticks"] < IDLE_TICKS:
            QTimer.singleShot(0 if not busy else 20, tick)
            return
        shot = window.grab()  # paints every visible widget once
        if errors.messages:  # judged once idle: leaving mid-start-up is not what users do
            finish(
                1, f"FAILED: {len(errors.messages)} error(s) logged, idle after {now - t0:.2f} s"
            )
            return
        finish(
            0,
            f"OK: main window {window.windowTitle()!r} {window.width()}x{window.height()} "
            f"on Qt platform {app.platformName()!r}, painted {shot.width()}x{shot.height()}, "
            f"idle after {now - t0:.2f} s",
        )

    QTimer.singleShot(0, tick)
