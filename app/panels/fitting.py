"""The fitting panel: fit A and e to a session and explore the loss landscape.

* **Open** a session (the session browser's Fit…, File → Open session when it has results, the
  Open… button, or a folder dropped on the panel). A session with results (``results/fit.json``
  and ``landscape.npz``) shows them at once: nothing is refitted.
* **Settings**: every option of ``psfbench fit`` with its defaults
  (:class:`psfbench.core.fit.session_fit.FitSettings`); the equivalent command line is shown.
* **Run** starts the fit on a worker thread (:func:`psfbench.core.fit.session_fit.run_session_fit`,
  the CLI's own code path) with progress, ETA and Cancel. The landscape fills in as blocks finish:
  the worker appends each block to a queue that a GUI timer drains (no cross-thread Qt
  signals). When it finishes the results are written with
  :func:`psfbench.core.fit.report.write_outputs` exactly as ``psfbench fit`` writes them; a
  cancelled or failed fit writes nothing, so the session keeps its earlier results.
* **Landscape** (:class:`psfbench.app.widgets.landscape_view.LandscapeView`) and **inspector**
  (:class:`psfbench.app.widgets.inspector.InspectorWidget`): a click or a drag on the landscape
  shows that (A, e) in the inspector; buttons go to the optimum, the datasheet A and the truth, pin
  points and compare the fitted model with the datasheet's side by side.
* **Export** the figure (PNG, SVG), the numbers (CSV, NPZ) and a one-page HTML report
  (:mod:`psfbench.app.fit_export`), written on a worker thread.

Public slots: :meth:`open_session`, :meth:`offer_session`, :meth:`open_dialog`,
:meth:`start_fit`, :meth:`cancel_fit`, :meth:`export_to`, :meth:`export_dialog`,
:meth:`set_frame`,
:meth:`inspect`, :meth:`shutdown`.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.widgets.background import BackgroundTasks
from psfbench.app.widgets.inputs import ComboBox, DoubleSpinBox, SpinBox, action_button
from psfbench.app.widgets.landscape_view import LandscapeView

if TYPE_CHECKING:
    from psfbench.app.bench_model import BenchModel
    from psfbench.app.settings import GuiSettings
    from psfbench.core.fit.session_fit import FitSettings, SessionResults

log = logging.getLogger(__name__)

#: how often the GUI drains the fit's queue of blocks and progress (ms)
POLL_MS = 30
#: least time between two redraws of the landscape while a fit runs (s)
REDRAW_S = 0.12
#: panel width from which the inspector sits beside the landscape instead of under it
WIDE_LAYOUT_PX = 850
#: GUI time spent applying blocks per tick before yielding to the event loop
_DRAIN_BUDGET_S = 0.010
STAGE_NAMES = {
    "landscape": "landscape (gather model)",
    "zoom-coarse": "zoom, coarse level (scatter model)",
    "zoom": "zoom, full resolution (scatter model)",
    "point": "losses at the optimum",
}
AIF_CHOICES = (
    ("auto", "auto (captured if present)"),
    ("captured", "captured (aif.tif)"),
    ("synthesised", "synthesised from the sweep"),
    ("file", "image file…"),
)
DEVICE_CHOICES = (("auto", "auto (CUDA when present)"), ("cpu", "CPU"), ("cuda", "CUDA"))
#: (label, FitSettings.model) of the PSF model choice (docs/psf-models.md)
MODEL_CHOICES = (
    ("Gaussian (the paper's, default)", "gaussian"),
    ("auto: choose on held-out frames", "auto"),
    ("disc (soft-edged pillbox)", "disc"),
    ("chromatic A (needs RGB losses)", "chromatic"),
    ("A over the field", "field"),
    ("tilted focal plane", "tilt"),
    ("focus breathing", "breathing"),
)


@dataclass
class _FitJob:
    """What the worker hands back: the results as written, the problem for inspecting."""

    results: Any
    paths: dict[str, str]
    problem: Any
    zoom_points: np.ndarray
    table: str
    seconds: float
    messages: list[str] = field(default_factory=list)
    problem_error: str = ""


#: niceness of the fit's threads (Linux): the GUI thread keeps the CPU on a 2-core machine
BACKGROUND_NICE = 10


def _background_priority() -> None:
    """Lower the CPU priority of this worker thread and of core's shared compute pool
    (``psfbench.core.parallel``, "psfbench-cpu" threads) on Linux. Measured on 2 cores: a 10 ms GUI
    heartbeat was late by up to ~275 ms while a fit ran at normal priority (pyqtgraph's
    painting got a third of a core), ~70 ms with the fit's threads at nice 10. Linux only (a
    thread is a task there); a thread keeps its niceness (raising it back needs privileges),
    which suits threads that only ever compute in the background of the GUI."""
    if not sys.platform.startswith("linux"):
        return
    ids: list[int | None] = [threading.get_native_id()]
    ids += [t.native_id for t in threading.enumerate() if t.name.startswith("psfbench-cpu")]
    for tid in ids:
        if tid is None:
            continue
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < BACKGROUND_NICE:
                os.setpriority(os.PRIO_PROCESS, tid, BACKGROUND_NICE)
        except OSError:  # the thread ended meanwhile, or a sandbox forbids it
            pass


def _zoom_points_of(landscapes: list[Any]) -> np.ndarray:
    pts = []
    for z in landscapes:
        tot = z.total
        for i, a in enumerate(z.A_values):
            for j, ev in enumerate(z.e_values):
                if np.isfinite(tot[i, j]):
                    pts.append((float(a), float(ev)))
    return np.asarray(pts, dtype=np.float64).reshape(-1, 2)


def _run_fit_job(path: str, fs: FitSettings, token: Any, queue: deque[Any]) -> _FitJob:
    """On the worker: the fit as ``psfbench fit`` runs it, then its outputs."""
    from psfbench.core.fit.inspect import problem_for_inspection
    from psfbench.core.fit.progress import Cancelled
    from psfbench.core.fit.report import format_table, models_table, write_outputs
    from psfbench.core.fit.session_fit import load_session_results, run_session_fit

    _background_priority()
    t0 = time.perf_counter()
    first: dict[str, bool] = {}

    def on_block(b: Any) -> None:
        ls = b.landscape
        shape = None
        if b.stage == "landscape" and not first.get("landscape"):
            first["landscape"] = True
            shape = (ls.A_values.copy(), ls.e_values.copy(), tuple(ls.frame_indices))
        queue.append(("block", b.stage, b.A_index, b.e_index, b.A_values.copy(), b.e_value,
                      b.per_image, shape))  # fmt: skip

    done = run_session_fit(
        path,
        fs,
        progress=lambda p: queue.append(("progress", p)),
        cancel=token,
        on_block=on_block,
        on_message=lambda m: queue.append(("message", m)),
    )
    if token.cancelled:  # cancelled after the last check: write nothing
        raise Cancelled("fit cancelled")
    queue.append(("stage", "writing results"))
    paths = write_outputs(done.result, Path(path) / "results", truth=done.truth)
    results = load_session_results(path)  # what is on disk is what is shown
    problem, problem_error = None, ""
    try:
        problem = problem_for_inspection(done.problem, done.result)
    except Exception as exc:  # inspection is optional; the fit itself succeeded
        problem_error = str(exc)
    return _FitJob(
        results,
        paths,
        problem,
        _zoom_points_of(list(done.result.zoom_path)),
        format_table(done.result, truth=done.truth) + models_table(done.result),
        time.perf_counter() - t0,
        list(done.messages),
        problem_error,
    )


def _load_results_job(path: str) -> Any:
    from psfbench.core.fit.session_fit import has_results, load_session_results

    if not has_results(path):
        return None
    return load_session_results(path)


def _load_problem_job(results: Any, device: str) -> Any:
    from psfbench.core.fit.session_fit import load_problem_for_results, resolve_device

    _background_priority()
    return load_problem_for_results(results, resolve_device(device))


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


def _export_job(folder: str, report: Any) -> dict[str, Path]:
    from psfbench.app.about import version_info
    from psfbench.app.fit_export import export_all

    _background_priority()
    report.versions = version_info()
    return export_all(folder, report)


class _GridBuffer:
    """The GUI's copy of the landscape being computed, filled from the worker's blocks."""

    def __init__(self, A: np.ndarray, e: np.ndarray, frame_indices: tuple[int, ...]) -> None:
        self.A_values = A
        self.e_values = e
        self.frame_indices = frame_indices
        m = len(frame_indices)
        terms = ("l2", "laplacian", "histogram", "ssim", "total")
        self.per_image = {t: np.full((len(A), len(e), m), np.nan) for t in terms}

    @property
    def total(self) -> np.ndarray:
        return np.asarray(self.per_image["total"].mean(axis=-1))


class FitPanel(QWidget):
    """See the module docstring."""

    name = "fitting"
    title = "Fitting"
    #: a fit finished and its results were written (session path)
    resultsWritten = Signal(str)

    def __init__(
        self, model: BenchModel, settings: GuiSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = settings
        self.setAcceptDrops(True)
        self.session_path: Path | None = None
        #: the results shown (a :class:`psfbench.core.fit.session_fit.SessionResults`), None if none
        self.results: SessionResults | None = None
        self.running = False
        self.last_error = ""
        self.last_export: dict[str, Path] | None = None
        #: seconds of the last finished fit, its result table, its written paths
        self.last_fit: _FitJob | None = None
        self.problem: Any = None
        self._shut = False
        self._gen = 0
        self._token: Any = None
        self._queue: deque[Any] = deque()
        self._buffer: _GridBuffer | None = None
        self._live_zoom: list[tuple[float, float]] = []
        self._previous: Any = None
        self._t_start = 0.0
        self._stage = ""
        self._inspected_label = ""
        self._compare_steps: list[tuple[str, float, float]] = []
        self._compare_wait: tuple[str, float, float] | None = None
        self._compare_deadline = 0.0
        self._cuda: bool | None = None
        self._probed = False
        self._split_sized = False
        self._shown_once = False
        self._redraw_due = False
        self._last_redraw = 0.0
        self.inspector: Any = None

        self._fit_tasks = BackgroundTasks(1, name="fit", parent=self)
        self._load_tasks = BackgroundTasks(1, name="fit-load", parent=self)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._drain)
        self._compare_timer = QTimer(self)
        self._compare_timer.setInterval(50)
        self._compare_timer.timeout.connect(self._compare_tick)

        self._build()
        # built now, not on first use: constructing it takes ~0.2 s of GUI time, which at
        # start-up goes unnoticed but in the middle of a fit or a click would not
        self._ensure_inspector()
        self._restore_settings()
        self._update_controls()

    # ------------------------------------------------------------------ construction

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.setSpacing(4)

        top = QHBoxLayout()
        top.setSpacing(4)
        self.session_label = QLabel("No session open", self)
        self.session_label.setObjectName("fitSessionLabel")
        self.session_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.session_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = action_button("Open…", tooltip="Open a session folder to fit")
        self.open_button.clicked.connect(self.open_dialog)
        self.run_button = action_button("Run fit", tooltip="Fit A and e with these settings")
        self.run_button.setObjectName("fitRunButton")
        self.cancel_button = action_button(
            "Cancel", tooltip="Stop the fit; the session keeps its earlier results"
        )
        self.cancel_button.setObjectName("fitCancelButton")
        self.run_button.clicked.connect(self.start_fit)
        self.cancel_button.clicked.connect(self.cancel_fit)
        top.addWidget(self.session_label, 1)
        top.addWidget(self.open_button)
        top.addWidget(self.run_button)
        top.addWidget(self.cancel_button)
        outer.addLayout(top)
        self.progress = QProgressBar(self)
        self.progress.setObjectName("fitProgress")
        self.progress.setTextVisible(True)
        self.progress.setFormat("idle")
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        outer.addWidget(self.progress)
        self.status_label = QLabel("", self)
        self.status_label.setObjectName("fitStatus")
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.status_label)

        self.tabs = QTabWidget(self)
        self.tabs.setObjectName("fitTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_explore(), "Landscape")
        self.tabs.addTab(self._build_settings(), "Settings")
        self.tabs.addTab(self._build_result(), "Result")
        outer.addWidget(self.tabs, 1)

    def _build_explore(self) -> QWidget:
        page = QWidget(self)
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 2, 0, 0)
        lay.setSpacing(2)
        # landscape above the inspector in a narrow dock, beside it when the panel is wide
        self.splitter = QSplitter(Qt.Orientation.Vertical, page)
        self.splitter.setChildrenCollapsible(False)
        self.view = LandscapeView(self.splitter)
        self.view.setObjectName("fitLandscape")
        self.view.readout.hide()  # the status line above says the same
        self.view.pointClicked.connect(lambda A, e: self.inspect(A, e, label=""))
        self.view.pointDragged.connect(lambda A, e: self.inspect(A, e, label=""))
        self.view.image_box.currentIndexChanged.connect(self._landscape_image_changed)

        lower = QWidget(self.splitter)
        ll = QVBoxLayout(lower)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.setSpacing(2)
        go = QHBoxLayout()
        go.setSpacing(3)
        self.go_optimum = action_button("Optimum", tooltip="Inspect the refined optimum")
        self.go_datasheet = action_button(
            "Datasheet", tooltip="Inspect the datasheet A at the fitted e"
        )
        self.go_truth = action_button("Truth", tooltip="Inspect the simulated session's truth")
        self.compare_button = action_button(
            "Fit vs datasheet",
            tooltip="Pin the fitted model and the datasheet A side by side (the paper's Table 3)",
        )
        self.go_optimum.clicked.connect(lambda: self._inspect_named("fitted"))
        self.go_datasheet.clicked.connect(lambda: self._inspect_named("datasheet"))
        self.go_truth.clicked.connect(lambda: self._inspect_named("truth"))
        self.compare_button.clicked.connect(self.compare_with_datasheet)
        for b in (self.go_optimum, self.go_datasheet, self.go_truth, self.compare_button):
            b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            # whole labels from ~330 px; a narrower dock squeezes them rather than the
            # window's minimum width growing for this one row
            b.setMinimumWidth(50)
            go.addWidget(b)
        ll.addLayout(go)
        # the inspector scrolls when the dock is smaller than it wants to be
        self.inspector_scroll = QScrollArea(lower)
        self.inspector_scroll.setWidgetResizable(True)
        self.inspector_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.inspector_scroll.setMinimumHeight(40)
        self.inspector_placeholder = QLabel(
            "Open a session with results or run a fit, then click the landscape to inspect a "
            "point: the real and simulated image, their residual and the loss terms there.",
            lower,
        )
        self.inspector_placeholder.setWordWrap(True)
        self.inspector_placeholder.setAlignment(Qt.AlignmentFlag.AlignTop)
        self.inspector_scroll.setWidget(self.inspector_placeholder)
        ll.addWidget(self.inspector_scroll, 1)
        self.splitter.addWidget(self.view)
        self.splitter.addWidget(lower)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        lay.addWidget(self.splitter, 1)
        return page

    def _first_show(self) -> None:
        if not self._shown_once:  # sizes set while hidden were for a size it never had
            self._shown_once = True
            self._split_sized = False
            self._place_split()

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._place_split()

    def _place_split(self) -> None:
        want = (
            Qt.Orientation.Horizontal if self.width() >= WIDE_LAYOUT_PX else Qt.Orientation.Vertical
        )
        if self.splitter.orientation() != want or not self._split_sized:
            self.splitter.setOrientation(want)
            horizontal = want == Qt.Orientation.Horizontal
            total = self.splitter.width() if horizontal else self.splitter.height()
            if total > 100:
                self._split_sized = True
                # side by side the inspector (images, two pins, tables) needs the larger half
                first = int(total * (0.45 if horizontal else 0.62))
                self.splitter.setSizes([first, total - first])

    def _build_settings(self) -> QWidget:
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        inner = QWidget(scroll)
        form = QFormLayout(inner)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        form.setVerticalSpacing(4)

        def dspin(lo: float, hi: float, dec: int, step: float, tip: str = "") -> DoubleSpinBox:
            s = DoubleSpinBox(inner)
            s.setRange(lo, hi)
            s.setDecimals(dec)
            s.setSingleStep(step)
            if tip:
                s.setToolTip(tip)
            s.valueCommitted.connect(self._form_changed)
            return s

        def ispin(lo: int, hi: int, tip: str = "") -> SpinBox:
            s = SpinBox(inner)
            s.setRange(lo, hi)
            if tip:
                s.setToolTip(tip)
            s.valueCommitted.connect(self._form_changed)
            return s

        def pair(a: QWidget, sep: str, b: QWidget) -> QWidget:
            w = QWidget(inner)
            h = QHBoxLayout(w)
            h.setContentsMargins(0, 0, 0, 0)
            h.addWidget(a, 1)
            h.addWidget(QLabel(sep, w))
            h.addWidget(b, 1)
            return w

        self.A_min = dspin(1.0, 1e6, 1, 50.0, "Smallest A of the grid")
        self.A_max = dspin(1.0, 1e6, 1, 50.0, "Largest A of the grid")
        self.e_min = dspin(-1e4, 1e4, 3, 0.1, "Smallest e of the grid (mm)")
        self.e_max = dspin(-1e4, 1e4, 3, 0.1, "Largest e of the grid (mm)")
        self.n_A = ispin(1, 400, "Grid points along A")
        self.n_e = ispin(1, 400, "Grid points along e")
        self.frames_spin = ispin(1, 10000, "Sweep images used, evenly spaced (the paper: 20)")
        form.addRow("A range", pair(self.A_min, "–", self.A_max))
        form.addRow("e range (mm)", pair(self.e_min, "–", self.e_max))
        form.addRow("Grid A × e", pair(self.n_A, "×", self.n_e))
        form.addRow("Images used", self.frames_spin)

        self.preset_box = ComboBox(inner)
        self.preset_box.addItem("paper text", "paper")
        self.preset_box.addItem("authors' code", "refcode")
        self.preset_box.setToolTip("Loss preset: the paper's text or the authors' code")
        self.preset_box.currentIndexChanged.connect(self._form_changed)
        form.addRow("Loss preset", self.preset_box)
        self.weights_check = QCheckBox("custom weights λ1–λ4", inner)
        self.weights_check.setToolTip(
            "Off: the preset's weights (the paper's 50000 10000 40000 5000)"
        )
        self.weights_check.toggled.connect(self._form_changed)
        wrow = QWidget(inner)
        wl = QHBoxLayout(wrow)
        wl.setContentsMargins(0, 0, 0, 0)
        wl.setSpacing(2)
        self.weight_spins = []
        for k, default in enumerate((50000.0, 10000.0, 40000.0, 5000.0)):
            s = dspin(0.0, 1e9, 0, 1000.0, f"λ{k + 1} of eq. 19")
            s.setValue(default)
            s.setButtonSymbols(DoubleSpinBox.ButtonSymbols.NoButtons)
            self.weight_spins.append(s)
            wl.addWidget(s, 1)
        form.addRow(self.weights_check)
        form.addRow(wrow)
        self.rgb_check = QCheckBox("losses on RGB (else luminance)", inner)
        self.rgb_check.toggled.connect(self._form_changed)
        form.addRow(self.rgb_check)

        self.noise_auto = QCheckBox("estimate from the frames", inner)
        self.noise_auto.setToolTip(
            "Sensor noise added to the simulations: estimated (auto), or a fixed sd "
            "(fraction of full scale; 0 = the paper's noise-free comparison)"
        )
        self.noise_auto.toggled.connect(self._form_changed)
        self.noise_spin = dspin(0.0, 1.0, 4, 0.001, "Noise sd, fraction of full scale")
        form.addRow("Noise", pair(self.noise_auto, "", self.noise_spin))
        self.presmooth_spin = dspin(0.0, 50.0, 2, 0.5, "Gaussian pre-filter of both sides")
        self.presmooth_spin.setSuffix(" px")
        form.addRow("Pre-filter σ", self.presmooth_spin)

        self.aif_box = ComboBox(inner)
        for key, label in AIF_CHOICES:
            self.aif_box.addItem(label, key)
        self.aif_box.setToolTip("The all-in-focus image the simulations blur")
        self.aif_box.currentIndexChanged.connect(self._form_changed)
        form.addRow("All-in-focus", self.aif_box)
        self.aif_path = QLineEdit(inner)
        self.aif_path.setPlaceholderText("image file on the frames' pixel grid")
        self.aif_path.editingFinished.connect(self._form_changed)
        self.aif_browse = action_button("…", tooltip="Choose the all-in-focus image file")
        self.aif_browse.clicked.connect(self._browse_aif)
        arow = QWidget(inner)
        al = QHBoxLayout(arow)
        al.setContentsMargins(0, 0, 0, 0)
        al.addWidget(self.aif_path, 1)
        al.addWidget(self.aif_browse)
        form.addRow(arow)

        self.device_box = ComboBox(inner)
        for key, label in DEVICE_CHOICES:
            self.device_box.addItem(label, key)
        self.device_box.setToolTip("Where the fit computes")
        self.device_box.currentIndexChanged.connect(self._form_changed)
        form.addRow("Device", self.device_box)

        self.ds_auto = QCheckBox("from the lens", inner)
        self.ds_auto.setToolTip(
            "Datasheet A from the session's focal length, f-number and pixel pitch, or a value"
        )
        self.ds_auto.toggled.connect(self._form_changed)
        self.ds_spin = dspin(1.0, 1e7, 1, 10.0, "Datasheet A to compare the fit against")
        form.addRow("Datasheet A", pair(self.ds_auto, "", self.ds_spin))

        self.zoom_box = ComboBox(inner)
        self.zoom_box.addItem("Newton (default)", "newton")
        self.zoom_box.addItem("pattern search", "pattern")
        self.zoom_box.currentIndexChanged.connect(self._form_changed)
        form.addRow("Refinement", self.zoom_box)
        self.model_box = ComboBox(inner)
        self.model_box.setObjectName("fitModelBox")
        for label, key in MODEL_CHOICES:
            self.model_box.addItem(label, key)
        self.model_box.setToolTip(
            "PSF model fitted after the grid (docs/psf-models.md); auto: each model on half the "
            "focus depths, the simplest that predicts the others best"
        )
        self.model_box.currentIndexChanged.connect(self._form_changed)
        form.addRow("PSF model", self.model_box)
        self.c2f_check = QCheckBox("coarse-to-fine landscape", inner)
        self.c2f_check.setToolTip("Off: the landscape at full resolution (slower)")
        self.c2f_check.toggled.connect(self._form_changed)
        form.addRow(self.c2f_check)
        self.hole_spin = dspin(0.0, 20.0, 2, 0.5, "Pixels left out around depth-map holes")
        self.hole_spin.setSuffix(" σ")
        form.addRow("Hole reach", self.hole_spin)
        self.clipped_check = QCheckBox("leave clipped samples out", inner)
        self.clipped_check.toggled.connect(self._form_changed)
        form.addRow(self.clipped_check)

        self.defaults_button = action_button("Defaults", tooltip="The CLI's defaults")
        self.defaults_button.clicked.connect(self._reset_defaults)
        form.addRow(self.defaults_button)
        self.cli_label = QLabel("", inner)
        self.cli_label.setObjectName("fitCliLabel")
        self.cli_label.setWordWrap(True)
        self.cli_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.cli_label.setToolTip("The same fit from a terminal")
        form.addRow(self.cli_label)
        self.form_error = QLabel("", inner)
        self.form_error.setWordWrap(True)
        self.form_error.setStyleSheet("color: #d32f2f;")
        form.addRow(self.form_error)
        scroll.setWidget(inner)
        self.settings_page = inner
        return scroll

    def _build_result(self) -> QWidget:
        page = QWidget(self)
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 2, 0, 0)
        self.result_text = QPlainTextEdit(page)
        self.result_text.setObjectName("fitResultText")
        self.result_text.setReadOnly(True)
        self.result_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        font = self.result_text.font()
        font.setFamily("monospace")
        font.setStyleHint(font.StyleHint.Monospace)
        self.result_text.setFont(font)
        lay.addWidget(self.result_text, 1)
        row = QHBoxLayout()
        self.export_button = action_button(
            "Export…",
            tooltip="Figure (PNG, SVG), landscape and slices (CSV, NPZ) and an HTML report",
        )
        self.export_button.setObjectName("fitExportButton")
        self.export_button.clicked.connect(self.export_dialog)
        row.addWidget(self.export_button)
        row.addStretch(1)
        lay.addLayout(row)
        return page

    # ------------------------------------------------------------------ settings form

    def form_settings(self) -> FitSettings:
        """The settings as entered now (not validated)."""
        from psfbench.core.fit.session_fit import FitSettings

        aif = str(self.aif_box.currentData())
        if aif == "file":
            aif = self.aif_path.text().strip()
        weights = None
        if self.weights_check.isChecked():
            weights = tuple(s.value() for s in self.weight_spins)
        return FitSettings(
            A_range=(self.A_min.value(), self.A_max.value()),
            e_range=(self.e_min.value(), self.e_max.value()),
            grid=(self.n_A.value(), self.n_e.value()),
            frames=self.frames_spin.value(),
            rgb=self.rgb_check.isChecked(),
            preset=str(self.preset_box.currentData()),
            coarse_to_fine=self.c2f_check.isChecked(),
            noise_sd="auto" if self.noise_auto.isChecked() else repr(self.noise_spin.value()),
            presmooth=self.presmooth_spin.value(),
            aif=aif,
            loss_weights=weights,  # type: ignore[arg-type]
            hole_reach_sigmas=self.hole_spin.value(),
            exclude_clipped=self.clipped_check.isChecked(),
            zoom=str(self.zoom_box.currentData()),
            datasheet_A=None if self.ds_auto.isChecked() else self.ds_spin.value(),
            device=str(self.device_box.currentData()),
            model=str(self.model_box.currentData()),
        )

    def set_form(self, fs: FitSettings) -> None:
        """Show ``fs`` in the form (no signals)."""
        widgets = [self.preset_box, self.aif_box, self.device_box, self.zoom_box, self.model_box]
        checks = [self.weights_check, self.rgb_check, self.noise_auto, self.ds_auto,
                  self.c2f_check, self.clipped_check]  # fmt: skip
        for w in widgets + checks:
            w.blockSignals(True)
        try:
            self.A_min.setValueSilently(fs.A_range[0])
            self.A_max.setValueSilently(fs.A_range[1])
            self.e_min.setValueSilently(fs.e_range[0])
            self.e_max.setValueSilently(fs.e_range[1])
            self.n_A.setValueSilently(int(fs.grid[0]))
            self.n_e.setValueSilently(int(fs.grid[1]))
            self.frames_spin.setValueSilently(int(fs.frames))
            self.rgb_check.setChecked(fs.rgb)
            self.preset_box.setCurrentIndex(max(0, self.preset_box.findData(fs.preset)))
            self.c2f_check.setChecked(fs.coarse_to_fine)
            auto = str(fs.noise_sd) == "auto"
            self.noise_auto.setChecked(auto)
            if not auto:
                try:
                    self.noise_spin.setValueSilently(float(fs.noise_sd))
                except ValueError:
                    self.noise_auto.setChecked(True)
            self.presmooth_spin.setValueSilently(fs.presmooth)
            keys = [k for k, _ in AIF_CHOICES]
            if fs.aif in keys and fs.aif != "file":
                self.aif_box.setCurrentIndex(keys.index(fs.aif))
            else:
                self.aif_box.setCurrentIndex(keys.index("file"))
                self.aif_path.setText(fs.aif)
            self.weights_check.setChecked(fs.loss_weights is not None)
            if fs.loss_weights is not None:
                for s, v in zip(self.weight_spins, fs.loss_weights, strict=True):
                    s.setValueSilently(float(v))
            self.hole_spin.setValueSilently(fs.hole_reach_sigmas)
            self.clipped_check.setChecked(fs.exclude_clipped)
            self.zoom_box.setCurrentIndex(max(0, self.zoom_box.findData(fs.zoom)))
            if self.model_box.findData(fs.model) < 0:  # a combination from the CLI
                self.model_box.addItem(fs.model, fs.model)
            self.model_box.setCurrentIndex(max(0, self.model_box.findData(fs.model)))
            self.ds_auto.setChecked(fs.datasheet_A is None)
            if fs.datasheet_A is not None:
                self.ds_spin.setValueSilently(float(fs.datasheet_A))
            dev = fs.device.split(":")[0] if fs.device else "auto"
            self.device_box.setCurrentIndex(max(0, self.device_box.findData(dev)))
        finally:
            for w in widgets + checks:
                w.blockSignals(False)
        self._form_changed()

    def _reset_defaults(self) -> None:
        from psfbench.core.fit.session_fit import FitSettings

        self.set_form(FitSettings())

    def _form_changed(self, *_: Any) -> None:
        from psfbench.core.fit.session_fit import FitSetupError

        file_aif = self.aif_box.currentData() == "file"
        self.aif_path.setVisible(file_aif)
        self.aif_browse.setVisible(file_aif)
        for s in self.weight_spins:
            s.setEnabled(self.weights_check.isChecked() and not self.running)
        self.noise_spin.setEnabled(not self.noise_auto.isChecked() and not self.running)
        self.ds_spin.setEnabled(not self.ds_auto.isChecked() and not self.running)
        fs = self.form_settings()
        session = str(self.session_path) if self.session_path else "SESSION"
        self.cli_label.setText("psfbench fit " + " ".join([_quote(session), *fs.cli_args()]))
        try:
            fs.validate()
            self.form_error.setText("")
        except FitSetupError as exc:
            self.form_error.setText(str(exc))
        self._store_settings(fs)

    def _store_settings(self, fs: FitSettings) -> None:
        state = dict(self.settings.panels.get(self.name, {}))
        state["fit"] = fs.to_json()
        if self.session_path is not None:
            state["session"] = str(self.session_path)
        self.settings.panels[self.name] = state

    def _restore_settings(self) -> None:
        from psfbench.core.fit.session_fit import FitSettings, FitSetupError

        state = self.settings.panels.get(self.name)
        fs = FitSettings()
        if isinstance(state, dict) and isinstance(state.get("fit"), dict):
            try:
                fs = FitSettings.from_json(state["fit"])
            except (FitSetupError, TypeError) as exc:
                log.warning("fitting panel: saved settings dropped (%s)", exc)
        self.set_form(fs)

    def _browse_aif(self) -> None:
        start = str(self.session_path or Path.home())
        path, _ = QFileDialog.getOpenFileName(
            self, "All-in-focus image", start, "Images (*.tif *.tiff *.png)"
        )
        if path:
            self.aif_path.setText(path)
            self._form_changed()

    # ------------------------------------------------------------------ opening

    def open_dialog(self) -> None:
        start = str(self.session_path.parent if self.session_path else Path.home())
        path = QFileDialog.getExistingDirectory(self, "Open session folder to fit", start)
        if path:
            self.open_session(path)

    def offer_session(self, path: str | os.PathLike[str]) -> bool:
        """Open ``path`` here if it has fit results and no fit is running (the main window's
        File → Open session); True if taken."""
        from psfbench.core.fit.session_fit import has_results

        if self.running or not has_results(os.fspath(path)):
            return False
        self.open_session(path)
        return True

    def open_session(self, path: str | os.PathLike[str]) -> None:
        """Show a session: its results at once if it has some (no fit is started)."""
        if self._shut:
            return
        if self.running:
            self._set_status("A fit is running: cancel it before opening another session.", True)
            return
        p = Path(os.fspath(path)).expanduser().absolute()
        if not (p / "session.json").is_file():
            self._set_status(f"{p}: not a psfbench session (no session.json)", True)
            return
        self.session_path = p
        self._gen += 1
        gen = self._gen
        self.session_label.setText(p.name)
        self.session_label.setToolTip(str(p))
        # the bar told the previous session's fit ("done in 11 s"): not this one's
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setToolTip("")
        self._show_results(None)
        self._set_problem(None)
        self._set_status("Reading results…")
        self._form_changed()
        self._update_controls()
        self._load_tasks.submit(
            _load_results_job,
            str(p),
            on_done=lambda r: self._results_loaded(gen, r),
            on_error=lambda exc: self._results_failed(gen, exc),
        )

    def _results_loaded(self, gen: int, results: Any) -> None:
        if gen != self._gen or self._shut:
            return
        if results is None:
            self._set_status("No fit results yet: check the settings and Run fit.")
            self._update_controls()
            return
        # the form shows what made these results (device: the user's choice here)
        fs = results.inferred_settings(self.form_settings())
        self.set_form(fs.with_(device=str(self.device_box.currentData())))
        self._show_results(results)
        self._set_status(self._summary(results) + " (from results/; not refitted)")
        self._load_problem(results, gen)

    def _results_failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen or self._shut:
            return
        self._set_status(str(exc), True)
        self._update_controls()

    def _load_problem(self, results: Any, gen: int) -> None:
        device = str(self.device_box.currentData())
        self._load_tasks.submit(
            _load_problem_job,
            results,
            device,
            on_done=lambda prob: self._problem_loaded(gen, prob),
            on_error=lambda exc: self._problem_failed(gen, exc),
        )

    def _problem_loaded(self, gen: int, problem: Any) -> None:
        if gen != self._gen or self._shut:
            return
        self._set_problem(problem)

    def _problem_failed(self, gen: int, exc: BaseException) -> None:
        if gen != self._gen or self._shut:
            return
        log.warning("fitting panel: inspection unavailable: %s", exc)
        self._inspection_unavailable(str(exc))

    # ------------------------------------------------------------------ showing results

    def _show_results(self, results: Any) -> None:
        self.results = results
        self.view.set_inspected(None)
        self.view.set_pins([])
        if results is None:
            self.view.clear()
            self.result_text.setPlainText("")
            self._sync_frames()
            self._update_controls()
            return
        doc = results.doc
        ds = doc.get("datasheet")
        std = (_sd(doc.get("A_std")), _sd(doc.get("e_std")))
        self.view.set_landscape(None)  # markers first, then one full redraw
        self.view.set_markers(
            optimum=(results.A, results.e),
            std=std,
            hessian=doc.get("hessian"),
            datasheet_A=float(ds["A"]) if isinstance(ds, dict) and "A" in ds else None,
            truth=results.truth,
        )
        self.view.set_landscape(results.landscape)
        zoom = results.zoom
        pts = _zoom_points_of([zoom]) if zoom is not None else np.zeros((0, 2))
        if self.last_fit is not None and self.last_fit.results is results:
            pts = self.last_fit.zoom_points
        self.view.set_zoom_points(pts)
        self.result_text.setPlainText(self._result_text(results))
        self._sync_frames()
        self._update_controls()

    def _summary(self, results: Any) -> str:
        doc = results.doc
        txt = (
            f"A = {results.A:.1f} ± {_sd(doc.get('A_std')):.1f}, "
            f"e = {results.e:.4f} ± {_sd(doc.get('e_std')):.4f} mm"
        )
        if results.truth is not None:
            tA, te = results.truth
            txt += f" (truth {tA:.1f}, {te:.4f})"
        model = doc.get("model")
        if isinstance(model, dict) and model.get("name") not in (None, "gaussian"):
            from psfbench.core.psfmodels.text import model_summary

            txt += f"; PSF model {model_summary(model)}"
        return txt

    def _result_text(self, results: Any) -> str:
        if self.last_fit is not None and self.last_fit.results is results:
            table = self.last_fit.table
        else:
            table_path = results.path / "results" / "fit.txt"
            try:
                table = table_path.read_text(encoding="utf-8")
            except OSError:
                table = self._summary(results)
        return f"{results.path}\n\n{table.rstrip()}\n"

    # ------------------------------------------------------------------ running

    def start_fit(self) -> None:
        """Run the fit of the open session with the form's settings (Run fit)."""
        from psfbench.core.fit.progress import CancelToken
        from psfbench.core.fit.session_fit import FitSetupError

        if self.running or self._shut:
            return
        if self.session_path is None:
            self._set_status("Open a session first.", True)
            return
        fs = self.form_settings()
        try:
            fs.validate()
        except FitSetupError as exc:
            self.tabs.setCurrentIndex(1)
            self._set_status(str(exc), True)
            return
        self._gen += 1  # results/problem still loading are stale now
        self._token = CancelToken()
        self._queue = deque()
        self._buffer = None
        self._live_zoom = []
        self._previous = self.results
        self.results = None
        self.last_error = ""
        self.view.clear()
        self.view.fill_history.clear()
        self.result_text.setPlainText("")
        self._set_problem(None)
        self.running = True
        self._t_start = time.perf_counter()
        self._stage = "starting"
        self.progress.setRange(0, 0)
        self.progress.setFormat("starting…")
        self._set_status("Fitting… the landscape fills in as blocks finish.")
        self.tabs.setCurrentIndex(0)
        self._update_controls()
        self._form_changed()
        self._fit_tasks.submit(
            _run_fit_job,
            str(self.session_path),
            fs,
            self._token,
            self._queue,
            on_done=self._fit_done,
            on_error=self._fit_failed,
        )
        self._poll.start()

    def cancel_fit(self) -> None:
        """Stop the running fit at its next block; nothing is written."""
        if not self.running or self._token is None:
            return
        self._token.cancel()
        self.cancel_button.setEnabled(False)
        self.progress.setFormat("cancelling…")
        self._set_status("Cancelling…")

    def _drain(self) -> None:
        start = time.perf_counter()
        changed = False
        zoom_changed = False
        last_progress = None
        while self._queue and time.perf_counter() - start < _DRAIN_BUDGET_S:
            item = self._queue.popleft()
            kind = item[0]
            if kind == "progress":
                last_progress = item[1]
            elif kind == "block":
                _, stage, A_index, e_index, A_values, e_value, per_image, shape = item
                if stage == "landscape":
                    if shape is not None:
                        self._buffer = _GridBuffer(*shape)
                        self.view.set_landscape(self._buffer)
                    if self._buffer is not None:
                        for t, v in per_image.items():
                            self._buffer.per_image[t][A_index, e_index, :] = v
                        changed = True
                else:
                    self._live_zoom.extend((float(a), float(e_value)) for a in A_values)
                    zoom_changed = True
            elif kind == "stage":
                self._stage = item[1]
                self.progress.setRange(0, 0)
                self.progress.setFormat(item[1] + "…")
            elif kind == "message":
                log.info("fit: %s", item[1])
        self._redraw_due = self._redraw_due or changed
        now = time.perf_counter()
        if self._redraw_due and now - self._last_redraw >= REDRAW_S:
            # at most ~8 redraws a second: painting is the GUI's main cost during a fit
            self._redraw_due = False
            self._last_redraw = now
            self.view.refresh()
        if zoom_changed:
            self.view.set_zoom_points(self._live_zoom)
        if last_progress is not None and self._stage != "writing results":
            self._show_progress(last_progress)

    def _show_progress(self, p: Any) -> None:
        self._stage = p.stage
        name = STAGE_NAMES.get(p.stage, p.stage)
        self.progress.setRange(0, max(1, int(p.total)))
        self.progress.setValue(int(p.done))
        eta = "" if p.eta_s is None else f" · ETA {_fmt_s(p.eta_s)}"
        self.progress.setFormat(f"{name}: {p.done}/{p.total}{eta}")
        elapsed = time.perf_counter() - self._t_start
        self.progress.setToolTip(f"{name}; {_fmt_s(elapsed)} since Run")

    def _finish_run(self) -> None:
        self._drain_all()
        if self._redraw_due:
            self._redraw_due = False
            self.view.refresh()
        self._poll.stop()
        self.running = False
        self._token = None
        self.progress.setRange(0, 1)
        self._update_controls()
        self._form_changed()

    def _drain_all(self) -> None:
        for _ in range(1000):
            if not self._queue:
                break
            self._drain()

    def _fit_done(self, job: _FitJob) -> None:
        if self._shut:
            return
        self._finish_run()
        self.last_fit = job
        self.progress.setValue(1)
        self.progress.setFormat(f"done in {_fmt_s(job.seconds)}")
        self._show_results(job.results)
        self._set_status(f"Fit finished in {_fmt_s(job.seconds)}: {self._summary(job.results)}")
        if job.problem is not None:
            self._set_problem(job.problem)
        elif job.problem_error:
            self._inspection_unavailable(job.problem_error)
        if self.session_path is not None:
            self.resultsWritten.emit(str(self.session_path))

    def _fit_failed(self, exc: BaseException) -> None:
        from psfbench.core.fit.progress import Cancelled

        if self._shut:
            return
        self._finish_run()
        previous, self._previous = self._previous, None
        if isinstance(exc, Cancelled):
            self.progress.setFormat("cancelled")
            msg = "Fit cancelled: nothing was written"
            msg += "; the session keeps its earlier results." if previous else "."
            self._set_status(msg)
        else:
            self.last_error = str(exc)
            self.progress.setFormat("failed")
            self._set_status(f"Fit failed: {exc}", True)
            if not type(exc).__name__.endswith("SetupError"):
                log.error("fit failed", exc_info=exc)
        self._show_results(previous)
        if previous is not None and self.session_path is not None:
            self._load_problem(previous, self._gen)

    # ------------------------------------------------------------------ inspecting

    def _inspection_unavailable(self, why: str) -> None:
        log.warning("fitting panel: inspection unavailable: %s", why)
        self.inspector_placeholder.setText(f"Inspection unavailable: {why}")
        self.status_label.setText(self.status_label.text() + f" Inspection unavailable: {why}")

    def _ensure_inspector(self) -> Any:
        if self.inspector is not None:
            return self.inspector
        try:
            from psfbench.app.widgets.inspector import InspectorWidget
        except Exception as exc:  # the inspector is optional: the landscape works without
            log.info("fitting panel: no inspector (%s)", exc)
            return None
        try:
            ins = InspectorWidget(self)
        except Exception:
            log.exception("fitting panel: the inspector failed to start")
            return None
        self.inspector_scroll.takeWidget()  # the placeholder, kept for messages
        self.inspector_placeholder.hide()
        self.inspector_placeholder.setParent(self)
        self.inspector_scroll.setWidget(ins)
        if hasattr(ins, "pinsChanged"):
            ins.pinsChanged.connect(self._pins_changed)
        self.inspector = ins
        return ins

    def _set_problem(self, problem: Any) -> None:
        self.problem = problem
        ins = self.inspector
        if ins is not None:
            truth = self.results.truth if self.results is not None else None
            try:
                ins.set_problem(problem, truth=truth)
            except Exception:
                log.exception("fitting panel: inspector.set_problem failed")
        self._sync_frames()
        self._update_controls()

    def inspect(self, A: float, e: float, *, label: str = "") -> None:
        """Show (A, e) in the inspector (and mark it on the landscape)."""
        self.view.set_inspected((A, e))
        self._inspected_label = label
        ins = self.inspector
        if ins is not None and self.problem is not None:
            ins.inspect(float(A), float(e))

    def named_point(self, which: str) -> tuple[float, float] | None:
        """(A, e) of "fitted", "datasheet" (at the fitted e) or "truth", when known."""
        r = self.results
        if r is None:
            return None
        if which == "fitted":
            return r.A, r.e
        if which == "datasheet":
            ds = r.doc.get("datasheet")
            if isinstance(ds, dict) and "A" in ds:
                return float(ds["A"]), float(ds.get("e", r.e))
            return None
        if which == "truth":
            return r.truth
        return None

    def _inspect_named(self, which: str) -> None:
        pt = self.named_point(which)
        if pt is not None:
            self.inspect(*pt, label=which)

    def pin_current(self) -> None:
        ins = self.inspector
        if ins is None or ins.current_point is None:
            return
        label = self._inspected_label or f"A {ins.current_point[0]:.0f}"
        ins.pin(label)
        self._pins_changed()

    def clear_pins(self) -> None:
        ins = self.inspector
        if ins is not None:
            ins.clear_pins()
        self._pins_changed()

    def compare_with_datasheet(self) -> None:
        """Pin the fitted model and the datasheet A side by side (one after the other, each
        once its inspection has finished)."""
        ins = self.inspector
        fitted, ds = self.named_point("fitted"), self.named_point("datasheet")
        if ins is None or fitted is None or ds is None or self.problem is None:
            return
        ins.clear_pins()
        self._compare_steps = [("fitted", *fitted), ("datasheet", *ds)]
        self._compare_wait = None
        self._compare_deadline = time.monotonic() + 60.0
        self._compare_timer.start()
        self._compare_tick()

    def _compare_tick(self) -> None:
        ins = self.inspector
        if ins is None or time.monotonic() > self._compare_deadline:
            self._compare_timer.stop()
            return
        if self._compare_wait is not None:
            label, A, e = self._compare_wait
            cur = ins.current_point
            if cur is None or not (math.isclose(cur[0], A) and math.isclose(cur[1], e)):
                return
            ins.pin(label)
            self._pins_changed()
            self._compare_wait = None
        if not self._compare_steps:
            self._compare_timer.stop()
            return
        label, A, e = self._compare_steps.pop(0)
        self._compare_wait = (label, A, e)
        self.inspect(A, e, label=label)

    def _pins_changed(self) -> None:
        ins = self.inspector
        pins = list(getattr(ins, "pins", []) or []) if ins is not None else []
        self.view.set_pins([(str(p[0]), float(p[1]), float(p[2])) for p in pins])

    def _sync_frames(self) -> None:
        """The inspector shows the sweep image the landscape shows (when one is chosen)."""
        self._landscape_image_changed()

    def _problem_frames(self) -> tuple[int, ...]:
        return tuple(self.problem.frame_indices) if self.problem is not None else ()

    def set_frame(self, k: int) -> None:
        """Show sweep image ``k`` (position in the landscape's frames) in the landscape and
        the inspector."""
        self.view.set_image_index(k)

    def _landscape_image_changed(self) -> None:
        # the landscape's image selector is the panel's frame selector: one sweep image there
        # is the same image in the inspector (matched by session frame index)
        k = self.view.image_index
        ls = self.view.landscape
        frames = self._problem_frames()
        if k is None or ls is None or not frames or self.inspector is None:
            return
        lf = tuple(ls.frame_indices)
        if k < len(lf) and lf[k] in frames:
            self.inspector.set_frame(frames.index(lf[k]))

    # ------------------------------------------------------------------ export

    def export_dialog(self) -> None:
        if self.results is None:
            return
        start = self.results.path / "results" / "export"
        folder = QFileDialog.getExistingDirectory(self, "Export the fit into folder", str(start))
        if folder:
            self.export_to(folder)

    def export_snapshot(self) -> Any:
        """What the export writes, as shown now (copies), or None without results."""
        from psfbench.app.fit_export import LandscapeExport, ReportInput

        r = self.results
        surf = self.view.surface()
        if r is None or surf is None:
            return None
        ls = self.view.landscape
        fig = LandscapeExport(
            A_values=np.asarray(ls.A_values, float).copy(),
            e_values=np.asarray(ls.e_values, float).copy(),
            surface=surf.copy(),
            term=self.view.term,
            image_label=self.view.image_box.currentText(),
            log_scale=self.view.log_scale,
            slices=self.view.slices(),
            optimum=self.view.optimum,
            std=self.view.std,
            hessian=self.view.hessian,
            datasheet_A=self.view.datasheet_A,
            truth=self.view.truth,
            zoom_points=self.view.zoom_points,
        )
        fs = r.fit_settings()
        cli = "psfbench fit " + " ".join([_quote(str(r.path)), *(fs.cli_args() if fs else [])])
        return ReportInput(fig, dict(r.doc), str(r.path), cli)

    def export_to(self, folder: str | os.PathLike[str]) -> None:
        """Write the figure (PNG, SVG), CSV, NPZ and the HTML report into ``folder`` (on a
        worker; :attr:`last_export` holds the paths when done)."""
        snap = self.export_snapshot()
        if snap is None:
            self._set_status("Nothing to export: open results or run a fit first.", True)
            return
        self.last_export = None
        self.export_button.setEnabled(False)
        self._set_status("Exporting…")
        self._load_tasks.submit(
            _export_job,
            os.fspath(folder),
            snap,
            on_done=self._exported,
            on_error=self._export_failed,
        )

    def _exported(self, paths: dict[str, Path]) -> None:
        self.last_export = paths
        self._update_controls()
        folder = Path(next(iter(paths.values()))).parent
        self._set_status(f"Exported {len(paths)} files to {folder}")

    def _export_failed(self, exc: BaseException) -> None:
        self._update_controls()
        self._set_status(f"Export failed: {exc}", True)

    # ------------------------------------------------------------------ state

    def _set_status(self, text: str, error: bool = False) -> None:
        self.status_label.setText(text)
        colour = "#d32f2f" if error else ""
        self.status_label.setStyleSheet(f"color: {colour};" if colour else "")
        if error:
            self.last_error = text

    def _update_controls(self) -> None:
        running = self.running
        has_session = self.session_path is not None
        self.run_button.setEnabled(has_session and not running)
        self.cancel_button.setEnabled(running)
        self.open_button.setEnabled(not running)
        self.settings_page.setEnabled(not running)
        has_results = self.results is not None
        self.export_button.setEnabled(has_results and not running)
        can_inspect = self.inspector is not None and self.problem is not None and has_results
        for b, which in ((self.go_optimum, "fitted"), (self.go_datasheet, "datasheet"),
                         (self.go_truth, "truth")):  # fmt: skip
            b.setEnabled(can_inspect and self.named_point(which) is not None)
        self.compare_button.setEnabled(can_inspect and self.named_point("datasheet") is not None)

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._first_show()
        if not self._probed and not self._shut:
            self._probed = True  # CUDA known once the panel is seen (imports torch off-thread)
            self._load_tasks.submit(_cuda_available, on_done=self._cuda_known)

    def _cuda_known(self, available: bool) -> None:
        self._cuda = available
        item = self.device_box.model().item(self.device_box.findData("cuda"))  # type: ignore[attr-defined]
        if item is not None:
            item.setEnabled(available)
            item.setToolTip("" if available else "No CUDA device on this machine")
        if not available and self.device_box.currentData() == "cuda":
            self.device_box.setCurrentIndex(self.device_box.findData("auto"))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        urls = event.mimeData().urls()
        if len(urls) == 1 and Path(urls[0].toLocalFile()).is_dir():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        urls = event.mimeData().urls()
        if urls:
            self.open_session(urls[0].toLocalFile())
        event.acceptProposedAction()

    def shutdown(self) -> None:
        """Cancel a running fit, stop timers and workers (does not wait for them)."""
        if self._shut:
            return
        self._shut = True
        if self._token is not None:
            self._token.cancel()
        self._poll.stop()
        self._compare_timer.stop()
        self._fit_tasks.shutdown()
        self._load_tasks.shutdown()
        if self.inspector is not None:
            try:
                self.inspector.shutdown()
            except Exception as exc:
                log.warning("inspector shutdown: %s", exc)


def _fmt_s(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m} min {s:02d} s"


def _quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def _sd(value: Any) -> float:
    """An sd from fit.json: null (not determined) or missing is NaN."""
    return float(value) if isinstance(value, int | float) else math.nan
