"""Projector-camera calibration wizard (a central tab; non-modal, its steps can be revisited).

1. **Set-up**: where the poses come from (captured live on the bench, or a folder of existing
   captures as ``psfbench calibrate procam DIR`` reads), the projector size (the bench's
   projector when live), the chessboard's inner corners and square size, the Gray-code step,
   the decoding thresholds and the RMS above which a calibration is refused.
2. **Poses**: live, the camera view with the chessboard detected on every new frame and drawn
   over it (green: found, red: not found) so a pose is known good before it is captured. The
   newest frame is pulled from ``BenchModel.latest_frame`` on a timer and detected on a worker
   thread on a downscaled copy (:func:`psfbench.core.fringe.calibrate.detect_chessboard_preview`),
   never on the GUI thread. *Capture pose* runs the ``procam_calibration`` pattern source (Gray
   codes, white, black) through the engine (``BenchModel.start_run``) with progress and abort; the
   frames are written as they arrive into ``<session>/capture_NN/graycode_KK.png``
   (:class:`psfbench.core.fringe.calibrate.CaptureFolderSink`), the layout ``psfbench calibrate
   procam`` reads, and the pose is decoded at once so its usable corners are known. On the virtual
   bench's ``chessboard`` scene the board moves to its next pose after each capture (what the
   technician does by hand) and the virtual lens is stopped down while the wizard is live (as
   ``run_fringe_scan`` does for a scan). From a folder, *Load captures* decodes every pose on a
   worker (:func:`psfbench.core.fringe.calibrate.load_views`, the CLI's code).
3. **Results**: calibration on a worker (:func:`psfbench.core.fringe.calibrate.calibrate_views`, as
   the CLI), per-pose and overall RMS (camera, projector, stereo) in a table; untick a pose's *Use*
   to drop it and *Recalibrate*; the plausibility checks of
   :func:`psfbench.core.fringe.calibrate.check_calibration` shown plainly (a refused calibration
   cannot be saved). *Save to profile* writes ``<profile>.procam.json`` beside the bench profile
   (:func:`psfbench.core.fringe.calibrate.profile_calibration_path`); *Save to session* writes
   ``calibration.json`` and ``wizard.json`` (settings, poses used and dropped, checks) into the
   calibration session folder.

Public slots: :meth:`set_source`, :meth:`load_folder`, :meth:`start_detection`,
:meth:`stop_detection`, :meth:`capture_pose`, :meth:`abort_capture`, :meth:`next_board_pose`,
:meth:`calibrate`, :meth:`save_to_profile`, :meth:`save_to_session`, :meth:`show_step`,
:meth:`shutdown`.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import shlex
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QPalette, QResizeEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QAbstractScrollArea,
    QButtonGroup,
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.widgets.background import BackgroundTasks
from psfbench.app.widgets.calib_view import CalibImageView
from psfbench.app.widgets.inputs import DoubleSpinBox, SpinBox, action_button

if TYPE_CHECKING:
    from psfbench.app.bench_model import BenchModel
    from psfbench.app.settings import GuiSettings

log = logging.getLogger(__name__)

PANEL_KEY = "calibration"
#: live view: how often the newest frame is pulled (ms)
LIVE_MS = 60
#: panel width from which the camera view and the pose list sit side by side
WIDE_LAYOUT_PX = 760
ERROR_COLOURS = ("#c0392b", "#ff8a80")
WARN_COLOURS = ("#8a5a00", "#f0b450")
OK_COLOURS = ("#1e7e34", "#7ddc8c")
#: display copies of captured white images are kept at most this large (pixels per side)
THUMB_SIDE = 1280
STEPS = ("1  Set-up", "2  Poses", "3  Results")
#: the table's last row: the overall RMS over every pose used
ALL_POSES = "All poses"
SUMMARY_ROWS = ("Poses", "Camera", "Projector", "Camera → projector", "Same from the CLI")
RESULT_COLUMNS = (
    "Use",
    "Pose",
    "Corners",
    "Camera px",
    "Projector px",
    "Stereo cam px",
    "Stereo proj px",
)


def _theme_colour(widget: QWidget, colours: tuple[str, str]) -> str:
    dark = widget.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return colours[1] if dark else colours[0]


def _html(text: str) -> str:
    return html.escape(text).replace("\n", "<br>")


# ---------------------------------------------------------------------- form


@dataclass
class WizardForm:
    """What the set-up step holds (also the panel's remembered settings)."""

    source: str = "live"  # "live" | "folder"
    folder: str = ""
    projector: tuple[int, int] = (1024, 768)
    chessboard: tuple[int, int] = (9, 7)
    square: float = 75.0
    step: int = 1
    black_thr: float = 40.0
    white_thr: float = 5.0
    max_rms: float = 2.0
    settle_s: float = 0.1

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "folder": self.folder,
            "projector": list(self.projector),
            "chessboard": list(self.chessboard),
            "square": self.square,
            "step": self.step,
            "black_thr": self.black_thr,
            "white_thr": self.white_thr,
            "max_rms": self.max_rms,
            "settle_s": self.settle_s,
        }

    @classmethod
    def from_dict(cls, d: Any) -> WizardForm:
        """Each remembered value that is valid; defaults for the rest."""
        f = cls()
        if not isinstance(d, dict):
            return f

        def pair(v: Any, lo: int) -> tuple[int, int] | None:
            ok = isinstance(v, list | tuple) and len(v) == 2
            if ok and all(isinstance(x, int) and x >= lo for x in v):
                return (int(v[0]), int(v[1]))
            return None

        def num(v: Any, lo: float, hi: float) -> float | None:
            if isinstance(v, int | float) and not isinstance(v, bool) and lo <= v <= hi:
                return float(v)
            return None

        if d.get("source") in ("live", "folder"):
            f.source = d["source"]
        if isinstance(d.get("folder"), str):
            f.folder = d["folder"]
        f.projector = pair(d.get("projector"), 2) or f.projector
        f.chessboard = pair(d.get("chessboard"), 2) or f.chessboard
        for key, lo, hi in (
            ("square", 1e-3, 1e4),
            ("black_thr", 0, 255),
            ("white_thr", 0, 255),
            ("max_rms", 0.01, 1000),
            ("settle_s", 0, 60),
        ):
            v = num(d.get(key), lo, hi)
            if v is not None:
                setattr(f, key, v)
        step = d.get("step")
        if isinstance(step, int) and not isinstance(step, bool) and 1 <= step <= 64:
            f.step = step
        return f

    def views_key(self) -> tuple[Any, ...]:
        """What decoded poses depend on: change any and the poses are decoded again."""
        return (self.projector, self.chessboard, self.square, self.step, self.black_thr,
                self.white_thr)  # fmt: skip

    def cli_command(self, folder: str | Path) -> str:
        """The ``psfbench calibrate procam`` command that gives the same calibration (all
        usable poses)."""
        parts = [
            "psfbench calibrate procam",
            shlex.quote(str(folder)),
            f"--projector {self.projector[0]}x{self.projector[1]}",
            f"--chessboard {self.chessboard[0]}x{self.chessboard[1]}",
            f"--square {self.square:g}",
            f"--graycode-step {self.step}",
        ]
        if self.black_thr != 40.0:
            parts.append(f"--black-thr {self.black_thr:g}")
        if self.white_thr != 5.0:
            parts.append(f"--white-thr {self.white_thr:g}")
        if self.max_rms != 2.0:
            parts.append(f"--max-rms {self.max_rms:g}")
        return " ".join(parts)


@dataclass
class PoseEntry:
    """One pose: its correspondences (None when unusable, with the reason) and a display copy
    of its white image with the corners found."""

    name: str  # the view name calibrate_procam gives it: str(folder / "capture_NN")
    view: Any = None  # psfbench.core.fringe.calibrate.ViewCorners
    reason: str | None = None
    white: np.ndarray | None = None  # uint8, subsampled to THUMB_SIDE at most
    shape: tuple[int, int] = (0, 0)  # full-resolution (H, W)
    used: bool = True
    #: board corners found in the white image whose Gray codes did not give a projector point
    undecoded: np.ndarray | None = None

    @property
    def label(self) -> str:
        return Path(self.name).name

    @property
    def usable(self) -> bool:
        return self.view is not None


def _thumb(white: np.ndarray) -> np.ndarray:
    h, w = white.shape[:2]
    k = max(1, int(np.ceil(max(h, w) / THUMB_SIDE)))
    return np.ascontiguousarray(white[::k, ::k]) if k > 1 else np.array(white, copy=True)


