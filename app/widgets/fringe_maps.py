"""Image maps for the fringe-scan panel: a scalar map with a colour bar in real units, a
categorical map with a legend (why pixels were refused), and the depth map with a draggable
profile line and a plot of depth along it.

Every view is an aspect-locked pyqtgraph image in pixel coordinates (x = column, y = row,
origin at the top-left corner of pixel (0, 0), y down, as the camera shows it). NaN pixels are
drawn transparent over a dark background. The views only draw what they are given; the panel
decides what and when.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, Qt, Signal
from PySide6.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

#: surround of the images (dark in both themes: a light one changes how contrast looks)
BACKGROUND = (16, 16, 16)
#: pixels without depth in the depth map
HOLE_RGBA = (80, 80, 80, 255)


def robust_levels(data: np.ndarray, lo: float = 1.0, hi: float = 99.0) -> tuple[float, float]:
    """Percentile display levels of the finite values (a few outliers do not flatten the
    map); (0, 1) when nothing is finite, a small span around a constant map."""
    a = np.asarray(data, np.float32)
    step = max(1, int(math.sqrt(a.size / 250_000)))
    fin = a[::step, ::step] if a.ndim == 2 else a
    fin = fin[np.isfinite(fin)]
    if fin.size == 0:
        return 0.0, 1.0
    low, high = (float(v) for v in np.percentile(fin, [lo, hi]))
    if not high > low:
        span = abs(low) * 1e-3 or 1e-3
        low, high = low - span, high + span
    return low, high


def line_profile(
    image: np.ndarray, p0: tuple[float, float], p1: tuple[float, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Values of ``image`` along the segment p0 -> p1 (x, y in pixels; pixel centres at
    +0.5), sampled once per pixel of length at the nearest pixel: (distance px, values).
    Samples outside the image are NaN."""
    img = np.asarray(image)
    h, w = img.shape[:2]
    (x0, y0), (x1, y1) = p0, p1
    length = math.hypot(x1 - x0, y1 - y0)
    n = max(2, int(math.ceil(length)) + 1)
    t = np.linspace(0.0, 1.0, n)
    xs = x0 + t * (x1 - x0)
    ys = y0 + t * (y1 - y0)
    col = np.floor(xs).astype(np.int64)
    row = np.floor(ys).astype(np.int64)
    inside = (col >= 0) & (col < w) & (row >= 0) & (row < h)
    vals = np.full(n, np.nan, np.float64)
    vals[inside] = img[row[inside], col[inside]]
    return t * length, vals


