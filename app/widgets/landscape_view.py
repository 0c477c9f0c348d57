"""The loss landscape of a fit: a heatmap of A against e with markers, and 1-D slices.

* **Heatmap** in real units (e in mm across, A up), viridis with a colour bar, linear or log10;
  the loss shown is the total of eq. 19 or one term (loss1..loss4), averaged over the sweep
  images (eq. 20) or of one image. Points not evaluated yet are NaN and drawn transparent, so
  a landscape being computed fills in block by block.
* **Markers**: the grid minimum (white +), the refined optimum (red x) with its 1-sigma
  uncertainty ellipse (the bootstrap's sd along A and e, oriented by the fit's Hessian), the
  datasheet A (cyan dashed line), the truth of a simulated session (orange circle), the zoom
  stage's evaluated points over the coarse grid (small white dots), the inspected point
  (magenta square) and pinned points (labelled diamonds).
* **Slices** through the optimum (the grid minimum while no optimum is known): loss against A
  at the optimum's e, and against e at its A, interpolated linearly between grid lines.
* **Inspecting**: a left click on the heatmap emits ``pointClicked(A, e)``; a left drag emits
  ``pointDragged(A, e)`` at most every :data:`DRAG_INTERVAL_MS` (and once at the end). The
  right button and the wheel zoom as in any pyqtgraph plot.

Only numbers and duck-typed landscapes (``A_values``, ``e_values``, ``per_image``,
``frame_indices``) come in: the widget never computes a loss itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QSizePolicy, QVBoxLayout, QWidget

from psfbench.app.widgets.inputs import ComboBox

#: (term key, label) in the order of the selector
TERMS: tuple[tuple[str, str], ...] = (
    ("total", "total (eq. 19)"),
    ("l2", "loss1: L2"),
    ("laplacian", "loss2: Laplacian"),
    ("histogram", "loss3: histogram"),
    ("ssim", "loss4: SSIM"),
)
DRAG_INTERVAL_MS = 100
COLOURS = {
    "grid_min": "#ffffff",
    "optimum": "#ff3b3b",
    "datasheet": "#00d5ff",
    "truth": "#ffa000",
    "zoom": "#ffffff",
    "inspect": "#ff3cff",
    "pin": "#ffe14d",
}
#: slice curves and their markers: dark enough on white, bright enough on the dark theme
SLICE_COLOUR = "#3b82f6"


def _cell_half(values: np.ndarray, fallback: float) -> float:
    return float(values[1] - values[0]) / 2 if len(values) > 1 else fallback


def ellipse_points(
    A: float,
    e: float,
    A_std: float,
    e_std: float,
    hessian: Sequence[Sequence[float]] | None = None,
    n: int = 73,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The 1-sigma ellipse around (A, e) as (e_points, A_points); None without finite sds.

    Axis lengths come from the bootstrap sds; the correlation from the inverse Hessian of the
    loss (the covariance of a quadratic minimum is proportional to it)."""
    if not (np.isfinite(A_std) and np.isfinite(e_std)) or A_std <= 0 or e_std <= 0:
        return None
    rho = 0.0
    if hessian is not None:
        h = np.asarray(hessian, dtype=np.float64)
        if h.shape == (2, 2) and np.all(np.isfinite(h)) and h[0, 0] > 0 and h[1, 1] > 0:
            rho = float(np.clip(-h[0, 1] / math.sqrt(h[0, 0] * h[1, 1]), -0.99, 0.99))
    cov = np.array([[A_std**2, rho * A_std * e_std], [rho * A_std * e_std, e_std**2]])
    chol = np.linalg.cholesky(cov)
    t = np.linspace(0.0, 2 * np.pi, n)
    pts = chol @ np.vstack([np.cos(t), np.sin(t)])
    return e + pts[1], A + pts[0]


