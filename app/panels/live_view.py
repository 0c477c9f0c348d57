"""Live view: the camera's newest frame with contrast, saturation, ROI statistics, a focus
measure for focusing by hand, camera settings and snapshots.

Frames are pulled from :meth:`BenchModel.latest_frame` on a timer (~40 Hz at most); a frame is
drawn only when it is newer than the one shown, so a fast camera never queues work on the GUI
thread (gui-anchors B1-B4, C4). Optional statistics (auto-contrast percentiles on a subsample,
ROI statistics, focus measure, histogram) each run under a time budget, so the GUI thread stays
responsive at any camera rate. During a run the view shows the run's frames and the camera
controls are locked (the engine owns the camera).

Camera settings are sent once per edit through :meth:`BenchModel.call` and the spin boxes then
show the value read back from the device (a camera may round it). Pixel format and sensor ROI
cannot change while the camera streams: live view is stopped, the setting sent, live view
restarted (gui-anchors B15).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import re
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.bench_model import BenchModel, LiveFrame
from psfbench.app.settings import GuiSettings
from psfbench.app.widgets.image_stats import (
    FOCUS_MEASURES,
    Budget,
    RoiStats,
    clip_rect,
    focus_measure,
    percentile_levels,
    roi_stats,
    saturation_mask,
)
from psfbench.app.widgets.image_view import ImageView
from psfbench.app.widgets.inputs import ComboBox, DoubleSpinBox, SpinBox, action_button

log = logging.getLogger(__name__)

#: fastest display tick (ms, ~30 Hz as gui-anchors advise); slower when drawing and painting
#: cost more, so the view never takes more than about half of the GUI thread
DISPLAY_INTERVAL_MS = 33
#: focus-measure history shown in the rolling plot (s)
FOCUS_WINDOW_S = 30.0
#: pixel format implied by a frame's full scale (and channel count)
_FORMAT_BY_SCALE = {255: "Mono8", 4095: "Mono12", 65535: "Mono16"}
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")

_DEFAULT_STATE: dict[str, Any] = {
    "snapshot_dir": "",
    "snapshot_prefix": "snap",
    "continuous_auto": True,
    "saturation_overlay": True,
    "focus_measure": "tenengrad",
    "view_roi": None,
    "tab": 0,
}


def _valid_state(raw: Any) -> dict[str, Any]:
    """The panel's saved state with bad entries dropped (logged) and defaults filled in."""
    state = dict(_DEFAULT_STATE)
    if not isinstance(raw, dict):
        return state
    checks = {
        "snapshot_dir": lambda v: isinstance(v, str),
        "snapshot_prefix": lambda v: isinstance(v, str) and bool(_PREFIX_RE.match(v)),
        "continuous_auto": lambda v: isinstance(v, bool),
        "saturation_overlay": lambda v: isinstance(v, bool),
        "focus_measure": lambda v: v in FOCUS_MEASURES,
        "view_roi": lambda v: (
            isinstance(v, list | tuple)
            and len(v) == 4
            and all(isinstance(i, int) and not isinstance(i, bool) for i in v)
            and v[0] >= 0
            and v[1] >= 0
            and v[2] >= 1
            and v[3] >= 1
        ),
        "tab": lambda v: isinstance(v, int) and 0 <= v <= 3,
    }
    for key, value in raw.items():
        check = checks.get(key)
        if check is None:
            log.warning("live view settings: unknown key %r dropped", key)
        elif not check(value):
            log.warning("live view settings: bad value for %r dropped: %r", key, value)
        else:
            state[key] = list(value) if key == "view_roi" else value
    return state


def _read_camera(cam: Any) -> dict[str, Any]:
    """The camera's current settings as the device reports them (device thread)."""
    info = cam.info
    roi = cam.roi
    return {
        "exposure_us": float(cam.exposure_us),
        "gain_db": float(cam.gain_db),
        "pixel_format": str(cam.pixel_format),
        "roi": (int(roi.x), int(roi.y), int(roi.width), int(roi.height)),
        "sensor": (int(info.sensor_width), int(info.sensor_height)),
        "pixel_formats": tuple(str(f) for f in info.pixel_formats),
        "exposure_range_us": tuple(float(v) for v in info.exposure_range_us),
        "gain_range_db": tuple(float(v) for v in info.gain_range_db),
        "model": f"{info.vendor} {info.model}".strip(),
    }


