"""A camera image view: pyqtgraph image with histogram/LUT, a rectangle ROI and a saturation
overlay (pyqtgraph's ``examples/imageAnalysis.py`` layout, gui-anchors A "Live view").

The widget only draws; the caller decides what and when (levels, overlay mask, histogram
refresh), so per-frame cost stays under the caller's control. Coordinates are image pixels:
x = column, y = row, origin at the top-left corner of pixel (0, 0).
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QPointF, QRectF, Signal
from PySide6.QtGui import QPaintEvent
from PySide6.QtWidgets import QWidget

#: colour of saturated pixels in the overlay (RGBA): vivid red, as ImageJ's HiLo LUT
SATURATION_RGBA = (255, 0, 0, 255)
ROI_PEN = pg.mkPen((255, 215, 0), width=2)


class ImageView(pg.GraphicsLayoutWidget):
    """Image + saturation overlay + rectangle ROI in an aspect-locked view, histogram on the
    right. Mouse: wheel zooms, drag pans, the ROI's body moves it and its corner handle resizes.

    Signals: ``hoverMoved(object)`` (x, y) floats in image pixels or None when the cursor
    leaves the image; ``roiChanged(object)`` the ROI (x, y, w, h) in whole pixels;
    ``levelsEdited(object)`` (low, high) when the user drags the histogram's levels.
    """

    hoverMoved = Signal(object)
    roiChanged = Signal(object)
    levelsEdited = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ci.layout.setContentsMargins(0, 0, 0, 0)
        self.ci.layout.setSpacing(2)
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=True)
        self.view.setDefaultPadding(0.0)
        # a dark surround in every theme: a light one changes how the image's contrast looks
        self.view.setBackgroundColor((16, 16, 16))
        self.addItem(self.view, row=0, col=0)

        self.image = pg.ImageItem(axisOrder="row-major")
        self.view.addItem(self.image)
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setLookupTable(np.array([(0, 0, 0, 0), SATURATION_RGBA], dtype=np.uint8))
        self.overlay.setZValue(10)
        self.overlay.setVisible(False)
        self.view.addItem(self.overlay)

        self.roi = pg.RectROI(
            (0, 0),
            (16, 16),
            pen=ROI_PEN,
            snapSize=1.0,
            translateSnap=True,
            scaleSnap=True,
            rotatable=False,
        )
        self.roi.setZValue(20)
        self.roi.addScaleHandle((0, 0), (1, 1))
        self.view.addItem(self.roi)
        self.roi.sigRegionChanged.connect(self._roi_moved)

        self.hist = pg.HistogramLUTItem(image=self.image)
        # the caller refreshes the histogram at its own pace (update_histogram), not per frame
        with contextlib.suppress(RuntimeError, TypeError):
            self.image.sigImageChanged.disconnect(self.hist.imageChanged)
        self.hist.fillHistogram(True, level=0.0, color=(90, 140, 230, 200))
        self.hist.setToolTip("Histogram (log counts); drag the handles to set the levels")
        self.hist.setMinimumWidth(95)
        self.hist.setMaximumWidth(120)
        self.addItem(self.hist, row=0, col=1)
        self.hist.sigLevelChangeFinished.connect(self._levels_dragged)
        self.hist.sigLevelsChanged.connect(self._levels_dragged)

        self._quiet = False
        self._shape: tuple[int, int] | None = None
        #: smoothed time one repaint of the view takes (s), for the caller's frame pacing
        self.paint_cost_s = 0.0
        self.scene().sigMouseMoved.connect(self._mouse_moved)

    # ---------------------------------------------------------------- drawing

    @contextlib.contextmanager
    def _programmatic(self) -> Iterator[None]:
        old, self._quiet = self._quiet, True
        try:
            yield
        finally:
            self._quiet = old

    @property
    def image_shape(self) -> tuple[int, int] | None:
        """(height, width) of the image shown, None before the first."""
        return self._shape

    def set_image(self, image: np.ndarray, levels: tuple[float, float]) -> bool:
        """Show ``image`` at ``levels``; True when its size differs from the previous one."""
        shape = (int(image.shape[0]), int(image.shape[1]))
        changed = shape != self._shape
        self._shape = shape
        with self._programmatic():
            old = self.image.getLevels()
            self.image.setImage(image, autoLevels=False, levels=levels)
            if old is None or (float(old[0]), float(old[1])) != (levels[0], levels[1]):
                self.hist.setLevels(levels[0], levels[1])
            if changed:
                self.roi.maxBounds = QRectF(0, 0, shape[1], shape[0])
        return changed

    def set_levels(self, low: float, high: float) -> None:
        with self._programmatic():
            self.image.setLevels((low, high))
            self.hist.setLevels(low, high)

    def levels(self) -> tuple[float, float]:
        lv = self.image.getLevels()
        if lv is None:
            return (0.0, 1.0)
        return float(lv[0]), float(lv[1])

    def update_histogram(self) -> None:
        """Recompute the histogram of the shown image (subsampled by pyqtgraph) with log
        counts, so the bulk, a few hot pixels and a saturated spike all stay visible."""
        x, y = self.image.getHistogram()
        if x is None or y is None:
            return
        self.hist.plot.setData(x, np.log1p(np.asarray(y, dtype=np.float64)))

    def set_overlay(self, mask: np.ndarray | None) -> None:
        """Draw ``mask`` (uint8 0/1, same size as the image) in the saturation colour; None
        hides the overlay."""
        if mask is None:
            self.overlay.setVisible(False)
            return
        self.overlay.setImage(mask, autoLevels=False, levels=(0, 1))
        self.overlay.setVisible(True)

    def zoom_fit(self) -> None:
        if self._shape is None:
            self.view.autoRange(padding=0.0)
            return
        h, w = self._shape
        self.view.setRange(QRectF(0, 0, w, h), padding=0.0)

    # ---------------------------------------------------------------- ROI

    def roi_rect(self) -> tuple[int, int, int, int]:
        pos, size = self.roi.pos(), self.roi.size()
        return (
            int(round(pos.x())),
            int(round(pos.y())),
            max(1, int(round(size.x()))),
            max(1, int(round(size.y()))),
        )

    def set_roi(self, x: int, y: int, w: int, h: int) -> None:
        self.roi.setPos(QPointF(x, y), update=False, finish=False)
        self.roi.setSize(QPointF(max(1, w), max(1, h)), update=True, finish=True)

    def _roi_moved(self) -> None:
        self.roiChanged.emit(self.roi_rect())

    # ---------------------------------------------------------------- mouse

    def _levels_dragged(self) -> None:
        # every programmatic change runs under _programmatic(): what is left is the user
        if not self._quiet:
            lo, hi = self.hist.getLevels()
            self.levelsEdited.emit((float(lo), float(hi)))

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self._shape is None or not self.view.sceneBoundingRect().contains(scene_pos):
            self.hoverMoved.emit(None)
            return
        p = self.view.mapSceneToView(scene_pos)
        x, y = p.x(), p.y()
        h, w = self._shape
        if not (0.0 <= x < w and 0.0 <= y < h) or math.isnan(x) or math.isnan(y):
            self.hoverMoved.emit(None)
            return
        self.hoverMoved.emit((x, y))

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        t0 = time.perf_counter()
        super().paintEvent(event)
        self.paint_cost_s = 0.8 * self.paint_cost_s + 0.2 * (time.perf_counter() - t0)

    def leaveEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        self.hoverMoved.emit(None)
        super().leaveEvent(event)
