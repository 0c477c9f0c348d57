"""Light and dark themes: Qt's Fusion style with a palette, and matching pyqtgraph colours.

Plots take the theme's background and foreground too (a white plot in a dark window is
unreadable); :func:`apply_theme` recolours the plots that already exist.
"""

from __future__ import annotations

from typing import Literal

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QWidget

Theme = Literal["light", "dark"]

_DARK = {
    QPalette.ColorRole.Window: "#2b2b2b",
    QPalette.ColorRole.WindowText: "#e6e6e6",
    QPalette.ColorRole.Base: "#1e1e1e",
    QPalette.ColorRole.AlternateBase: "#303030",
    QPalette.ColorRole.ToolTipBase: "#3a3a3a",
    QPalette.ColorRole.ToolTipText: "#f0f0f0",
    QPalette.ColorRole.Text: "#e6e6e6",
    QPalette.ColorRole.Button: "#353535",
    QPalette.ColorRole.ButtonText: "#e6e6e6",
    QPalette.ColorRole.BrightText: "#ff5252",
    QPalette.ColorRole.Highlight: "#2f7bd8",
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#6ab0ff",
    QPalette.ColorRole.PlaceholderText: "#9a9a9a",
}

#: (background, foreground) of pyqtgraph plots per theme
PLOT_COLOURS: dict[str, tuple[str, str]] = {
    "light": ("#ffffff", "#202020"),
    "dark": ("#1e1e1e", "#dcdcdc"),
}


def palette(theme: Theme) -> QPalette:
    if theme == "light":
        app = QApplication.instance()
        style = app.style() if isinstance(app, QApplication) else None
        return style.standardPalette() if style is not None else QPalette()
    pal = QPalette()
    for role, colour in _DARK.items():
        pal.setColor(role, QColor(colour))
    for role in (
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
        QPalette.ColorRole.WindowText,
    ):
        pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#7a7a7a"))
    return pal


def apply_theme(theme: Theme, root: QWidget | None = None) -> None:
    """Fusion style + the theme's palette for the whole application; pyqtgraph defaults for
    new plots, and the plots under ``root`` recoloured now."""
    import pyqtgraph as pg

    app = QApplication.instance()
    if not isinstance(app, QApplication):
        return
    app.setStyle("Fusion")
    app.setPalette(palette(theme))
    bg, fg = PLOT_COLOURS[theme]
    pg.setConfigOptions(background=bg, foreground=fg, antialias=True)
    if root is None:
        return
    for plot in root.findChildren(pg.GraphicsView):
        plot.setBackground(bg)
    for item in _plot_items(root):
        for name in ("left", "bottom", "right", "top"):
            axis = item.getAxis(name) if name in item.axes else None
            if axis is not None:
                axis.setPen(fg)
                axis.setTextPen(fg)


def _plot_items(root: QWidget) -> list:  # type: ignore[type-arg]
    import pyqtgraph as pg

    items = []
    for view in root.findChildren(pg.GraphicsView):
        scene = view.scene()
        if scene is None:
            continue
        items.extend(i for i in scene.items() if isinstance(i, pg.PlotItem))
    return items
