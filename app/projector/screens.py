"""Which screen the projector window goes on: chosen by name, with a clear fallback.

Screens are identified by their *name* (``QScreen.name()``, e.g. "HDMI-1", "DP-2",
"\\\\.\\DISPLAY2"): an index changes when a monitor is plugged in or out, a name does not
(gui-anchors C15, MM GenericSLM). The profile's ``[projector] screen`` index is only the
default until the user has picked a screen by name in the Projector panel.

Fallback rule (never a full-screen window over the operator's only screen): with a single
screen, or when the named screen is not connected, the projector is an ordinary movable
window on the primary screen and :attr:`ScreenChoice.reason` says why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtGui import QGuiApplication, QScreen


@dataclass(frozen=True)
class ScreenInfo:
    """One connected screen, as listed in the panel."""

    name: str
    index: int
    x: int
    y: int
    logical_width: int
    logical_height: int
    dpr: float
    physical_width: int
    physical_height: int
    primary: bool

    def label(self) -> str:
        """The screen as listed, e.g. "HDMI-1 — 2880×1620 px, ×1.5, primary" (physical pixels,
        desktop scale factor)."""
        tail = ", primary" if self.primary else ""
        name = self.name or f"screen {self.index}"
        return f"{name} — {self.physical_width}×{self.physical_height} px, ×{self.dpr:g}{tail}"


def physical_size(logical_width: int, logical_height: int, dpr: float) -> tuple[int, int]:
    """Device pixels covered by a logical size at ``dpr``: floor(logical x dpr).

    Whole for integer scale factors. At a fractional one Qt rounds the logical geometry, so
    logical x dpr can overshoot the panel by half a pixel (911 x 1.5 = 1366.5 on a 1366 px
    screen); flooring keeps the pattern inside the pixels that exist.
    """
    return (
        int(math.floor(logical_width * dpr + 1e-6)),
        int(math.floor(logical_height * dpr + 1e-6)),
    )


def screen_info(screen: QScreen, index: int = -1) -> ScreenInfo:
    g = screen.geometry()
    dpr = float(screen.devicePixelRatio())
    pw, ph = physical_size(g.width(), g.height(), dpr)
    primary = QGuiApplication.primaryScreen()
    return ScreenInfo(
        name=screen.name(),
        index=index,
        x=g.x(),
        y=g.y(),
        logical_width=g.width(),
        logical_height=g.height(),
        dpr=dpr,
        physical_width=pw,
        physical_height=ph,
        primary=primary is not None and screen.name() == primary.name(),
    )


def list_screens() -> list[ScreenInfo]:
    """Every connected screen, in Qt's order."""
    return [screen_info(s, i) for i, s in enumerate(QGuiApplication.screens())]


def display_name(screen: QScreen) -> str:
    """The screen's name, or "screen N" for a screen without one."""
    if screen.name():
        return screen.name()
    screens = QGuiApplication.screens()
    return f"screen {screens.index(screen)}" if screen in screens else "unnamed screen"


def find_screen(name: str) -> QScreen | None:
    for s in QGuiApplication.screens():
        if s.name() == name:
            return s
    return None


@dataclass(frozen=True)
class ScreenChoice:
    """Where the projector window goes: ``fullscreen`` on ``screen``, or (``fullscreen``
    False) an ordinary movable window on ``screen`` for the reason given in ``reason``."""

    screen: QScreen
    fullscreen: bool
    reason: str = ""

    @property
    def name(self) -> str:
        return self.screen.name()


def choose_screen(name: str | None, fallback_index: int | None = None) -> ScreenChoice:
    """The screen called ``name``; without a name, screen number ``fallback_index`` (the
    profile's ``[projector] screen``). Falls back to a movable window on the primary screen
    when only one screen exists or the requested one is not connected."""
    screens = QGuiApplication.screens()
    if not screens:
        raise RuntimeError("no screen: the window system reports no screens")
    primary = QGuiApplication.primaryScreen() or screens[0]
    names = ", ".join(s.name() for s in screens)
    if len(screens) == 1:
        only = f" ({screens[0].name()})" if screens[0].name() else ""
        return ScreenChoice(
            screens[0],
            False,
            f"Only one screen{only}: the projector is shown in an ordinary "
            "movable window, not full screen. Connect the projector as a second screen and "
            "pick it here.",
        )
    if name:
        found = find_screen(name)
        if found is not None:
            return ScreenChoice(found, True)
        return ScreenChoice(
            primary,
            False,
            f"Screen {name!r} is not connected (screens: {names}): the projector is shown "
            "in an ordinary movable window. Pick a screen here.",
        )
    if fallback_index is not None and 0 <= fallback_index < len(screens):
        return ScreenChoice(screens[fallback_index], True)
    return ScreenChoice(
        primary,
        False,
        f"the profile's [projector] screen = {fallback_index} does not exist (screens: "
        f"{names}): the projector is shown in an ordinary movable window. Pick a screen here.",
    )
