"""Focus controller panel: home, jog, go to, halt, E-STOP, and a live readout of the drive.

A thin view over :class:`psfbench.app.bench_model.BenchModel` (gui-anchors "Motor / stage panel",
"Safety limits", B13, C6):

* **Non-blocking moves** (C6): jog and go-to send ``move_rel`` / ``move_abs`` with
  ``wait=False`` through :meth:`BenchModel.call`; a 100 ms timer then polls the controller's
  status (position, moving, homed, e-stop latch) and the distance sensor, one poll at a time
  (a poll is skipped while the previous one is still pending, so polls never queue up behind
  a long homing).
* **Halt next to the absolute entry** (B13): a controlled stop; the typed target is checked
  against the soft limits *before* anything is sent, and refused with a message outside them.
* **E-STOP** is big, red, and enabled whenever a bench is connected, also during a move and
  during a sweep; it goes through :meth:`BenchModel.estop` (its own thread, past any queued
  call) and latches "not homed" on the controller, which the panel shows until homed again.
* **During a sweep** the acquisition engine owns the motor and the serial line: the panel
  sends nothing and polls nothing; its readout follows the run's ``step`` events instead.
* **Readout**: motor position (steps and mm), distance d (mm) and the focus depth
  Df = F (d + e) / (d + e - F) (psfbench.core.optics.focus_depth) with the profile's nominal lens
  (``[lens]`` focal_length_mm, nominal_e_mm; the virtual bench's own defaults), a rolling
  60 s plot of d, and the drive's speed and acceleration (read-only).
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections import deque
from dataclasses import dataclass
from functools import partial
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QButtonGroup,
    QFrame,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStyle,
    QStyleOptionButton,
    QStylePainter,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.bench_model import BenchModel
from psfbench.app.settings import GuiSettings
from psfbench.app.widgets.inputs import SpinBox, action_button

log = logging.getLogger(__name__)

POLL_MS = 100
#: seconds of d history in the plot
HISTORY_S = 60.0
#: re-read the soft limits, speed and acceleration every this many polls
CONFIG_EVERY = 50
DASH = "—"

_STYLE_ESTOP = (
    "QPushButton {background: #c62828; color: white; font-weight: bold; font-size: 18pt;"
    " border: 3px solid #7f0000; border-radius: 6px; padding: 8px;}"
    "QPushButton:hover {background: #e53935;}"
    "QPushButton:pressed {background: #8e0000;}"
    # disabled (no bench): a muted red that still reads as the E-STOP on light and dark
    "QPushButton:disabled {background: #8c5c5c; color: #e8dada; border-color: #6b4444;}"
)
#: error text: dark red on a light window, light red on a dark one (both >= 4.5:1)
_ERROR_ON_LIGHT = "#c62828"
_ERROR_ON_DARK = "#ff8a80"
_BANNER = {
    # state: (background, foreground)
    "ok": ("#2e7d32", "#ffffff"),
    "busy": ("#1565c0", "#ffffff"),
    "warn": ("#f9a825", "#000000"),
    "alarm": ("#c62828", "#ffffff"),
    "off": ("#757575", "#ffffff"),
}


@dataclass(frozen=True)
class _Poll:
    """One poll's result (made on the device thread)."""

    status: Any  # psfbench.core.devices.protocols.ControllerStatus
    d_mm: float | None
    d_error: str | None
    t: float
    limits: tuple[int, int] | None = None
    speed: float | None = None
    accel: float | None = None


def _read_state(bench: Any, with_config: bool) -> _Poll:
    """Device thread: the controller's status and one distance reading (+ its config)."""
    st = bench.focus.status()
    d: float | None = None
    err: str | None = None
    try:
        d = float(
            bench.sensor.read_mm() if bench.sensor is not None else bench.focus.read_distance_mm()
        )
    except Exception as exc:  # a sensor fault must not hide the motor state
        err = str(exc)
    limits = speed = accel = None
    if with_config:
        lo, hi = bench.focus.soft_limits()
        limits = (int(lo), int(hi))
        speed = float(bench.focus.speed())
        accel = float(bench.focus.acceleration())
    return _Poll(st, d, err, time.monotonic(), limits, speed, accel)


def _error_colour(palette: QPalette) -> str:
    """Error text colour readable on the palette's window colour (light or dark theme)."""
    dark = palette.color(QPalette.ColorRole.Window).lightness() < 128
    return _ERROR_ON_DARK if dark else _ERROR_ON_LIGHT