def _pose_entry(
    name: str,
    stack: np.ndarray,
    view: Any,
    reason: str | None,
    n_codes: int,
    pattern: tuple[int, int],
) -> PoseEntry:
    """Worker: a pose's display data (white image; corners found but not decoded)."""
    from psfbench.core.fringe.calibrate import find_chessboard

    idx = n_codes if stack.shape[0] > n_codes else stack.shape[0] - 1
    white = stack[max(0, idx)]
    undecoded = None
    if view is not None and len(view.object) < pattern[0] * pattern[1]:
        found = find_chessboard(white, pattern)
        if found is not None:
            d = np.linalg.norm(found[:, None, :] - view.camera[None, :, :], axis=2).min(axis=1)
            undecoded = found[d > 1e-3]
    shape = (int(white.shape[0]), int(white.shape[1]))
    return PoseEntry(name, view, reason, _thumb(white), shape, undecoded=undecoded)


@dataclass
class _Capture:
    """A pose being captured by the engine."""

    index: int
    folder: Path
    engine: Any = None
    sink: Any = None
    total: int = 0
    status: str | None = None
    error: str | None = None
    abort_requested: bool = False


@dataclass
class _Loading:
    """A folder being decoded on the worker; the worker appends, the GUI reads."""

    folder: Path
    total: int = 0
    entries: list[PoseEntry] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)


# ---------------------------------------------------------------------- the panel


