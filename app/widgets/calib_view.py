"""The calibration wizard's camera view: the frame with the detected chessboard drawn over it.

Corners are drawn much as OpenCV's ``drawChessboardCorners`` does (a marker per corner, rows
joined in detection order, the first corner marked; corners found but not usable crossed out),
in green when the board is found and red when it is not, with a frame around the image in the
same colour and a one-line state in its corner, so a pose is known good from across the room
before it is captured. Coordinates are full-resolution
image pixels whatever the size of the image shown (large frames are shown subsampled).
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QFont, QPen
from PySide6.QtWidgets import QGraphicsRectItem, QWidget

FOUND_RGB = (40, 200, 60)
MISSING_RGB = (230, 50, 40)
#: the longest side drawn; larger frames are subsampled for display (not for detection)
MAX_SHOWN_SIDE = 1280


class CalibImageView(pg.GraphicsLayoutWidget):
    """Grey image + corner overlay + state frame in an aspect-locked view (wheel zooms)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ci.layout.setContentsMargins(0, 0, 0, 0)
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.02)
        self.view.setBackgroundColor((16, 16, 16))
        self.addItem(self.view, row=0, col=0)
        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.lines = pg.PlotCurveItem(pen=pg.mkPen(FOUND_RGB, width=2))
        self.lines.setZValue(10)
        self.view.addItem(self.lines)
        self.points = pg.ScatterPlotItem(size=9, pxMode=True, symbol="o")
        self.points.setZValue(11)
        self.view.addItem(self.points)
        self.first = pg.ScatterPlotItem(size=15, pxMode=True, symbol="s")
        self.first.setZValue(12)
        self.view.addItem(self.first)
        self.missing = pg.ScatterPlotItem(
            size=11, pxMode=True, symbol="x", pen=pg.mkPen(MISSING_RGB, width=2),
            brush=pg.mkBrush(*MISSING_RGB),
        )  # fmt: skip
        self.missing.setZValue(11)
        self.view.addItem(self.missing)
        self.border = QGraphicsRectItem()
        self.border.setZValue(9)
        self.view.addItem(self.border)
        self.label = pg.TextItem(anchor=(0, 0), fill=pg.mkBrush(0, 0, 0, 170))
        font = QFont()
        font.setPointSize(11)
        font.setBold(True)
        self.label.setFont(font)
        self.label.setZValue(20)
        self.view.addItem(self.label)
        self._shape: tuple[int, int] | None = None
        #: the state drawn: None (nothing), True (board found) or False (not found)
        self.found: bool | None = None
        self.n_corners = 0

    @property
    def image_shape(self) -> tuple[int, int] | None:
        return self._shape

    def set_image(self, grey: np.ndarray, full_shape: tuple[int, int] | None = None) -> None:
        """Show an 8-bit grey frame; ``full_shape`` (H, W) is the frame's real size when
        ``grey`` is a subsampled copy (corners stay in full-resolution pixels)."""
        h, w = full_shape if full_shape is not None else grey.shape[:2]
        k = max(1, int(np.ceil(max(grey.shape[:2]) / MAX_SHOWN_SIDE)))
        shown = grey[::k, ::k] if k > 1 else grey
        self.image.setImage(shown, autoLevels=False, levels=(0, 255))
        self.image.setRect(QRectF(0, 0, w, h))
        if self._shape != (h, w):
            self._shape = (h, w)
            self.view.autoRange(padding=0.02)
        self.label.setPos(0, 0)

    def set_corners(
        self,
        corners: np.ndarray | None,
        found: bool | None,
        text: str = "",
        *,
        cols: int | None = None,
        missing: np.ndarray | None = None,
    ) -> None:
        """Draw ``corners`` ``(N, 2)`` (full-resolution pixels; pixel centres at integers) in
        the colour of ``found``; None clears the overlay. A complete board (``cols`` corners a
        row) is joined row by row in detection order; ``missing`` corners (found but not
        usable) get red crosses. ``text`` goes in the top-left."""
        self.found = found
        rgb = FOUND_RGB if found else MISSING_RGB
        if missing is not None and len(missing):
            m = np.asarray(missing, np.float64) + 0.5
            self.missing.setData(m[:, 0], m[:, 1])
        else:
            self.missing.setData([], [])
        if corners is None or len(corners) == 0:
            self.lines.setData([], [])
            self.points.setData([], [])
            self.first.setData([], [])
            self.n_corners = 0
        else:
            # ImageItem pixels span [i, i+1): a corner at pixel centre x sits at x + 0.5
            c = np.asarray(corners, np.float64) + 0.5
            if cols and len(c) % cols == 0:
                joined = np.ones(len(c), bool)
                joined[cols - 1 :: cols] = False  # no line from a row's end to the next row
                self.lines.setData(c[:, 0], c[:, 1], connect=joined, pen=pg.mkPen(rgb, width=2))
            else:
                self.lines.setData([], [])
            self.points.setData(
                c[:, 0],
                c[:, 1],
                pen=pg.mkPen(rgb, width=2),
                brush=pg.mkBrush(*rgb, 90),
            )
            self.first.setData(
                [c[0, 0]], [c[0, 1]], pen=pg.mkPen(rgb, width=2), brush=pg.mkBrush(0, 0, 0, 0)
            )
            self.n_corners = len(c)
        if found is None or self._shape is None:
            self.border.setVisible(False)
        else:
            h, w = self._shape
            pen = QPen(QColor(*rgb))
            pen.setWidth(4)
            pen.setCosmetic(True)
            self.border.setPen(pen)
            self.border.setRect(QRectF(0, 0, w, h))
            self.border.setVisible(True)
        self.label.setText(text, color=rgb if found is not None else (230, 230, 230))
        self.label.setVisible(bool(text))

    def clear_view(self) -> None:
        self.image.clear()
        self._shape = None
        self.set_corners(None, None)
