"""The landscape point inspector: why one (A, e) scores what it does (issue 13).

For the chosen sweep image it shows the real (camera) frame, the frame simulated at (A, e),
their residual (simulated - real) in a diverging colour map with symmetric limits around 0,
the residual's histogram under a colour bar of the same scale, and the table of loss terms
(l2, laplacian, histogram, ssim, total) for that image and their mean over the sweep images,
exactly as :func:`psfbench.core.fit.inspect.inspect_point` computes them. Two points can be pinned
(the fitted optimum and the datasheet A, say) and are shown side by side with a table of both
points' terms and their difference, as the paper's Table 3 compares them.

Everything is computed on one worker thread
(:class:`psfbench.app.widgets.background.BackgroundTasks`, results polled back onto the GUI thread).
Latest wins: :meth:`InspectorWidget.inspect` only records the newest point; at most one computation
runs, and when it ends the newest pending point runs next, so a drag over the landscape never queues
up stale points.

Large problems are computed in chunks of sweep images (``chunk_pixels`` per job, about 0.1 s
each on 2 CPU cores): first the chunk holding the shown image, so the images appear quickly,
then the rest of the sweep between clicks, so that the mean over images fills in and switching
images is instant; a new click waits at most for the chunk in progress. Each chunk is exactly
``inspect_point`` on ``problem.subset(chunk)`` with that chunk's ``frame_losses`` evaluator
(built once per problem on the worker); the terms of an image do not depend on the other
images, so the assembled :class:`Inspection` equals ``inspect_point(problem, A, e)``. A
problem small enough for one job uses one ``frame_losses(problem)`` evaluator (the one passed
to :meth:`InspectorWidget.set_problem`, else built once on the worker).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QBoxLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.widgets.background import BackgroundTasks
from psfbench.app.widgets.inputs import action_button
from psfbench.app.widgets.session_view import auto_levels

if TYPE_CHECKING:
    from psfbench.core.fit.inspect import Inspection
    from psfbench.core.fit.problem import FitProblem

log = logging.getLogger(__name__)

#: the loss terms in table order (psfbench.core.fit.grid.TERMS)
TERMS = ("l2", "laplacian", "histogram", "ssim", "total")
TERM_TIPS = {
    "l2": "loss 1: mean squared difference of the intensities",
    "laplacian": "loss 2: difference of the Laplacians (edges)",
    "histogram": "loss 3: difference of the intensity histograms",
    "ssim": "loss 4: 1 - SSIM (local structure)",
    "total": "the weighted sum the fit minimises (eq. 19)",
}
#: sweep-image pixels per worker job (2 images at 512 x 512): ~0.1 s on 2 CPU cores
CHUNK_PIXELS = 2 * 512 * 512
MAX_PINS = 2
#: pin colours (histogram lines, column titles): orange and teal, distinct from the map
PIN_COLOURS = ("#e8872a", "#1fa99b")
CURRENT_COLOUR = "#8a8a8a"
#: residual values sampled for the histogram (display only: the table holds the exact terms)
_HIST_SAMPLES = 100_000
_HIST_BINS = 81
#: the histogram is drawn in log10(fraction of pixels), from this fraction up
_HIST_FLOOR = 1e-5
TITLE_SIZE = "9pt"
RESIDUAL_MAP = "CET-D1"  # blue - white - red, perceptually uniform diverging map
NO_PROBLEM_TEXT = (
    "Nothing to inspect yet.\n\nOpen a session with a fit (or run one) in the fitting panel, "
    "then click a point of the loss landscape: its simulated images, residuals and loss "
    "terms appear here."
)


# ---------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class _Frame:
    """One sweep image of one inspected point, ready to display (CPU numpy arrays)."""

    ins: Inspection  # the job's Inspection (a chunk or the whole sweep)
    k: int  # this image's position in ``ins``
    real: np.ndarray  # (H, W) or (H, W, C)
    sim: np.ndarray
    residual: np.ndarray  # (H, W): simulated - real (mean over colour channels)
    levels: tuple[float, float]  # display levels of the real image, used for both
    limit: float  # 99.5th percentile of |residual| over the loss pixels
    hist_values: np.ndarray  # residual sample over the loss pixels (histogram)
    terms: dict[str, float]


def _display(t: Any) -> np.ndarray:
    """(C, H, W) tensor -> (H, W) or (H, W, C) float32 numpy (a view on the CPU)."""
    a = t.detach()
    if a.device.type != "cpu":
        a = a.cpu()
    a = a.numpy()
    return a[0] if a.shape[0] == 1 else np.moveaxis(a[:3], 0, -1)


def _frame_record(ins: Inspection, k: int) -> _Frame:
    res = ins.residual[k]
    res = res[0] if res.shape[0] == 1 else res.mean(dim=0)
    residual = res.detach().cpu().numpy()
    mask = ins.masks[k].detach().cpu().numpy()
    real = _display(ins.observed[k])
    step = max(1, int(math.ceil(math.sqrt(residual.size / _HIST_SAMPLES))))
    sample = residual[::step, ::step][mask[::step, ::step]]
    sample = sample[np.isfinite(sample)]
    limit = float(np.percentile(np.abs(sample), 99.5)) if sample.size else 0.0
    return _Frame(
        ins=ins,
        k=k,
        real=real,
        sim=_display(ins.simulated[k]),
        residual=residual,
        levels=auto_levels(real),
        limit=limit,
        hist_values=sample.astype(np.float32, copy=False),
        terms={t: float(ins.per_image[t][k]) for t in TERMS},
    )


class _Context:
    """One problem and its loss evaluators; the evaluators are built and used on the worker
    thread only (one job at a time)."""

    def __init__(self, problem: FitProblem, losses: Any, chunk_pixels: int) -> None:
        self.problem = problem
        m = problem.n_images
        h, w = (int(s) for s in problem.frames.shape[-2:])
        k = max(1, int(chunk_pixels) // max(1, h * w))
        self.chunks: list[tuple[int, ...]] = [
            tuple(range(i, min(m, i + k))) for i in range(0, m, k)
        ]
        self.single = len(self.chunks) == 1
        self._full_losses = losses
        self._subsets: dict[tuple[int, ...], tuple[Any, Any]] = {}

    def chunk_of(self, pos: int) -> int:
        return next(i for i, c in enumerate(self.chunks) if pos in c)

    def _evaluator(self, ci: int) -> tuple[Any, Any]:  # worker thread
        from psfbench.core.fit.grid import frame_losses

        if self.single:
            if self._full_losses is None:
                self._full_losses = frame_losses(self.problem)
            return self.problem, self._full_losses
        key = self.chunks[ci]
        if key not in self._subsets:
            sub = self.problem.subset(list(key))
            self._subsets[key] = (sub, frame_losses(sub))
        return self._subsets[key]

    def compute(
        self, A: float, e: float, ci: int, have: dict[int, _Frame]
    ) -> tuple[dict[int, _Frame], Inspection | None, float]:  # worker thread
        """Chunk ``ci`` of (A, e): its images' records, and the whole sweep's Inspection when
        ``have`` plus this chunk cover every image (assembled here, off the GUI thread)."""
        from psfbench.core.fit.inspect import inspect_point

        t0 = time.perf_counter()
        problem, losses = self._evaluator(ci)
        ins = inspect_point(problem, A, e, losses=losses)
        chunk = self.chunks[ci]
        records = {pos: _frame_record(ins, k) for k, pos in enumerate(chunk)}
        full = ins if self.single else None
        if full is None and len(set(have) | set(records)) == self.problem.n_images:
            full = _assemble(self.problem, A, e, {**have, **records})
            records = {pos: _frame_record(full, pos) for pos in range(full.simulated.shape[0])}
        return records, full, time.perf_counter() - t0


def _assemble(problem: FitProblem, A: float, e: float, recs: dict[int, _Frame]) -> Inspection:
    """The whole sweep's Inspection from per-chunk ones: what inspect_point(problem, A, e)
    returns (each image's simulation and terms depend on that image only)."""
    import torch

    from psfbench.core.fit.inspect import Inspection

    m = problem.n_images

    def stack(name: str) -> torch.Tensor:
        return torch.stack([getattr(recs[i].ins, name)[recs[i].k] for i in range(m)])

    sim = stack("simulated")
    per_image = {
        t: np.array([recs[i].ins.per_image[t][recs[i].k] for i in range(m)], dtype=np.float64)
        for t in TERMS
    }
    return Inspection(
        A=float(A),
        e=float(e),
        frame_indices=problem.frame_indices,
        simulated=sim,
        observed=problem.frames,
        residual=sim - problem.frames,
        sigma=stack("sigma"),
        masks=stack("masks"),
        per_image=per_image,
        terms={t: float(v.mean()) for t, v in per_image.items()},
    )


@dataclass
class _Point:
    """What is known of one (A, e) on the GUI side."""

    A: float
    e: float
    frames: dict[int, _Frame] = field(default_factory=dict)
    full: Inspection | None = None
    error: str | None = None

    @property
    def key(self) -> tuple[float, float]:
        return (self.A, self.e)


@dataclass
class _Pin:
    label: str
    point: _Point


# ---------------------------------------------------------------------------- GUI pieces


def _fmt(v: float | None, digits: int = 4) -> str:
    if v is None or not math.isfinite(v):
        return "…" if v is None else "n/a"
    return f"{v:.{digits}g}"


def _fmt_diff(a: float | None, b: float | None) -> str:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return "…"
    return f"{b - a:+.3g}"


def _fmt_ratio(a: float | None, b: float | None) -> str:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)):
        return "…"
    return "n/a" if a == 0 else f"{b / a:.3g}"