def _json_safe(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        try:
            json.dumps(v)
        except (TypeError, ValueError):
            v = str(v)
        out[str(k)] = v
    return out


def _frame_pixel_format(frame: LiveFrame) -> str:
    fmt = frame.metadata.get("pixel_format")
    if isinstance(fmt, str):
        return fmt
    if frame.image.ndim == 3:
        return "RGB8"
    return _FORMAT_BY_SCALE.get(
        frame.full_scale, f"{frame.image.dtype} (full scale {frame.full_scale})"
    )


class LiveViewPanel(QWidget):
    """See the module docstring. Public slots: :meth:`toggle_live`, :meth:`start_live`,
    :meth:`stop_live`, :meth:`snapshot`, :meth:`auto_contrast`, :meth:`full_range`,
    :meth:`set_roi`, :meth:`zoom_fit`.

    ``displayed_frames`` counts frames drawn; ``display_fps`` is the drawing rate over the
    last second (frames dropped by the display = frames produced - ``displayed_frames``).
    """

    name = "live_view"
    title = "Live view"

    def __init__(
        self, model: BenchModel, settings: GuiSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName(self.name)
        self.model = model
        self.settings = settings
        self._state = _valid_state(settings.panels.get(self.name))

        self.displayed_frames = 0
        self.display_fps = 0.0
        #: statistics of the view ROI on the shown frame (None before the first frame)
        self.roi_stats: RoiStats | None = None
        #: latest focus measure of the view ROI (None before the first frame)
        self.focus_value: float | None = None
        self._frame: LiveFrame | None = None
        self._last_key: tuple[str, int, float] | None = None
        self._draw_times: deque[float] = deque(maxlen=512)
        self._levels: tuple[float, float] = (0.0, 4095.0)
        self._camera: dict[str, Any] = {}
        self._hover: tuple[float, float] | None = None
        self._hover_dirty = False
        self._stats_dirty = False
        self._hist_dirty = False
        self._focus: deque[tuple[float, float]] = deque()
        self._focus_dirty = False
        self._live_error_shown: str | None = None
        self._tick_cost = 0.0
        self._closed = False

        self._auto_budget = Budget(0.1)
        self._stats_budget = Budget(0.1)
        self._focus_budget = Budget(0.04)
        self._hist_budget = Budget(0.2, fraction=0.1)
        self._plot_budget = Budget(0.1, fraction=0.1)

        self._build()
        self._connect()
        self._update_enabled()

        self._timer = QTimer(self)
        self._timer.setInterval(DISPLAY_INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()
        if self.model.connected:
            self._read_camera()

    # ================================================================== UI

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(4, 4, 4, 4)
        root.setSpacing(4)

        bar = QHBoxLayout()
        bar.setSpacing(4)
        self.live_button = action_button("Live", tooltip="Start or stop the camera stream")
        self.live_button.setCheckable(True)
        self.snapshot_button = action_button(
            "Snapshot", tooltip="Save the frame shown as a TIFF in the snapshot folder"
        )
        self.fit_button = action_button("Fit", tooltip="Zoom to show the whole frame")
        self.auto_button = action_button(
            "Auto", tooltip="Set the contrast once from the percentiles of this frame"
        )
        self.full_button = action_button(
            "Full range", tooltip="Show the pixel format's whole range (0 to full scale)"
        )
        for b in (
            self.live_button,
            self.snapshot_button,
            self.fit_button,
            self.auto_button,
            self.full_button,
        ):
            b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
            b.setMinimumWidth(b.fontMetrics().horizontalAdvance(b.text()) + 16)
            bar.addWidget(b)
        bar.addStretch(1)
        root.addLayout(bar)

        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setStyleSheet("color: #c0392b;")
        self.message_label.hide()
        root.addWidget(self.message_label)

        # Image on the left, controls on the right: the panel is the main window's centre and
        # screens are wider than tall (a 1366x768 laptop must show image and controls at once).
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        root.addWidget(splitter, 1)

        top = QWidget()
        tl = QVBoxLayout(top)
        tl.setContentsMargins(0, 0, 0, 0)
        tl.setSpacing(2)
        self.view = ImageView()
        self.view.setMinimumHeight(160)
        tl.addWidget(self.view, 1)
        row = QHBoxLayout()
        self.readout_label = QLabel("x –, y –")
        self.readout_label.setToolTip("Pixel under the cursor: column x, row y, value")
        self.fps_label = QLabel("")
        self.fps_label.setToolTip(
            "Camera frame rate and the rate the view draws (the view skips frames it cannot "
            "draw; acquisition is never slowed)"
        )
        self.fps_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row.addWidget(self.readout_label, 1)
        row.addWidget(self.fps_label, 0)
        tl.addLayout(row)
        self.roi_label = QLabel("ROI: no frame")
        self.roi_label.setWordWrap(True)
        self.roi_label.setTextFormat(Qt.TextFormat.RichText)
        self.roi_label.setToolTip(
            "Statistics of the yellow rectangle (drag it; corner handles resize). Saturated: "
            "pixels at the pixel format's full scale."
        )
        tl.addWidget(self.roi_label)
        splitter.addWidget(top)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.camera_tab = self._build_camera_tab()
        self.tabs.addTab(_scrolled(self.camera_tab), "Camera")
        self.tabs.addTab(_scrolled(self._build_display_tab()), "Display")
        self.tabs.addTab(self._build_focus_tab(), "Focus")
        self.tabs.addTab(_scrolled(self._build_snapshot_tab()), "Snapshot")
        self.tabs.setCurrentIndex(int(self._state["tab"]))
        splitter.addWidget(self.tabs)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([700, 340])

    def _build_camera_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(4, 4, 4, 4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.exposure_spin = DoubleSpinBox()
        self.exposure_spin.setDecimals(1)
        self.exposure_spin.setRange(1.0, 1e7)
        self.exposure_spin.setSuffix(" µs")
        self.exposure_spin.setStepType(DoubleSpinBox.StepType.AdaptiveDecimalStepType)
        self.exposure_spin.setToolTip("Exposure time; the value shown is the one the camera took")
        form.addRow("Exposure", self.exposure_spin)
        self.gain_spin = DoubleSpinBox()
        self.gain_spin.setDecimals(2)
        self.gain_spin.setRange(0.0, 48.0)
        self.gain_spin.setSingleStep(0.5)
        self.gain_spin.setSuffix(" dB")
        self.gain_spin.setToolTip("Analogue gain; the value shown is the one the camera took")
        form.addRow("Gain", self.gain_spin)
        self.format_combo = ComboBox()
        self.format_combo.setToolTip("Pixel format (live view restarts to change it)")
        form.addRow("Pixel format", self.format_combo)

        grid = QGridLayout()
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(4)
        self.hw_roi_spins: list[SpinBox] = []
        for i, name in enumerate(("x", "y", "w", "h")):
            s = SpinBox()
            s.setRange(0 if name in "xy" else 1, 100_000)
            s.setToolTip(
                {
                    "x": "Sensor ROI offset x (px)",
                    "y": "Sensor ROI offset y (px)",
                    "w": "Sensor ROI width (px)",
                    "h": "Sensor ROI height (px)",
                }[name]
            )
            lab = QLabel(name)
            grid.addWidget(lab, i // 2, (i % 2) * 2)
            grid.addWidget(s, i // 2, (i % 2) * 2 + 1)
            grid.setColumnStretch((i % 2) * 2 + 1, 1)
            self.hw_roi_spins.append(s)
        form.addRow("Sensor ROI", grid)
        btns = QHBoxLayout()
        self.roi_apply_button = action_button(
            "Apply", tooltip="Send this sensor ROI to the camera (live view restarts)"
        )
        self.roi_from_view_button = action_button(
            "From view", tooltip="Fill in the yellow rectangle as the sensor ROI"
        )
        self.roi_full_button = action_button(
            "Full sensor", tooltip="Fill in the whole sensor as the ROI"
        )
        for b in (self.roi_apply_button, self.roi_from_view_button, self.roi_full_button):
            btns.addWidget(b)
        btns.addStretch(1)
        form.addRow("", btns)
        self.camera_label = QLabel("No camera")
        self.camera_label.setWordWrap(True)
        form.addRow(self.camera_label)
        self._camera_widgets: list[QWidget] = [
            self.exposure_spin,
            self.gain_spin,
            self.format_combo,
            *self.hw_roi_spins,
            self.roi_apply_button,
            self.roi_from_view_button,
            self.roi_full_button,
        ]
        return w

    def _build_display_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(4, 4, 4, 4)
        self.continuous_check = QCheckBox("Auto-contrast on every frame")
        self.continuous_check.setChecked(bool(self._state["continuous_auto"]))
        self.continuous_check.setToolTip(
            "Levels follow the percentiles below; dragging the histogram switches to manual"
        )
        form.addRow(self.continuous_check)
        pr = QHBoxLayout()
        lo, hi = self.settings.contrast_percentiles
        self.low_pct_spin = DoubleSpinBox()
        self.low_pct_spin.setRange(0.0, 49.9)
        self.low_pct_spin.setDecimals(2)
        self.low_pct_spin.setSuffix(" %")
        self.low_pct_spin.setValueSilently(float(lo))
        self.high_pct_spin = DoubleSpinBox()
        self.high_pct_spin.setRange(50.1, 100.0)
        self.high_pct_spin.setDecimals(2)
        self.high_pct_spin.setSuffix(" %")
        self.high_pct_spin.setValueSilently(float(hi))
        for s in (self.low_pct_spin, self.high_pct_spin):
            s.setToolTip("Auto-contrast ignores pixels outside these percentiles (hot pixels)")
            s.setMaximumWidth(110)
        pr.addWidget(self.low_pct_spin)
        pr.addWidget(QLabel("to"))
        pr.addWidget(self.high_pct_spin)
        pr.addStretch(1)
        form.addRow("Percentiles", pr)
        self.levels_label = QLabel("")
        form.addRow("Levels", self.levels_label)
        self.saturation_check = QCheckBox("Show saturated pixels in red")
        self.saturation_check.setChecked(bool(self._state["saturation_overlay"]))
        self.saturation_check.setToolTip("Pixels at the pixel format's full scale are drawn red")
        form.addRow(self.saturation_check)
        hint = QLabel("Wheel: zoom · drag: pan · right-click: view menu")
        hint.setWordWrap(True)
        form.addRow(hint)
        return w

    def _build_focus_tab(self) -> QWidget:
        w = QWidget()
        v = QVBoxLayout(w)
        v.setContentsMargins(4, 4, 4, 4)
        v.setSpacing(2)
        row = QHBoxLayout()
        self.focus_combo = ComboBox()
        for key, (label, desc) in FOCUS_MEASURES.items():
            self.focus_combo.addItem(label, key)
            self.focus_combo.setItemData(
                self.focus_combo.count() - 1, desc, Qt.ItemDataRole.ToolTipRole
            )
        self.focus_combo.setCurrentIndex(
            max(0, self.focus_combo.findData(self._state["focus_measure"]))
        )
        self.focus_combo.setToolTip("Sharpness of the ROI: turn the focus ring to maximise it")
        self.focus_clear_button = action_button("Clear", tooltip="Forget the history and peak")
        row.addWidget(self.focus_combo, 1)
        row.addWidget(self.focus_clear_button)
        v.addLayout(row)
        self.focus_label = QLabel("–")
        self.focus_label.setToolTip("Current value; peak = highest in the last 30 s")
        v.addWidget(self.focus_label)
        self.focus_plot = pg.PlotWidget()
        self.focus_plot.setMinimumHeight(90)
        self.focus_plot.setMenuEnabled(False)
        self.focus_plot.setMouseEnabled(x=False, y=False)
        self.focus_plot.setLabel("bottom", "time", units="s")
        self.focus_plot.showGrid(x=True, y=True, alpha=0.3)
        self.focus_plot.setXRange(-FOCUS_WINDOW_S, 0.0, padding=0.0)
        self.focus_curve = self.focus_plot.plot(pen=pg.mkPen((0, 150, 220), width=2))
        self.focus_peak = pg.InfiniteLine(
            angle=0, pen=pg.mkPen((230, 120, 0), width=1.5, style=Qt.PenStyle.DashLine)
        )
        self.focus_peak.setVisible(False)
        self.focus_plot.addItem(self.focus_peak)
        v.addWidget(self.focus_plot, 1)
        return w

    def _build_snapshot_tab(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(4, 4, 4, 4)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        row = QHBoxLayout()
        self.folder_edit = QLineEdit(self._state["snapshot_dir"] or str(self._default_folder()))
        self.folder_edit.setToolTip("Snapshots are saved here (created if missing)")
        self.browse_button = action_button("Browse…")
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.browse_button)
        form.addRow("Folder", row)
        self.prefix_edit = QLineEdit(self._state["snapshot_prefix"])
        self.prefix_edit.setToolTip("File names: <prefix>_0001.tif, <prefix>_0002.tif, ...")
        form.addRow("Name", self.prefix_edit)
        self.snapshot_label = QLabel("No snapshot yet")
        self.snapshot_label.setWordWrap(True)
        self.snapshot_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        form.addRow(self.snapshot_label)
        return w

    def _default_folder(self) -> Path:
        if self.settings.sessions_dir:
            return Path(self.settings.sessions_dir) / "snapshots"
        return Path.home() / "psfbench" / "snapshots"

    def _connect(self) -> None:
        m = self.model
        m.stateChanged.connect(self._on_state)
        m.runningChanged.connect(self._on_running)
        m.liveChanged.connect(self._on_live)
        self.live_button.clicked.connect(self.toggle_live)
        self.snapshot_button.clicked.connect(self.snapshot)
        self.fit_button.clicked.connect(self.zoom_fit)
        self.auto_button.clicked.connect(self.auto_contrast)
        self.full_button.clicked.connect(self.full_range)
        self.exposure_spin.valueCommitted.connect(self._commit_exposure)
        self.gain_spin.valueCommitted.connect(self._commit_gain)
        self.format_combo.activated.connect(self._commit_format)
        self.roi_apply_button.clicked.connect(self._commit_hw_roi)
        self.roi_from_view_button.clicked.connect(self._hw_roi_from_view)
        self.roi_full_button.clicked.connect(self._hw_roi_full)
        self.continuous_check.toggled.connect(self._on_continuous)
        self.low_pct_spin.valueCommitted.connect(self._commit_percentiles)
        self.high_pct_spin.valueCommitted.connect(self._commit_percentiles)
        self.saturation_check.toggled.connect(self._on_saturation)
        self.focus_combo.activated.connect(self._on_focus_measure)
        self.focus_clear_button.clicked.connect(self._clear_focus)
        self.browse_button.clicked.connect(self._browse)
        self.folder_edit.editingFinished.connect(self._save_state)
        self.prefix_edit.editingFinished.connect(self._save_state)
        self.tabs.currentChanged.connect(lambda _i: self._save_state())
        self.view.hoverMoved.connect(self._on_hover)
        self.view.roiChanged.connect(self._on_roi)
        self.view.levelsEdited.connect(self._on_levels_edited)

    # ================================================================== public slots

    def toggle_live(self) -> None:
        """Start live view if stopped, stop it if running."""
        if self.model.live_running:
            self.stop_live()
        else:
            self.start_live()

    def start_live(self) -> None:
        """Stream the camera into the view (refused during a run or without a bench)."""
        if not self.model.connected:
            self._message("Live view: no bench connected")
        elif self.model.running:
            self._message("Live view: a run owns the camera")
        elif not self.model.start_live():
            self._message("Live view: the camera is busy")
        else:
            self._message("")
        self._sync_live_button()

    def stop_live(self) -> None:
        self.model.stop_live()
        self._sync_live_button()

    def snapshot(self) -> Path | None:
        """Save the frame shown (or the newest one if none is shown) as a TIFF with its
        exposure, gain, pixel format and time in the metadata; returns the file written."""
        frame = self._frame if self._frame is not None else self.model.latest_frame()
        if frame is None:
            self._message("Snapshot: no frame to save")
            return None
        folder = Path(self.folder_edit.text().strip() or str(self._default_folder())).expanduser()
        prefix = self.prefix_edit.text().strip() or "snap"
        if not _PREFIX_RE.match(prefix):
            self._message("Snapshot: the name may use letters, digits, '_', '-' and '.' only")
            return None
        try:
            import tifffile

            folder.mkdir(parents=True, exist_ok=True)
            path = _next_path(folder, prefix)
            meta = self._snapshot_metadata(frame)
            image = np.ascontiguousarray(frame.image)
            photometric = "rgb" if image.ndim == 3 else "minisblack"
            tifffile.imwrite(path, image, photometric=photometric, metadata=meta)
        except Exception as exc:  # disk full, permissions: tell the user, keep running
            log.warning("snapshot failed: %s", exc)
            self._message(f"Snapshot failed: {exc}")
            return None
        self._state["snapshot_dir"] = str(folder)
        self._state["snapshot_prefix"] = prefix
        self._save_state()
        self.snapshot_label.setText(f"Saved {path.name} in {folder}")
        self._message("")
        log.info("snapshot saved: %s", path)
        return path

    def auto_contrast(self) -> None:
        """Set the levels once from the percentiles of the frame shown."""
        if self._frame is None:
            return
        lo, hi = self.settings.contrast_percentiles
        self._apply_levels(percentile_levels(self._frame.image, lo, hi))

    def full_range(self) -> None:
        """Levels 0 .. full scale of the pixel format; switches auto-contrast off."""
        fs = self._frame.full_scale if self._frame is not None else self._levels[1]
        self.continuous_check.setChecked(False)
        self._apply_levels((0.0, float(fs)))

    def set_roi(self, x: int, y: int, w: int, h: int) -> None:
        """Place the view ROI (image pixels; not the camera's sensor ROI)."""
        shape = self.view.image_shape
        if shape is not None:
            rect = clip_rect(shape, x, y, w, h)
            if rect is None:
                return
            x, y, w, h = rect
        self.view.set_roi(int(x), int(y), int(w), int(h))

    def zoom_fit(self) -> None:
        self.view.zoom_fit()

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._timer.stop()
        m = self.model
        for signal, slot in (
            (m.stateChanged, self._on_state),
            (m.runningChanged, self._on_running),
            (m.liveChanged, self._on_live),
        ):
            with contextlib.suppress(RuntimeError, TypeError):
                signal.disconnect(slot)
        self._save_state()

    # ================================================================== frames

    def _is_new(self, frame: LiveFrame) -> bool:
        last = self._last_key
        if last is None or frame.source != last[0]:
            return True
        if frame.seq > last[1]:
            return True
        # a restarted source counts from 1 again: newer by its time, not its number
        return frame.seq < last[1] and frame.timestamp > last[2]

    def _tick(self) -> None:
        t0 = time.monotonic()
        try:
            if self.isVisible():
                frame = self.model.latest_frame()
                if frame is not None and self._is_new(frame):
                    self._draw(frame)
                self._update_stats(t0)
                if self._hover_dirty:
                    self._update_readout()
            self._update_rates(t0)
        except Exception:  # never let a bad frame stop the display timer
            log.exception("live view: drawing a frame failed")
        cost = time.monotonic() - t0
        self._tick_cost = 0.8 * self._tick_cost + 0.2 * cost
        # drawing + painting may use at most about half of the GUI thread
        busy = self._tick_cost + self.view.paint_cost_s
        interval = int(min(250, max(DISPLAY_INTERVAL_MS, 2000 * busy)))
        if abs(interval - self._timer.interval()) > 4:
            self._timer.setInterval(interval)

    def _draw(self, frame: LiveFrame) -> None:
        img = frame.image
        prev = self._frame
        self._last_key = (frame.source, frame.seq, frame.timestamp)
        if prev is not None and prev.full_scale != frame.full_scale:
            # another pixel format: keep manual levels at the same fraction of full scale
            k = frame.full_scale / max(1, prev.full_scale)
            self._levels = (self._levels[0] * k, self._levels[1] * k)
        levels = self._levels
        if self.continuous_check.isChecked() and (
            self._auto_budget.due() or prev is None or prev.image.shape != img.shape
        ):
            lo, hi = self.settings.contrast_percentiles
            with self._auto_budget:
                levels = percentile_levels(img, lo, hi)
        self._frame = frame
        self._levels = levels
        resized = self.view.set_image(img, levels)
        if self.saturation_check.isChecked():
            mask = saturation_mask(img, frame.full_scale)
            self.view.set_overlay(mask if mask.any() else None)
        if resized:
            self._place_roi(img.shape)
            self.view.zoom_fit()
        self.displayed_frames += 1
        self._draw_times.append(time.monotonic())
        self._stats_dirty = self._focus_dirty = self._hist_dirty = True
        self._hover_dirty = self._hover is not None

    def _place_roi(self, shape: tuple[int, ...]) -> None:
        """Keep the view ROI on the image: the saved one if it fits, else the central half."""
        h, w = shape[:2]
        x, y, rw, rh = self._state["view_roi"] or self.view.roi_rect()
        if self._state["view_roi"] is None or clip_rect(shape, x, y, rw, rh) != (x, y, rw, rh):
            rw, rh = max(1, w // 2), max(1, h // 2)
            x, y = (w - rw) // 2, (h - rh) // 2
        self.view.set_roi(x, y, rw, rh)

    def _update_stats(self, now: float) -> None:
        frame = self._frame
        if frame is None:
            return
        rect = self.view.roi_rect()
        if self._stats_dirty and self._stats_budget.due(now):
            with self._stats_budget:
                self.roi_stats = roi_stats(frame.image, *rect, frame.full_scale)
            self._stats_dirty = False
            self._show_roi_stats()
        if self._focus_dirty and self._focus_budget.due(now):
            r = clip_rect(frame.image.shape, *rect)
            if r is not None:
                x, y, w, h = r
                kind = str(self.focus_combo.currentData())
                with self._focus_budget:
                    v = focus_measure(frame.image[y : y + h, x : x + w], frame.full_scale, kind)
                self.focus_value = v
                self._focus.append((now, v))
            self._focus_dirty = False
        if self._focus and self._plot_budget.due(now):
            with self._plot_budget:
                self._show_focus(now)
        if self._hist_dirty and self._hist_budget.due(now):
            with self._hist_budget:
                self.view.update_histogram()
            self._hist_dirty = False
            self._show_levels()

    def _update_rates(self, now: float) -> None:
        while self._draw_times and self._draw_times[0] < now - 1.0:
            self._draw_times.popleft()
        self.display_fps = float(len(self._draw_times))
        cam = self.model.camera_fps()
        src = self._frame.source if self._frame is not None else ""
        if self.model.running:
            self.fps_label.setText(f"run frames · shown {self.display_fps:.0f} fps")
        elif self.model.live_running:
            self.fps_label.setText(f"camera {cam:.0f} fps · shown {self.display_fps:.0f} fps")
        else:
            self.fps_label.setText("stopped" if src else "")
        live = self.model.live
        err = live.error if live is not None else None
        if err and err != self._live_error_shown:
            self._message(err)
        self._live_error_shown = err

    def _show_roi_stats(self) -> None:
        s = self.roi_stats
        if s is None:
            self.roi_label.setText("ROI: outside the frame")
            return
        sat = f"saturated {s.saturated}"
        if s.saturated:
            sat = f"<span style='color:#e03030; font-weight:bold'>{sat}</span>"
        self.roi_label.setText(
            f"ROI {s.width}×{s.height} at ({s.x}, {s.y}) · {sat}<br>"
            f"mean {s.mean:.1f} · sd {s.sd:.1f} · min {s.min:.0f} · max {s.max:.0f}"
        )

    def _show_focus(self, now: float) -> None:
        while self._focus and self._focus[0][0] < now - FOCUS_WINDOW_S:
            self._focus.popleft()
        if not self._focus:
            return
        t = np.fromiter((p[0] - now for p in self._focus), float, len(self._focus))
        v = np.fromiter((p[1] for p in self._focus), float, len(self._focus))
        self.focus_curve.setData(t, v)
        peak = float(v.max())
        # from zero: a change of focus shows as a change of height, noise stays small
        self.focus_plot.setYRange(0.0, 1.08 * peak if peak > 0 else 1.0, padding=0.0)
        self.focus_peak.setPos(peak)
        self.focus_peak.setVisible(True)
        cur = float(v[-1])
        rel = f" ({100.0 * cur / peak:.0f} % of peak)" if peak > 0 else ""
        self.focus_label.setText(f"{cur:.4g}{rel} · peak {peak:.4g}")

    def _show_levels(self) -> None:
        lo, hi = self._levels
        mode = "auto" if self.continuous_check.isChecked() else "manual"
        self.levels_label.setText(f"{lo:.0f} – {hi:.0f} ({mode})")

    def _update_readout(self) -> None:
        self._hover_dirty = False
        frame, pos = self._frame, self._hover
        if frame is None or pos is None:
            self.readout_label.setText("x –, y –")
            return
        x, y = int(pos[0]), int(pos[1])
        h, w = frame.image.shape[:2]
        if not (0 <= x < w and 0 <= y < h):
            self.readout_label.setText("x –, y –")
            return
        v = frame.image[y, x]
        val = ", ".join(str(int(c)) for c in v) if np.ndim(v) else str(int(v))
        self.readout_label.setText(f"x {x}, y {y}: {val}")

    # ================================================================== display controls

    def _apply_levels(self, levels: tuple[float, float]) -> None:
        self._levels = (float(levels[0]), float(levels[1]))
        self.view.set_levels(*self._levels)
        self._show_levels()

    def _on_levels_edited(self, levels: tuple[float, float]) -> None:
        if self.continuous_check.isChecked():
            self.continuous_check.setChecked(False)
        self._levels = (float(levels[0]), float(levels[1]))
        self._show_levels()

    def _on_continuous(self, on: bool) -> None:
        self._state["continuous_auto"] = bool(on)
        self._auto_budget.reset()
        if on:
            self.auto_contrast()
        self._show_levels()
        self._save_state()

    def _commit_percentiles(self, _v: float) -> None:
        lo, hi = self.low_pct_spin.value(), self.high_pct_spin.value()
        self.settings.contrast_percentiles = (lo, hi)
        self._auto_budget.reset()
        if self.continuous_check.isChecked():
            self.auto_contrast()

    def _on_saturation(self, on: bool) -> None:
        self._state["saturation_overlay"] = bool(on)
        if not on:
            self.view.set_overlay(None)
        elif self._frame is not None:
            mask = saturation_mask(self._frame.image, self._frame.full_scale)
            self.view.set_overlay(mask if mask.any() else None)
        self._save_state()

    def _on_hover(self, pos: tuple[float, float] | None) -> None:
        self._hover = pos
        self._hover_dirty = True  # the label follows on the next tick (throttled)

    def _on_roi(self, rect: tuple[int, int, int, int]) -> None:
        self._state["view_roi"] = list(rect)
        self._stats_dirty = True
        self._stats_budget.reset()
        self._clear_focus()  # another region: its history and peak do not compare

    def _on_focus_measure(self, _i: int) -> None:
        self._state["focus_measure"] = str(self.focus_combo.currentData())
        self._clear_focus()
        self._save_state()

    def _clear_focus(self) -> None:
        self._focus.clear()
        self.focus_curve.setData([], [])
        self.focus_peak.setVisible(False)
        self.focus_label.setText("–")
        self._focus_dirty = self._frame is not None

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Snapshot folder", self.folder_edit.text())
        if folder:
            self.folder_edit.setText(folder)
            self._save_state()

    def _snapshot_metadata(self, frame: LiveFrame) -> dict[str, Any]:
        fm = frame.metadata
        cam = self._camera
        meta: dict[str, Any] = {
            "exposure_us": fm.get("exposure_us", cam.get("exposure_us")),
            "gain_db": fm.get("gain_db", cam.get("gain_db")),
            "pixel_format": _frame_pixel_format(frame),
            "full_scale": frame.full_scale,
            "timestamp": _dt.datetime.now().astimezone().isoformat(timespec="milliseconds"),
            "source": frame.source,
            "seq": frame.seq,
            "camera": cam.get("model", ""),
            "sensor_roi": list(cam["roi"]) if "roi" in cam else None,
            "frame": _json_safe(dict(fm)),
        }
        return meta

    # ================================================================== camera controls

    def _read_camera(self) -> None:
        def work() -> dict[str, Any]:
            return _read_camera(self.model.bench.camera)

        with contextlib.suppress(RuntimeError):  # the model is closed
            self.model.call(work, on_done=self._show_camera, on_error=self._camera_read_failed)

    def _camera_read_failed(self, exc: BaseException) -> None:
        if self._closed:
            return
        self._message(f"Camera: cannot read its settings: {exc}")

    def _show_camera(self, cam: dict[str, Any]) -> None:
        """Show the settings the device reports (never the value typed)."""
        if self._closed:
            return
        self._camera = cam
        lo, hi = cam["exposure_range_us"]
        self.exposure_spin.setRange(lo, hi)
        self.exposure_spin.setValueSilently(cam["exposure_us"])
        glo, ghi = cam["gain_range_db"]
        self.gain_spin.setRange(glo, ghi)
        self.gain_spin.setValueSilently(cam["gain_db"])
        formats = list(cam["pixel_formats"])
        if [self.format_combo.itemText(i) for i in range(self.format_combo.count())] != formats:
            self.format_combo.clear()
            self.format_combo.addItems(formats)
        self.format_combo.setCurrentText(cam["pixel_format"])
        sw, sh = cam["sensor"]
        for s, v, mx in zip(self.hw_roi_spins, cam["roi"], (sw - 1, sh - 1, sw, sh), strict=True):
            s.setMaximum(mx)
            s.setValueSilently(v)
        x, y, w, h = cam["roi"]
        self.camera_label.setText(f"{cam['model']} · sensor {sw}×{sh} · ROI {w}×{h} at ({x}, {y})")

    def _camera_call(self, work: Any, what: str, *, restart_live: bool = False) -> None:
        """Run ``work(camera)`` on the device thread, then show what the device reports.
        ``restart_live``: stop the stream first (pixel format, sensor ROI) and restart it."""
        if not self.model.connected or self.model.running:
            return
        was_live = restart_live and self.model.live_running
        if was_live:
            self.model.stop_live()

        def run() -> dict[str, Any]:
            cam = self.model.bench.camera
            work(cam)
            return _read_camera(cam)

        def done(state: dict[str, Any]) -> None:
            if self._closed:
                return
            self._message("")
            self._show_camera(state)
            if was_live:
                self.start_live()

        def failed(exc: BaseException) -> None:
            log.warning("camera %s: %s", what, exc)
            if self._closed:
                return
            self._message(f"Camera {what}: {exc}")
            self._read_camera()  # show what the device kept
            if was_live:
                self.start_live()

        try:
            self.model.call(run, on_done=done, on_error=failed)
        except RuntimeError as exc:
            self._message(f"Camera {what}: {exc}")

    def _commit_exposure(self, value: float) -> None:
        def work(cam: Any) -> None:
            cam.exposure_us = float(value)

        self._camera_call(work, "exposure")

    def _commit_gain(self, value: float) -> None:
        def work(cam: Any) -> None:
            cam.gain_db = float(value)

        self._camera_call(work, "gain")

    def _commit_format(self, _index: int) -> None:
        fmt = self.format_combo.currentText()
        if not fmt or fmt == self._camera.get("pixel_format"):
            return

        def work(cam: Any) -> None:
            cam.pixel_format = fmt

        self._camera_call(work, "pixel format", restart_live=True)

    def _commit_hw_roi(self) -> None:
        from psfbench.core.devices.protocols import Roi

        x, y, w, h = (s.value() for s in self.hw_roi_spins)

        def work(cam: Any) -> None:
            cam.roi = Roi(x, y, w, h)

        self._camera_call(work, "sensor ROI", restart_live=True)

    def _hw_roi_from_view(self) -> None:
        """Fill the sensor-ROI fields with the view ROI (image pixels + the current offset)."""
        x, y, w, h = self.view.roi_rect()
        ox, oy = self._camera.get("roi", (0, 0, 0, 0))[:2]
        for s, v in zip(self.hw_roi_spins, (ox + x, oy + y, w, h), strict=True):
            s.setValueSilently(v)

    def _hw_roi_full(self) -> None:
        if "sensor" not in self._camera:
            return
        sw, sh = self._camera["sensor"]
        for s, v in zip(self.hw_roi_spins, (0, 0, sw, sh), strict=True):
            s.setValueSilently(v)

    # ================================================================== model state

    def _on_state(self, state: str) -> None:
        if state == "connected":
            self._read_camera()
        elif state == "disconnected":
            self._camera = {}
            self.camera_label.setText("No camera")
        self._update_enabled()

    def _on_running(self, running: bool) -> None:
        self._last_key = None  # the run's frames (or the live ones after it) are a new source
        if not running and self.model.connected:
            self._read_camera()  # the run may have changed exposure, format or ROI
        self._update_enabled()

    def _on_live(self, _on: bool) -> None:
        self._sync_live_button()

    def _sync_live_button(self) -> None:
        self.live_button.blockSignals(True)
        self.live_button.setChecked(self.model.live_running)
        self.live_button.setText("Stop" if self.model.live_running else "Live")
        self.live_button.blockSignals(False)

    def _update_enabled(self) -> None:
        can = self.model.connected and not self.model.running
        self.live_button.setEnabled(can)
        for w in self._camera_widgets:
            w.setEnabled(can)
        tip = (
            ""
            if can
            else (
                "Locked during a run (the run owns the camera)"
                if self.model.running
                else "No bench connected"
            )
        )
        self.camera_tab.setToolTip(tip)
        self._sync_live_button()

    def _message(self, text: str) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))

    def _save_state(self) -> None:
        self._state["snapshot_dir"] = self.folder_edit.text().strip()
        prefix = self.prefix_edit.text().strip()
        if _PREFIX_RE.match(prefix):
            self._state["snapshot_prefix"] = prefix
        self._state["tab"] = int(self.tabs.currentIndex())
        self.settings.panels[self.name] = dict(self._state)


def _next_path(folder: Path, prefix: str) -> Path:
    """``<prefix>_NNNN.tif`` one past the highest number in ``folder`` (never overwrites)."""
    pat = re.compile(rf"^{re.escape(prefix)}_(\d+)\.tiff?$", re.IGNORECASE)
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := pat.match(p.name))]
    n = max(numbers, default=0) + 1
    while True:
        path = folder / f"{prefix}_{n:04d}.tif"
        if not path.exists():
            return path
        n += 1


def _scrolled(page: QWidget) -> QScrollArea:
    """A tab page that scrolls instead of forcing its height on the window."""
    area = QScrollArea()
    area.setWidget(page)
    area.setWidgetResizable(True)
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    # never narrower than the page's own minimum: fields would be cut at the right edge
    bar = area.verticalScrollBar().sizeHint().width()
    area.setMinimumWidth(page.minimumSizeHint().width() + bar + 4)
    return area