def slice_through(
    A_values: np.ndarray, e_values: np.ndarray, surface: np.ndarray, A: float, e: float
) -> dict[str, np.ndarray]:
    """Loss along A at ``e`` and along e at ``A``, linearly interpolated between grid lines
    (NaN where a neighbouring grid point is not evaluated)."""

    def interp(x: float, xs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        # rows: (n, len(xs)); linear between the two grid lines around x, clamped at the ends
        if len(xs) == 1:
            return rows[:, 0].copy()
        k = int(np.clip(np.searchsorted(xs, x) - 1, 0, len(xs) - 2))
        w = float(np.clip((x - xs[k]) / (xs[k + 1] - xs[k]), 0.0, 1.0))
        out: np.ndarray = (1 - w) * rows[:, k] + w * rows[:, k + 1]
        if w == 0.0:
            out = rows[:, k].copy()
        elif w == 1.0:
            out = rows[:, k + 1].copy()
        return out

    along_A = interp(e, e_values, surface)
    along_e = interp(A, A_values, surface.T)
    return {"A": A_values.copy(), "loss_A": along_A, "e": e_values.copy(), "loss_e": along_e}


class _LandscapeImage(pg.ImageItem):
    """The heatmap: left click and left drag go to the view (inspecting), not to panning."""

    def __init__(self, owner: LandscapeView) -> None:
        super().__init__(axisOrder="row-major")
        self._owner = owner

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph API)
        if ev.button() == Qt.MouseButton.LeftButton:
            ev.accept()
            self._owner._scene_clicked(ev.scenePos())
        else:
            super().mouseClickEvent(ev)

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802 (pyqtgraph API)
        if ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        self._owner._scene_dragged(ev.scenePos(), ev.isFinish())


