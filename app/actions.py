"""One action registry for menus, toolbar and keyboard shortcuts (gui-anchors C8).

Every user command is declared once here (key, text, shortcut, menu, whether the toolbar shows
it, whether it is checkable); :func:`build_actions` turns the table into QActions shared by the
menu bar and the toolbar, so a command's enabled/checked state is the same everywhere. The
main window maps each key to a handler; docs/gui.md lists the shortcuts from this table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QWidget


@dataclass(frozen=True)
class ActionInfo:
    key: str
    text: str
    menu: str
    shortcut: str = ""
    tip: str = ""
    toolbar: bool = False
    checkable: bool = False
    #: "bench": needs a connected bench; "idle": connected and no run going; "run": a run going
    needs: str = ""


ACTIONS: tuple[ActionInfo, ...] = (
    ActionInfo("open_session", "&Open session…", "&File", "Ctrl+O", "Open a session folder"),
    ActionInfo("sessions_folder", "Sessions &folder…", "&File", "", "Choose the sessions folder"),
    ActionInfo("quit", "&Quit", "&File", "Ctrl+Q", "Close psfbench"),
    ActionInfo(
        "connect",
        "&Connect",
        "&Bench",
        "Ctrl+Shift+C",
        "Open the selected profile's devices",
        toolbar=True,
    ),  # fmt: skip
    ActionInfo(
        "disconnect",
        "&Disconnect",
        "&Bench",
        "Ctrl+Shift+D",
        "Close the devices",
        toolbar=True,
        needs="bench",
    ),  # fmt: skip
    ActionInfo(
        "live",
        "&Live",
        "&Bench",
        "Ctrl+L",
        "Start or stop the live view",
        toolbar=True,
        checkable=True,
        needs="idle",
    ),  # fmt: skip
    ActionInfo(
        "snapshot",
        "&Snapshot to TIFF",
        "&Bench",
        "Ctrl+Shift+S",
        "Save the shown frame",
        toolbar=True,
        needs="bench",
    ),  # fmt: skip
    ActionInfo(
        "home", "&Home focus drive", "&Bench", "Ctrl+H", "Home the focus motor", needs="idle"
    ),  # fmt: skip
    ActionInfo(
        "estop",
        "&E-STOP",
        "&Bench",
        "Ctrl+Space",
        "Emergency stop of the focus motor (also aborts a sweep)",
        toolbar=True,
        needs="bench",
    ),  # fmt: skip
    ActionInfo(
        "start_sweep",
        "&Start sweep",
        "&Acquisition",
        "Ctrl+R",
        "Run the planned focus sweep",
        toolbar=True,
        needs="idle",
    ),  # fmt: skip
    ActionInfo(
        "pause_sweep",
        "&Pause / resume",
        "&Acquisition",
        "Ctrl+P",
        "Pause after the current step, or continue",
        needs="run",
    ),  # fmt: skip
    ActionInfo(
        "abort_sweep",
        "&Abort",
        "&Acquisition",
        "Ctrl+.",
        "Stop after the current step; saved frames stay, the session can be resumed",
        toolbar=True,
        needs="run",
    ),  # fmt: skip
    ActionInfo("theme_dark", "&Dark theme", "&View", "", "Switch light/dark", checkable=True),
    ActionInfo("reset_layout", "&Reset layout", "&View", "", "Put every panel back"),
    ActionInfo("about", "&About psfbench", "&Help", "F1", "Versions and devices"),
)

MENUS: tuple[str, ...] = ("&File", "&Bench", "&Acquisition", "&View", "&Help")


def build_actions(parent: QWidget, handler: Callable[[str], None]) -> dict[str, QAction]:
    """One QAction per :data:`ACTIONS` entry, triggering ``handler(key)``."""
    out: dict[str, QAction] = {}
    for info in ACTIONS:
        act = QAction(info.text, parent)
        act.setObjectName(f"action_{info.key}")
        if info.shortcut:
            act.setShortcut(QKeySequence(info.shortcut))
        tip = info.tip + (f" ({info.shortcut})" if info.shortcut else "")
        act.setToolTip(tip)
        act.setStatusTip(info.tip)
        act.setCheckable(info.checkable)
        act.triggered.connect(lambda _checked=False, k=info.key: handler(k))
        out[info.key] = act
    return out
