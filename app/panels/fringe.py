"""Fringe-scan panel: set up the patterns, check the camera's range, scan, judge the depth map.

The panel does what ``psfbench acquire fringe`` does (core/acquisition/fringe_scan.py), through
:class:`psfbench.app.bench_model.BenchModel`, and shows every intermediate map:

* **Patterns**: fringe counts across the projector (several frequencies for heterodyne
  unwrapping; the paper's 70, 64.2, 59.2), phase steps, Gray codes (on/off, block size; for
  Gray-code unwrapping of the finest frequency), the stripe axis, gamma pre-compensation
  (with a measured projector gamma: "Measure" fits ``psfbench.core.fringe.gamma`` to flat grey
  levels), settle delay and exposure. Remembered in ``settings.panels["fringe"]``.
* **Check**: project white and black, grab each on the device thread (``model.call``), and
  show where the camera clips under white or lacks contrast (``psfbench.core.fringe.check``), as an
  overlay with percentages and a hint (lower / raise the exposure).
* **Scan** through the engine (``PatternScanPlan`` with the ``fringe_scan`` source, exactly as
  the CLI builds it), every frame written to ``<scans folder>/fringe-NNN/frames`` as it
  arrives, with progress and Abort (frames already taken stay on disk). The virtual bench's
  lens is stopped down for the scan, as the CLI does.
* **Decode** on a worker thread (``decode_frames``, the CLI's decoder) and show the wrapped
  phase per frequency, the unwrapped phase, the modulation with the quality mask, the refused
  pixels and why (saturated, low modulation, unwrapping inconsistency, no ray-plane
  intersection, flying pixels), and the depth map with a colour bar in mm and a draggable
  profile line. The scan folder gets ``depth.tif``, ``points.ply`` and ``fringe.json`` as from
  the CLI; on the virtual bench the RMSE against the true depth is shown.
* **Calibration**: the virtual bench's exact geometry, a ProcamCalibration JSON found beside
  the profile or in the sessions folder (the calibration wizard's output), or any file opened.
* **Save** the depth map into a focus-sweep session (``depth.tif``, as ``--session`` does) and
  the points as PLY. An existing file is never lost: it is kept as ``<name>-previous-N``.

Public slots: :meth:`check`, :meth:`measure_gamma`, :meth:`start_scan`, :meth:`abort_scan`,
:meth:`redecode`, :meth:`open_calibration`, :meth:`save_to_session`, :meth:`save_ply`,
:meth:`shutdown`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QScrollArea,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.widgets.background import BackgroundTasks
from psfbench.app.widgets.fringe_maps import DepthView, MapView, robust_levels
from psfbench.app.widgets.inputs import ComboBox, DoubleSpinBox, SpinBox, action_button

log = logging.getLogger(__name__)

SETTINGS_KEY = "fringe"
DEFAULT_SCANS_DIR = "~/psfbench-fringe"
SCAN_STEM = "fringe"
#: side by side (controls | maps) from this panel width; stacked below
WIDE_LAYOUT_PX = 820
#: message colours per theme (light window, dark window): >= 4.5:1 on the window colour
ERROR_COLOURS = ("#c0392b", "#ff8a80")
WARN_COLOURS = ("#8a5a00", "#f0b450")
OK_COLOURS = ("#1e7b34", "#7ddc8f")
#: check overlay: 0 fine (transparent), 1 clips under white, 2 lacks contrast
CHECK_COLOURS = [(0, 0, 0, 0), (255, 40, 40, 230), (40, 140, 255, 200)]
CHECK_LABELS = ["fine", "clips under white", "lacks contrast"]
#: refused-pixel colours, index 1 + REFUSAL_REASONS.index(reason); 0 = valid (transparent)
REFUSAL_COLOURS = [
    (0, 0, 0, 0),
    (255, 40, 40, 235),  # saturated
    (40, 140, 255, 220),  # low modulation
    (255, 200, 0, 235),  # unwrapping
    (190, 90, 255, 235),  # triangulation
    (0, 230, 210, 235),  # flying
]
UNWRAP_METHODS = {
    "heterodyne": "Heterodyne (all frequencies)",
    "graycode": "Gray code + finest frequency",
}
AXIS_LABELS = {"x": "x: vertical stripes (columns)", "y": "y: horizontal stripes (rows)"}


# --------------------------------------------------------------------------- the form


class FormError(ValueError):
    """An invalid pattern setting; the message names the field."""


@dataclass(frozen=True)
class FringeForm:
    """What the operator entered. ``plan_params()`` is the ``fringe_scan`` source's params
    (what ``psfbench acquire fringe`` passes), ``exposure_us`` None keeps the camera's."""

    counts: tuple[float, ...] = (70.0, 64.2, 59.2)
    steps: int = 4
    gray: bool = False
    gray_step: int = 8
    axis: str = "x"
    gamma_on: bool = False
    gamma: float = 2.2
    settle_ms: float = 50.0
    exposure_us: float | None = None
    method: str = "heterodyne"
    refuse_saturated: bool = True
    reject_flying: bool = True

    def plan_params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"counts": list(self.counts), "steps": int(self.steps)}
        if self.axis != "x":
            p["axis"] = self.axis
        if self.gray:
            p["gray_step"] = int(self.gray_step)
        if self.gamma_on:
            p["gamma"] = float(self.gamma)
        return p

    def validate(self) -> None:
        from psfbench.core.fringe.unwrap import UnwrapError, heterodyne_unwrap

        if not self.counts:
            raise FormError("Frequencies: give at least one fringe count")
        if any(not (c > 0 and math.isfinite(c)) for c in self.counts):
            raise FormError("Frequencies: fringe counts must be positive numbers")
        if self.method == "heterodyne":
            if len(self.counts) > 1:
                try:
                    z = np.zeros((1, 1), np.float32)
                    heterodyne_unwrap([z] * len(self.counts), self.counts, spatial_check=False)
                except UnwrapError as exc:
                    raise FormError(f"Frequencies: {exc}") from None
            elif self.counts[0] > 1.0:
                raise FormError(
                    "Frequencies: one count above 1 period is ambiguous; add frequencies "
                    "(heterodyne) or Gray codes (Gray-code unwrapping)"
                )
        elif self.method == "graycode" and not self.gray:
            raise FormError("Unwrapping: Gray-code unwrapping needs Gray codes in the pattern set")

    def to_dict(self) -> dict[str, Any]:
        return {
            "counts": list(self.counts),
            "steps": self.steps,
            "gray": self.gray,
            "gray_step": self.gray_step,
            "axis": self.axis,
            "gamma_on": self.gamma_on,
            "gamma": self.gamma,
            "settle_ms": self.settle_ms,
            "exposure_us": self.exposure_us,
            "method": self.method,
            "refuse_saturated": self.refuse_saturated,
            "reject_flying": self.reject_flying,
        }


def parse_counts(text: str) -> tuple[float, ...]:
    """'70, 64.2 59.2' -> (70.0, 64.2, 59.2); FormError names the field."""
    parts = [p for p in re.split(r"[,;\s]+", text.strip()) if p]
    try:
        vals = tuple(float(p) for p in parts)
    except ValueError:
        raise FormError(f"Frequencies: {text!r} is not a list of numbers") from None
    if not vals:
        raise FormError("Frequencies: give at least one fringe count")
    return vals