class _StepButton(QPushButton):
    """A jog step size, checkable; the selected one is drawn bold in the palette's Highlight.

    Painted from the palette at paint time (no style sheet: a style sheet freezes the palette
    it was polished with, so after a switch to the dark theme the other sizes stayed white
    boxes). Unselected sizes keep the style's ordinary button look in either theme.
    """

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        self.setCheckable(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # as action_button: Enter never presses it
        self.setAutoDefault(False)
        self.setDefault(False)

    def paintEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        if not self.isChecked():
            super().paintEvent(event)
            return
        painter = QStylePainter(self)
        opt = QStyleOptionButton()
        self.initStyleOption(opt)
        pal = QPalette(opt.palette)
        for group in (QPalette.ColorGroup.Active, QPalette.ColorGroup.Inactive):
            pal.setColor(
                group, QPalette.ColorRole.Button, pal.color(group, QPalette.ColorRole.Highlight)
            )
            pal.setColor(
                group,
                QPalette.ColorRole.ButtonText,
                pal.color(group, QPalette.ColorRole.HighlightedText),
            )
        opt.palette = pal
        if not self.isEnabled():  # Fusion's sunken disabled look is unreadable: bold only
            opt.state &= ~QStyle.StateFlag.State_On
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.drawControl(QStyle.ControlElement.CE_PushButton, opt)


class _Refused(Exception):
    """A command the panel refused on the device thread (shown as is, nothing was sent)."""


def _jog_within_limits(focus: Any, delta: int) -> None:
    """Device thread: a relative move, refused before sending when it would leave the soft
    limits (checked against the position now, not a stale readout)."""
    pos = int(focus.position())
    lo, hi = focus.soft_limits()
    if not lo <= pos + delta <= hi:
        raise _Refused(
            f"Jog {delta:+d} steps refused: {pos + delta} would be outside the soft limits "
            f"[{lo}, {hi}] (now at {pos}). Not moved."
        )
    focus.move_rel(delta, wait=False)


def _fmt_mm(v: float, digits: int = 3) -> str:
    return f"{v:.{digits}f} mm"


class FocusPanel(QWidget):
    """See the module docstring. Public slots: :meth:`home`, :meth:`jog`, :meth:`goto`,
    :meth:`halt`, :meth:`estop`."""

    name = "focus"
    title = "Focus controller"

    def __init__(
        self, model: BenchModel, settings: GuiSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setObjectName("FocusPanel")
        self.model = model
        self.settings = settings
        self.jog_steps: tuple[int, int, int] = tuple(  # type: ignore[assignment]
            max(1, abs(int(s))) for s in settings.jog_steps
        )
        self._shut = False
        self._poll_pending = False
        self._polls = 0
        self.poll_count = 0  # polls sent (tests check none is sent during a run)
        self._status: Any = None  # last ControllerStatus
        self._estop_sent = False  # e-stop pressed, not yet confirmed by a status
        self._busy = ""  # "homing" while the blocking home call runs
        self._steps_per_mm: float | None = None
        self._limits: tuple[int, int] | None = None
        self._speed: float | None = None
        self._accel: float | None = None
        self._F: float | None = None
        self._e: float | None = None
        self._position: int | None = None
        self._d: float | None = None
        self._df: float | None = None
        self._df_error = ""
        self._history: deque[tuple[float, float]] = deque()
        self._target: int | None = None
        self._message_error = False
        self._sent_at = 0  # poll_count when the last command was sent
        self._build()
        self._restore_panel_settings()

        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

        model.stateChanged.connect(self._on_state)
        model.runningChanged.connect(self._on_running)
        model.acquisitionEvent.connect(self._on_event)
        self._on_state(model.state)

    # ------------------------------------------------------------------ layout

    def _build(self) -> None:
        root = QVBoxLayout(self)
        root.setContentsMargins(6, 6, 6, 6)
        root.setSpacing(6)

        self.estop_button = QPushButton("E-STOP", self)
        self.estop_button.setObjectName("estopButton")
        self.estop_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.estop_button.setAutoDefault(False)
        self.estop_button.setStyleSheet(_STYLE_ESTOP)
        self.estop_button.setMinimumHeight(56)
        self.estop_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.estop_button.setToolTip(
            "Emergency stop: stops the focus motor at once (also aborts a running sweep).\n"
            "The controller must be homed again before the next move."
        )
        self.estop_button.clicked.connect(self.estop)
        root.addWidget(self.estop_button)

        self.state_label = QLabel(self)
        self.state_label.setObjectName("focusState")
        self.state_label.setWordWrap(True)
        self.state_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        f = self.state_label.font()
        f.setBold(True)
        self.state_label.setFont(f)
        root.addWidget(self.state_label)

        # everything below the E-STOP and the state scrolls when the dock is short, so the
        # panel never forces the main window taller (the E-STOP never scrolls away)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.body = body = QWidget(scroll)
        scroll.setWidget(body)
        col = QVBoxLayout(body)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(6)
        root.addWidget(scroll, 1)

        # -- readout
        box = QGroupBox("Readout", body)
        grid = QGridLayout(box)
        grid.setColumnStretch(1, 1)
        big = QFont(self.font())
        big.setPointSizeF(big.pointSizeF() * 1.3)
        big.setBold(True)

        def row(r: int, text: str, tip: str) -> QLabel:
            name = QLabel(text, box)
            name.setToolTip(tip)
            value = QLabel(DASH, box)
            value.setFont(big)
            value.setToolTip(tip)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            grid.addWidget(name, r, 0)
            grid.addWidget(value, r, 1)
            return value

        self.position_label = row(0, "Position", "Motor position from the home switch")
        self.d_label = row(1, "Distance d", "Distance sensor reading d")
        self.df_label = row(
            2, "Focus depth Df", "Df = F (d + e) / (d + e − F) with the profile's nominal F, e"
        )
        self.lens_label = QLabel(box)
        self.lens_label.setWordWrap(True)
        grid.addWidget(self.lens_label, 3, 0, 1, 2)
        self.motion_label = QLabel(box)
        self.motion_label.setWordWrap(True)
        self.motion_label.setToolTip("Drive speed and acceleration (read from the controller)")
        grid.addWidget(self.motion_label, 4, 0, 1, 2)
        col.addWidget(box)

        # -- motion controls
        ctl = QGroupBox("Move", body)
        v = QVBoxLayout(ctl)
        self.home_button = action_button(
            "Home", ctl, tooltip="Drive to the home switch and zero the position counter"
        )
        v.addWidget(self.home_button)

        jog = QHBoxLayout()
        self.jog_minus = action_button("− Jog", ctl, tooltip="Move towards lower positions")
        self.jog_plus = action_button("Jog +", ctl, tooltip="Move towards higher positions")
        self.step_group = QButtonGroup(ctl)
        self.step_group.setExclusive(True)
        jog.addWidget(self.jog_minus)
        self.step_buttons: list[QPushButton] = []
        for i, n in enumerate(self.jog_steps):
            b = _StepButton(str(n), ctl)
            b.setMinimumWidth(40)
            self.step_group.addButton(b, i)
            self.step_buttons.append(b)
            jog.addWidget(b)
        jog.addWidget(self.jog_plus)
        v.addLayout(jog)
        self.step_label = QLabel(ctl)
        v.addWidget(self.step_label)

        go = QHBoxLayout()
        go.addWidget(QLabel("Go to", ctl))
        self.target_box = SpinBox(ctl)
        self.target_box.setRange(-10_000_000, 10_000_000)
        self.target_box.setSuffix(" steps")
        self.target_box.setToolTip("Absolute target in steps; sent only by the Go button")
        go.addWidget(self.target_box, 1)
        self.go_button = action_button("Go", ctl, tooltip="Move to the typed absolute position")
        go.addWidget(self.go_button)
        self.halt_button = action_button(
            "Halt", ctl, tooltip="Controlled stop (decelerates; the position stays valid)"
        )
        go.addWidget(self.halt_button)
        v.addLayout(go)
        self.target_mm_label = QLabel(ctl)
        v.addWidget(self.target_mm_label)
        self.limits_label = QLabel(ctl)
        self.limits_label.setWordWrap(True)
        v.addWidget(self.limits_label)
        col.addWidget(ctl)

        self.message_label = QLabel(body)
        self.message_label.setObjectName("focusMessage")
        self.message_label.setWordWrap(True)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        col.addWidget(self.message_label)

        # -- d over time
        self.plot = pg.PlotWidget(body)
        self.plot.setMinimumHeight(100)
        pi = self.plot.getPlotItem()
        pi.setLabel("left", "distance d (mm)")
        pi.setLabel("bottom", "time (s)")
        for axis in ("left", "bottom"):
            pi.getAxis(axis).enableAutoSIPrefix(False)
        pi.showGrid(x=True, y=True, alpha=0.3)
        pi.setMouseEnabled(x=False, y=True)
        pi.setXRange(-HISTORY_S, 0.0, padding=0.01)
        pi.hideButtons()
        self.curve = pi.plot([], [], pen=pg.mkPen("#1f77b4", width=2))
        col.addWidget(self.plot, 1)

        self.home_button.clicked.connect(self.home)
        self.halt_button.clicked.connect(self.halt)
        self.jog_minus.clicked.connect(lambda: self.jog(-1, self.step_index()))
        self.jog_plus.clicked.connect(lambda: self.jog(+1, self.step_index()))
        self.go_button.clicked.connect(lambda: self.goto(self.target_box.value()))
        self.step_group.idToggled.connect(self._on_step_toggled)
        self.target_box.valueChanged.connect(self._update_target_mm)
        self._motion_controls = [
            self.home_button,
            self.halt_button,
            self.jog_minus,
            self.jog_plus,
            self.go_button,
            self.target_box,
            *self.step_buttons,
        ]

    # ------------------------------------------------------------------ settings

    def _restore_panel_settings(self) -> None:
        raw = self.settings.panels.get(self.name, {})
        idx = raw.get("jog_index", 1) if isinstance(raw, dict) else 1
        if not isinstance(idx, int) or isinstance(idx, bool) or not 0 <= idx < 3:
            idx = 1
        self.step_buttons[idx].setChecked(True)
        self._update_step_label()

    def _on_step_toggled(self, idx: int, checked: bool) -> None:
        if not checked:
            return
        panels = dict(self.settings.panels)
        panels[self.name] = {**panels.get(self.name, {}), "jog_index": idx}
        self.settings.panels = panels
        self._update_step_label()

    def step_index(self) -> int:
        """The selected jog step size (0, 1, 2)."""
        i = self.step_group.checkedId()
        return i if 0 <= i < 3 else 1

    # ------------------------------------------------------------------ public slots

    def home(self) -> None:
        """Home the focus drive (blocking on the device thread; the readout waits)."""
        bench = self._bench_for_command("home")
        if bench is None:
            return
        self._busy = "homing"
        self._target = None
        self._say("Homing…")
        self._call(bench.focus.home, on_done=self._homed)
        self._refresh_controls()

    def jog(self, direction: int, size_index: int = 1) -> None:
        """Relative move by ``jog_steps[size_index]`` in the sign of ``direction``."""
        bench = self._bench_for_command("jog")
        if bench is None:
            return
        if not 0 <= size_index < len(self.jog_steps):
            self._say(f"Jog: no step size #{size_index}", error=True)
            return
        if direction == 0:
            return
        delta = self.jog_steps[size_index] * (1 if direction > 0 else -1)
        if not self._ready_to_move("Jog"):
            return
        self._target = None
        self._say(f"Jog {delta:+d} steps")
        self._call(_jog_within_limits, bench.focus, delta)

    def goto(self, position: int) -> None:
        """Absolute move to ``position`` (steps), refused outside the soft limits."""
        bench = self._bench_for_command("go to")
        if bench is None:
            return
        position = int(position)
        if self._limits is not None:
            lo, hi = self._limits
            if not lo <= position <= hi:
                self._say(
                    f"Go to {position} refused: outside the soft limits [{lo}, {hi}] steps"
                    f"{self._mm_range(lo, hi)}. Not moved.",
                    error=True,
                )
                return
        if not self._ready_to_move("Go to"):
            return
        self._target = position
        self._say(f"Moving to {position} steps{self._mm_suffix(position)}")
        self._call(partial(bench.focus.move_abs, position, wait=False))

    def halt(self) -> None:
        """Controlled stop of the focus motor (not an e-stop: homing stays valid)."""
        bench = self.model.bench
        if bench is None or not self.model.connected:
            self._say("Halt: no bench connected", error=True)
            return
        if self.model.running:
            self._say("Halt: a sweep owns the motor; use Abort or E-STOP", error=True)
            return
        self._target = None
        self._say("Halt")
        self._call(bench.focus.stop)

    def estop(self) -> None:
        """Emergency stop (at once, past queued calls; aborts a sweep). Needs homing after."""
        if self.model.bench is None:
            self._say("E-STOP: no bench connected", error=True)
            return
        self.model.estop()
        self._estop_sent = True
        self._target = None
        self._say("E-STOP sent: the motor stopped; home the controller before moving again.")
        self._refresh_banner()

    # ------------------------------------------------------------------ helpers

    def _bench_for_command(self, what: str) -> Any:
        bench = self.model.bench
        if bench is None or not self.model.connected:
            self._say(f"Cannot {what}: no bench connected", error=True)
            return None
        if self.model.running:
            self._say(
                f"Cannot {what}: a sweep is running (the engine drives the motor)", error=True
            )
            return None
        if self._busy:
            self._say(f"Cannot {what}: {self._busy} in progress", error=True)
            return None
        return bench

    def _ready_to_move(self, what: str) -> bool:
        st = self._status
        if st is not None and (st.estopped or not st.homed):
            why = "e-stopped" if st.estopped else "not homed"
            self._say(f"{what} refused: the controller is {why}. Press Home first.", error=True)
            return False
        return True

    def _call(self, fn: Any, *args: Any, on_done: Any = None) -> None:
        self._sent_at = self.poll_count
        try:
            self.model.call(fn, *args, on_done=on_done or self._cmd_done, on_error=self._cmd_error)
        except RuntimeError as exc:
            self._say(str(exc), error=True)

    def _cmd_done(self, _: Any) -> None:
        pass

    def _homed(self, _: Any) -> None:
        if self._shut:
            return
        self._busy = ""
        self._estop_sent = False
        self._say("Homed")
        self._refresh_controls()

    def _cmd_error(self, exc: BaseException) -> None:
        if self._shut:
            return
        was = self._busy
        self._busy = ""
        self._target = None
        what = f"{was.capitalize()} failed: " if was else ""
        self._say(f"{what}{exc}", error=True)
        from psfbench.core.devices.protocols import DeviceDisconnected, DeviceTimeout

        if isinstance(exc, DeviceDisconnected | DeviceTimeout):
            self.model.errorOccurred.emit("Focus controller", str(exc))
        self._refresh_controls()

    def _say(self, text: str, *, error: bool = False) -> None:
        if self._shut:
            return
        self.message_label.setText(text)
        self._message_error = error
        self._style_message()
        if error:
            log.info("focus panel: %s", text)

    def _style_message(self) -> None:
        colour = _error_colour(self.palette())
        self.message_label.setStyleSheet(
            f"color: {colour}; font-weight: bold;" if self._message_error else ""
        )

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        """Theme switch: error colours follow the new window colour."""
        super().changeEvent(event)
        built = hasattr(self, "_timer")
        if event.type() == QEvent.Type.PaletteChange and built and not self._shut:
            self._style_message()
            self._refresh_readout()

    def _mm(self, steps: float) -> float | None:
        return steps / self._steps_per_mm if self._steps_per_mm else None

    def _mm_suffix(self, steps: float) -> str:
        mm = self._mm(steps)
        return "" if mm is None else f" ({mm:.3f} mm)"

    def _mm_range(self, lo: int, hi: int) -> str:
        a, b = self._mm(lo), self._mm(hi)
        return "" if a is None or b is None else f" ({a:.2f} … {b:.2f} mm)"

    # ------------------------------------------------------------------ model state

    def _on_state(self, state: str) -> None:
        if self._shut:
            return
        bench = self.model.bench
        if state == "connected" and bench is not None:
            from psfbench.core.acquisition.bench_io import steps_per_mm

            try:
                self._steps_per_mm = steps_per_mm(bench)
            except Exception:
                self._steps_per_mm = None
            try:
                self._F, self._e = bench.info.settings.nominal_lens()
            except Exception:
                self._F, self._e = None, None
            self._polls = 0
        elif state == "disconnected":
            self._status = None
            self._busy = ""
            self._estop_sent = False
            self._poll_pending = False
            self._position = self._d = self._df = None
        self._update_lens_label()
        self._update_step_label()
        self._update_target_mm()
        self._refresh_readout()
        self._refresh_controls()

    def _on_running(self, running: bool) -> None:
        if self._shut:
            return
        if not running:
            self._polls = 0  # re-read the config after the run
        self._refresh_controls()

    def _on_event(self, event: Any) -> None:
        if self._shut or getattr(event, "kind", "") != "step":
            return
        pos = getattr(event, "position", None)
        d = getattr(event, "d_mm", None)
        if pos is not None:
            self._position = int(pos)
        if d is not None and math.isfinite(d):
            self._set_d(float(d), float(getattr(event, "t", time.monotonic())))
        self._refresh_readout()
        self._redraw_plot()

    def _refresh_controls(self) -> None:
        connected = self.model.connected
        running = self.model.running
        self.estop_button.setEnabled(self.model.bench is not None)
        moving = bool(self._status is not None and self._status.moving)
        idle_ok = connected and not running and not self._busy
        for w in self._motion_controls:
            w.setEnabled(idle_ok)
        # a stop is allowed whenever the panel may drive the motor (not during homing: the
        # blocking home call holds the device thread; E-STOP is the way out then)
        self.halt_button.setEnabled(connected and not running and self._busy != "homing")
        if moving:
            self.home_button.setEnabled(False)
        self._refresh_banner()

    def _refresh_banner(self) -> None:
        st = self._status
        m = self.model
        if m.bench is None or not m.connected:
            text, kind = f"Focus controller: {m.state}", "off"
        elif m.running:
            text, kind = "Sweep running: the engine drives the motor (E-STOP stays live)", "busy"
        elif self._estop_sent or (st is not None and st.estopped):
            text, kind = "E-STOPPED: not homed. Press Home before moving again.", "alarm"
        elif self._busy == "homing":
            text, kind = "Homing…", "busy"
        elif st is None:
            text, kind = "Reading the controller…", "off"
        elif not st.homed:
            text, kind = "NOT HOMED: positions are meaningless. Press Home.", "warn"
        elif st.moving:
            text, kind = "Moving…", "busy"
        else:
            text, kind = "Homed, idle", "ok"
        if st is not None and st.limit_hit and m.connected and not m.running:
            text += " · LIMIT SWITCH HIT"
            kind = "alarm"
        bg, fg = _BANNER[kind]
        self.state_label.setText(text)
        self.state_label.setStyleSheet(
            f"background: {bg}; color: {fg}; padding: 4px; border-radius: 4px;"
        )

    # ------------------------------------------------------------------ polling

    def _tick(self) -> None:
        if self._shut:
            return
        m = self.model
        if self._poll_pending or m.bench is None or not m.connected or m.running:
            self._redraw_plot()
            return
        with_config = self._polls % CONFIG_EVERY == 0
        self._polls += 1
        self._poll_pending = True
        self.poll_count += 1
        try:
            n = self.poll_count
            m.call(
                _read_state,
                m.bench,
                with_config,
                on_done=lambda p: self._polled(p, n),
                on_error=self._poll_failed,
            )
        except RuntimeError:  # the model was closed under us
            self._poll_pending = False
            return
        self._redraw_plot()

    def _polled(self, p: _Poll, n: int = 0) -> None:
        self._poll_pending = False
        if self._shut or self.model.running:
            return
        self._status = p.status
        if p.status.estopped:
            self._estop_sent = False  # confirmed by the controller; the banner keeps saying so
        self._position = int(p.status.position)
        if p.limits is not None:
            self._limits = p.limits
            self._speed, self._accel = p.speed, p.accel
            self._update_limits_label()
        if p.d_mm is not None:
            self._set_d(p.d_mm, p.t)
        elif p.d_error:
            self._d = self._df = None
            self._df_error = f"distance sensor: {p.d_error}"
        if self._target is not None and n > self._sent_at and not p.status.moving:
            # this poll was sent after the move (one device thread: it saw the move's effect)
            pos = int(p.status.position)
            if pos == self._target:
                self._say(f"At {pos} steps{self._mm_suffix(pos)}")
            else:
                self._say(f"Stopped at {pos} steps, short of {self._target}", error=True)
            self._target = None
        self._refresh_readout()
        self._refresh_controls()
        self._redraw_plot()

    def _poll_failed(self, exc: BaseException) -> None:
        self._poll_pending = False
        if self._shut:
            return
        self._say(f"Reading the focus controller failed: {exc}", error=True)

    def _set_d(self, d: float, t: float) -> None:
        self._d = d
        self._history.append((t, d))
        while self._history and self._history[0][0] < t - HISTORY_S:
            self._history.popleft()
        self._df, self._df_error = None, ""
        if self._F is None or self._e is None:
            missing = [
                k for k, v in (("focal_length_mm", self._F), ("nominal_e_mm", self._e)) if v is None
            ]
            self._df_error = (
                "Df needs the lens: set [lens] " + " and ".join(missing) + " in the device profile"
            )
            return
        from psfbench.core.optics import OpticsError, focus_depth

        try:
            self._df = float(focus_depth(d, self._e, self._F))
        except OpticsError as exc:
            self._df_error = str(exc)

    # ------------------------------------------------------------------ display

    def readout(self) -> dict[str, Any]:
        """The numbers on display: position (steps), d_mm, Df_mm, F_mm, e_mm, limits."""
        return {
            "position": self._position,
            "d_mm": self._d,
            "Df_mm": self._df,
            "F_mm": self._F,
            "e_mm": self._e,
            "limits": self._limits,
            "status": self._status,
        }

    def _refresh_readout(self) -> None:
        pos = self._position
        if pos is None:
            self.position_label.setText(DASH)
        else:
            text = f"{pos} steps{self._mm_suffix(pos)}"
            st = self._status
            if st is not None and not st.homed and not self.model.running:
                text += (
                    "<br><span style='font-size: small; font-weight: normal; "
                    f"color: {_error_colour(self.palette())}'>"
                    "not homed: the counter is not referenced</span>"
                )
            self.position_label.setText(text)
        self.d_label.setText(DASH if self._d is None else _fmt_mm(self._d))
        if self._df is None:
            self.df_label.setText(DASH)
            tip = self._df_error or "Df = F (d + e) / (d + e − F)"
        else:
            df = self._df
            self.df_label.setText(
                f"{df:.1f} mm" + (f" ({df / 1000:.3f} m)" if abs(df) >= 1000 else "")
            )
            tip = f"Df = F (d + e) / (d + e − F), F = {self._F} mm, e = {self._e} mm (nominal)"
        self.df_label.setToolTip(tip)
        self._update_motion_label()

    def _update_lens_label(self) -> None:
        def v(x: float | None, key: str) -> str:
            return f"{x:g} mm" if x is not None else f"unknown (set [lens] {key})"

        self.lens_label.setText(
            f"Lens (nominal): F = {v(self._F, 'focal_length_mm')}, e = {v(self._e, 'nominal_e_mm')}"
        )

    def _update_motion_label(self) -> None:
        if self._speed is None or self._accel is None:
            self.motion_label.setText(f"Speed {DASH} · acceleration {DASH}")
            return
        s = f"Speed {self._speed:.0f} steps/s"
        mm = self._mm(self._speed)
        if mm is not None:
            s += f" ({mm:.1f} mm/s)"
        s += f" · accel. {self._accel:.0f} steps/s²"
        self.motion_label.setText(s)

    def _update_limits_label(self) -> None:
        if self._limits is None:
            self.limits_label.setText(f"Soft limits: {DASH}")
            return
        lo, hi = self._limits
        self.limits_label.setText(f"Soft limits: {lo} … {hi} steps{self._mm_range(lo, hi)}")
        if self.target_box.value() == 0 and not lo <= 0 <= hi:
            self.target_box.setValueSilently(lo)

    def _update_step_label(self) -> None:
        n = self.jog_steps[self.step_index()]
        mm = self._mm(n)
        self.step_label.setText(f"Jog step: {n} steps" + ("" if mm is None else f" = {mm:.3f} mm"))
        for b, k in zip(self.step_buttons, self.jog_steps, strict=True):
            m = self._mm(k)
            b.setToolTip(f"Jog step {k} steps" + ("" if m is None else f" ({m:.3f} mm)"))

    def _update_target_mm(self, *_: Any) -> None:
        v = self.target_box.value()
        mm = self._mm(v)
        text = "" if mm is None else f"Target = {mm:.3f} mm from home"
        if self._limits is not None and not self._limits[0] <= v <= self._limits[1]:
            text = (text + " · " if text else "") + "outside the soft limits"
        self.target_mm_label.setText(text)

    def _redraw_plot(self) -> None:
        if not self._history:
            return
        now = time.monotonic()
        xs = [t - now for t, _ in self._history]
        ys = [d for _, d in self._history]
        self.curve.setData(xs, ys)

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop polling; late device callbacks are ignored. Idempotent."""
        if self._shut:
            return
        self._shut = True
        self._timer.stop()
        for sig, slot in (
            (self.model.stateChanged, self._on_state),
            (self.model.runningChanged, self._on_running),
            (self.model.acquisitionEvent, self._on_event),
        ):
            with contextlib.suppress(RuntimeError, TypeError):
                sig.disconnect(slot)
