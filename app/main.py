"""``psfbench-gui`` (and ``psfbench gui``): start the desktop application.

Options: ``--profile NAME|PATH`` (device profile; the virtual bench by default), ``--session
DIR`` (open a session in the browser), ``--connect`` (open the bench at start),
``--reset-settings`` (forget the saved layout and settings first), ``--demo`` (connect the
virtual bench and start the live view; without a display, run the headless demo instead,
which is what ``make demo`` does on CI), ``--self-test`` (open the main window, wait until it
is idle, exit 0; offscreen without a display; ``app/self_test.py``: the installer test runs it).

Exceptions in the GUI thread are logged and shown, never fatal (gui-anchors C10); Qt's own
warnings go to the log; the bench is closed and workers stopped at exit.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import threading
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("app")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", help="device profile: a name or a TOML path (default: last used)")
    p.add_argument("--session", metavar="DIR", help="open this session in the session browser")
    p.add_argument("--connect", action="store_true", help="open the bench at start")
    p.add_argument(
        "--reset-settings", action="store_true", help="forget the saved window layout and settings"
    )
    p.add_argument(
        "--demo",
        action="store_true",
        help="connect the virtual bench and start the live view; without a display, run the "
        "headless demo (psfbench demo) instead",
    )
    p.add_argument("--out", default="out/demo", help="headless demo output folder (with --demo)")
    p.add_argument(
        "--self-test",
        action="store_true",
        help="open the main window, wait until it is idle and exit 0 (offscreen without a "
        "display; saved settings untouched)",
    )


def has_display() -> bool:
    """Whether Qt can open windows here: X11/Wayland on Linux (or an explicitly chosen Qt
    platform such as offscreen); always on Windows and macOS."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def run(args: argparse.Namespace) -> int:
    from psfbench.app.settings import load_settings, reset_settings, settings_path

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if getattr(args, "self_test", False):
        from psfbench.app import self_test

        selftest_dir = self_test.prepare()  # noqa: F841 - kept alive until exit
    if args.reset_settings and reset_settings():
        print(f"settings reset ({settings_path()})", file=sys.stderr)
    if not has_display():
        if args.demo:
            print(
                "psfbench-gui: no display available (DISPLAY/WAYLAND_DISPLAY unset): "
                "running the headless demo instead",
                file=sys.stderr,
            )
            from psfbench.core.cli import main as cli_main

            return cli_main(["demo", "--out", args.out])
        print(
            "psfbench-gui: no display available (DISPLAY/WAYLAND_DISPLAY unset). Run it on a "
            "desktop, or use the command line (psfbench --help).",
            file=sys.stderr,
        )
        return 2

    from PySide6.QtCore import QtMsgType, qInstallMessageHandler
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("psfbench")
    app.setOrganizationName("psfbench")

    def qt_messages(kind: QtMsgType, _ctx: Any, message: str) -> None:
        level = logging.WARNING if kind != QtMsgType.QtDebugMsg else logging.DEBUG
        logging.getLogger("qt").log(level, message)

    qInstallMessageHandler(qt_messages)
    # Garbage collection only on the GUI thread, on a timer: if a worker thread's allocation
    # triggers Python's GC and it frees a Qt object, the object's destructor takes a Qt lock
    # and then waits for the GIL, while the GUI thread may hold the GIL and wait for that lock
    # (a deadlock seen in the GUI tests). pyqtgraph's collector is made for exactly this.
    from pyqtgraph.util.garbage_collector import GarbageCollector

    gc_guard = GarbageCollector(interval=0.5)
    settings = load_settings()
    if args.profile:
        settings.profile = args.profile
    if args.demo:
        settings.profile = "virtual"

    from psfbench.app.main_window import MainWindow

    window = MainWindow(settings)
    _install_excepthooks(window)
    app.aboutToQuit.connect(window.shutdown)
    window.show()
    if getattr(args, "self_test", False):
        self_test.start(app, window)
    if args.session:
        window.open_session(args.session)
    if args.connect or args.demo:
        window.connect_bench()
        if args.demo:

            def live_when_connected(state: str) -> None:
                if state == "connected":
                    window.trigger("live")

            window.model.stateChanged.connect(live_when_connected)
    try:
        return int(app.exec())
    finally:
        gc_guard.timer.stop()


def _install_excepthooks(window: Any) -> None:
    """Unhandled exceptions (GUI thread or workers) are logged and shown, never fatal."""

    def show(exc_type: type[BaseException], exc: BaseException, tb: Any) -> None:
        if issubclass(exc_type, KeyboardInterrupt):
            sys.__excepthook__(exc_type, exc, tb)
            return
        log.error("unhandled error", exc_info=(exc_type, exc, tb))
        with contextlib.suppress(Exception):
            window.model.errorOccurred.emit("Unexpected error", f"{exc_type.__name__}: {exc}")

    def show_thread(hook: threading.ExceptHookArgs) -> None:
        log.error(
            "unhandled error in thread %s",
            hook.thread.name if hook.thread else "?",
            exc_info=(hook.exc_type, hook.exc_value or hook.exc_type(), hook.exc_traceback),
        )

    sys.excepthook = show
    threading.excepthook = show_thread


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="psfbench-gui", description="The psfbench desktop app.")
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