class CalibrationPanel(QWidget):
    """See the module docstring."""

    name = "calibration"
    title = "Projector calibration"

    def __init__(
        self, model: BenchModel, settings: GuiSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = settings
        self.form = WizardForm.from_dict(settings.panels.get(PANEL_KEY, {}))
        #: the poses (live captures or a folder's), in capture order
        self.poses: list[PoseEntry] = []
        self.camera_size: tuple[int, int] | None = None
        #: the folder the poses live in (the live session or the chosen folder)
        self.pose_folder: Path | None = None
        self._poses_key: tuple[Any, ...] | None = None
        #: the last calibration and its checks; the pose names it used
        self.calibration: Any = None
        self.check: Any = None
        self.calibrated_names: list[str] = []
        self.last_error = ""
        self.saved_paths: dict[str, Path] = {}
        self._closed = False
        self._capture: _Capture | None = None
        self._loading: _Loading | None = None
        self._calibrating = False
        self._detecting = False
        self._live_started_here = False
        self._lit_here = False
        self._saved_aperture: float | None = None
        self._last_seq = -1
        self._detect_pending = False
        self._detect_times: list[float] = []
        self.detected: Any = None  # corners of the newest detection (None: not found)
        self.detect_count = 0
        self._bench_projector: tuple[int, int] | None = None
        #: the poses come from a chosen folder (not from live captures)
        self._from_folder = False
        self._calibrate_after_load = False
        #: warnings about poses that could not be used, for the shown calibration
        self._skipped_warnings: list[str] = []
        #: the overall RMS shown (px): stereo, camera, projector
        self.overall_rms: dict[str, float] = {}
        self._status_warn = False
        self._work = BackgroundTasks(1, name="calib-work", parent=self)
        self._detector = BackgroundTasks(1, name="calib-detect", interval_ms=15, parent=self)

        self._build()
        self._load_form()
        self._live_timer = QTimer(self)
        self._live_timer.setInterval(LIVE_MS)
        self._live_timer.timeout.connect(self._on_live_tick)
        self._poll_timer = QTimer(self)
        self._poll_timer.setInterval(100)
        self._poll_timer.timeout.connect(self._poll_loading)

        model.stateChanged.connect(self._on_state)
        model.runningChanged.connect(self._on_running)
        model.acquisitionEvent.connect(self._on_event)
        self._on_state(model.state)
        self.show_step(0)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(6, 6, 6, 6)
        outer.setSpacing(6)
        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.step_group = QButtonGroup(self)
        self.step_group.setExclusive(True)
        self.step_buttons: list[QPushButton] = []
        for i, text in enumerate(STEPS):
            b = action_button(text)
            b.setCheckable(True)
            b.setMinimumWidth(90)
            self.step_group.addButton(b, i)
            self.step_buttons.append(b)
            bar.addWidget(b)
        bar.addStretch(1)
        self.step_group.idClicked.connect(self.show_step)
        outer.addLayout(bar)

        self.pages = QStackedWidget()
        self.pages.addWidget(self._build_setup())
        self.pages.addWidget(self._build_poses())
        self.pages.addWidget(self._build_results())
        outer.addWidget(self.pages, 1)

        self.status_label = QLabel("")
        self.status_label.setWordWrap(True)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setVisible(False)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        outer.addWidget(self.message_label)
        outer.addWidget(self.status_label)

    def _build_setup(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)

        src = QGroupBox("Poses come from")
        sl = QVBoxLayout(src)
        self.live_radio = QRadioButton("The bench: capture chessboard poses live")
        self.folder_radio = QRadioButton("A folder of captures (capture_*/ sub-folders)")
        self.source_group = QButtonGroup(self)
        self.source_group.addButton(self.live_radio)
        self.source_group.addButton(self.folder_radio)
        sl.addWidget(self.live_radio)
        sl.addWidget(self.folder_radio)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("folder holding capture_0/, capture_1/, …")
        self.folder_edit.setToolTip(
            "Each capture_*/ folder holds one pose's images in projection order: Gray codes "
            "(pattern, inverse per bit; columns then rows), then white, then black (the layout "
            "of kamino410/procam-calibration and of the poses this wizard captures)"
        )
        self.browse_button = action_button("Browse…")
        self.browse_button.clicked.connect(self._browse)
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.browse_button)
        sl.addLayout(row)
        self.live_radio.toggled.connect(self._on_source_toggled)
        self.folder_edit.editingFinished.connect(self._form_changed)
        lay.addWidget(src)

        box = QGroupBox("Patterns and chessboard")
        form = QFormLayout(box)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.proj_w = SpinBox()
        self.proj_h = SpinBox()
        for sb in (self.proj_w, self.proj_h):
            sb.setRange(2, 16384)
            sb.setSuffix(" px")
        self.proj_note = QLabel("")
        self.proj_note.setWordWrap(True)
        form.addRow("Projector width", self.proj_w)
        form.addRow("Projector height", self.proj_h)
        form.addRow(self.proj_note)
        self.board_cols = SpinBox()
        self.board_rows = SpinBox()
        for sb in (self.board_cols, self.board_rows):
            sb.setRange(2, 60)
        self.board_cols.setToolTip("Inner corners along the board's long side (OpenCV's count)")
        form.addRow("Inner corners across", self.board_cols)
        form.addRow("Inner corners down", self.board_rows)
        self.square = DoubleSpinBox()
        self.square.setRange(0.001, 10000.0)
        self.square.setDecimals(3)
        self.square.setSuffix(" mm")
        form.addRow("Square size", self.square)
        self.step_spin = SpinBox()
        self.step_spin.setRange(1, 64)
        self.step_spin.setSuffix(" px")
        self.step_spin.setToolTip(
            "Gray-code block size in projector pixels: raise it when one projector pixel covers "
            "less than about two camera pixels (the finest stripes then do not resolve)"
        )
        form.addRow("Gray-code step", self.step_spin)
        self.black_thr = DoubleSpinBox()
        self.black_thr.setRange(0.0, 255.0)
        self.black_thr.setToolTip("Least white-minus-black difference (8-bit levels) of a pixel")
        form.addRow("White−black threshold", self.black_thr)
        self.white_thr = DoubleSpinBox()
        self.white_thr.setRange(0.0, 255.0)
        self.white_thr.setToolTip("Least pattern-minus-inverse difference (8-bit levels) per bit")
        form.addRow("Bit threshold", self.white_thr)
        self.max_rms = DoubleSpinBox()
        self.max_rms.setRange(0.01, 1000.0)
        self.max_rms.setSuffix(" px")
        self.max_rms.setToolTip("A calibration whose reprojection RMS exceeds this is refused")
        form.addRow("Refuse above RMS", self.max_rms)
        self.settle = DoubleSpinBox()
        self.settle.setRange(0.0, 60.0)
        self.settle.setDecimals(3)
        self.settle.setSuffix(" s")
        self.settle.setToolTip("Wait after each pattern before the camera is triggered (live)")
        form.addRow("Settle per pattern", self.settle)
        for w in (self.proj_w, self.proj_h, self.board_cols, self.board_rows, self.step_spin):
            w.valueCommitted.connect(self._form_changed)
        for d in (self.square, self.black_thr, self.white_thr, self.max_rms, self.settle):
            d.valueCommitted.connect(self._form_changed)
        lay.addWidget(box)

        nav = QHBoxLayout()
        nav.addStretch(1)
        self.next_button = action_button("Next: poses →")
        self.next_button.clicked.connect(lambda: self.show_step(1))
        nav.addWidget(self.next_button)
        lay.addLayout(nav)
        lay.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(page)
        return scroll

    def _build_poses(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        self.view = CalibImageView()
        self.view.setMinimumSize(200, 120)
        side = QWidget()
        sl = QVBoxLayout(side)
        sl.setContentsMargins(0, 0, 0, 0)
        self.detect_label = QLabel("")
        self.detect_label.setWordWrap(True)
        sl.addWidget(self.detect_label)

        self.live_box = QWidget()
        ll = QVBoxLayout(self.live_box)
        ll.setContentsMargins(0, 0, 0, 0)
        r1 = QHBoxLayout()
        self.detect_button = action_button(
            "Live detection", tooltip="Stream the camera and find the chessboard in every frame"
        )
        self.detect_button.setCheckable(True)
        self.detect_button.toggled.connect(self._detect_toggled)
        self.capture_button = action_button(
            "Capture pose", tooltip="Project the Gray codes, white and black; save every frame"
        )
        self.capture_button.clicked.connect(self.capture_pose)
        self.abort_button = action_button("Abort")
        self.abort_button.clicked.connect(self.abort_capture)
        r1.addWidget(self.detect_button)
        r1.addWidget(self.capture_button)
        r1.addWidget(self.abort_button)
        ll.addLayout(r1)
        r1b = QHBoxLayout()
        self.light_check = QCheckBox("Light the board (white)")
        self.light_check.setToolTip("Project white while detecting, so the board is well lit")
        self.light_check.setChecked(True)
        self.light_check.toggled.connect(self._light_toggled)
        r1b.addWidget(self.light_check)
        r1b.addStretch(1)
        ll.addLayout(r1b)
        r2 = QHBoxLayout()
        self.board_button = action_button(
            "Move board (virtual)", tooltip="Virtual bench: put the board in its next pose"
        )
        self.board_button.clicked.connect(self.next_board_pose)
        self.auto_board = QCheckBox("after each capture")
        self.auto_board.setChecked(True)
        r2.addWidget(self.board_button)
        r2.addWidget(self.auto_board)
        r2.addStretch(1)
        self.new_session_button = action_button(
            "New session", tooltip="Start a new calibration session folder at the next capture"
        )
        self.new_session_button.clicked.connect(self.new_session)
        r1b.addWidget(self.new_session_button)
        self.virtual_row = QWidget()
        self.virtual_row.setLayout(r2)
        r2.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(self.virtual_row)
        sl.addWidget(self.live_box)

        self.folder_box = QWidget()
        fl = QHBoxLayout(self.folder_box)
        fl.setContentsMargins(0, 0, 0, 0)
        self.load_button = action_button("Load captures", tooltip="Decode every pose of the folder")
        self.load_button.clicked.connect(lambda: self.load_folder())
        self.cancel_button = action_button("Cancel")
        self.cancel_button.clicked.connect(self._cancel_loading)
        fl.addWidget(self.load_button)
        fl.addWidget(self.cancel_button)
        fl.addStretch(1)
        sl.addWidget(self.folder_box)

        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        self.progress.setVisible(False)  # shown from the first capture or load on
        sl.addWidget(self.progress)

        self.pose_table = QTableWidget(0, 3)
        self.pose_table.setHorizontalHeaderLabels(["Pose", "Corners", "State"])
        self.pose_table.verticalHeader().setVisible(False)
        self.pose_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.pose_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.pose_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        hh = self.pose_table.horizontalHeader()
        hh.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        hh.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.pose_table.itemSelectionChanged.connect(self._pose_selected)
        sl.addWidget(self.pose_table, 1)
        r3 = QHBoxLayout()
        self.drop_button = action_button("Drop pose", tooltip="Leave the selected pose out")
        self.drop_button.clicked.connect(self._drop_selected)
        self.calibrate_button = action_button("Calibrate →")
        self.calibrate_button.clicked.connect(self.calibrate)
        r3.addWidget(self.drop_button)
        r3.addStretch(1)
        r3.addWidget(self.calibrate_button)
        sl.addLayout(r3)

        # narrow first (a small minimum width); resizeEvent puts them side by side when wide
        self.pose_split = QSplitter(Qt.Orientation.Vertical)
        self.pose_split.setChildrenCollapsible(False)
        self.pose_split.addWidget(self.view)
        self.pose_split.addWidget(side)
        self.pose_split.setStretchFactor(0, 3)
        self.pose_split.setStretchFactor(1, 2)
        side.setMinimumWidth(300)
        lay.addWidget(self.pose_split, 1)
        return page

    def _build_results(self) -> QWidget:
        page = QWidget()
        lay = QVBoxLayout(page)
        lay.setContentsMargins(0, 0, 0, 0)
        self.result_table = QTableWidget(0, len(RESULT_COLUMNS))
        self.result_table.setHorizontalHeaderLabels(list(RESULT_COLUMNS))
        self.result_table.verticalHeader().setVisible(False)
        self.result_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.result_table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        rh = self.result_table.horizontalHeader()
        rh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        rh.setStretchLastSection(False)
        self.result_table.setSizeAdjustPolicy(QAbstractScrollArea.SizeAdjustPolicy.AdjustToContents)
        self.result_table.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self._use_boxes: list[QCheckBox] = []
        self._use_labels: list[str] = []
        lay.addWidget(self.result_table)

        self.checks_label = QLabel("")
        self.checks_label.setWordWrap(True)
        self.checks_label.setTextFormat(Qt.TextFormat.RichText)
        self.checks_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.checks_label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        info = QWidget()
        il = QVBoxLayout(info)
        il.setContentsMargins(0, 0, 0, 0)
        il.addWidget(self.checks_label)
        self.summary = QWidget()
        sf = QFormLayout(self.summary)
        sf.setContentsMargins(0, 0, 0, 0)
        sf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        #: the numbers shown under the table, by row title
        self.summary_labels: dict[str, QLabel] = {}
        for key in SUMMARY_ROWS:
            lab = QLabel("—")
            lab.setWordWrap(True)
            lab.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            self.summary_labels[key] = lab
            sf.addRow(key, lab)
        il.addWidget(self.summary)
        il.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(info)
        lay.addWidget(scroll, 2)

        row = QHBoxLayout()
        self.recalibrate_button = action_button(
            "Recalibrate", tooltip="Calibrate again from the poses ticked Use"
        )
        self.recalibrate_button.clicked.connect(self.calibrate)
        self.drop_outliers_button = action_button(
            "Drop outliers", tooltip="Untick the poses the checks name as outliers"
        )
        self.drop_outliers_button.clicked.connect(self._drop_outliers)
        self.save_profile_button = action_button("Save to profile")
        self.save_profile_button.clicked.connect(lambda: self.save_to_profile())
        self.save_session_button = action_button("Save to session")
        self.save_session_button.clicked.connect(lambda: self.save_to_session())
        row.addWidget(self.recalibrate_button)
        row.addWidget(self.drop_outliers_button)
        row.addStretch(1)
        row.addWidget(self.save_profile_button)
        row.addWidget(self.save_session_button)
        lay.addLayout(row)
        return page

    # ------------------------------------------------------------------ form

    def _load_form(self) -> None:
        f = self.form
        self.live_radio.setChecked(f.source == "live")
        self.folder_radio.setChecked(f.source == "folder")
        self.folder_edit.setText(f.folder)
        self.proj_w.setValueSilently(f.projector[0])
        self.proj_h.setValueSilently(f.projector[1])
        self.board_cols.setValueSilently(f.chessboard[0])
        self.board_rows.setValueSilently(f.chessboard[1])
        self.square.setValueSilently(f.square)
        self.step_spin.setValueSilently(f.step)
        self.black_thr.setValueSilently(f.black_thr)
        self.white_thr.setValueSilently(f.white_thr)
        self.max_rms.setValueSilently(f.max_rms)
        self.settle.setValueSilently(f.settle_s)

    def _read_form(self) -> WizardForm:
        proj = (self.proj_w.value(), self.proj_h.value())
        if self.live_radio.isChecked() and self._bench_projector is not None:
            proj = self._bench_projector
        return WizardForm(
            source="live" if self.live_radio.isChecked() else "folder",
            folder=self.folder_edit.text().strip(),
            projector=proj,
            chessboard=(self.board_cols.value(), self.board_rows.value()),
            square=self.square.value(),
            step=self.step_spin.value(),
            black_thr=self.black_thr.value(),
            white_thr=self.white_thr.value(),
            max_rms=self.max_rms.value(),
            settle_s=self.settle.value(),
        )

    def _form_changed(self, *_: Any) -> None:
        self.form = self._read_form()
        self.settings.panels[PANEL_KEY] = self.form.to_dict()
        if self.check is not None and self.calibration is not None:
            self._show_results()  # the refusal limit may have changed
        self._update_controls()

    def _on_source_toggled(self, _checked: bool = False) -> None:
        live = self.live_radio.isChecked()
        if not live:
            self.stop_detection()
        self._form_changed()
        if self.poses and self._from_folder == live:
            self._clear_poses()  # the poses shown came from the other source

    def set_source(self, source: str, folder: str | Path | None = None) -> None:
        """``"live"`` or ``"folder"`` (optionally with the folder)."""
        if source not in ("live", "folder"):
            raise ValueError(f"source must be 'live' or 'folder', got {source!r}")
        if folder is not None:
            self.folder_edit.setText(str(folder))
        (self.live_radio if source == "live" else self.folder_radio).setChecked(True)
        self._form_changed()

    def _browse(self) -> None:
        start = self.folder_edit.text() or self.settings.sessions_dir or str(Path.home())
        path = QFileDialog.getExistingDirectory(self, "Folder of captures", start)
        if path:
            self.folder_edit.setText(path)
            self.set_source("folder")

    # ------------------------------------------------------------------ steps

    def show_step(self, index: int) -> None:
        """Show step ``index`` (0 set-up, 1 poses, 2 results)."""
        index = max(0, min(2, int(index)))
        self.pages.setCurrentIndex(index)
        self.step_buttons[index].setChecked(True)
        if index == 1:
            self._form_changed()
        self._update_controls()

    @property
    def step(self) -> int:
        return self.pages.currentIndex()

    # ------------------------------------------------------------------ bench state

    def _on_state(self, state: str) -> None:
        if state == "connected" and self.model.bench is not None:
            proj = self.model.bench.projector
            if proj is None:
                self._bench_projector = None
            else:
                # width/height of a projector are fixed facts (no device I/O)
                self._bench_projector = (int(proj.width), int(proj.height))
                self.form = self._read_form()
        elif state != "connected":
            self._bench_projector = None
            if state == "disconnecting":
                self.stop_detection()
        self._update_controls()

    def _on_running(self, running: bool) -> None:
        if not running and self._capture is not None:
            self._after_capture()
        self._update_controls()

    def _world(self) -> Any:
        bench = self.model.bench
        return getattr(getattr(bench, "info", None), "world", None)

    def _virtual_board(self) -> bool:
        w = self._world()
        return w is not None and getattr(w.settings, "scene", "") == "chessboard"

    # ------------------------------------------------------------------ live detection

    def start_detection(self) -> bool:
        """Stream the camera (if not already), light the board and detect on every frame."""
        if self._detecting:
            return True
        if not self.model.connected or self.model.running:
            self._set_status("Live detection needs a connected, idle bench.", warn=True)
            self.detect_button.setChecked(False)
            return False
        self._detecting = True
        self._stop_down()
        if not self.model.live_running:
            self._live_started_here = self.model.start_live()
        self._light(self.light_check.isChecked())
        self._last_seq = -1
        self._live_timer.start()
        self.detect_button.blockSignals(True)
        self.detect_button.setChecked(True)
        self.detect_button.blockSignals(False)
        self._set_status(
            "Live: hold the board so that the whole chessboard is green, then Capture."
        )
        self._update_controls()
        return True

    def stop_detection(self) -> None:
        """Stop detecting; stop the stream and the white light if this panel started them."""
        if not self._detecting:
            return
        self._detecting = False
        self._live_timer.stop()
        if self._live_started_here and not self.model.running:
            self.model.stop_live()
        self._live_started_here = False
        self._light(False)
        self._restore_aperture()
        self.detect_button.blockSignals(True)
        self.detect_button.setChecked(False)
        self.detect_button.blockSignals(False)
        self._update_controls()

    def _detect_toggled(self, on: bool) -> None:
        if on:
            self.start_detection()
        else:
            self.stop_detection()

    def _light_toggled(self, on: bool) -> None:
        if self._detecting and not self.model.running:
            self._light(on)

    def _light(self, on: bool) -> None:
        """White on the projector (or blank) on the device thread."""
        bench = self.model.bench
        proj = getattr(bench, "projector", None)
        if proj is None or (not on and not self._lit_here) or self._closed:
            return
        self._lit_here = on

        def work() -> None:
            if on:
                proj.show(np.ones((proj.height, proj.width), np.float32))
            else:
                proj.blank()

        with contextlib.suppress(RuntimeError):  # the model is closed: nothing to light
            self.model.call(work, on_error=lambda exc: log.warning("projector: %s", exc))

    def _stop_down(self) -> None:
        """Virtual bench: stop the lens down while calibrating (as a fringe scan does); a
        real lens is stopped down by hand."""
        world = self._world()
        if world is None or self._saved_aperture is not None:
            return
        self._saved_aperture = float(world.aperture_scale)
        world.set_aperture_scale(0.0)  # the world's own lock; no device I/O

    def _restore_aperture(self) -> None:
        world = self._world()
        saved, self._saved_aperture = self._saved_aperture, None
        if world is not None and saved is not None and self._capture is None:
            world.set_aperture_scale(saved)
        elif saved is not None and self._capture is not None:
            self._saved_aperture = saved  # restored after the capture

    def _on_live_tick(self) -> None:
        if self._closed or self._detect_pending:
            return
        frame = self.model.latest_frame()
        if frame is None or frame.seq == self._last_seq:
            return
        self._last_seq = frame.seq
        pattern = self.form.chessboard
        detect = frame.source == "live"
        self._detect_pending = True
        t0 = time.perf_counter()
        try:
            self._detector.submit(
                _process_frame,
                frame.image,
                frame.full_scale,
                pattern,
                detect,
                on_done=lambda r: self._detected(r, t0),
                on_error=self._detect_failed,
            )
        except RuntimeError:
            self._detect_pending = False

    def _detected(self, result: tuple[np.ndarray, tuple[int, int], Any, bool], t0: float) -> None:
        self._detect_pending = False
        if self._closed:
            return
        grey, shape, corners, attempted = result
        self._detect_times.append(time.perf_counter() - t0)
        del self._detect_times[:-50]
        self.view.set_image(grey, shape)
        cols, rows = self.form.chessboard
        if not attempted:  # a frame of the capture run: patterns, no detection
            self.view.set_corners(None, None, "capturing…")
            return
        self.detect_count += 1
        self.detected = corners
        if corners is None:
            text = f"Chessboard {cols}x{rows}: not found"
            self.view.set_corners(None, False, text)
            self.detect_label.setText(
                f"<span style='color:{_theme_colour(self, ERROR_COLOURS)}'>● {text}</span>"
            )
        else:
            text = f"Chessboard {cols}x{rows}: found, {len(corners)} corners"
            self.view.set_corners(corners, True, text, cols=cols)
            self.detect_label.setText(
                f"<span style='color:{_theme_colour(self, OK_COLOURS)}'>● {text}</span>"
            )

    def _detect_failed(self, exc: BaseException) -> None:
        self._detect_pending = False
        log.warning("chessboard detection: %s", exc)

    # ------------------------------------------------------------------ capturing

    def _session_folder(self) -> Path:
        """The live calibration session (created on the first capture)."""
        if self.pose_folder is not None and not self._from_folder:
            return self.pose_folder
        root = Path(self.settings.sessions_dir or (Path.home() / "psfbench-sessions"))
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = root / f"procam_calibration_{stamp}"
        n = 1
        while path.exists():
            n += 1
            path = root / f"procam_calibration_{stamp}_{n}"
        path.mkdir(parents=True)
        self._clear_poses()
        self._from_folder = False
        self.pose_folder = path
        return path

    def capture_pose(self) -> bool:
        """Capture one pose (Gray codes + white + black) through the engine; False if it
        cannot start (the reason is shown)."""
        if self._capture is not None:
            return False
        if not self.model.connected:
            self._show_error("Cannot capture", "connect the bench first")
            return False
        if self.model.running:
            self._show_error("Cannot capture", "another run is using the bench")
            return False
        bench = self.model.bench
        if bench.projector is None:
            self._show_error(
                "Cannot capture",
                "the bench has no projector (choose a profile with one, or calibrate from a "
                "folder of captures)",
            )
            return False
        if self._work.busy:
            self._set_status("Still decoding the previous pose; capture again in a moment.")
            return False
        self.form = self._read_form()
        changed = self._poses_key is not None and self._poses_key != self.form.views_key()
        if changed and self.poses and not self._from_folder:
            # one session, one set of settings: the folder must stay calibratable as a whole
            self._show_error(
                "Settings changed",
                "the pattern or chessboard settings differ from those of the poses already "
                "taken: set them back, or press New session",
            )
            return False
        from psfbench.core.fringe.calibrate import CaptureFolderSink, calibration_plan

        try:
            plan = calibration_plan(
                self.form.projector, step=self.form.step, settle_s=self.form.settle_s
            )
            session = self._session_folder()
        except Exception as exc:
            self._show_error("Cannot capture", str(exc))
            return False
        taken = [p.name.rsplit("_", 1)[-1] for p in self.poses]
        index = max((int(n) for n in taken if n.isdigit()), default=-1) + 1
        folder = session / f"capture_{index:02d}"
        cap = _Capture(index, folder, total=plan.total_steps())
        self._capture = cap
        self._clear_message()

        def prepare() -> int:
            from psfbench.core.devices.protocols import PIXEL_FORMAT_MAX

            return int(PIXEL_FORMAT_MAX[bench.camera.pixel_format])

        def ready(full_scale: int) -> None:
            if self._capture is not cap or self._closed:
                return
            if cap.abort_requested:
                self._finish_capture(None)
                return
            cap.sink = CaptureFolderSink(folder, plan.total_steps(), full_scale)
            self._stop_down()
            try:
                cap.engine = self.model.start_run(plan, cap.sink, session=str(session))
            except Exception as exc:
                self._finish_capture(f"cannot start the capture: {exc}")
                return
            self.progress.setVisible(True)
            self.progress.setRange(0, cap.total)
            self.progress.setValue(0)
            self.progress.setFormat(f"{folder.name}: %v / %m patterns")
            self._set_status(f"Capturing {folder.name} …")
            self._update_controls()

        def failed(exc: BaseException) -> None:
            if self._capture is cap:
                self._finish_capture(f"cannot read the camera: {exc}")

        try:
            self.model.call(prepare, on_done=ready, on_error=failed)
        except RuntimeError as exc:
            self._capture = None
            self._show_error("Cannot capture", str(exc))
            return False
        self._update_controls()
        return True

    def new_session(self) -> None:
        """Forget the poses shown; the next capture starts a new session folder (the old
        one stays on disk)."""
        if self._capture is not None or self._loading is not None or self._calibrating:
            return
        self._clear_poses()
        self._clear_message()
        self._set_status("New session: the next capture starts a new folder.")
        self._update_controls()

    def abort_capture(self) -> None:
        cap = self._capture
        if cap is None:
            return
        cap.abort_requested = True
        if cap.engine is not None and self.model.engine is cap.engine:
            self.model.abort_run()
        self._set_status("Aborting the capture …", warn=True)

    def _on_event(self, event: Any) -> None:
        cap = self._capture
        if cap is None or cap.engine is None or self.model.engine is not cap.engine:
            return
        kind = getattr(event, "kind", "")
        if kind == "progress":
            self.progress.setRange(0, max(1, event.total))
            self.progress.setValue(event.done)
        elif kind == "error":
            cap.error = event.message
        elif kind == "warning":
            self._set_status(f"Warning: {event.message}", warn=True)
        elif kind == "finished":
            cap.status = event.status
            if event.status == "failed" and not cap.error:
                cap.error = event.message or "the capture failed"

    def _after_capture(self) -> None:
        cap = self._capture
        if cap is None or cap.engine is None or self.model.running:
            return
        if cap.status == "completed" and not cap.abort_requested:
            self._finish_capture(None, completed=True)
        else:
            self._finish_capture(cap.error)

    def _finish_capture(self, error: str | None, *, completed: bool = False) -> None:
        cap, self._capture = self._capture, None
        if cap is None:
            return
        if self._detecting:
            if not self.model.live_running and not self.model.running:
                self._live_started_here = self.model.start_live() or self._live_started_here
            self._light(self.light_check.isChecked())
        elif self._saved_aperture is not None:
            self._restore_aperture()
        if not completed:
            # an incomplete pose would break the folder for the CLI: nothing is kept
            shutil.rmtree(cap.folder, ignore_errors=True)
            self.progress.setFormat("capture not kept")
            if error:
                self._show_error("Capture failed", f"{cap.folder.name}: {error}")
            else:
                self._set_status(f"Capture of {cap.folder.name} aborted; nothing kept.", warn=True)
            self._update_controls()
            return
        self.progress.setFormat(f"{cap.folder.name}: decoding …")
        self._set_status(f"{cap.folder.name} saved; decoding its Gray codes …")
        form = self.form
        self._poses_key = form.views_key()
        self._work.submit(
            _decode_pose,
            cap.folder,
            form,
            on_done=self._pose_decoded,
            on_error=lambda exc: self._show_error("Cannot decode the pose", str(exc)),
        )
        if self._virtual_board() and self.auto_board.isChecked():
            self.next_board_pose()
        self._update_controls()

    def _pose_decoded(self, entry: PoseEntry) -> None:
        if self._closed:
            return
        self.poses.append(entry)
        self.camera_size = (entry.shape[1], entry.shape[0])
        self._refresh_pose_table(select=len(self.poses) - 1)
        usable = sum(p.usable for p in self.poses)
        self.progress.setFormat(f"{entry.label}: {'ok' if entry.usable else 'not usable'}")
        if entry.usable:
            n = len(entry.view.object)
            cols, rows = self.form.chessboard
            self._set_status(
                f"{entry.label}: {n} of {cols * rows} corners decoded. {usable} usable "
                f"pose(s){'; capture at least 3' if usable < 3 else ''}."
            )
        else:
            self._set_status(f"{entry.label} is not usable: {entry.reason}", warn=True)
        self._update_controls()

    def next_board_pose(self) -> None:
        """Virtual bench (``chessboard`` scene): move the board to its next pose."""
        world = self._world()
        if world is None or not self._virtual_board():
            return
        pose = int(world.board_pose) + 1
        try:
            self.model.call(
                world.set_board_pose,
                pose,
                on_error=lambda exc: self._show_error("Virtual board", str(exc)),
            )
        except RuntimeError:
            return
        self._set_status(f"Virtual board moved to pose {pose}.")

    # ------------------------------------------------------------------ folder mode

    def load_folder(self, folder: str | Path | None = None) -> bool:
        """Decode every pose of a folder of captures on the worker (Poses step)."""
        if folder is not None:
            self.set_source("folder", folder)
        self.form = self._read_form()
        text = self.form.folder
        if not text:
            self._show_error("No folder", "choose the folder of captures in Set-up")
            return False
        if self._loading is not None or self._work.busy:
            return False
        self.stop_detection()
        path = Path(text).expanduser()
        job = _Loading(path)
        self._loading = job
        self._clear_poses()
        self._from_folder = True
        self.pose_folder = path
        self._poses_key = self.form.views_key()
        self._clear_message()
        self.progress.setVisible(True)
        self.progress.setRange(0, 0)
        self.progress.setFormat("reading …")
        self._set_status(f"Decoding the poses in {path} …", tip=str(path))
        self._work.submit(
            _load_folder_views,
            job,
            self.form,
            on_done=lambda r: self._folder_loaded(job, r),
            on_error=lambda exc: self._folder_failed(job, exc),
        )
        self._poll_timer.start()
        self._update_controls()
        return True

    def _cancel_loading(self) -> None:
        if self._loading is not None:
            self._loading.cancel.set()

    def _poll_loading(self) -> None:
        job = self._loading
        if job is None:
            self._poll_timer.stop()
            return
        n = len(job.entries)
        if job.total:
            self.progress.setRange(0, job.total)
            self.progress.setValue(n)
            self.progress.setFormat("decoded %v / %m poses")
        if n > len(self.poses):
            self.poses = list(job.entries)
            self._refresh_pose_table(select=n - 1)

    def _folder_loaded(self, job: _Loading, result: Any) -> None:
        if self._loading is not job or self._closed:
            return
        self._loading = None
        self._poll_timer.stop()
        self.poses = list(job.entries)
        self.camera_size = result.camera_size
        self._refresh_pose_table(select=0)
        self.progress.setRange(0, max(1, len(self.poses)))
        self.progress.setValue(len(self.poses))
        self.progress.setFormat("decoded %v / %m poses")
        bad = [p for p in self.poses if not p.usable]
        msg = f"{len(self.poses) - len(bad)} of {len(self.poses)} poses usable."
        first_bad = f" {bad[0].label}: {bad[0].reason}" if bad else ""
        self._set_status(msg + first_bad, warn=bool(bad))
        self._update_controls()
        if self._calibrate_after_load:
            self._calibrate_after_load = False
            self.calibrate()

    def _folder_failed(self, job: _Loading, exc: BaseException) -> None:
        if self._loading is not job or self._closed:
            return
        self._loading = None
        self._poll_timer.stop()
        self.poses = list(job.entries)
        self._refresh_pose_table()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self._calibrate_after_load = False
        if job.cancel.is_set():
            self._set_status("Loading cancelled.", warn=True)
        else:
            self._show_error("Cannot load the captures", str(exc))
        self._update_controls()

    # ------------------------------------------------------------------ poses

    def _clear_poses(self) -> None:
        self.poses = []
        self.camera_size = None
        self.pose_folder = None
        self._poses_key = None
        self._from_folder = False
        self.calibration = None
        self.check = None
        self.calibrated_names = []
        self._refresh_pose_table()
        self._show_results()

    def _refresh_pose_table(self, select: int | None = None) -> None:
        t = self.pose_table
        t.blockSignals(True)
        t.setRowCount(len(self.poses))
        cols, rows = self.form.chessboard
        for i, p in enumerate(self.poses):
            n = len(p.view.object) if p.usable else 0
            state = (
                ("used" if p.used else "dropped")
                if p.usable
                else f"not usable: {p.reason or 'unknown'}"
            )
            items = [QTableWidgetItem(p.label), QTableWidgetItem(f"{n}/{cols * rows}"),
                     QTableWidgetItem(state)]  # fmt: skip
            for j, it in enumerate(items):
                it.setToolTip(p.reason or p.name)
                t.setItem(i, j, it)
        t.blockSignals(False)
        if select is not None and 0 <= select < len(self.poses):
            t.selectRow(select)
            self._pose_selected()
        self._refresh_result_rows()

    def _selected_pose(self) -> int | None:
        rows = self.pose_table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _pose_selected(self) -> None:
        i = self._selected_pose()
        if i is None or i >= len(self.poses) or self._detecting:
            self._update_controls()
            return
        p = self.poses[i]
        if p.white is not None:
            self.view.set_image(p.white, p.shape)
        if p.usable:
            cols, rows = self.form.chessboard
            n = len(p.view.object)
            text = f"{p.label}: {n} of {cols * rows} corners decoded"
            self.view.set_corners(
                p.view.camera,
                p.used,
                text + ("" if p.used else " (dropped)"),
                cols=cols,
                missing=p.undecoded,
            )
        else:
            self.view.set_corners(None, False, f"{p.label}: not usable")
        self._update_controls()

    def _drop_selected(self) -> None:
        i = self._selected_pose()
        if i is None:
            return
        self.set_pose_used(i, not self.poses[i].used)

    def set_pose_used(self, index: int, used: bool) -> None:
        p = self.poses[index]
        if not p.usable:
            return
        p.used = bool(used)
        self._refresh_pose_table(select=self._selected_pose())
        self._update_controls()

    def _drop_outliers(self) -> None:
        if self.check is None:
            return
        for name in self.check.outliers:
            for p in self.poses:
                if p.name == name:
                    p.used = False
        self._refresh_pose_table()
        self._update_controls()

    # ------------------------------------------------------------------ calibrating

    def calibrate(self) -> bool:
        """Calibrate from the usable poses ticked Use, on the worker (decoding the poses
        again first when the settings they were decoded with have changed)."""
        if self._calibrating or self._loading is not None or self._capture is not None:
            return False
        self.form = self._read_form()
        if self._poses_key is not None and self._poses_key != self.form.views_key():
            if self.pose_folder is None:
                return False
            self._set_status("Settings changed since the poses were decoded: decoding again …")
            if self._from_folder:
                self._calibrate_after_load = True
                return self.load_folder()
            return self._redecode_live()
        use = [p for p in self.poses if p.usable and p.used]
        if len(use) < 3:
            self._show_error(
                "Cannot calibrate",
                f"need at least 3 usable poses ticked Use, have {len(use)}",
            )
            return False
        assert self.camera_size is not None
        self._calibrating = True
        self._clear_message()
        names = [p.name for p in use]
        skipped = [(p.name, p.reason or "") for p in self.poses if not p.usable]
        from psfbench.core.fringe.calibrate import skipped_warnings

        self._skipped_warnings = skipped_warnings(skipped)
        self._set_status(f"Calibrating from {len(use)} poses …")
        self.show_step(2)
        self._work.submit(
            _calibrate,
            [p.view for p in use],
            self.camera_size,
            self.form,
            skipped,
            on_done=lambda r: self._calibrated(r, names),
            on_error=self._calibration_failed,
        )
        self._update_controls()
        return True

    def _redecode_live(self) -> bool:
        folder = self.pose_folder
        assert folder is not None
        dropped = {p.name for p in self.poses if not p.used}
        job = _Loading(folder)
        self._loading = job
        self._poses_key = self.form.views_key()
        self._poll_timer.start()

        def done(result: Any) -> None:
            self._folder_loaded(job, result)
            for p in self.poses:
                p.used = p.name not in dropped
            self._refresh_pose_table()
            self.calibrate()

        self._work.submit(
            _load_folder_views, job, self.form, on_done=done,
            on_error=lambda exc: self._folder_failed(job, exc),
        )  # fmt: skip
        return True

    def _calibrated(self, result: tuple[Any, Any], names: list[str]) -> None:
        self._calibrating = False
        if self._closed:
            return
        self.calibration, self.check = result
        self.calibrated_names = names
        self.saved_paths = {}
        self._show_results()
        cal = self.calibration
        if self.check.ok:
            self._set_status(
                f"Calibrated from {len(names)} poses: stereo RMS {cal.rms:.4f} px "
                f"(camera {cal.camera_rms:.4f}, projector {cal.projector_rms:.4f})."
            )
        else:
            self._set_status("Calibration refused by the checks: see Results.", warn=True)
        self._update_controls()

    def _calibration_failed(self, exc: BaseException) -> None:
        self._calibrating = False
        self._show_error("Calibration failed", str(exc))
        self._update_controls()

    def _refresh_result_rows(self) -> None:
        """One row per pose (Use box and the RMS of the last calibration where it was used),
        then the overall RMS: camera and projector (Zhang) and stereo across both."""
        t = self.result_table
        cal = self.calibration
        t.clearSpans()
        t.setRowCount(len(self.poses) + (1 if cal is not None else 0))
        by_name = {v.name: v for v in cal.views} if cal is not None else {}
        labels = [p.label for p in self.poses]
        if labels != self._use_labels:
            # new poses: new boxes (never rebuilt from a box's own signal: see set_pose_used)
            self._use_boxes = []
            for i in range(len(self.poses)):
                box = QCheckBox()
                box.toggled.connect(lambda on, k=i: self.set_pose_used(k, on))
                holder = QWidget()
                hl = QHBoxLayout(holder)
                hl.setContentsMargins(6, 0, 6, 0)
                hl.addWidget(box)
                hl.setAlignment(Qt.AlignmentFlag.AlignCenter)
                t.setCellWidget(i, 0, holder)
                self._use_boxes.append(box)
            self._use_labels = labels
        for i, p in enumerate(self.poses):
            box = self._use_boxes[i]
            box.blockSignals(True)
            box.setChecked(p.used and p.usable)
            box.blockSignals(False)
            box.setEnabled(p.usable and not self._calibrating)
            box.setToolTip("Use this pose" if p.usable else (p.reason or "not usable"))
            v = by_name.get(p.name)
            if v is not None:
                values: list[float | None] = [
                    v.camera_rms,
                    v.projector_rms,
                    v.stereo_camera_rms,
                    v.stereo_projector_rms,
                ]
                corners = str(v.n_corners)
                note = ""
            else:
                values = [None] * 4
                corners = str(len(p.view.object)) if p.usable else "—"
                if not p.usable:
                    note = p.reason or "not usable"
                elif cal is not None:
                    note = "dropped: not in this calibration"
                else:
                    note = ""
            cells = [QTableWidgetItem(p.label), QTableWidgetItem(corners)]
            cells += [self._number_item(val) for val in values]
            for j, it in enumerate(cells, start=1):
                it.setToolTip(note or p.name)
                t.setItem(i, j, it)
        if cal is not None:
            r = len(self.poses)
            t.removeCellWidget(r, 0)
            head = QTableWidgetItem(ALL_POSES)
            font = head.font()
            font.setBold(True)
            head.setFont(font)
            t.setItem(r, 1, head)
            t.setItem(r, 2, QTableWidgetItem(str(sum(v.n_corners for v in cal.views))))
            cells = [
                self._number_item(cal.camera_rms, "camera (Zhang)"),
                self._number_item(cal.projector_rms, "projector (Zhang, local homographies)"),
                self._number_item(cal.rms, "stereo, camera and projector together"),
            ]
            for it in cells:
                it.setFont(font)
            t.setItem(r, 3, cells[0])
            t.setItem(r, 4, cells[1])
            t.setItem(r, 5, cells[2])
            t.setItem(r, 6, QTableWidgetItem(""))
            t.setSpan(r, 5, 1, 2)
            cells[2].setTextAlignment(Qt.AlignmentFlag.AlignCenter)
        t.resizeColumnsToContents()

    @staticmethod
    def _number_item(value: float | None, tip: str = "") -> QTableWidgetItem:
        it = QTableWidgetItem("—" if value is None else f"{value:.4f}")
        it.setData(Qt.ItemDataRole.UserRole, value)
        it.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if tip:
            it.setToolTip(tip)
        return it

    def result_value(self, pose_label: str, column: str) -> float | None:
        """The full-precision number in the Results table (``ALL_POSES`` for the overall row;
        its stereo RMS is under "Stereo cam px")."""
        j = RESULT_COLUMNS.index(column)
        for i in range(self.result_table.rowCount()):
            item = self.result_table.item(i, 1)
            if item is not None and item.text() == pose_label:
                cell = self.result_table.item(i, j)
                return None if cell is None else cell.data(Qt.ItemDataRole.UserRole)
        raise KeyError(pose_label)

    def _show_results(self) -> None:
        self._refresh_result_rows()
        cal = self.calibration
        if cal is None:
            for lab in self.summary_labels.values():
                lab.setText("—")
            self.checks_label.setText("Not calibrated yet.")
            self.overall_rms = {}
            return
        from psfbench.core.fringe.calibrate import check_calibration

        # the refusal limit can change after calibrating: check again with the one set now
        self.check = check_calibration(cal, max_rms=self.form.max_rms)
        cal.warnings = self._skipped_warnings + self.check.warnings
        self.overall_rms = {
            "stereo": float(cal.rms),
            "camera": float(cal.camera_rms),
            "projector": float(cal.projector_rms),
        }
        k, kp, t = cal.camera_matrix, cal.projector_matrix, cal.T
        dropped = [p.label for p in self.poses if p.usable and p.name not in self.calibrated_names]
        text = {
            "Poses": f"{len(self.calibrated_names)} used"
            + (f"; dropped: {', '.join(dropped)}" if dropped else ""),
            "Camera": f"fx {k[0, 0]:.1f}, fy {k[1, 1]:.1f}, cx {k[0, 2]:.1f}, cy {k[1, 2]:.1f} px "
            f"({cal.camera_size[0]}x{cal.camera_size[1]})",
            "Projector": f"fx {kp[0, 0]:.1f}, fy {kp[1, 1]:.1f}, cx {kp[0, 2]:.1f}, "
            f"cy {kp[1, 2]:.1f} px ({cal.projector_size[0]}x{cal.projector_size[1]})",
            "Camera → projector": f"T = ({t[0]:.2f}, {t[1]:.2f}, {t[2]:.2f}) {cal.units}",
            "Same from the CLI": (
                self.form.cli_command(self.pose_folder)
                if self.pose_folder is not None and not dropped
                else "— (poses dropped: the CLI takes every pose of a folder)"
            ),
        }
        for key, lab in self.summary_labels.items():
            lab.setText(text[key])
        parts = []
        if self.check.refusal:
            c = _theme_colour(self, ERROR_COLOURS)
            parts.append(
                f"<p style='color:{c}'><b>Refused:</b> {_html(self.check.refusal)}. It cannot be "
                "saved: drop bad poses, capture more, or check the settings.</p>"
            )
        if cal.warnings:
            c = _theme_colour(self, WARN_COLOURS)
            items = "".join(f"<li>{_html(w)}</li>" for w in cal.warnings)
            parts.append(
                f"<p style='color:{c}'><b>Warnings:</b></p><ul style='color:{c}'>{items}</ul>"
            )
        if not parts:
            c = _theme_colour(self, OK_COLOURS)
            parts.append(
                f"<p style='color:{c}'><b>Checks passed:</b> focal lengths, principal points "
                f"and per-pose RMS plausible; every RMS under {self.form.max_rms:g} px.</p>"
            )
        self.checks_label.setText("".join(parts))

    # ------------------------------------------------------------------ saving

    def _profile_target(self) -> Path:
        from psfbench.core.fringe.calibrate import profile_calibration_path

        bench = self.model.bench
        if bench is not None:
            return profile_calibration_path(self.model.profile_name, bench.info.source)
        from psfbench.core.config.profiles import load_profile

        name = self.settings.profile or "virtual"
        try:
            _, source = load_profile(name)
        except Exception:
            source = None
        return profile_calibration_path(name, source)

    def save_to_profile(self) -> Path | None:
        """Write the calibration beside the bench profile (``<profile>.procam.json``)."""
        if not self._can_save():
            return None
        from psfbench.core.fringe.calibrate import save_calibration

        try:
            path = save_calibration(self.calibration, self._profile_target())
        except Exception as exc:
            self._show_error("Cannot save to the profile", str(exc))
            return None
        self.saved_paths["profile"] = path
        self._set_status(f"Saved to the bench profile: {path}", tip=str(path))
        return path

    def save_to_session(self) -> Path | None:
        """Write ``calibration.json`` + ``wizard.json`` into the calibration session folder
        (the live session; for a folder of captures, a new session under the sessions
        folder that names the captures' folder)."""
        if not self._can_save():
            return None
        from psfbench.core.fringe.calibrate import save_calibration

        if self.pose_folder is not None and not self._from_folder:
            session = self.pose_folder
        else:
            root = Path(self.settings.sessions_dir or (Path.home() / "psfbench-sessions"))
            session = root / f"procam_calibration_{time.strftime('%Y%m%d-%H%M%S')}"
            n = 1
            while session.exists():
                n += 1
                session = root / f"procam_calibration_{time.strftime('%Y%m%d-%H%M%S')}_{n}"
        try:
            path = save_calibration(self.calibration, session / "calibration.json")
            record = {
                "settings": self.form.to_dict(),
                "captures": str(self.pose_folder) if self.pose_folder else None,
                "poses_used": [Path(n).name for n in self.calibrated_names],
                "poses_dropped": [
                    p.label for p in self.poses if p.usable and p.name not in self.calibrated_names
                ],
                "poses_unusable": {p.label: p.reason for p in self.poses if not p.usable},
                "warnings": list(self.calibration.warnings),
                "command": self.form.cli_command(self.pose_folder or session),
            }
            (session / "wizard.json").write_text(json.dumps(record, indent=2) + "\n", "utf-8")
        except Exception as exc:
            self._show_error("Cannot save to the session", str(exc))
            return None
        self.saved_paths["session"] = path
        self._set_status(f"Saved to the session: {path}", tip=str(path))
        return path

    def _can_save(self) -> bool:
        if self.calibration is None:
            self._show_error("Nothing to save", "calibrate first")
            return False
        if self.check is not None and not self.check.ok:
            self._show_error("Calibration refused", self.check.refusal or "")
            return False
        return True

    # ------------------------------------------------------------------ controls, messages

    def _update_controls(self) -> None:
        if self._closed:
            return
        live = self.live_radio.isChecked()
        connected = self.model.connected
        running = self.model.running
        capturing = self._capture is not None
        loading = self._loading is not None
        busy = capturing or loading or self._calibrating
        has_proj = (
            connected and self.model.bench is not None and self.model.bench.projector is not None
        )
        self.folder_edit.setEnabled(not live and not busy)
        self.browse_button.setEnabled(not live and not busy)
        for w in (self.proj_w, self.proj_h):
            w.setEnabled(not (live and self._bench_projector is not None) and not busy)
        bp = self._bench_projector
        self.proj_note.setText(
            f"Live captures use the bench's projector: {bp[0]}x{bp[1]} px." if live and bp else ""
        )
        self.proj_note.setVisible(bool(self.proj_note.text()))
        inputs: tuple[QWidget, ...] = (
            self.board_cols, self.board_rows, self.square, self.step_spin, self.black_thr,
            self.white_thr, self.settle, self.live_radio, self.folder_radio,
        )  # fmt: skip
        for widget in inputs:
            widget.setEnabled(not busy)
        self.settle.setEnabled(live and not busy)
        self.live_box.setVisible(live)
        self.folder_box.setVisible(not live)
        self.detect_button.setEnabled(connected and (self._detecting or not running))
        self.capture_button.setEnabled(
            live and has_proj and not running and not busy and not self._work.busy
        )
        self.abort_button.setEnabled(capturing)
        self.new_session_button.setEnabled(not busy and bool(self.poses))
        self.virtual_row.setVisible(live and self._virtual_board())
        self.board_button.setEnabled(not running)
        self.load_button.setEnabled(not live and not busy and bool(self.folder_edit.text().strip()))
        self.cancel_button.setEnabled(loading)
        i = self._selected_pose()
        self.drop_button.setEnabled(
            i is not None and i < len(self.poses) and self.poses[i].usable and not busy
        )
        if i is not None and i < len(self.poses):
            self.drop_button.setText("Use pose" if not self.poses[i].used else "Drop pose")
        n_use = sum(p.usable and p.used for p in self.poses)
        can_cal = n_use >= 3 and not busy and not self._work.busy
        self.calibrate_button.setEnabled(can_cal)
        self.recalibrate_button.setEnabled(can_cal)
        self.drop_outliers_button.setEnabled(
            self.check is not None and bool(self.check.outliers) and not busy
        )
        ok = self.calibration is not None and self.check is not None and self.check.ok
        self.save_profile_button.setEnabled(ok and not busy)
        self.save_session_button.setEnabled(ok and not busy)
        why = ""
        if self.calibration is not None and self.check is not None and not self.check.ok:
            why = "Refused by the checks: " + (self.check.refusal or "")
        self.save_profile_button.setToolTip(why or f"Write {self._profile_target_text()}")
        self.save_session_button.setToolTip(why or "Write calibration.json into the session")
        if not live:
            self.detect_label.setText(
                "Poses of the folder: select one to see its white image and decoded corners."
            )
        elif not connected:
            self.detect_label.setText("Connect the bench to detect the chessboard live.")
        elif not has_proj:
            self.detect_label.setText(
                "The bench has no projector: choose a profile with one, or use a folder."
            )
        elif not self._detecting:
            self.detect_label.setText("Press Live detection to see the chessboard.")

    def _profile_target_text(self) -> str:
        try:
            return str(self._profile_target())
        except Exception:
            return "the profile's calibration"

    def _set_status(self, text: str, *, warn: bool = False, tip: str = "") -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(tip or text)
        self._status_warn = warn
        self._style_messages()

    def _clear_message(self) -> None:
        self.last_error = ""
        self.message_label.clear()
        self.message_label.setVisible(False)

    def _show_error(self, title: str, message: str) -> None:
        """Inline, in plain words (no modal box: the wizard stays usable)."""
        log.error("%s: %s", title, message)
        self.last_error = f"{title}: {message}"
        self.message_label.setText(f"<b>{_html(title)}</b>: {_html(message)}")
        self.message_label.setVisible(True)
        self._style_messages()
        self._update_controls()

    def _style_messages(self) -> None:
        self.status_label.setStyleSheet(
            f"color: {_theme_colour(self, WARN_COLOURS)};" if self._status_warn else ""
        )
        self.message_label.setStyleSheet(f"color: {_theme_colour(self, ERROR_COLOURS)};")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "status_label"):
            self._style_messages()
            if self.calibration is not None:
                self._show_results()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        wide = event.size().width() >= WIDE_LAYOUT_PX
        orient = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.pose_split.orientation() != orient:
            self.pose_split.setOrientation(orient)
            # a hidden page does not tell the stack its minimum changed: ask again
            for lay in (self.pages.layout(), self.layout()):
                if lay is not None:
                    lay.invalidate()

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop timers, detection and workers; abort a capture; restore the virtual lens."""
        if self._closed:
            return
        if self._capture is not None:
            self.abort_capture()
        if self._loading is not None:
            self._loading.cancel.set()
        self._live_timer.stop()
        self._poll_timer.stop()
        if self._detecting:
            self._detecting = False
            if self._live_started_here and not self.model.running:
                self.model.stop_live()
            self._light(False)
        self._closed = True
        world = self._world()
        if world is not None and self._saved_aperture is not None:
            world.set_aperture_scale(self._saved_aperture)
            self._saved_aperture = None
        self._work.shutdown()
        self._detector.shutdown()


# ---------------------------------------------------------------------- worker functions


def _process_frame(
    image: np.ndarray, full_scale: int, pattern: tuple[int, int], detect: bool
) -> tuple[np.ndarray, tuple[int, int], Any, bool]:
    """Worker: 8-bit display copy (subsampled) and, for live frames, the board's corners."""
    from psfbench.core.fringe.calibrate import detect_chessboard_preview, to_uint8

    h, w = image.shape[:2]
    k = max(1, int(np.ceil(max(h, w) / THUMB_SIDE)))
    shown = to_uint8(image[::k, ::k] if k > 1 else image, full_scale)
    corners = None
    if detect:
        corners = detect_chessboard_preview(image, pattern, full_scale=full_scale)
    return shown, (h, w), corners, detect