def format_counts(counts: tuple[float, ...] | list[float]) -> str:
    return ", ".join(f"{c:g}" for c in counts)


def form_from_settings(raw: Any) -> FringeForm:
    """The saved form, field by field: a bad or missing value falls back to its default."""
    d = raw if isinstance(raw, dict) else {}
    base = FringeForm()
    out: dict[str, Any] = {}

    def take(key: str, conv: Any, ok: Any = lambda v: True) -> None:
        if key not in d:
            return
        try:
            v = conv(d[key])
        except (TypeError, ValueError):
            log.warning("fringe settings: %s=%r ignored", key, d[key])
            return
        if ok(v):
            out[key] = v
        else:
            log.warning("fringe settings: %s=%r out of range, ignored", key, d[key])

    take("counts", lambda v: tuple(float(c) for c in v), lambda v: 0 < len(v) <= 8)
    take("steps", int, lambda v: 3 <= v <= 32)
    take("gray", bool)
    take("gray_step", int, lambda v: 1 <= v <= 256)
    take("axis", str, lambda v: v in AXIS_LABELS)
    take("gamma_on", bool)
    take("gamma", float, lambda v: 0.2 <= v <= 5.0)
    take("settle_ms", float, lambda v: 0.0 <= v <= 10_000.0)
    take("exposure_us", lambda v: None if v is None else float(v), lambda v: v is None or v > 0)
    take("method", str, lambda v: v in UNWRAP_METHODS)
    take("refuse_saturated", bool)
    take("reject_flying", bool)
    return FringeForm(**{**base.to_dict(), **out, "counts": out.get("counts", base.counts)})


def next_scan_folder(parent: Path, stem: str = SCAN_STEM) -> Path:
    """``parent/<stem>-NNN`` with NNN one above the highest already there (never reused)."""
    pat = re.compile(rf"^{re.escape(stem)}-(\d+)$")
    nums = [int(m.group(1)) for p in parent.glob(f"{stem}-*") if (m := pat.match(p.name))]
    return parent / f"{stem}-{max(nums, default=0) + 1:03d}"


def keep_previous(path: Path) -> Path | None:
    """Copy an existing ``path`` to ``<stem>-previous-N<suffix>`` (N one above the highest
    there) before it is replaced; returns the copy, None when there was nothing."""
    if not path.exists():
        return None
    k = 1
    while (p := path.with_name(f"{path.stem}-previous-{k}{path.suffix}")).exists():
        k += 1
    shutil.copy2(path, p)
    return p


def profile_calibration(model: Any) -> Path | None:
    """Where the calibration wizard saves the bench profile's calibration
    (``psfbench.core.fringe.calibrate.profile_calibration_path``: ``<profile>.procam.json`` beside
    the profile's TOML, or in the config folder for a built-in profile)."""
    info = getattr(getattr(model, "bench", None), "info", None)
    name = str(getattr(model, "profile_name", "") or getattr(info, "profile", "") or "")
    if not name:
        return None
    source = getattr(info, "source", None)
    try:
        from psfbench.core.fringe.calibrate import profile_calibration_path
    except ImportError:  # an older core: the same rule
        from psfbench.core.config.profiles import config_dir

        if source and str(source).lower().endswith(".toml"):
            src = Path(str(source)).expanduser()
            return src.with_name(src.name[: -len(".toml")] + ".procam.json")
        return config_dir() / f"{Path(name).stem}.procam.json"
    try:
        return Path(profile_calibration_path(name, None if source is None else str(source)))
    except Exception:
        return None


def find_calibrations(model: Any, settings: Any) -> list[tuple[str, Path]]:
    """(label, path) of the ProcamCalibration files the calibration wizard and the CLI leave:
    the bench profile's (first), other ``*procam*.json`` beside the profile file, and the
    calibration sessions in the sessions folder (``*/calibration.json`` of a
    ``procam_calibration*`` folder), newest first."""
    out: list[tuple[str, Path]] = []
    prof = profile_calibration(model)
    if prof is not None and prof.is_file():
        out.append((f"Bench profile: {prof.name}", prof))
    found: list[Path] = []
    info = getattr(getattr(model, "bench", None), "info", None)
    source = str(getattr(info, "source", "") or "")
    if source.lower().endswith(".toml"):
        folder = Path(source).expanduser().parent
        with contextlib.suppress(OSError):
            found.extend(p for p in folder.glob("*procam*.json") if p.is_file())
    sd = str(getattr(settings, "sessions_dir", "") or "")
    if sd:
        root = Path(sd).expanduser()
        with contextlib.suppress(OSError):
            for sub in root.glob("procam_calibration*"):
                for name in ("calibration.json", "procam_calibration.json"):
                    if (sub / name).is_file():
                        found.append(sub / name)

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    seen = {prof.resolve()} if prof is not None and prof.is_file() else set()
    for p in sorted(found, key=mtime, reverse=True)[:20]:
        if p.resolve() in seen:
            continue
        seen.add(p.resolve())
        label = p.name if p.name != "calibration.json" else f"{p.parent.name}/{p.name}"
        out.append((label, p))
    return out


def _theme_colour(widget: QWidget, pair: tuple[str, str]) -> str:
    dark = widget.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return pair[1] if dark else pair[0]


def _swatch(rgba: tuple[int, int, int, int]) -> str:
    r, g, b, _ = rgba
    return f"<span style='color:rgb({r},{g},{b})'>■</span>"


# --------------------------------------------------------------------------- the panel