class MapView(QWidget):
    """A map in an aspect-locked plot with a colour bar (``unit`` on its axis) or, for codes,
    a fixed lookup table; an optional one-colour mask overlay; a hover readout and a caption.

    ``hoverMoved(object)``: (x, y, value) in image pixels, or None off the image."""

    hoverMoved = Signal(object)

    def __init__(
        self,
        *,
        cmap: str = "viridis",
        unit: str = "",
        colorbar: bool = True,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.unit = unit
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumSize(160, 120)
        self.graphics.setBackground(None)
        self.graphics.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.plot = self.graphics.addPlot(row=0, col=0)
        self.plot.setAspectLocked(True)
        self.plot.invertY(True)
        self.plot.setMenuEnabled(False)
        self.plot.hideButtons()
        self.plot.vb.setBackgroundColor(BACKGROUND)
        self.plot.vb.setDefaultPadding(0.0)
        for side in ("left", "bottom"):
            self.plot.getAxis(side).enableAutoSIPrefix(False)
        self.base = pg.ImageItem(axisOrder="row-major")  # grey image under a code map
        self.base.setVisible(False)
        self.plot.addItem(self.base)
        self.item = pg.ImageItem(axisOrder="row-major")
        self.item.setZValue(1)
        self.plot.addItem(self.item)
        self.codes = pg.ImageItem(axisOrder="row-major")  # a code map, its own fixed LUT
        self.codes.setZValue(2)
        self.codes.setVisible(False)
        self.plot.addItem(self.codes)
        self.overlay = pg.ImageItem(axisOrder="row-major")
        self.overlay.setZValue(10)
        self.overlay.setVisible(False)
        self.plot.addItem(self.overlay)
        self.colorbar: pg.ColorBarItem | None = None
        if colorbar:
            self.colorbar = pg.ColorBarItem(
                values=(0.0, 1.0),
                colorMap=pg.colormap.get(cmap),
                width=14,
                interactive=False,
                label=unit,
                colorMapMenu=False,
            )
            self.colorbar.setImageItem(self.item, insert_in=self.plot)
            self.colorbar.getAxis("right").enableAutoSIPrefix(False)
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        self.caption.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.readout = QLabel(" ")
        self.readout.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.placeholder = QLabel()
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setWordWrap(True)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(2, 2, 2, 2)
        self.layout_.setSpacing(2)
        self.layout_.addWidget(self.graphics, 1)
        self.layout_.addWidget(self.placeholder, 1)
        self.layout_.addWidget(self.caption)
        self.layout_.addWidget(self.readout)
        self.data: np.ndarray | None = None
        self.levels: tuple[float, float] = (0.0, 1.0)
        self._labels: Sequence[str] | None = None
        self.graphics.scene().sigMouseMoved.connect(self._mouse_moved)
        self.show_placeholder("No data yet")

    # ---------------------------------------------------------------- content

    def show_placeholder(self, text: str) -> None:
        """A message instead of the map (nothing measured yet, ...)."""
        self.graphics.hide()
        self.placeholder.setText(text)
        self.placeholder.show()

    def _show_graphics(self) -> None:
        self.placeholder.hide()
        self.graphics.show()

    def set_map(
        self,
        data: np.ndarray,
        *,
        levels: tuple[float, float] | None = None,
        unit: str | None = None,
    ) -> None:
        """Show a scalar map (NaN transparent) at ``levels`` (default: 1-99th percentiles)."""
        arr = np.asarray(data, np.float32)
        self.data = arr
        self._labels = None
        self.levels = levels if levels is not None else robust_levels(arr)
        first = self.item.image is None and self.codes.image is None
        self.item.setImage(arr, autoLevels=False, levels=self.levels)
        self.item.setVisible(True)
        self.codes.setVisible(False)
        if self.colorbar is not None:
            self.colorbar.setLevels(self.levels)
            self.colorbar.setVisible(True)
            if unit is not None:
                self.unit = unit
                self.colorbar.getAxis("right").setLabel(unit)
        self.base.setVisible(False)
        self._show_graphics()
        if first:
            self.plot.vb.autoRange(padding=0.0)

    def set_codes(
        self,
        codes: np.ndarray,
        colours: Sequence[tuple[int, int, int, int]],
        labels: Sequence[str],
        *,
        base: np.ndarray | None = None,
    ) -> None:
        """Show integer ``codes`` (0..len(colours)-1) through a fixed lookup table over an
        optional grey ``base`` image; ``labels`` name the codes in the hover readout."""
        c = np.asarray(codes, np.uint8)
        self.data = c
        self._labels = list(labels)
        lut = np.array(colours, np.uint8)
        first = self.item.image is None and self.codes.image is None
        self.codes.setLookupTable(lut)
        # pyqtgraph maps [lo, hi) onto the table's n entries: (0, n) sends code k to entry k
        self.codes.setImage(c, autoLevels=False, levels=(0, len(colours)))
        self.codes.setVisible(True)
        self.item.setVisible(False)
        if self.colorbar is not None:
            self.colorbar.setVisible(False)
        if base is not None:
            b = np.asarray(base, np.float32)
            self.base.setImage(b, autoLevels=False, levels=robust_levels(b, 0.5, 99.5))
            self.base.setVisible(True)
        else:
            self.base.setVisible(False)
        self._show_graphics()
        if first:
            self.plot.vb.autoRange(padding=0.0)

    def set_overlay(
        self, mask: np.ndarray | None, rgba: tuple[int, int, int, int] = (255, 0, 0, 160)
    ) -> None:
        """Paint ``mask`` (bool) in one colour over the map; None hides the overlay."""
        if mask is None:
            self.overlay.setVisible(False)
            return
        self.overlay.setLookupTable(np.array([(0, 0, 0, 0), rgba], np.uint8))
        self.overlay.setImage(np.asarray(mask, np.uint8), autoLevels=False, levels=(0, 1))
        self.overlay.setVisible(True)

    def clear(self, text: str = "No data yet") -> None:
        self.data = None
        self.item.clear()
        self.codes.clear()
        self.base.clear()
        self.overlay.clear()
        self.overlay.setVisible(False)
        self.caption.setText("")
        self.readout.setText(" ")
        self.show_placeholder(text)

    # ---------------------------------------------------------------- hover

    def value_at(self, x: float, y: float) -> float | None:
        if self.data is None:
            return None
        h, w = self.data.shape[:2]
        col, row = int(math.floor(x)), int(math.floor(y))
        if not (0 <= col < w and 0 <= row < h):
            return None
        return float(self.data[row, col])

    def describe(self, x: float, y: float) -> str:
        v = self.value_at(x, y)
        if v is None:
            return " "
        where = f"x {int(math.floor(x))}, y {int(math.floor(y))}: "
        if self._labels is not None:
            k = int(v)
            return where + (self._labels[k] if 0 <= k < len(self._labels) else str(k))
        if not math.isfinite(v):
            return where + "no value"
        return where + f"{v:.4g} {self.unit}".rstrip()

    def _mouse_moved(self, scene_pos: QPointF) -> None:
        if self.data is None or not self.plot.vb.sceneBoundingRect().contains(scene_pos):
            self.readout.setText(" ")
            self.hoverMoved.emit(None)
            return
        p = self.plot.vb.mapSceneToView(scene_pos)
        v = self.value_at(p.x(), p.y())
        self.readout.setText(self.describe(p.x(), p.y()))
        self.hoverMoved.emit(None if v is None else (p.x(), p.y(), v))


class DepthView(MapView):
    """The depth map (mm, colour bar) with a draggable profile line and, under it, a plot of
    depth along the line. ``profileChanged`` fires when the line moves (and after a new map).
    """

    profileChanged = Signal()

    LINE_PEN = pg.mkPen((255, 255, 255), width=2)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(cmap="viridis", unit="depth (mm)", parent=parent)
        self.line = pg.LineSegmentROI(
            [(0.0, 0.0), (10.0, 0.0)], pen=self.LINE_PEN, hoverPen=pg.mkPen("#ffd700", width=3)
        )
        self.line.setZValue(20)
        self.line.setVisible(False)
        self.plot.addItem(self.line)
        self.line.sigRegionChanged.connect(self._line_moved)
        self.profile_plot = pg.PlotWidget()
        self.profile_plot.setMinimumHeight(110)
        self.profile_plot.setMaximumHeight(220)
        self.profile_plot.setMenuEnabled(False)
        self.profile_plot.showGrid(x=True, y=True, alpha=0.3)
        self.profile_plot.setLabel("bottom", "along the line (px)")
        self.profile_plot.setLabel("left", "depth (mm)")
        for side in ("left", "bottom"):
            self.profile_plot.getAxis(side).enableAutoSIPrefix(False)
        self.curve = self.profile_plot.plot(
            [], [], pen=pg.mkPen("#3b82f6", width=2), connect="finite"
        )
        self.layout_.insertWidget(1, self.profile_plot)
        self.profile_plot.hide()
        self._line_set = False

    def set_map(
        self,
        data: np.ndarray,
        *,
        levels: tuple[float, float] | None = None,
        unit: str | None = None,
    ) -> None:
        super().set_map(data, levels=levels, unit=unit)
        # holes (no depth) in mid grey: black would read as the surround
        self.set_overlay(~np.isfinite(np.asarray(data)), HOLE_RGBA)
        h, w = self.data.shape[:2] if self.data is not None else (1, 1)
        if not self._line_set:  # default: a horizontal line through the middle
            self.set_line((0.5, h / 2.0), (w - 0.5, h / 2.0))
        self.line.setVisible(True)
        self.profile_plot.show()
        self._line_moved()

    def clear(self, text: str = "No data yet") -> None:
        super().clear(text)
        self.line.setVisible(False)
        self.curve.setData([], [])
        self.profile_plot.hide()

    def set_line(self, p0: tuple[float, float], p1: tuple[float, float]) -> None:
        """Put the profile line from p0 to p1 (image pixels)."""
        self._line_set = True
        state = self.line.getState()
        state["pos"] = (0.0, 0.0)
        state["points"] = [pg.Point(*p0), pg.Point(*p1)]
        self.line.blockSignals(True)
        try:
            self.line.setState(state)  # through the ROI, so a later drag starts from here
        finally:
            self.line.blockSignals(False)
        self._line_moved()

    def line_points(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """The line's end points in image pixels."""
        pts = [self.line.mapToParent(h.pos()) for h in self.line.getHandles()]
        return (pts[0].x(), pts[0].y()), (pts[1].x(), pts[1].y())

    def profile(self) -> tuple[np.ndarray, np.ndarray]:
        """(distance along the line in px, depth in mm; NaN where no depth)."""
        if self.data is None:
            return np.zeros(0), np.zeros(0)
        p0, p1 = self.line_points()
        return line_profile(self.data, p0, p1)

    def _line_moved(self) -> None:
        if self.data is None:
            return
        dist, vals = self.profile()
        self.curve.setData(dist, vals, connect="finite")
        fin = vals[np.isfinite(vals)]
        if fin.size:
            lo, hi = float(fin.min()), float(fin.max())
            pad = max(0.05 * (hi - lo), 0.5)
            self.profile_plot.setYRange(lo - pad, hi + pad, padding=0.0)
        self.profile_plot.setXRange(0.0, max(1.0, float(dist[-1]) if dist.size else 1.0))
        self.profileChanged.emit()