def _short(label: str, n: int = 16) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def point_text(A: float, e: float) -> str:
    return f"A = {A:.1f}, e = {e:.3f} mm"


class _Column(pg.GraphicsLayoutWidget):
    """Two stacked plots sharing a column: a title and an image (or plot) each."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ci.layout.setContentsMargins(1, 1, 1, 1)
        self.ci.layout.setSpacing(1)
        self.setMinimumSize(70, 180)

    def image_plot(self, row: int, title: str) -> tuple[pg.PlotItem, pg.ImageItem]:
        plot = self.addPlot(row=row, col=0)
        plot.setTitle(title, size=TITLE_SIZE)
        plot.setAspectLocked(True)
        plot.invertY(True)
        plot.setMenuEnabled(False)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.hideButtons()
        plot.getViewBox().setBackgroundColor((16, 16, 16))
        plot.getViewBox().setDefaultPadding(0.0)
        item = pg.ImageItem(axisOrder="row-major")
        plot.addItem(item)
        return plot, item


class _PointColumn(_Column):
    """A point's simulated image (top) and residual (bottom)."""

    def __init__(self, cmap: pg.ColorMap, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.sim_plot, self.sim = self.image_plot(0, "simulated")
        self.res_plot, self.res = self.image_plot(1, "residual")
        self.res.setColorMap(cmap)

    def set_titles(self, top: str, bottom: str) -> None:
        self.sim_plot.setTitle(top, size=TITLE_SIZE)
        self.res_plot.setTitle(bottom, size=TITLE_SIZE)

    def show_frame(self, fr: _Frame | None, limit: float) -> None:
        if fr is None:
            self.sim.clear()
            self.res.clear()
            return
        self.sim.setImage(fr.sim, levels=fr.levels, autoLevels=False)
        self.res.setImage(fr.residual, levels=(-limit, limit), autoLevels=False)


class _ElidedLabel(QLabel):
    """A one-line label that may shrink: the text is elided, in full in its tooltip;
    ``text()`` returns the full text."""

    def __init__(self, text: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:  # noqa: N802 (Qt API)
        self._full = text
        self.setToolTip(text)
        self._elide()

    def text(self) -> str:
        return self._full

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        width = max(0, self.contentsRect().width())
        elided = self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, width)
        super().setText(elided)


def _table(rows: int, headers: list[str]) -> QTableWidget:
    t = QTableWidget(rows, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    t.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    t.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    t.setWordWrap(False)
    hh = t.horizontalHeader()
    hh.setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
    hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    hh.setMinimumSectionSize(40)
    t.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    t.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    t.verticalHeader().setDefaultSectionSize(t.fontMetrics().height() + 6)
    t.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return t


def _fit_height(t: QTableWidget) -> None:
    h = t.horizontalHeader().sizeHint().height() + 2 * t.frameWidth()
    h += sum(t.rowHeight(r) for r in range(t.rowCount()))
    t.setFixedHeight(h + 2)


def _set(t: QTableWidget, r: int, c: int, text: str, *, bold: bool = False, tip: str = "") -> None:
    item = t.item(r, c)
    if item is None:
        item = QTableWidgetItem()
        align = Qt.AlignmentFlag.AlignVCenter
        align |= Qt.AlignmentFlag.AlignLeft if c == 0 else Qt.AlignmentFlag.AlignRight
        item.setTextAlignment(align)
        t.setItem(r, c, item)
    if bold:
        f = QFont(item.font())
        f.setBold(True)
        item.setFont(f)
    item.setText(text)
    if tip:
        item.setToolTip(tip)


# ---------------------------------------------------------------------------- the widget


class InspectorWidget(QWidget):
    """Inspect points (A, e) of a fit problem: images, residuals and loss terms per sweep image.

    Signals (GUI thread): ``imagesShown(A, e)`` when the shown sweep image of a newly
    requested point is on screen; ``inspectionFinished(A, e)`` when every sweep image of the
    shown point is computed (``current`` is then the whole sweep's Inspection and the mean
    column is filled); ``pinsChanged()`` after pinning or clearing.

    Read-only state: ``current`` (the Inspection behind the shown images: the whole sweep's
    once finished, before that the chunk holding the shown image; see ``complete``),
    ``current_point`` ((A, e) shown), ``shown_frame`` (position of the sweep image shown),
    ``pins`` ([(label, A, e, Inspection)], at most two), ``computed`` (the points whose
    computation started, in order: latest-wins skips the others), ``truth``.
    """

    imagesShown = Signal(float, float)
    inspectionFinished = Signal(float, float)
    pinsChanged = Signal()

    def __init__(self, parent: QWidget | None = None, *, chunk_pixels: int = CHUNK_PIXELS) -> None:
        super().__init__(parent)
        self._chunk_pixels = int(chunk_pixels)
        self._tasks = BackgroundTasks(1, name="inspector", interval_ms=10, parent=self)
        self._ctx: _Context | None = None
        self._gen = 0  # bumped by set_problem: results for an older problem are dropped
        self._busy = False
        self._target: _Point | None = None  # newest point asked for
        self._shown: _Point | None = None
        self._frame = 0  # sweep image asked for
        self._ranged_shape: tuple[int, ...] | None = None
        self.shown_frame = 0
        self._pins: list[_Pin] = []
        self._closed = False
        self._narrow = False
        self.truth: tuple[float, float] | None = None
        self.computed: list[tuple[float, float]] = []
        self.last_compute_s: float | None = None
        self._cmap = pg.colormap.get(RESIDUAL_MAP)
        self._build()
        self._show_no_problem()

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        self._stack = QStackedWidget()
        outer.addWidget(self._stack)

        self._message = QLabel(NO_PROBLEM_TEXT)
        self._message.setWordWrap(True)
        self._message.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._message.setContentsMargins(20, 20, 20, 20)
        self._stack.addWidget(self._message)

        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(4)
        self._stack.addWidget(page)

        head = QHBoxLayout()
        self._point_label = QLabel("click a point of the landscape")
        f = QFont(self._point_label.font())
        f.setBold(True)
        self._point_label.setFont(f)
        self._point_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._truth_label = _ElidedLabel()
        self._status = _ElidedLabel()
        self._pin_button = action_button(
            "Pin point", tooltip=f"Keep this point for a side-by-side comparison (max {MAX_PINS})"
        )
        self._pin_button.clicked.connect(lambda: self.pin())
        self._clear_button = action_button("Clear pins", tooltip="Remove the pinned points")
        self._clear_button.clicked.connect(self.clear_pins)
        head.addWidget(self._point_label)
        head.addSpacing(8)
        head.addWidget(self._truth_label, 1)
        head.addWidget(self._status, 2)
        head.addWidget(self._pin_button)
        head.addWidget(self._clear_button)
        lay.addLayout(head)

        row = QHBoxLayout()
        row.addWidget(QLabel("Sweep image"))
        self._slider = QSlider(Qt.Orientation.Horizontal)
        self._slider.setMinimum(0)
        self._slider.setMaximum(0)
        self._slider.setPageStep(1)
        self._slider.setToolTip("Step through the sweep images (arrow keys when focused)")
        self._slider.valueChanged.connect(self.set_frame)
        self._slider.setMinimumWidth(80)
        row.addWidget(self._slider, 2)
        self._frame_label = _ElidedLabel()
        self._frame_label.setMinimumWidth(120)
        row.addWidget(self._frame_label, 3)
        lay.addLayout(row)

        images = QHBoxLayout()
        images.setSpacing(2)
        self._real_col = _Column()
        self._real_plot, self._real = self._real_col.image_plot(0, "real")
        self._hist_plot = self._real_col.addPlot(row=1, col=0)
        self._hist_plot.setTitle("histogram (log)", size=TITLE_SIZE)
        self._hist_plot.setMenuEnabled(False)
        self._hist_plot.hideButtons()
        self._hist_plot.setMouseEnabled(False, False)
        self._hist_plot.hideAxis("left")
        self._hist_plot.getAxis("bottom").setStyle(showValues=False)
        self._hist_curves: list[pg.PlotDataItem] = []
        for colour in (CURRENT_COLOUR, *PIN_COLOURS):
            curve = self._hist_plot.plot(stepMode="center", pen=pg.mkPen(colour, width=1.5))
            self._hist_curves.append(curve)
        self._hist_curves[0].setFillLevel(math.log10(_HIST_FLOOR))
        self._hist_curves[0].setBrush(pg.mkBrush(138, 138, 138, 90))
        self._cbar = pg.ColorBarItem(
            values=(-1.0, 1.0),
            colorMap=self._cmap,
            orientation="horizontal",
            interactive=False,
            label="simulated − real",
        )
        self._cbar.axis.enableAutoSIPrefix(False)
        self._real_col.addItem(self._cbar, row=2, col=0)
        self._real_col.ci.layout.setRowStretchFactor(0, 5)
        self._real_col.ci.layout.setRowStretchFactor(1, 4)
        images.addWidget(self._real_col, 1)

        self._cols = [_PointColumn(self._cmap) for _ in range(1 + MAX_PINS)]
        for col in self._cols:
            images.addWidget(col, 1)
        for col in self._cols[1:]:
            col.hide()
        # zoom and pan follow each other (by hand: pyqtgraph's setXLink/setYLink between
        # aspect-locked views of different sizes expand each other's ranges without end)
        self._image_views = [self._real_plot.getViewBox()]
        for col in self._cols:
            self._image_views += [col.sim_plot.getViewBox(), col.res_plot.getViewBox()]
        for vb in self._image_views:
            vb.sigRangeChangedManually.connect(lambda _mask, src=vb: self._sync_views(src))
        lay.addLayout(images, 1)

        self._tables_box = QWidget()
        tables = QBoxLayout(QBoxLayout.Direction.LeftToRight, self._tables_box)
        tables.setContentsMargins(0, 0, 0, 0)
        self._tables = tables
        self._terms = _table(len(TERMS), ["loss term", "this image", "mean of images"])
        for r, t in enumerate(TERMS):
            _set(self._terms, r, 0, t, bold=t == "total", tip=TERM_TIPS[t])
        _fit_height(self._terms)
        tables.addWidget(self._terms, 2, Qt.AlignmentFlag.AlignTop)
        n = 2 * (len(TERMS) + 1)
        self._compare = _table(n, ["pinned", "A", "B", "B − A", "B / A"])
        _fit_height(self._compare)
        self._compare.hide()
        tables.addWidget(self._compare, 3, Qt.AlignmentFlag.AlignTop)
        # the tables scroll when the widget is short (a narrow dock stacks them)
        self._tables_scroll = QScrollArea()
        self._tables_scroll.setWidgetResizable(True)
        self._tables_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self._tables_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self._tables_scroll.setWidget(self._tables_box)
        lay.addWidget(self._tables_scroll)
        self._update_buttons()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        """Tables side by side when there is room, stacked in a narrow dock."""
        wide = event.size().width() >= 720
        direction = QBoxLayout.Direction.LeftToRight if wide else QBoxLayout.Direction.TopToBottom
        if self._tables.direction() != direction:
            self._tables.setDirection(direction)
        narrow = event.size().width() < 560
        if narrow != self._narrow:
            self._narrow = narrow
            self._compare.setColumnHidden(4, narrow)  # B / A: no room in a narrow dock
            self._fill_compare()
        super().resizeEvent(event)
        self._fit_tables()

    def _fit_tables(self) -> None:
        """The tables' area: their natural height, at most 45 % of the widget's."""
        heights = [self._terms.height()]
        if not self._compare.isHidden():
            heights.append(self._compare.height())
        if self._tables.direction() == QBoxLayout.Direction.LeftToRight:
            natural = max(heights)
        else:
            natural = sum(heights) + self._tables.spacing() * (len(heights) - 1)
        self._tables_scroll.setFixedHeight(min(natural + 2, max(80, int(0.45 * self.height()))))

    # ------------------------------------------------------------------ public API

    def set_problem(
        self,
        problem: FitProblem | None,
        losses: Any = None,
        truth: tuple[float, float] | None = None,
    ) -> None:
        """The problem (already prepared with problem_for_inspection when a result exists)
        whose points are inspected; None clears the view. ``losses``: a
        frame_losses(problem) evaluator to reuse (built lazily on the worker if None)."""
        self._gen += 1
        self._busy = False  # a running job of the old problem is ignored when it ends
        self._target = self._shown = None
        self._pins = []
        self.truth = None if truth is None else (float(truth[0]), float(truth[1]))
        for col in self._cols:
            col.show_frame(None, 1.0)
        for col in self._cols[1:]:
            col.hide()
        self._compare.hide()
        self._real.clear()
        for curve in self._hist_curves:
            curve.setData([], [])
        if problem is None:
            self._ctx = None
            self._show_no_problem()
            self.pinsChanged.emit()
            return
        self._ctx = _Context(problem, losses, self._chunk_pixels)
        self._ranged_shape = None
        m = problem.n_images
        self._frame = min(self._frame, m - 1)
        self.shown_frame = self._frame
        self._slider.blockSignals(True)
        self._slider.setMaximum(m - 1)
        self._slider.setValue(self._frame)
        self._slider.blockSignals(False)
        self._stack.setCurrentIndex(1)
        self._point_label.setText("click a point of the landscape")
        self._show_real(self._frame)
        self._truth_label.setText("" if self.truth is None else f"truth: {point_text(*self.truth)}")
        self._set_status("")
        self._fill_terms(None)
        self._update_frame_label()
        self._update_buttons()
        self.pinsChanged.emit()

    def inspect(self, A: float, e: float) -> None:
        """Show (A, e): computed off the GUI thread with inspect_point; a newer request
        supersedes an older one not yet started (latest wins)."""
        if self._ctx is None or self._closed:
            return
        key = (float(A), float(e))
        pt = self._known(key) or _Point(*key)
        self._target = pt
        if self._frame in pt.frames:  # already known (a pin, the shown point): no work
            self._show(pt)
        elif not self._busy:
            self._set_status(f"computing {point_text(*key)} …")
        self._pump()

    def set_frame(self, index: int) -> None:
        """Which sweep image (position 0..M-1 in the problem) is shown."""
        if self._ctx is None:
            return
        index = max(0, min(int(index), self._ctx.problem.n_images - 1))
        self._frame = index
        if self._slider.value() != index:
            self._slider.blockSignals(True)
            self._slider.setValue(index)
            self._slider.blockSignals(False)
        pt = self._target or self._shown
        if pt is not None and index in pt.frames:
            self._show(pt)
        else:
            self._update_frame_label()
            if pt is not None:
                self._set_status(f"computing sweep image {index + 1} …")
            else:
                self._show_real(index)
        self._pump()

    def pin(self, label: str = "") -> None:
        """Pin the shown point for the side-by-side comparison (max two: a third replaces
        the older pin). Pinning a point already pinned only renames it."""
        pt = self._shown
        if pt is None:
            return
        label = label.strip() or point_text(pt.A, pt.e)
        for p in self._pins:
            if p.point.key == pt.key:
                p.label = label
                break
        else:
            self._pins.append(_Pin(label, pt))
            del self._pins[:-MAX_PINS]
        self._refresh_pins()
        self._update_buttons()
        self.pinsChanged.emit()
        self._pump()  # pinned points get their whole sweep computed

    def clear_pins(self) -> None:
        self._pins = []
        self._refresh_pins()
        self._update_buttons()
        self.pinsChanged.emit()

    def shutdown(self) -> None:
        """Stop the worker (a running computation ends on its own; its result is dropped)."""
        if self._closed:
            return
        self._closed = True
        self._gen += 1
        self._tasks.shutdown()

    # ------------------------------------------------------------------ read-only state

    @property
    def current(self) -> Inspection | None:
        pt = self._shown
        if pt is None:
            return None
        if pt.full is not None:
            return pt.full
        fr = pt.frames.get(self.shown_frame)
        return None if fr is None else fr.ins

    @property
    def current_point(self) -> tuple[float, float] | None:
        return None if self._shown is None else self._shown.key

    @property
    def complete(self) -> bool:
        """True when every sweep image of the shown point is computed (mean available)."""
        return self._shown is not None and self._shown.full is not None

    @property
    def busy(self) -> bool:
        return self._busy

    @property
    def pins(self) -> list[tuple[str, float, float, Inspection]]:
        out = []
        for p in self._pins:
            ins = p.point.full
            if ins is None:
                fr = p.point.frames.get(self.shown_frame) or next(iter(p.point.frames.values()))
                ins = fr.ins
            out.append((p.label, p.point.A, p.point.e, ins))
        return out

    def loss_table(self) -> dict[str, float]:
        """term -> value for the shown sweep image of the shown point ({} when none)."""
        fr = self._shown_record()
        return {} if fr is None else dict(fr.terms)

    def mean_table(self) -> dict[str, float]:
        """term -> mean over the sweep images ({} until every image is computed)."""
        pt = self._shown
        return {} if pt is None or pt.full is None else dict(pt.full.terms)

    def comparison_table(self) -> dict[str, dict[str, Any]]:
        """The pins as the comparison table shows them: {"A": {"label", "A", "e", "image":
        {term: value}, "mean": {term: value}}, "B": ...}; a value is None while computing."""
        out: dict[str, dict[str, Any]] = {}
        for name, p in zip("AB", self._pins, strict=False):
            full = p.point.full
            out[name] = {
                "label": p.label,
                "A": p.point.A,
                "e": p.point.e,
                "image": {t: _frame_term(p.point, self.shown_frame, t) for t in TERMS},
                "mean": {t: None if full is None else full.terms[t] for t in TERMS},
            }
        return out

    def residual_image(self) -> np.ndarray | None:
        """The residual image on screen (simulated - real, mean over colour channels)."""
        fr = self._shown_record()
        return None if fr is None else fr.residual

    def shown_images(self, column: int = 0) -> dict[str, np.ndarray | None]:
        """Arrays on screen: column 0 = the shown point, 1 and 2 = the pins; "real" is the
        camera frame (common to all columns)."""
        col = self._cols[column]
        return {
            "real": self._real.image,
            "simulated": col.sim.image,
            "residual": col.res.image,
        }

    def residual_limits(self) -> tuple[float, float]:
        low, high = self._cbar.levels()
        return float(low), float(high)

    # ------------------------------------------------------------------ scheduling

    def _known(self, key: tuple[float, float]) -> _Point | None:
        for pt in (self._target, self._shown, *(p.point for p in self._pins)):
            if pt is not None and pt.key == key:
                return pt
        return None

    def _pump(self) -> None:
        """Start the next job if none runs: the shown image of the newest point first, then
        the rest of the sweep of the shown point, then of the pins."""
        ctx = self._ctx
        if self._busy or ctx is None or self._closed:
            return
        tgt = self._target
        if tgt is not None and tgt.error is None and self._frame not in tgt.frames:
            self._submit(tgt, ctx.chunk_of(self._frame))
            return
        for pt in (tgt, self._shown, *(p.point for p in self._pins)):
            if pt is None or pt.full is not None or pt.error is not None:
                continue
            missing = [i for i, c in enumerate(ctx.chunks) if any(f not in pt.frames for f in c)]
            if missing:
                self._submit(pt, missing[0])
                return

    def _submit(self, pt: _Point, ci: int) -> None:
        ctx = self._ctx
        assert ctx is not None
        if not pt.frames:
            self.computed.append(pt.key)
        gen = self._gen
        self._busy = True
        self._tasks.submit(
            ctx.compute,
            pt.A,
            pt.e,
            ci,
            dict(pt.frames),
            on_done=lambda r: self._done(gen, pt, r),
            on_error=lambda exc: self._failed(gen, pt, exc),
        )

    def _done(self, gen: int, pt: _Point, result: Any) -> None:
        if gen != self._gen:
            return
        self._busy = False
        records, full, seconds = result
        self.last_compute_s = seconds
        pt.frames.update(records)
        if full is not None:
            pt.full = full
            pt.frames = records
        fresh = pt is not self._shown or self.shown_frame != self._frame
        if pt is self._target and self._frame in pt.frames and fresh:
            self._show(pt)
        elif pt is self._shown:
            self._fill_terms(pt)
            if full is not None:
                if pt is self._target:
                    self._set_status("")
                self.inspectionFinished.emit(pt.A, pt.e)
        if any(p.point is pt for p in self._pins):
            self._refresh_pins()
        self._pump()

    def _failed(self, gen: int, pt: _Point, exc: BaseException) -> None:
        if gen != self._gen:
            return
        self._busy = False
        pt.error = str(exc) or type(exc).__name__
        log.warning("inspection of %s failed: %s", point_text(pt.A, pt.e), pt.error)
        if pt is self._target:
            self._set_status(f"cannot inspect {point_text(pt.A, pt.e)}: {pt.error}", error=True)
        self._pump()

    # ------------------------------------------------------------------ display

    def _shown_record(self) -> _Frame | None:
        pt = self._shown
        return None if pt is None else pt.frames.get(self.shown_frame)

    def _show(self, pt: _Point) -> None:
        """Put ``pt``'s record of the asked-for sweep image on screen (GUI thread, cheap)."""
        fr = pt.frames[self._frame]
        new_point = self._shown is not pt
        self._shown = pt
        self.shown_frame = self._frame
        self._real.setImage(fr.real, levels=fr.levels, autoLevels=False)
        self._fit_views(fr.real.shape[:2])
        self._point_label.setText(point_text(pt.A, pt.e))
        self._refresh_pins()  # also shows the current column with the shared limits
        self._fill_terms(pt)
        self._update_frame_label()
        self._update_buttons()
        if pt.full is not None:
            self._set_status("")
        else:
            self._set_status("computing the other sweep images (mean) …")
        self.imagesShown.emit(pt.A, pt.e)
        if new_point and pt.full is not None:
            self.inspectionFinished.emit(pt.A, pt.e)

    def _show_real(self, index: int) -> None:
        """Only the camera frame (no point inspected yet): one image, cheap."""
        assert self._ctx is not None
        real = _display(self._ctx.problem.frames[index])
        self._real.setImage(real, levels=auto_levels(real), autoLevels=False)
        self._fit_views(real.shape[:2])

    def _fit_views(self, shape: tuple[int, ...]) -> None:
        if shape != self._ranged_shape:  # a new problem: show its whole images
            self._ranged_shape = shape
            for vb in self._image_views:
                vb.setRange(xRange=(0, shape[1]), yRange=(0, shape[0]), padding=0)

    def _sync_views(self, src: pg.ViewBox) -> None:
        (x0, x1), (y0, y1) = src.viewRange()
        for vb in self._image_views:
            if vb is not src:
                vb.setRange(xRange=(x0, x1), yRange=(y0, y1), padding=0)

    def _refresh_pins(self) -> None:
        """Images of the shown point and of the pins for the shown sweep image, with one
        symmetric residual scale for all, the histograms and the comparison table."""
        f = self.shown_frame
        cur = self._shown_record()
        points: list[tuple[_Point | None, _Frame | None]] = [(self._shown, cur)]
        points += [(p.point, p.point.frames.get(f)) for p in self._pins]
        limits = [fr.limit for _, fr in points if fr is not None and fr.limit > 0]
        limit = max(limits) if limits else 1.0
        self._cbar.setLevels((-limit, limit))
        bins = np.linspace(-limit, limit, _HIST_BINS + 1)
        for i, col in enumerate(self._cols):
            visible = i == 0 or i <= len(self._pins)
            col.setVisible(visible)
            fr = points[i][1] if i < len(points) else None
            if visible:
                col.show_frame(fr, limit)
            curve = self._hist_curves[i]
            if visible and fr is not None and fr.hist_values.size:
                counts, _ = np.histogram(np.clip(fr.hist_values, -limit, limit), bins=bins)
                frac = np.maximum(counts / fr.hist_values.size, _HIST_FLOOR)
                curve.setData(bins, np.log10(frac))
            else:
                curve.setData([], [])
        self._hist_plot.setXRange(-limit, limit, padding=0)
        if self._shown is not None:
            self._cols[0].set_titles("simulated", "residual")
        for i, p in enumerate(self._pins):
            name = "AB"[i]
            colour = PIN_COLOURS[i]
            state = "" if p.point.frames.get(f) is not None else " (computing …)"
            self._cols[i + 1].set_titles(
                f"<span style='color:{colour}'>■</span> {name}: {_short(p.label, 12)}{state}",
                f"{name}: residual",
            )
        self._fill_compare()

    def _fill_terms(self, pt: _Point | None) -> None:
        fr = None if pt is None else pt.frames.get(self.shown_frame)
        full = None if pt is None else pt.full
        m = 0 if self._ctx is None else self._ctx.problem.n_images
        self._terms.setHorizontalHeaderLabels(
            ["loss term", f"image {self.shown_frame + 1}", f"mean of {m} images"]
        )
        for r, t in enumerate(TERMS):
            bold = t == "total"
            _set(
                self._terms,
                r,
                1,
                "" if pt is None else _fmt(None if fr is None else fr.terms[t]),
                bold=bold,
            )
            mean = None if full is None else full.terms[t]
            _set(self._terms, r, 2, "" if pt is None else _fmt(mean), bold=bold)

    def _fill_compare(self) -> None:
        if len(self._pins) < 1:
            self._compare.hide()
            self._fit_tables()
            return
        self._compare.show()
        self._fit_tables()
        a = self._pins[0]
        b = self._pins[1] if len(self._pins) > 1 else None
        headers = ["pinned", "A", "B"]
        if not self._narrow:  # the labels; in a narrow dock the image titles carry them
            headers[1] = f"A: {_short(a.label, 10)}"
            if b is not None:
                headers[2] = f"B: {_short(b.label, 10)}"
        self._compare.setHorizontalHeaderLabels([*headers, "B − A", "B / A"])
        for c, pin in ((1, a), (2, b)):
            item = self._compare.horizontalHeaderItem(c)
            if item is not None:
                item.setToolTip("" if pin is None else f"{pin.label}: {point_text(*pin.point.key)}")
        f = self.shown_frame
        m = 0 if self._ctx is None else self._ctx.problem.n_images
        sections = (
            (f"image {f + 1}", lambda p, t: _frame_term(p, f, t)),
            (f"mean of {m} images", lambda p, t: None if p.full is None else p.full.terms[t]),
        )
        r = 0
        for title, get in sections:
            _set(self._compare, r, 0, title, bold=True)
            for c in (1, 2, 3, 4):
                _set(self._compare, r, c, "")
            r += 1
            for t in TERMS:
                va = get(a.point, t)
                vb = None if b is None else get(b.point, t)
                _set(self._compare, r, 0, f"  {t}", bold=t == "total", tip=TERM_TIPS[t])
                _set(self._compare, r, 1, _fmt(va, 3), bold=t == "total")
                _set(self._compare, r, 2, "" if b is None else _fmt(vb, 3), bold=t == "total")
                _set(self._compare, r, 3, "" if b is None else _fmt_diff(va, vb))
                _set(self._compare, r, 4, "" if b is None else _fmt_ratio(va, vb))
                r += 1

    def _update_frame_label(self) -> None:
        ctx = self._ctx
        if ctx is None:
            self._frame_label.setText("")
            return
        p = ctx.problem
        i = self._frame
        parts = [f"{i + 1} of {p.n_images}", f"sweep #{p.frame_indices[i]}"]
        parts.append(f"d = {float(p.d_mm[i]):.3f} mm")
        e = self._shown.e if self._shown is not None else None
        if e is not None or p.focus_depths_mm is not None:
            try:
                df = float(p.focus_depths(e if e is not None else 0.0)[i])
                parts.append(f"Df = {df:.1f} mm")
            except Exception:  # an e that puts the focus nowhere: leave Df out
                pass
        self._frame_label.setText(" · ".join(parts))

    def _update_buttons(self) -> None:
        self._pin_button.setEnabled(self._shown is not None)
        self._clear_button.setEnabled(bool(self._pins))

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self._status.setText(text)
        self._status.setToolTip(text)
        if error:
            dark = self.palette().color(self.palette().ColorRole.Window).lightness() < 128
            self._status.setStyleSheet(f"color: {'#ff6b6b' if dark else '#c62828'}")
        else:
            self._status.setStyleSheet("")

    def _show_no_problem(self) -> None:
        self._stack.setCurrentIndex(0)
        self._update_buttons()


def _frame_term(p: _Point, f: int, t: str) -> float | None:
    fr = p.frames.get(f)
    return None if fr is None else fr.terms[t]