class LandscapeView(QWidget):
    """Heatmap + slices of a loss landscape; see the module docstring."""

    pointClicked = Signal(float, float)
    pointDragged = Signal(float, float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._landscape: Any = None
        self._optimum: tuple[float, float] | None = None
        self._std: tuple[float, float] | None = None
        self._hessian: Any = None
        self._datasheet_A: float | None = None
        self._truth: tuple[float, float] | None = None
        self._zoom_points = np.zeros((0, 2))
        self._displayed: np.ndarray | None = None
        self._slices: dict[str, np.ndarray] | None = None
        self._slice_at: tuple[float, float] | None = None
        #: NaN count of the heatmap after each redraw (tests watch the landscape fill in)
        self.fill_history: list[int] = []

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        controls = QHBoxLayout()
        controls.setSpacing(4)
        self.term_box = ComboBox(self)
        self.term_box.setObjectName("landscapeTerm")
        for key, label in TERMS:
            self.term_box.addItem(label, key)
        self.term_box.setToolTip("The loss shown: the total of eq. 19 or one of its terms")
        self.image_box = ComboBox(self)
        self.image_box.setObjectName("landscapeImage")
        self.image_box.setToolTip(
            "The mean over the sweep images (eq. 20, what the fit minimises) or one image"
        )
        self.image_box.setSizeAdjustPolicy(ComboBox.SizeAdjustPolicy.AdjustToContents)
        self.log_check = QCheckBox("log", self)
        self.log_check.setObjectName("landscapeLog")
        self.log_check.setToolTip("Colour and slices on a log10 scale")
        controls.addWidget(self.term_box, 1)
        controls.addWidget(self.image_box, 1)
        controls.addWidget(self.log_check)
        layout.addLayout(controls)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setObjectName("landscapeGraphics")
        self.graphics.setMinimumHeight(150)
        self.graphics.ci.layout.setContentsMargins(2, 2, 2, 2)
        self.graphics.ci.layout.setSpacing(2)
        self.heat = self.graphics.addPlot(row=0, col=0, colspan=2)
        self.heat.setMenuEnabled(False)
        self.heat.setLabel("bottom", "e (mm)")
        self.heat.setLabel("left", "A")
        for side in ("left", "bottom"):
            self.heat.getAxis(side).enableAutoSIPrefix(False)
        self.heat.getAxis("left").setWidth(44)
        self.image = _LandscapeImage(self)
        self.heat.addItem(self.image)
        self.colorbar = pg.ColorBarItem(
            values=(0.0, 1.0),
            colorMap=pg.colormap.get("viridis"),
            width=12,
            interactive=False,
            label="loss",
            colorMapMenu=False,
        )
        self.colorbar.setImageItem(self.image, insert_in=self.heat)
        self.colorbar.getAxis("right").enableAutoSIPrefix(False)

        dark = pg.mkPen("#000000", width=1)
        self.zoom_item = pg.ScatterPlotItem(
            size=5, symbol="o", brush=pg.mkBrush(COLOURS["zoom"]), pen=dark
        )
        self.grid_min_item = pg.ScatterPlotItem(
            size=15, symbol="+", brush=pg.mkBrush(COLOURS["grid_min"]), pen=dark
        )
        self.ellipse_item = pg.PlotCurveItem(
            pen=pg.mkPen(COLOURS["optimum"], width=2, style=Qt.PenStyle.DashLine)
        )
        self.optimum_item = pg.ScatterPlotItem(
            size=15, symbol="x", brush=pg.mkBrush(COLOURS["optimum"]), pen=pg.mkPen("#ffffff")
        )
        self.truth_item = pg.ScatterPlotItem(
            size=15, symbol="o", brush=None, pen=pg.mkPen(COLOURS["truth"], width=2.5)
        )
        self.inspect_item = pg.ScatterPlotItem(
            size=11, symbol="s", brush=None, pen=pg.mkPen(COLOURS["inspect"], width=2)
        )
        self.pin_item = pg.ScatterPlotItem(
            size=12, symbol="d", brush=None, pen=pg.mkPen(COLOURS["pin"], width=2)
        )
        self.datasheet_line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(COLOURS["datasheet"], width=2, style=Qt.PenStyle.DashLine),
        )
        self.datasheet_line.setVisible(False)
        for item in (
            self.zoom_item,
            self.grid_min_item,
            self.ellipse_item,
            self.optimum_item,
            self.truth_item,
            self.pin_item,
            self.inspect_item,
        ):
            item.setZValue(10)
            self.heat.addItem(item)
        self.heat.addItem(self.datasheet_line, ignoreBounds=True)
        self._pin_labels: list[pg.TextItem] = []

        self.slice_A = self.graphics.addPlot(row=1, col=0)
        self.slice_e = self.graphics.addPlot(row=1, col=1)
        for plot, xlabel in ((self.slice_A, "A"), (self.slice_e, "e (mm)")):
            plot.setMenuEnabled(False)
            plot.showGrid(x=True, y=True, alpha=0.3)
            plot.setLabel("bottom", xlabel)
            plot.getAxis("left").setWidth(52)
            plot.getAxis("left").enableAutoSIPrefix(False)
            plot.getAxis("bottom").enableAutoSIPrefix(False)
            plot.setMouseEnabled(x=False, y=False)
            plot.setMinimumHeight(55)
            plot.setPreferredHeight(110)
        pen = pg.mkPen(SLICE_COLOUR, width=2)
        self.slice_A_curve = self.slice_A.plot(
            [], [], pen=pen, symbol="o", symbolSize=4, symbolBrush=SLICE_COLOUR, symbolPen=None
        )
        self.slice_e_curve = self.slice_e.plot(
            [], [], pen=pen, symbol="o", symbolSize=4, symbolBrush=SLICE_COLOUR, symbolPen=None
        )
        dash = Qt.PenStyle.DashLine
        self.slice_A_opt = pg.InfiniteLine(angle=90, pen=pg.mkPen(COLOURS["optimum"], style=dash))
        self.slice_e_opt = pg.InfiniteLine(angle=90, pen=pg.mkPen(COLOURS["optimum"], style=dash))
        self.slice_A_truth = pg.InfiniteLine(angle=90, pen=pg.mkPen(COLOURS["truth"], style=dash))
        self.slice_e_truth = pg.InfiniteLine(angle=90, pen=pg.mkPen(COLOURS["truth"], style=dash))
        self.slice_A_ds = pg.InfiniteLine(angle=90, pen=pg.mkPen(COLOURS["datasheet"], style=dash))
        for plot, lines in (
            (self.slice_A, (self.slice_A_opt, self.slice_A_truth, self.slice_A_ds)),
            (self.slice_e, (self.slice_e_opt, self.slice_e_truth)),
        ):
            for line in lines:
                line.setVisible(False)
                plot.addItem(line, ignoreBounds=True)
        self.graphics.ci.layout.setRowStretchFactor(0, 2)
        self.graphics.ci.layout.setRowStretchFactor(1, 1)
        self.heat.setMinimumHeight(90)
        layout.addWidget(self.graphics, 1)

        self.legend = QLabel(self)
        self.legend.setObjectName("landscapeLegend")
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.readout = QLabel("", self)
        self.readout.setObjectName("landscapeReadout")
        self.readout.setWordWrap(True)
        self.readout.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        for lab in (self.legend, self.readout):
            lab.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        layout.addWidget(self.legend)
        layout.addWidget(self.readout)
        self._update_legend()

        self._drag_pending: tuple[float, float] | None = None
        self._drag_timer = QTimer(self)
        self._drag_timer.setSingleShot(True)
        self._drag_timer.setInterval(DRAG_INTERVAL_MS)
        self._drag_timer.timeout.connect(self._emit_drag)
        self._hover = pg.SignalProxy(
            self.graphics.scene().sigMouseMoved, rateLimit=30, slot=self._on_hover
        )
        self.term_box.currentIndexChanged.connect(self.refresh)
        self.image_box.currentIndexChanged.connect(self.refresh)
        self.log_check.toggled.connect(self.refresh)
        self._fill_image_box()

    # ------------------------------------------------------------------ data in

    @property
    def landscape(self) -> Any:
        return self._landscape

    def set_landscape(self, landscape: Any) -> None:
        """Show ``landscape`` (or nothing for None). Call :meth:`refresh` after filling more
        of the same landscape in place."""
        same_frames = (
            self._landscape is not None
            and landscape is not None
            and tuple(self._landscape.frame_indices) == tuple(landscape.frame_indices)
        )
        self._landscape = landscape
        if not same_frames:
            self._fill_image_box()
        self.refresh()
        if landscape is not None:
            self.heat.enableAutoRange()

    def set_markers(
        self,
        *,
        optimum: tuple[float, float] | None = None,
        std: tuple[float, float] | None = None,
        hessian: Any = None,
        datasheet_A: float | None = None,
        truth: tuple[float, float] | None = None,
    ) -> None:
        """Refined optimum (A, e) with its sds (A_std, e_std) and the loss Hessian, the
        datasheet A, the truth (A, e); None hides a marker."""
        self._optimum = optimum
        self._std = std
        self._hessian = hessian
        self._datasheet_A = datasheet_A
        self._truth = truth
        self.refresh()

    def set_zoom_points(self, points: np.ndarray | Sequence[tuple[float, float]]) -> None:
        """The zoom stage's evaluated (A, e) points, shown over the coarse grid."""
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        self._zoom_points = pts
        if len(pts):
            self.zoom_item.setData(x=pts[:, 1], y=pts[:, 0])
        else:
            self.zoom_item.clear()
        self._update_legend()

    def set_inspected(self, point: tuple[float, float] | None) -> None:
        if point is None:
            self.inspect_item.clear()
        else:
            self.inspect_item.setData(x=[point[1]], y=[point[0]])

    def set_pins(self, pins: Sequence[tuple[str, float, float]]) -> None:
        for lab in self._pin_labels:
            self.heat.removeItem(lab)
        self._pin_labels = []
        if not pins:
            self.pin_item.clear()
            return
        self.pin_item.setData(x=[p[2] for p in pins], y=[p[1] for p in pins])
        for label, A, e in pins:
            text = pg.TextItem(label, color=COLOURS["pin"], anchor=(0, 1))
            text.setPos(e, A)
            text.setZValue(11)
            self.heat.addItem(text)
            self._pin_labels.append(text)

    def clear(self) -> None:
        self._zoom_points = np.zeros((0, 2))
        self.zoom_item.clear()
        self.set_inspected(None)
        self.set_pins([])
        self._optimum = self._std = self._hessian = self._datasheet_A = self._truth = None
        self.set_landscape(None)

    # ------------------------------------------------------------------ selection

    @property
    def term(self) -> str:
        return str(self.term_box.currentData())

    def set_term(self, term: str) -> None:
        i = self.term_box.findData(term)
        if i >= 0:
            self.term_box.setCurrentIndex(i)

    @property
    def image_index(self) -> int | None:
        """Position of the one sweep image shown, None for the mean over images."""
        data = self.image_box.currentData()
        return None if data is None or int(data) < 0 else int(data)

    def set_image_index(self, index: int | None) -> None:
        i = self.image_box.findData(-1 if index is None else int(index))
        if i >= 0:
            self.image_box.setCurrentIndex(i)

    @property
    def log_scale(self) -> bool:
        return self.log_check.isChecked()

    def set_log_scale(self, on: bool) -> None:
        self.log_check.setChecked(on)

    def _fill_image_box(self) -> None:
        self.image_box.blockSignals(True)
        keep = self.image_box.currentData()
        self.image_box.clear()
        frames = tuple(self._landscape.frame_indices) if self._landscape is not None else ()
        self.image_box.addItem(f"mean of {len(frames)} images" if frames else "mean", -1)
        for k, f in enumerate(frames):
            self.image_box.addItem(f"image {k + 1} (frame {f})", k)
        i = self.image_box.findData(keep) if keep is not None else 0
        self.image_box.setCurrentIndex(max(i, 0))
        self.image_box.blockSignals(False)

    # ------------------------------------------------------------------ what is shown

    def surface(self) -> np.ndarray | None:
        """The (nA, ne) loss shown (linear units, NaN where not evaluated), or None."""
        ls = self._landscape
        if ls is None:
            return None
        per_image = ls.per_image.get(self.term)
        if per_image is None:
            return None
        k = self.image_index
        with np.errstate(all="ignore"):
            if k is None or k >= per_image.shape[-1]:
                if per_image.shape[-1] == 0:
                    return np.full(per_image.shape[:2], np.nan)
                return np.asarray(per_image.mean(axis=-1), dtype=np.float64)
            return np.asarray(per_image[..., k], dtype=np.float64)

    def displayed(self) -> np.ndarray | None:
        """The heatmap's values as drawn (log10 when the log scale is on)."""
        return None if self._displayed is None else self._displayed.copy()

    def grid_minimum(self) -> tuple[float, float, float] | None:
        """(A, e, loss) of the smallest evaluated point of the shown surface."""
        surf = self.surface()
        if surf is None or not np.isfinite(surf).any():
            return None
        i, j = np.unravel_index(int(np.nanargmin(surf)), surf.shape)
        ls = self._landscape
        return float(ls.A_values[i]), float(ls.e_values[j]), float(surf[i, j])

    @property
    def optimum(self) -> tuple[float, float] | None:
        return self._optimum

    @property
    def truth(self) -> tuple[float, float] | None:
        return self._truth

    @property
    def datasheet_A(self) -> float | None:
        return self._datasheet_A

    @property
    def std(self) -> tuple[float, float] | None:
        return self._std

    @property
    def hessian(self) -> Any:
        return self._hessian

    @property
    def zoom_points(self) -> np.ndarray:
        return self._zoom_points.copy()

    def slices(self) -> dict[str, Any] | None:
        """The shown slices: {"A", "loss_A", "e", "loss_e"} (linear units) and "at" (A, e)."""
        if self._slices is None or self._slice_at is None:
            return None
        out: dict[str, Any] = {k: v.copy() for k, v in self._slices.items()}
        out["at"] = self._slice_at
        return out

    def _transform(self, values: np.ndarray) -> np.ndarray:
        if not self.log_scale:
            return values
        with np.errstate(all="ignore"):
            out = np.log10(np.where(values > 0, values, np.nan))
        return np.asarray(out)

    def refresh(self) -> None:
        """Redraw from the current landscape, selection and markers."""
        surf = self.surface()
        ls = self._landscape
        if surf is None:
            self._displayed = None
            self.image.clear()
            self.grid_min_item.clear()
            self.optimum_item.clear()
            self.ellipse_item.setData([], [])
            self.truth_item.clear()
            self.datasheet_line.setVisible(False)
            self._slices = None
            self._slice_at = None
            for c in (self.slice_A_curve, self.slice_e_curve):
                c.setData([], [])
            self.readout.setText("")
            self._update_legend()
            return
        shown = self._transform(surf)
        self._displayed = shown
        self.fill_history.append(int(np.isnan(surf).sum()))
        A, e = np.asarray(ls.A_values, float), np.asarray(ls.e_values, float)
        dA = _cell_half(A, max(1.0, 0.05 * abs(float(A[0]))))
        de = _cell_half(e, 0.05)
        finite = shown[np.isfinite(shown)]
        # NaN (not evaluated yet) is drawn transparent
        self.image.setImage(shown, autoLevels=False)
        self.image.setRect(
            QRectF(e[0] - de, A[0] - dA, e[-1] - e[0] + 2 * de, A[-1] - A[0] + 2 * dA)
        )
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            if not hi > lo:
                hi = lo + (abs(lo) * 1e-6 or 1e-12)
            self.colorbar.setLevels((lo, hi))
        self.colorbar.getAxis("left").setLabel("log10 loss" if self.log_scale else "loss")
        gm = self.grid_minimum()
        if gm is None:
            self.grid_min_item.clear()
        else:
            self.grid_min_item.setData(x=[gm[1]], y=[gm[0]])
        if self._optimum is not None:
            oA, oe = self._optimum
            self.optimum_item.setData(x=[oe], y=[oA])
            ell = None
            if self._std is not None:
                ell = ellipse_points(oA, oe, self._std[0], self._std[1], self._hessian)
            if ell is None:
                self.ellipse_item.setData([], [])
            else:
                self.ellipse_item.setData(ell[0], ell[1])
        else:
            self.optimum_item.clear()
            self.ellipse_item.setData([], [])
        if self._truth is not None:
            self.truth_item.setData(x=[self._truth[1]], y=[self._truth[0]])
        else:
            self.truth_item.clear()
        ds = self._datasheet_A
        self.datasheet_line.setVisible(ds is not None)
        if ds is not None:
            self.datasheet_line.setPos(ds)
        self._update_slices(A, e, surf, gm)
        self._update_legend()
        self._update_readout(gm)

    def _update_slices(
        self,
        A: np.ndarray,
        e: np.ndarray,
        surf: np.ndarray,
        gm: tuple[float, float, float] | None,
    ) -> None:
        at = self._optimum if self._optimum is not None else (gm[:2] if gm else None)
        if at is None:
            self._slices = None
            self._slice_at = None
            for c in (self.slice_A_curve, self.slice_e_curve):
                c.setData([], [])
            return
        sl = slice_through(A, e, surf, float(at[0]), float(at[1]))
        self._slices = sl
        self._slice_at = (float(at[0]), float(at[1]))
        ylab = "log10 loss" if self.log_scale else "loss"
        self.slice_A_curve.setData(sl["A"], self._transform(sl["loss_A"]), connect="finite")
        self.slice_e_curve.setData(sl["e"], self._transform(sl["loss_e"]), connect="finite")
        self.slice_A.setTitle(f"along A at e = {at[1]:.3f} mm", size="8pt")
        self.slice_e.setTitle(f"along e at A = {at[0]:.1f}", size="8pt")
        self.slice_A.setLabel("left", ylab)
        self.slice_e.setLabel("left", ylab)
        self.slice_A_opt.setVisible(self._optimum is not None)
        self.slice_e_opt.setVisible(self._optimum is not None)
        if self._optimum is not None:
            self.slice_A_opt.setPos(self._optimum[0])
            self.slice_e_opt.setPos(self._optimum[1])
        self.slice_A_truth.setVisible(self._truth is not None)
        self.slice_e_truth.setVisible(self._truth is not None)
        if self._truth is not None:
            self.slice_A_truth.setPos(self._truth[0])
            self.slice_e_truth.setPos(self._truth[1])
        ds = self._datasheet_A
        inside = ds is not None and float(A.min()) <= ds <= float(A.max())
        self.slice_A_ds.setVisible(bool(inside))
        if inside:
            self.slice_A_ds.setPos(ds)

    def _update_legend(self) -> None:
        def key(colour: str, symbol: str, text: str) -> str:
            return f'<span style="color:{colour}; font-weight:bold">{symbol}</span>&nbsp;{text}'

        # the symbols' colours are the markers'; on a light window the white ones get a
        # dark outline in the plot, in the legend they are drawn in the text colour
        fg = self.palette().windowText().color().name()
        parts = [key(fg, "+", "grid min.")]
        if self._optimum is not None:
            parts.append(key(COLOURS["optimum"], "×", "optimum ±1σ"))
        if self._datasheet_A is not None:
            ls = self._landscape
            out = ""
            if ls is not None and len(ls.A_values):
                lo, hi = float(np.min(ls.A_values)), float(np.max(ls.A_values))
                if not lo <= self._datasheet_A <= hi:
                    out = " (off grid)"
            parts.append(key(COLOURS["datasheet"], "--", f"datasheet {self._datasheet_A:.0f}{out}"))
        if self._truth is not None:
            parts.append(key(COLOURS["truth"], "○", "truth"))
        if len(self._zoom_points):
            parts.append(key(fg, "·", "zoom"))
        self.legend.setText(" &nbsp;".join(parts))

    def _update_readout(self, gm: tuple[float, float, float] | None) -> None:
        if self._optimum is not None:
            A, e = self._optimum
            txt = f"optimum A = {A:.1f}"
            if self._std is not None:
                txt += f" ± {self._std[0]:.1f}"
            txt += f", e = {e:.4f}"
            if self._std is not None:
                txt += f" ± {self._std[1]:.4f}"
            txt += " mm"
        elif gm is not None:
            txt = f"grid minimum so far: A = {gm[0]:.1f}, e = {gm[1]:.3f} mm"
        else:
            txt = ""
        self.readout.setText(txt)

    # ------------------------------------------------------------------ mouse

    def data_point(self, scene_pos: QPointF) -> tuple[float, float] | None:
        """(A, e) under a scene position, clamped to the grid's cells; None outside them or
        without a landscape."""
        ls = self._landscape
        if ls is None:
            return None
        p = self.heat.vb.mapSceneToView(scene_pos)
        e, A = float(p.x()), float(p.y())
        Av, ev = np.asarray(ls.A_values, float), np.asarray(ls.e_values, float)
        dA = _cell_half(Av, max(1.0, 0.05 * abs(float(Av[0]))))
        de = _cell_half(ev, 0.05)
        A = float(np.clip(A, Av.min() - dA, Av.max() + dA))
        e = float(np.clip(e, ev.min() - de, ev.max() + de))
        if A <= 0:
            return None
        return A, e

    def widget_pos(self, A: float, e: float) -> QPoint:
        """Where (A, e) lies in :attr:`graphics`' viewport (for tests and scripted demos)."""
        scene = self.heat.vb.mapViewToScene(QPointF(e, A))
        return self.graphics.mapFromScene(scene)

    def _scene_clicked(self, scene_pos: QPointF) -> None:
        pt = self.data_point(scene_pos)
        if pt is not None:
            self.pointClicked.emit(*pt)

    def _scene_dragged(self, scene_pos: QPointF, finished: bool) -> None:
        pt = self.data_point(scene_pos)
        if pt is None:
            return
        self._drag_pending = pt
        if finished:
            self._drag_timer.stop()
            self._emit_drag()
        elif not self._drag_timer.isActive():
            self._drag_timer.start()

    def _emit_drag(self) -> None:
        if self._drag_pending is not None:
            pt, self._drag_pending = self._drag_pending, None
            self.pointDragged.emit(*pt)

    def _on_hover(self, args: Any) -> None:
        ls = self._landscape
        surf = self.surface()
        if ls is None or surf is None:
            return
        pos = args[0]
        if not self.heat.sceneBoundingRect().contains(pos):
            return
        p = self.heat.vb.mapSceneToView(pos)
        A, e = float(p.y()), float(p.x())
        Av, ev = np.asarray(ls.A_values, float), np.asarray(ls.e_values, float)
        i, j = int(np.abs(Av - A).argmin()), int(np.abs(ev - e).argmin())
        v = surf[i, j]
        val = "not evaluated" if not np.isfinite(v) else f"{v:.5g}"
        self.heat.setToolTip(f"A = {A:.1f}, e = {e:.3f} mm\nnearest grid point: {val}")
