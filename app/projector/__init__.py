"""The projector on a real screen: :class:`QtProjector` (core's ``Projector`` protocol as a
Qt window), screen choice by name, and the options the Projector panel remembers.

When a profile says ``[projector] driver = "screen"``, core opens the bench without a
projector (it has no window system); :class:`psfbench.app.bench_model.BenchModel` then calls its
``projector_factory`` (default :func:`projector_for_bench`) on the GUI thread and attaches
the result as ``bench.projector``. :func:`install` makes the factory use the user's GUI
settings (screen name, settle delay); the Projector panel calls it.
"""

from __future__ import annotations

import logging
from typing import Any

from psfbench.app.projector.screens import ScreenChoice, ScreenInfo, choose_screen, list_screens
from psfbench.app.projector.window import DEFAULT_SETTLE_MS, MAX_SETTLE_MS, QtProjector

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SETTLE_MS",
    "MAX_SETTLE_MS",
    "QtProjector",
    "ScreenChoice",
    "ScreenInfo",
    "choose_screen",
    "install",
    "list_screens",
    "projector_for_bench",
    "projector_options",
    "save_projector_options",
]

#: key of the Projector panel's state in ``GuiSettings.panels``
PANEL = "projector"


def _validated(raw: Any) -> dict[str, Any]:
    raw = raw if isinstance(raw, dict) else {}
    screen = raw.get("screen", "")
    if not isinstance(screen, str) or len(screen) > 200:
        screen = ""
    settle = raw.get("settle_ms", DEFAULT_SETTLE_MS)
    if isinstance(settle, bool) or not isinstance(settle, int) or not 0 <= settle <= MAX_SETTLE_MS:
        settle = DEFAULT_SETTLE_MS
    return {"screen": screen, "settle_ms": settle}


def projector_options(settings: Any) -> dict[str, Any]:
    """``{"screen": name or "", "settle_ms": int}`` from ``settings.panels["projector"]``;
    bad or missing values give the defaults (a hand-edited file never breaks start-up)."""
    return _validated(None if settings is None else settings.panels.get(PANEL))


def save_projector_options(settings: Any, **changes: Any) -> None:
    """Remember ``screen`` / ``settle_ms`` (validated) in ``settings.panels["projector"]``."""
    opts = projector_options(settings)
    opts.update(changes)
    panels = dict(settings.panels)
    panels[PANEL] = _validated(opts)
    settings.panels = panels


def projector_for_bench(bench: Any, settings: Any = None) -> QtProjector:
    """The Qt projector for a bench whose profile says ``[projector] driver = "screen"``
    (GUI thread), its window opened: on the screen remembered by name, else the profile's
    ``[projector] screen`` index; the fallback window's pattern size is the profile's
    ``width`` x ``height`` (or the virtual world's projector size). On a virtual world the
    patterns are mirrored into the world, so the virtual camera sees what the window shows."""
    prof = bench.info.settings.projector
    opts = projector_options(settings)
    world = getattr(bench.info, "world", None)
    fallback: tuple[int, int] | None = None
    if prof.width is not None and prof.height is not None:
        fallback = (int(prof.width), int(prof.height))
    elif world is not None:
        fallback = (int(world.settings.projector_width), int(world.settings.projector_height))
    mirror = None
    if world is not None:
        from psfbench.core.bench.projector import SimProjector

        mirror = SimProjector(world)
    proj = QtProjector(
        opts["screen"] or None,
        screen_index=int(prof.screen),
        settle_ms=opts["settle_ms"],
        fallback_size=fallback,
        mirror=mirror,
    )
    proj.open_window()
    if (
        proj.fullscreen
        and prof.width is not None
        and prof.height is not None
        and (prof.width, prof.height) != (proj.width, proj.height)
    ):
        log.warning(
            "projector: the profile says %dx%d but screen %r has %dx%d physical pixels; "
            "patterns are made for the screen",
            prof.width,
            prof.height,
            proj.screen_name,
            proj.width,
            proj.height,
        )
    return proj


def install(model: Any, settings: Any) -> None:
    """Make ``model`` create its Qt projector with these GUI settings (screen, settle)."""

    def factory(bench: Any) -> QtProjector:
        return projector_for_bench(bench, settings)

    model.projector_factory = factory