def _decode_pose(folder: Path, form: WizardForm) -> PoseEntry:
    """Worker: one captured pose from disk (as the CLI reads it) to correspondences."""
    from psfbench.core.fringe.calibrate import CalibrationError, extract_view, load_capture
    from psfbench.core.fringe.patterns import GrayCodeLayout

    layout = GrayCodeLayout(form.projector[0], form.projector[1], form.step)
    stack = load_capture(folder)
    try:
        view = extract_view(
            str(folder), stack, layout, form.chessboard, form.square,
            black_thr=form.black_thr, white_thr=form.white_thr,
        )  # fmt: skip
        return _pose_entry(str(folder), stack, view, None, layout.n_patterns, form.chessboard)
    except CalibrationError as exc:
        return _pose_entry(str(folder), stack, None, str(exc), layout.n_patterns, form.chessboard)


def _load_folder_views(job: _Loading, form: WizardForm) -> Any:
    """Worker: every pose of a folder (core ``load_views``, the CLI's code)."""
    from psfbench.core.fringe.calibrate import capture_folders, load_views
    from psfbench.core.fringe.patterns import GrayCodeLayout

    job.total = len(capture_folders(job.folder))
    n_codes = GrayCodeLayout(form.projector[0], form.projector[1], form.step).n_patterns

    def on_pose(name: str, stack: np.ndarray, view: Any, reason: str | None) -> None:
        job.entries.append(_pose_entry(name, stack, view, reason, n_codes, form.chessboard))

    return load_views(
        job.folder,
        projector_size=form.projector,
        pattern=form.chessboard,
        square=form.square,
        step=form.step,
        black_thr=form.black_thr,
        white_thr=form.white_thr,
        on_pose=on_pose,
        cancelled=job.cancel.is_set,
    )


def _calibrate(
    views: list[Any], camera_size: tuple[int, int], form: WizardForm, skipped: list[Any]
) -> tuple[Any, Any]:
    """Worker: ``calibrate_views`` + ``check_calibration`` (what ``calibrate_procam`` does)."""
    from psfbench.core.fringe.calibrate import calibrate_views, check_calibration, skipped_warnings

    cal = calibrate_views(views, camera_size, form.projector, square=form.square)
    check = check_calibration(cal, max_rms=form.max_rms)
    cal.warnings = skipped_warnings(skipped) + check.warnings
    return cal, check