class FringePanel(QWidget):
    """See the module docstring."""

    name = "fringe"
    title = "Fringe scan"

    def __init__(self, model: Any, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = settings
        self._closed = False
        #: "" idle | "check" | "gamma" | "scan" | "decode" | "save"
        self.busy = ""
        self._engine: Any = None
        self._restore_aperture: Any = None
        self._scan_folder: Path | None = None
        self._scan_params: dict[str, Any] = {}
        self._scan_form: FringeForm | None = None
        self._scan_total = 0
        self._sink: Any = None
        self._abort_requested = False
        self._projector_size: tuple[int, int] | None = None
        self._pixel_format = "Mono12"
        self._calibration: Any = None  # a ProcamCalibration from a file
        self._calibration_path: Path | None = None
        self._last_seq = -1
        self._message = ""
        self._status_kind = ""
        self._exposure_set = False
        #: results, for tests and saving
        self.check_result: Any = None
        self.white_black: Any = None
        self.result: Any = None
        self.result_rmse: float | None = None
        self.result_folder: Path | None = None
        self.last_status = ""  # the last scan's engine status
        self.frames: dict[int, np.ndarray] = {}
        self._tasks = BackgroundTasks(1, name="fringe-decode", parent=self)
        self._build()
        self._restore_state()
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(200)
        self._frame_timer.timeout.connect(self._pull_frame)
        model.stateChanged.connect(self._on_state)
        model.runningChanged.connect(self._on_running)
        model.acquisitionEvent.connect(self._on_event)
        model.devicesChanged.connect(self._on_devices)
        self._on_state(model.state)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(1100, 720)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        self.splitter = QSplitter(Qt.Orientation.Horizontal, self)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._build_controls())
        self.splitter.addWidget(self._build_maps())
        self.splitter.setStretchFactor(1, 1)
        outer.addWidget(self.splitter, 1)
        self._split_sized = False
        # side by side only from WIDE_LAYOUT_PX: below, stacked, so the panel's own minimum
        # (not the side-by-side sum) is what a narrow window needs
        self.setMinimumSize(340, 320)

    def _build_controls(self) -> QWidget:
        host = QWidget()
        lay = QVBoxLayout(host)
        lay.setContentsMargins(0, 0, 4, 0)
        lay.setSpacing(6)

        # -- patterns
        self.pattern_group = QGroupBox("Patterns")
        pf = QFormLayout(self.pattern_group)
        pf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        pf.setContentsMargins(8, 4, 8, 4)
        pf.setVerticalSpacing(4)
        self.counts_edit = QLineEdit()
        self.counts_edit.setToolTip(
            "Fringe periods across the projector, one per frequency, finest first (the paper: "
            "70, 64.2, 59.2). Heterodyne unwrapping needs them to beat down to at most one "
            "period across the projector."
        )
        self.counts_edit.editingFinished.connect(self._form_changed)
        pf.addRow("Frequencies", self.counts_edit)
        self.steps_spin = SpinBox()
        self.steps_spin.setRange(3, 32)
        self.steps_spin.setToolTip("Phase shifts per frequency (N-step phase shifting)")
        self.steps_spin.valueCommitted.connect(self._form_changed)
        pf.addRow("Phase steps", self.steps_spin)
        gray_row = QHBoxLayout()
        self.gray_box = QCheckBox("Gray codes, block")
        self.gray_box.setToolTip(
            "Add Gray-code patterns for the stripe axis (blocks of this many projector "
            "pixels); needed for Gray-code unwrapping of the finest frequency"
        )
        self.gray_box.toggled.connect(self._form_changed)
        self.gray_step_spin = SpinBox()
        self.gray_step_spin.setRange(1, 256)
        self.gray_step_spin.setSuffix(" px")
        self.gray_step_spin.valueCommitted.connect(self._form_changed)
        gray_row.addWidget(self.gray_box)
        gray_row.addWidget(self.gray_step_spin, 1)
        pf.addRow("", gray_row)
        self.axis_box = ComboBox()
        for k, v in AXIS_LABELS.items():
            self.axis_box.addItem(v, k)
        self.axis_box.setToolTip("x (vertical stripes) for a camera beside the projector")
        self.axis_box.currentIndexChanged.connect(self._form_changed)
        pf.addRow("Axis", self.axis_box)
        self.method_box = ComboBox()
        for k, v in UNWRAP_METHODS.items():
            self.method_box.addItem(v, k)
        self.method_box.currentIndexChanged.connect(self._form_changed)
        pf.addRow("Unwrapping", self.method_box)
        gamma_row = QHBoxLayout()
        self.gamma_box = QCheckBox("Pre-compensate γ")
        self.gamma_box.setToolTip(
            "Pre-distort the sinusoids for a projector whose response is level**gamma, so "
            "they reach the camera sinusoidal (else the phase ripples)"
        )
        self.gamma_box.toggled.connect(self._form_changed)
        self.gamma_spin = DoubleSpinBox()
        self.gamma_spin.setRange(0.2, 5.0)
        self.gamma_spin.setDecimals(2)
        self.gamma_spin.setSingleStep(0.05)
        self.gamma_spin.valueCommitted.connect(self._form_changed)
        self.gamma_button = action_button(
            "Measure", tooltip="Project flat grey levels and fit the projector's gamma"
        )
        self.gamma_button.clicked.connect(self.measure_gamma)
        gamma_row.addWidget(self.gamma_box)
        gamma_row.addWidget(self.gamma_spin, 1)
        gamma_row.addWidget(self.gamma_button)
        pf.addRow("", gamma_row)
        self.settle_spin = DoubleSpinBox()
        self.settle_spin.setRange(0.0, 10_000.0)
        self.settle_spin.setDecimals(0)
        self.settle_spin.setSuffix(" ms")
        self.settle_spin.setToolTip("Wait after each pattern before the camera is triggered")
        self.settle_spin.valueCommitted.connect(self._form_changed)
        pf.addRow("Settle", self.settle_spin)
        self.exposure_spin = DoubleSpinBox()
        self.exposure_spin.setRange(10.0, 10_000_000.0)
        self.exposure_spin.setDecimals(0)
        self.exposure_spin.setSuffix(" µs")
        self.exposure_spin.setToolTip(
            "Camera exposure for the check and the scan (applied to the camera)"
        )
        self.exposure_spin.valueCommitted.connect(self._exposure_edited)
        pf.addRow("Exposure", self.exposure_spin)
        self.images_label = QLabel()
        self.images_label.setWordWrap(True)
        pf.addRow("", self.images_label)
        lay.addWidget(self.pattern_group)

        # -- calibration
        self.calib_group = QGroupBox("Calibration")
        cl = QVBoxLayout(self.calib_group)
        cl.setContentsMargins(8, 4, 8, 4)
        row = QHBoxLayout()
        self.calib_box = ComboBox()
        self.calib_box.setSizeAdjustPolicy(
            ComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.calib_box.setMinimumContentsLength(12)
        self.calib_box.currentIndexChanged.connect(self._calibration_chosen)
        self.calib_open = action_button("Open…", tooltip="A ProcamCalibration JSON file")
        self.calib_open.clicked.connect(lambda: self.open_calibration())
        row.addWidget(self.calib_box, 1)
        row.addWidget(self.calib_open)
        cl.addLayout(row)
        self.calib_label = QLabel()
        self.calib_label.setWordWrap(True)
        cl.addWidget(self.calib_label)
        lay.addWidget(self.calib_group)

        # -- check
        self.check_group = QGroupBox("Check the camera's range")
        kl = QVBoxLayout(self.check_group)
        kl.setContentsMargins(8, 4, 8, 4)
        self.check_button = action_button(
            "Check white / black",
            tooltip="Project white and black, grab each, and show clipping and contrast",
        )
        self.check_button.clicked.connect(self.check)
        kl.addWidget(self.check_button)
        self.check_label = QLabel("Not checked yet.")
        self.check_label.setWordWrap(True)
        kl.addWidget(self.check_label)
        lay.addWidget(self.check_group)

        # -- scan
        self.scan_group = QGroupBox("Scan")
        sl = QVBoxLayout(self.scan_group)
        sl.setContentsMargins(8, 4, 8, 4)
        drow = QHBoxLayout()
        self.dir_edit = QLineEdit()
        self.dir_edit.setToolTip("Each scan goes into a new numbered folder here")
        self.dir_edit.editingFinished.connect(self._save_state)
        self.dir_button = action_button("…", tooltip="Choose the scans folder")
        self.dir_button.setFixedWidth(30)
        self.dir_button.clicked.connect(self._choose_dir)
        drow.addWidget(QLabel("Folder"))
        drow.addWidget(self.dir_edit, 1)
        drow.addWidget(self.dir_button)
        sl.addLayout(drow)
        opts = QHBoxLayout()
        self.saturated_box = QCheckBox("Refuse saturated")
        self.saturated_box.setToolTip("Drop pixels where any fringe image clipped")
        self.saturated_box.toggled.connect(self._form_changed)
        self.flying_box = QCheckBox("Refuse flying pixels")
        self.flying_box.setToolTip("Drop pixels on depth edges (mixed surfaces)")
        self.flying_box.toggled.connect(self._form_changed)
        opts.addWidget(self.saturated_box)
        opts.addWidget(self.flying_box)
        opts.addStretch(1)
        sl.addLayout(opts)
        brow = QHBoxLayout()
        self.start_button = action_button("Start scan")
        self.start_button.clicked.connect(self.start_scan)
        self.abort_button = action_button("Abort")
        self.abort_button.clicked.connect(self.abort_scan)
        self.redecode_button = action_button(
            "Decode again", tooltip="Decode the last scan's frames with the current options"
        )
        self.redecode_button.clicked.connect(self.redecode)
        brow.addWidget(self.start_button)
        brow.addWidget(self.abort_button)
        brow.addWidget(self.redecode_button)
        sl.addLayout(brow)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setVisible(False)
        sl.addWidget(self.reason_label)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("idle")
        self.progress.setTextVisible(True)
        sl.addWidget(self.progress)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        sl.addWidget(self.status_label)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.setVisible(False)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        sl.addWidget(self.message_label)
        lay.addWidget(self.scan_group)

        # -- save
        self.save_group = QGroupBox("Save")
        vl = QHBoxLayout(self.save_group)
        vl.setContentsMargins(8, 4, 8, 4)
        self.session_button = action_button(
            "Into session…", tooltip="Write the depth map as depth.tif into a focus-sweep session"
        )
        self.session_button.clicked.connect(lambda: self.save_to_session())
        self.ply_button = action_button("PLY…", tooltip="Write the points as a PLY point cloud")
        self.ply_button.clicked.connect(lambda: self.save_ply())
        vl.addWidget(self.session_button)
        vl.addWidget(self.ply_button)
        vl.addStretch(1)
        lay.addWidget(self.save_group)
        lay.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(host)
        scroll.setMinimumWidth(300)
        self.controls_scroll = scroll
        return scroll

    def _build_maps(self) -> QWidget:
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.camera_view = MapView(cmap="CET-L1", unit="camera value")
        self.wrapped_view = MapView(cmap="CET-C6", unit="wrapped phase (rad)")
        self.freq_box = ComboBox()
        self.freq_box.currentIndexChanged.connect(self._show_wrapped)
        frow = QHBoxLayout()
        frow.addWidget(QLabel("Frequency"))
        frow.addWidget(self.freq_box, 1)
        self.wrapped_view.layout_.insertLayout(0, frow)
        self.unwrapped_view = MapView(cmap="plasma", unit="unwrapped phase (rad)")
        self.modulation_view = MapView(cmap="inferno", unit="modulation B (camera value)")
        self.mask_box = QCheckBox("Show the quality mask")
        self.mask_box.setChecked(True)
        self.mask_box.setToolTip("Colour the pixels refused for low modulation or contrast")
        self.mask_box.toggled.connect(self._show_modulation)
        self.modulation_view.layout_.insertWidget(0, self.mask_box)
        self.refused_view = MapView(colorbar=False)
        self.depth_view = DepthView()
        self.tabs.addTab(self.camera_view, "Camera / check")
        self.tabs.addTab(self.wrapped_view, "Wrapped phase")
        self.tabs.addTab(self.unwrapped_view, "Unwrapped phase")
        self.tabs.addTab(self.modulation_view, "Modulation")
        self.tabs.addTab(self.refused_view, "Refused pixels")
        self.tabs.addTab(self.depth_view, "Depth")
        self.camera_view.show_placeholder(
            "Check white / black shows here where the camera clips or lacks contrast; "
            "during a scan, the newest frame."
        )
        for v in (self.wrapped_view, self.unwrapped_view, self.modulation_view):
            v.show_placeholder("Run a scan: the decoded maps show here.")
        self.refused_view.show_placeholder("Run a scan: refused pixels and why show here.")
        self.depth_view.show_placeholder(
            "Run a scan: the depth map (mm) and a profile along a line you drag show here."
        )
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        host = QWidget()
        hl = QVBoxLayout(host)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.addWidget(self.tabs, 1)
        hl.addWidget(self.summary_label)
        return host

    # ------------------------------------------------------------------ layout

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        self._place_split(force=True)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._place_split()

    def _place_split(self, force: bool = False) -> None:
        wide = self.width() >= WIDE_LAYOUT_PX
        want = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if self.splitter.orientation() == want and self._split_sized and not force:
            return
        self.splitter.setOrientation(want)
        total = self.splitter.width() if wide else self.splitter.height()
        if total > 100:
            self._split_sized = True
            first = min(400, int(total * 0.4)) if wide else int(total * 0.45)
            self.splitter.setSizes([first, total - first])

    # ------------------------------------------------------------------ state

    def _state(self) -> dict[str, Any]:
        raw = self.settings.panels.get(SETTINGS_KEY)
        return dict(raw) if isinstance(raw, dict) else {}

    def _restore_state(self) -> None:
        st = self._state()
        form = form_from_settings(st)
        self._set_form(form)
        out = st.get("scans_dir")
        self.dir_edit.setText(out if isinstance(out, str) and out else DEFAULT_SCANS_DIR)
        self._refresh_calibrations(select=st.get("calibration"))
        self._refresh_images_label()

    def _set_form(self, f: FringeForm) -> None:
        widgets = (
            self.counts_edit,
            self.steps_spin,
            self.gray_box,
            self.gray_step_spin,
            self.axis_box,
            self.method_box,
            self.gamma_box,
            self.gamma_spin,
            self.settle_spin,
            self.exposure_spin,
            self.saturated_box,
            self.flying_box,
        )
        for w in widgets:
            w.blockSignals(True)
        try:
            self.counts_edit.setText(format_counts(f.counts))
            self.steps_spin.setValueSilently(f.steps)
            self.gray_box.setChecked(f.gray)
            self.gray_step_spin.setValueSilently(f.gray_step)
            self.axis_box.setCurrentIndex(max(0, self.axis_box.findData(f.axis)))
            self.method_box.setCurrentIndex(max(0, self.method_box.findData(f.method)))
            self.gamma_box.setChecked(f.gamma_on)
            self.gamma_spin.setValueSilently(f.gamma)
            self.settle_spin.setValueSilently(f.settle_ms)
            if f.exposure_us is not None:
                self.exposure_spin.setValueSilently(f.exposure_us)
            self._exposure_set = f.exposure_us is not None
            self.saturated_box.setChecked(f.refuse_saturated)
            self.flying_box.setChecked(f.reject_flying)
        finally:
            for w in widgets:
                w.blockSignals(False)

    def form(self) -> FringeForm:
        """The form as entered (FormError names a bad field)."""
        return FringeForm(
            counts=parse_counts(self.counts_edit.text()),
            steps=self.steps_spin.value(),
            gray=self.gray_box.isChecked(),
            gray_step=self.gray_step_spin.value(),
            axis=str(self.axis_box.currentData()),
            gamma_on=self.gamma_box.isChecked(),
            gamma=self.gamma_spin.value(),
            settle_ms=self.settle_spin.value(),
            exposure_us=self.exposure_spin.value() if self._exposure_set else None,
            method=str(self.method_box.currentData()),
            refuse_saturated=self.saturated_box.isChecked(),
            reject_flying=self.flying_box.isChecked(),
        )

    def _save_state(self) -> None:
        st = self._state()
        with contextlib.suppress(FormError):  # else keep the last good pattern set
            st.update(self.form().to_dict())
        st["scans_dir"] = self.dir_edit.text().strip() or DEFAULT_SCANS_DIR
        st["calibration"] = self._calibration_key()
        self.settings.panels[SETTINGS_KEY] = st

    def _form_changed(self, *_: Any) -> None:
        self._clear_message()
        try:
            f = self.form()
            f.validate()
        except FormError as exc:
            self._show_message(str(exc))
        self._save_state()
        self._refresh_images_label()
        self._update_controls()

    def _exposure_edited(self, value: float) -> None:
        self._exposure_set = True
        self._form_changed()

    def _refresh_images_label(self) -> None:
        try:
            f = self.form()
            from psfbench.core.fringe.sources import fringe_scan_from_params

            w, h = self._projector_size or (640, 400)
            n = fringe_scan_from_params(f.plan_params(), w, h).n_images
            per = (f.settle_ms / 1000.0) + (self.exposure_spin.value() / 1e6) + 0.03
            self.images_label.setText(f"{n} images per scan, about {n * per:.0f} s")
        except (FormError, ValueError) as exc:
            self.images_label.setText(f"(invalid: {exc})")

    # ------------------------------------------------------------------ calibration

    def _calibration_key(self) -> str:
        data = self.calib_box.currentData()
        return str(data) if data else ""

    def _is_virtual(self) -> bool:
        b = self.model.bench
        return b is not None and getattr(getattr(b, "info", None), "world", None) is not None

    def _refresh_calibrations(self, select: Any = None) -> None:
        """Fill the calibration choice: the virtual bench's exact geometry (on the virtual
        bench), the files found (profile, sessions), the last one opened; keep ``select``
        (a path or "virtual") when it is still there."""
        want = select if isinstance(select, str) else self._calibration_key()
        entries: list[tuple[str, str]] = []
        if self._is_virtual():
            entries.append(("Virtual bench: exact geometry", "virtual"))
        found = find_calibrations(self.model, self.settings)
        extra: list[Path] = []
        if self._calibration_path is not None:
            extra.append(self._calibration_path)
        if want and want != "virtual":
            extra.append(Path(want))
        for p in extra:
            if p.is_file():
                entries.append((p.name, str(p)))
        entries.extend((label, str(p)) for label, p in found)
        self.calib_box.blockSignals(True)
        try:
            self.calib_box.clear()
            seen: set[str] = set()
            for label, key in entries:
                if key in seen:
                    continue
                seen.add(key)
                self.calib_box.addItem(label, key)
                self.calib_box.setItemData(
                    self.calib_box.count() - 1, key, Qt.ItemDataRole.ToolTipRole
                )
            if self.calib_box.count() == 0:
                self.calib_box.addItem("None: open a calibration file", "")
            idx = self.calib_box.findData(want) if want else -1
            self.calib_box.setCurrentIndex(idx if idx >= 0 else 0)
        finally:
            self.calib_box.blockSignals(False)
        self._calibration_chosen()

    def _calibration_chosen(self, *_: Any) -> None:
        key = self._calibration_key()
        if key == "virtual":
            self._calibration, self._calibration_path = None, None
            self.calib_label.setText("The virtual world's camera and projector geometry.")
        elif key:
            self._load_calibration(Path(key))
        else:
            self._calibration, self._calibration_path = None, None
            self.calib_label.setText(
                "No calibration: open one from the calibration wizard or "
                "`psfbench calibrate procam`."
            )
        self._save_state()
        self._update_controls()

    def _load_calibration(self, path: Path) -> bool:
        from psfbench.core.fringe.calibrate import ProcamCalibration

        try:
            cal = ProcamCalibration.from_json(path.read_text(encoding="utf-8"), str(path))
        except (OSError, ValueError, KeyError) as exc:
            self._calibration, self._calibration_path = None, None
            self.calib_label.setText(f"{path.name}: not a projector-camera calibration ({exc})")
            return False
        self._calibration, self._calibration_path = cal, path
        cw, ch = cal.camera_size
        pw, ph = cal.projector_size
        fx = float(cal.projector_matrix[0, 0])
        text = (
            f"{path.name}: camera {cw}x{ch}, projector {pw}x{ph} (fx {fx:.0f} px), "
            f"RMS {cal.rms:.3g} px"
        )
        if self._projector_size is not None and tuple(self._projector_size) != (pw, ph):
            text += (
                f"; the bench's projector is {self._projector_size[0]}x"
                f"{self._projector_size[1]}: this calibration does not fit it"
            )
        for w in getattr(cal, "warnings", [])[:2]:
            text += f"; {w}"
        self.calib_label.setText(text)
        return True

    def open_calibration(self, path: str | Path | None = None) -> bool:
        """Use the ProcamCalibration JSON at ``path`` (a file dialog without one)."""
        if path is None:
            start = str(self._calibration_path.parent) if self._calibration_path else ""
            chosen, _ = QFileDialog.getOpenFileName(
                self, "Open a projector-camera calibration", start, "Calibration (*.json)"
            )
            if not chosen:
                return False
            path = chosen
        p = Path(path).expanduser()
        if not self._load_calibration(p):
            self._show_message(self.calib_label.text())
            return False
        self._refresh_calibrations(select=str(p))
        return True

    def _resolve_calibration(self) -> Any:
        """The calibration for a decode (GUI thread): ValueError with a reason if none."""
        key = self._calibration_key()
        if key == "virtual":
            from psfbench.core.acquisition.fringe_scan import world_calibration

            if self.model.bench is None:
                raise ValueError("connect the bench: the virtual calibration comes from it")
            cal = world_calibration(self.model.bench)
            if cal is None:
                raise ValueError("this bench is not the virtual one: open a calibration file")
            return cal
        if self._calibration is None:
            raise ValueError("no projector-camera calibration: open one (Calibration, Open…)")
        return self._calibration

    # ------------------------------------------------------------------ connection

    def _read_projector_size(self) -> None:
        """The projector's size now (a Qt projector's follows the screen it is put on)."""
        bench = self.model.bench
        proj = None if bench is None else bench.projector
        try:
            self._projector_size = (int(proj.width), int(proj.height)) if proj else None
        except Exception:  # a projector window being closed
            self._projector_size = None

    def _on_devices(self, _states: Any = None) -> None:
        if self._closed or self.busy == "scan":
            return
        self._read_projector_size()
        self._refresh_images_label()
        self._update_controls()

    def _on_state(self, state: str) -> None:
        if state == "connected" and self.model.bench is not None:
            self._read_projector_size()
            try:
                self._pixel_format = str(self.model.bench.camera.pixel_format)
            except Exception:
                self._pixel_format = "Mono12"
            self._refresh_calibrations()
            self._refresh_images_label()
            if not self._exposure_set:
                self.model.call(
                    lambda: float(self.model.bench.camera.exposure_us),
                    on_done=self._camera_exposure,
                    on_error=lambda exc: None,
                )
        elif state == "disconnected":
            self._refresh_calibrations()
        self._update_controls()

    def _camera_exposure(self, value: float) -> None:
        if not self._exposure_set and not self._closed:
            self.exposure_spin.setValueSilently(value)
            self._refresh_images_label()

    def _on_running(self, running: bool) -> None:
        if not running and self.busy == "scan":
            self._scan_finished()
        self._update_controls()

    def _update_controls(self) -> None:
        if self._closed:
            return
        connected = self.model.connected
        other_run = self.model.running and self.busy != "scan"
        has_proj = connected and self.model.bench.projector is not None
        idle = not self.busy
        can_device = idle and has_proj and not other_run
        try:
            self.form().validate()
            form_ok = True
        except FormError:
            form_ok = False
        self.pattern_group.setEnabled(idle)
        self.calib_group.setEnabled(idle)
        self.dir_edit.setEnabled(idle)
        self.dir_button.setEnabled(idle)
        self.saturated_box.setEnabled(idle)
        self.flying_box.setEnabled(idle)
        self.check_button.setEnabled(can_device)
        self.gamma_button.setEnabled(can_device)
        self.start_button.setEnabled(can_device and form_ok)
        self.abort_button.setEnabled(self.busy == "scan" and not self._abort_requested)
        self.redecode_button.setEnabled(idle and bool(self.frames) and self._scan_form is not None)
        has_result = self.result is not None and idle
        self.session_button.setEnabled(has_result)
        self.ply_button.setEnabled(has_result)
        reason = ""
        if not connected:
            reason = "Connect the bench to check or scan."
        elif not has_proj:
            reason = "This bench has no projector (profile [projector] driver)."
        elif other_run:
            reason = "Another run is using the bench."
        self.reason_label.setText(reason)
        self.reason_label.setVisible(bool(reason) and idle)

    # ------------------------------------------------------------------ check

    def check(self) -> None:
        """Project white and black, grab each (device thread), show clipping and contrast."""
        if self.busy or not self.model.connected or self.model.running:
            return
        try:
            form = self.form()
        except FormError as exc:
            self._show_message(str(exc))
            return
        from psfbench.core.acquisition.fringe_scan import capture_white_black
        from psfbench.core.fringe.check import check_contrast

        self._clear_message()
        was_live = self.model.live_running
        self.model.stop_live()
        exposure = self.exposure_spin.value() if self._exposure_set else None
        settle = form.settle_ms / 1000.0

        def work() -> tuple[Any, Any]:
            wb = capture_white_black(self.model.bench, exposure_us=exposure, settle_s=settle)
            return wb, check_contrast(wb.white, wb.black, wb.full_scale)

        def done(res: tuple[Any, Any]) -> None:
            self._end_busy()
            if was_live:
                self.model.start_live()
            self._show_check(*res)

        def failed(exc: BaseException) -> None:
            self._end_busy()
            if was_live:
                self.model.start_live()
            self._show_error("Check failed", str(exc))

        self._begin_busy("check", "Checking: white, then black…")
        self.model.call(work, on_done=done, on_error=failed)

    def _show_check(self, wb: Any, chk: Any) -> None:
        self.white_black, self.check_result = wb, chk
        if not self._exposure_set:
            self.exposure_spin.setValueSilently(wb.exposure_us)
        self.camera_view.set_codes(
            chk.codes(), CHECK_COLOURS, CHECK_LABELS, base=np.asarray(wb.white, np.float32)
        )
        self._render_check_label()
        self.camera_view.caption.setText(
            f"White capture with {_swatch(CHECK_COLOURS[1])} clipped and "
            f"{_swatch(CHECK_COLOURS[2])} low-contrast pixels."
        )
        self.tabs.setCurrentWidget(self.camera_view)
        self._set_status("Check done." if chk.ok else "Check: see the hint above.")

    def _render_check_label(self) -> None:
        chk, wb = self.check_result, self.white_black
        if chk is None or wb is None:
            return
        colour = OK_COLOURS if chk.ok else WARN_COLOURS
        head = "OK" if chk.ok else "Adjust before scanning"
        self.check_label.setText(
            f"<b style='color:{_theme_colour(self, colour)}'>{head}</b>: "
            f"{_swatch(CHECK_COLOURS[1])} {100 * chk.clipped_fraction:.2f} % clip under white, "
            f"{_swatch(CHECK_COLOURS[2])} {100 * chk.low_contrast_fraction:.1f} % lack contrast "
            f"(white − black &lt; {chk.min_contrast:.0f}) at {wb.exposure_us:.0f} µs.<br>"
            f"{chk.hint}"
        )

    # ------------------------------------------------------------------ gamma

    def measure_gamma(self) -> None:
        """Project flat grey levels, fit the projector's gamma, put it in the form."""
        if self.busy or not self.model.connected or self.model.running:
            return
        from psfbench.core.acquisition.fringe_scan import measure_projector_gamma

        self._clear_message()
        was_live = self.model.live_running
        self.model.stop_live()
        exposure = self.exposure_spin.value() if self._exposure_set else None
        settle = self.settle_spin.value() / 1000.0

        def work() -> Any:
            return measure_projector_gamma(self.model.bench, exposure_us=exposure, settle_s=settle)

        def done(fit: Any) -> None:
            self._end_busy()
            if was_live:
                self.model.start_live()
            g = float(min(5.0, max(0.2, fit.gamma)))
            self.gamma_spin.setValueSilently(round(g, 2))
            self.gamma_box.setChecked(abs(g - 1.0) > 0.05)
            self._form_changed()
            self._set_status(f"Projector gamma measured: {fit.gamma:.2f} (fit RMS {fit.rms:.3g})")

        def failed(exc: BaseException) -> None:
            self._end_busy()
            if was_live:
                self.model.start_live()
            self._show_error("Gamma measurement failed", str(exc))

        self._begin_busy("gamma", "Measuring the projector's gamma…")
        self.model.call(work, on_done=done, on_error=failed)

    # ------------------------------------------------------------------ scan

    def start_scan(self) -> None:
        """Run the scan into a new numbered folder through the engine."""
        if self.busy or not self.model.connected or self.model.running:
            return
        from psfbench.core.acquisition.fringe_scan import (
            FolderSink,
            fringe_plan,
            stop_down_for_scan,
        )

        self._clear_message()
        try:
            form = self.form()
            form.validate()
            cal = self._resolve_calibration()
            proj = self.model.bench.projector
            if proj is None:
                raise ValueError("this bench has no projector")
            size = (int(proj.width), int(proj.height))
            if tuple(cal.projector_size) != size:
                raise ValueError(
                    f"the calibration is for a {cal.projector_size[0]}x{cal.projector_size[1]} "
                    f"projector, the bench's is {size[0]}x{size[1]}"
                )
            exposure = self.exposure_spin.value() if self._exposure_set else None
            plan = fringe_plan(
                form.plan_params(), settle_s=form.settle_ms / 1000.0, exposure_us=exposure
            )
            parent = Path(self.dir_edit.text().strip() or DEFAULT_SCANS_DIR).expanduser()
            parent.mkdir(parents=True, exist_ok=True)
            folder = next_scan_folder(parent)
            sink = FolderSink(folder / "frames")
            (folder / "scan.json").write_text(
                json.dumps(
                    {
                        "plan": plan.to_dict(),
                        "projector_size": list(size),
                        "calibration": self._calibration_key(),
                        "decode": {
                            "method": form.method,
                            "refuse_saturated": form.refuse_saturated,
                            "reject_flying": form.reject_flying,
                        },
                        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                    },
                    indent=2,
                )
                + "\n",
                encoding="utf-8",
            )
        except (FormError, ValueError, OSError) as exc:
            self._show_error("Cannot start the scan", str(exc))
            return
        except Exception as exc:  # a plan error from core names the field
            self._show_error("Cannot start the scan", str(exc))
            return
        self._save_state()
        self._scan_folder, self._scan_params, self._scan_form = folder, plan.params, form
        self._projector_size = size
        self._scan_total = plan.total_steps()
        self._sink = sink
        self.frames = sink.frames
        self._abort_requested = False
        self._last_seq = -1
        self.last_status = ""
        self._restore_aperture = stop_down_for_scan(self.model.bench)
        self._begin_busy("scan", f"Scanning into {folder}")
        self.progress.setRange(0, max(1, self._scan_total))
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m images")
        try:
            self._engine = self.model.start_run(plan, sink, session=str(folder))
        except Exception as exc:
            self._restore()
            self._end_busy()
            self._show_error("Cannot start the scan", str(exc))
            return
        self._frame_timer.start()
        self.tabs.setCurrentWidget(self.camera_view)

    def abort_scan(self) -> None:
        """Stop the scan after the current image; the frames taken stay on disk."""
        if self.busy != "scan":
            return
        self._abort_requested = True
        self.model.abort_run()
        self._set_status("Aborting after the current image…")
        self._update_controls()

    def _restore(self) -> None:
        if self._restore_aperture is not None:
            try:
                self._restore_aperture()
            finally:
                self._restore_aperture = None

    def _on_event(self, event: Any) -> None:
        if self.busy != "scan" or self.model.engine is not self._engine:
            return
        kind = getattr(event, "kind", "")
        if kind == "progress":
            self.progress.setRange(0, max(1, event.total))
            self.progress.setValue(event.done)
            eta = "" if event.eta_s is None else f", {event.eta_s:.0f} s left"
            self.progress.setFormat(f"%v / %m images{eta}")
        elif kind == "warning":
            self._set_status(f"Warning: {event.message}", kind="warn")
        elif kind == "error":
            self._show_message(event.message)
        elif kind == "finished":
            self.last_status = event.status

    def _pull_frame(self) -> None:
        f = self.model.latest_frame()
        if f is None or f.seq == self._last_seq or f.source != "run":
            return
        self._last_seq = f.seq
        img = np.asarray(f.image)
        if img.ndim == 3:
            img = img.mean(axis=-1)
        self.camera_view.set_map(img, levels=(0.0, float(f.full_scale)))
        step = f.metadata.get("step")
        self.camera_view.caption.setText(f"Newest frame of the scan (pattern {step}).")

    def _scan_finished(self) -> None:
        """The engine is done (runningChanged False): decode a complete scan."""
        self._frame_timer.stop()
        self._pull_frame()
        self._restore()
        status = self.last_status or (
            "completed" if len(self.frames) == self._scan_total else "aborted"
        )
        self.last_status = status
        folder = self._scan_folder
        self._engine = None
        self._end_busy()
        if status != "completed":
            n = len(self.frames)
            what = "Aborted" if status == "aborted" else "Failed"
            self.progress.setFormat(f"{what}: {n} / {self._scan_total} images")
            kept = Path(folder or ".") / "frames"
            self._set_status(
                f"{what}: {n} of {self._scan_total} frames kept in {kept}", kind="warn"
            )
            return
        self._decode(folder)

    # ------------------------------------------------------------------ decode

    def redecode(self) -> None:
        """Decode the last scan again with the current calibration and options."""
        if self.busy or not self.frames or self._scan_form is None:
            return
        self._decode(self._scan_folder)

    def _decode(self, folder: Path | None) -> None:
        from psfbench.core.acquisition.fringe_scan import (
            decode_frames,
            rmse_vs_truth,
            write_scan_outputs,
        )
        from psfbench.core.fringe.check import clip_level

        try:
            cal = self._resolve_calibration()
            form = self.form()
        except (ValueError, FormError) as exc:
            self._show_error("Cannot decode", str(exc))
            return
        frames = dict(self.frames)
        params = dict(self._scan_params)
        size = self._projector_size or (0, 0)
        bench = self.model.bench
        kw: dict[str, Any] = {
            "method": form.method,
            "reject_flying": form.reject_flying,
            "saturation": clip_level(self._pixel_format) if form.refuse_saturated else None,
        }
        total = len(frames)

        def work() -> tuple[Any, float | None]:
            res = decode_frames(frames, params, size, cal, **kw)
            rmse = rmse_vs_truth(bench, res) if bench is not None else None
            if folder is not None:
                write_scan_outputs(folder, res, params, rmse, total)
            return res, rmse

        self._begin_busy("decode", "Decoding…")
        self.progress.setRange(0, 0)  # busy indicator
        self._tasks.submit(work, on_done=self._decoded, on_error=self._decode_failed)

    def _decoded(self, out: tuple[Any, float | None]) -> None:
        if self._closed:
            return
        res, rmse = out
        self.result, self.result_rmse, self.result_folder = res, rmse, self._scan_folder
        self._end_busy()
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("decoded")
        self._show_results()
        self.tabs.setCurrentWidget(self.depth_view)
        self._set_status(f"Decoded; depth.tif, points.ply and fringe.json in {self._scan_folder}")

    def _decode_failed(self, exc: BaseException) -> None:
        if self._closed:
            return
        self._end_busy()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("decode failed")
        self._show_error("Decoding failed", str(exc))

    # ------------------------------------------------------------------ results

    def _show_results(self) -> None:
        from psfbench.core.fringe.scan import REFUSAL_LABELS, REFUSAL_REASONS

        res = self.result
        if res is None:
            return
        counts = self._scan_params.get("counts", [])
        self.freq_box.blockSignals(True)
        self.freq_box.clear()
        for i in range(len(res.phases)):
            c = counts[i] if i < len(counts) else "?"
            self.freq_box.addItem(f"{i + 1}: {c} periods", i)
        self.freq_box.blockSignals(False)
        self._show_wrapped()
        un = np.array(res.unwrapped.phase, np.float32, copy=True)
        if res.quality is not None:
            un[~res.quality] = np.nan
        self.unwrapped_view.set_map(un)
        self.unwrapped_view.caption.setText(
            "Absolute phase of the finest frequency; blank where the modulation is too low "
            "or the camera clipped."
        )
        self._show_modulation()
        codes = res.refusal_codes()
        labels = ["valid"] + [REFUSAL_LABELS[k] for k in REFUSAL_REASONS]
        base = res.phases[0].bias if res.phases else None
        self.refused_view.set_codes(codes, REFUSAL_COLOURS, labels, base=base)
        fr = res.refused_fractions()
        parts = [
            f"{_swatch(REFUSAL_COLOURS[i + 1])} {REFUSAL_LABELS[k]} {100 * fr[k]:.1f} %"
            for i, k in enumerate(REFUSAL_REASONS)
        ]
        self.refused_view.caption.setText(
            f"Valid {100 * float(res.valid.mean()):.1f} % (grey image); refused: "
            + ", ".join(parts)
        )
        depth = res.depth
        fin = depth[np.isfinite(depth)]
        levels = robust_levels(depth, 0.5, 99.5) if fin.size else (0.0, 1.0)
        self.depth_view.set_map(depth, levels=levels)
        rng = f"{fin.min():.1f} – {fin.max():.1f} mm" if fin.size else "no valid pixel"
        self.depth_view.caption.setText(
            f"Depth z in the camera frame, {rng}; grey: no depth (see Refused pixels). "
            "Drag the white line or its ends for a profile."
        )
        rmse = (
            ""
            if self.result_rmse is None
            else f", RMSE vs the virtual scene's true depth {self.result_rmse:.3f} mm"
        )
        self.summary_label.setText(
            f"{len(self.frames)} images, {100 * float(res.valid.mean()):.1f} % valid{rmse}. "
            f"Folder: {self.result_folder}"
        )

    def _show_wrapped(self, *_: Any) -> None:
        res = self.result
        if res is None or not res.phases:
            return
        i = self.freq_box.currentData()
        i = 0 if i is None else int(i)
        self.wrapped_view.set_map(res.phases[i].phase, levels=(0.0, 2 * math.pi))
        self.wrapped_view.caption.setText("Wrapped phase, 0 – 2π, of the chosen frequency.")

    def _show_modulation(self, *_: Any) -> None:
        res = self.result
        if res is None or not res.phases:
            return
        mod = np.min(np.stack([p.modulation for p in res.phases]), axis=0)
        self.modulation_view.set_map(mod, levels=robust_levels(mod, 0.5, 99.5))
        low = res.refused.get("low_modulation")
        self.modulation_view.set_overlay(
            low if (self.mask_box.isChecked() and low is not None) else None, (40, 140, 255, 200)
        )
        thr = "" if res.min_modulation is None else f" (threshold {res.min_modulation:.0f})"
        self.modulation_view.caption.setText(
            f"Smallest fringe modulation B over the frequencies; {_swatch((40, 140, 255, 200))} "
            f"pixels refused for low modulation or contrast{thr}."
        )

    # ------------------------------------------------------------------ saving

    def save_to_session(self, path: str | Path | None = None) -> None:
        """Write the depth map as ``depth.tif`` into a focus-sweep session (a folder dialog
        without ``path``); an existing depth.tif is kept as ``depth-previous-N.tif``."""
        if self.result is None or self.busy:
            return
        if path is None:
            start = str(Path(self.settings.sessions_dir or "~").expanduser())
            chosen = QFileDialog.getExistingDirectory(
                self, "Save the depth map into session", start
            )
            if not chosen:
                return
            path = chosen
        root = Path(path).expanduser()
        depth = np.array(self.result.depth, copy=True)

        def work() -> tuple[Path, Path | None]:
            from psfbench.core.dataset import SessionWriter

            with SessionWriter.open_existing(root) as writer:
                target = root / "depth.tif"
                backup = keep_previous(target)
                try:
                    out = writer.write_depth(depth)
                except BaseException:
                    if backup is not None:
                        backup.unlink(missing_ok=True)
                    raise
            return out, backup

        def done(r: tuple[Path, Path | None]) -> None:
            self._end_busy()
            out, backup = r
            kept = f" (the previous one kept as {backup.name})" if backup else ""
            self._set_status(f"Depth map saved to {out}{kept}", kind="ok")

        def failed(exc: BaseException) -> None:
            self._end_busy()
            self._show_error("Cannot save into the session", str(exc))

        self._begin_busy("save", f"Saving into {root}…")
        self._tasks.submit(work, on_done=done, on_error=failed)

    def save_ply(self, path: str | Path | None = None) -> None:
        """Write the valid points (mm, camera frame; grey from the fringe bias) as PLY; an
        existing file is kept as ``<name>-previous-N.ply``."""
        if self.result is None or self.busy:
            return
        if path is None:
            start = str(self.result_folder or Path.home())
            chosen, _ = QFileDialog.getSaveFileName(
                self, "Save the point cloud", str(Path(start) / "points.ply"), "PLY (*.ply)"
            )
            if not chosen:
                return
            path = chosen
        target = Path(path).expanduser()
        if target.suffix.lower() != ".ply":
            target = target.with_suffix(".ply")
        res = self.result
        pts = np.asarray(res.points)[res.valid]
        grey = None
        if res.phases:
            b = np.asarray(res.phases[0].bias, np.float32)
            lo, hi = robust_levels(b, 0.5, 99.5)
            grey = np.clip((b[res.valid] - lo) / max(hi - lo, 1e-6), 0.0, 1.0)

        def work() -> tuple[int, Path | None]:
            from psfbench.core.fringe.ply import write_ply

            target.parent.mkdir(parents=True, exist_ok=True)
            backup = keep_previous(target)
            return write_ply(target, pts, grey), backup

        def done(r: tuple[int, Path | None]) -> None:
            self._end_busy()
            n, backup = r
            kept = f" (the previous file kept as {backup.name})" if backup else ""
            self._set_status(f"{n} points saved to {target}{kept}", kind="ok")

        def failed(exc: BaseException) -> None:
            self._end_busy()
            self._show_error("Cannot save the PLY", str(exc))

        self._begin_busy("save", f"Saving {target.name}…")
        self._tasks.submit(work, on_done=done, on_error=failed)

    # ------------------------------------------------------------------ helpers

    def _choose_dir(self) -> None:
        start = str(Path(self.dir_edit.text() or DEFAULT_SCANS_DIR).expanduser())
        chosen = QFileDialog.getExistingDirectory(self, "Folder for fringe scans", start)
        if chosen:
            self.dir_edit.setText(chosen)
            self._save_state()

    def _begin_busy(self, what: str, status: str) -> None:
        self.busy = what
        self._set_status(status)
        self._update_controls()

    def _end_busy(self) -> None:
        self.busy = ""
        self._update_controls()

    def _set_status(self, text: str, *, kind: str = "") -> None:
        self._status_kind = kind or ("info" if text else "")
        self.status_label.setText(text)
        self.status_label.setToolTip(text)
        self._style_messages()

    def _show_message(self, text: str) -> None:
        self._message = text
        self.message_label.setText(text)
        self.message_label.setVisible(True)
        self._style_messages()

    def _clear_message(self) -> None:
        self._message = ""
        self.message_label.clear()
        self.message_label.setVisible(False)

    def _show_error(self, title: str, message: str) -> None:
        """Inline (stays visible) and in the log; no modal box (the operator may be away)."""
        log.error("fringe scan: %s: %s", title, message)
        self._show_message(f"{title}: {message}")

    @property
    def message(self) -> str:
        """The inline error message shown now, '' if none."""
        return self._message if self.message_label.isVisible() else ""

    def _style_messages(self) -> None:
        colours = {"warn": WARN_COLOURS, "ok": OK_COLOURS}.get(self._status_kind)
        self.status_label.setStyleSheet(
            f"color: {_theme_colour(self, colours)};" if colours else ""
        )
        self.message_label.setStyleSheet(f"color: {_theme_colour(self, ERROR_COLOURS)};")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "status_label"):
            self._style_messages()
            self._render_check_label()  # its verdict colour follows the theme

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop timers and workers; abort a scan of ours (the model waits for it at close)."""
        if self._closed:
            return
        self._closed = True
        self._frame_timer.stop()
        self._tasks.shutdown()
        if self.busy == "scan" and self.model.running and self.model.engine is self._engine:
            self.model.abort_run()
        self._restore()
        for sig, slot in (
            (self.model.stateChanged, self._on_state),
            (self.model.runningChanged, self._on_running),
            (self.model.acquisitionEvent, self._on_event),
            (self.model.devicesChanged, self._on_devices),
        ):
            with contextlib.suppress(RuntimeError, TypeError):
                sig.disconnect(slot)
