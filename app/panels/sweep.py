"""Focus sweep panel: plan a sweep, run it into a new session, watch it, pause, abort, resume.

The panel does what ``psfbench acquire sweep`` / ``resume`` do (core/cli/cmd_acquire.py), through
:class:`psfbench.app.bench_model.BenchModel`:

* **Plan.** A range in motor steps, in sensor distance d (mm) or in focus depth Df (mm; needs
  the profile's nominal lens F and e), "Mark near" / "Mark far" from the current focus
  position, steps, settle time, averaging, exposure and the all-in-focus (AIF) policy. The
  range is resolved to integer motor positions at Start (``FocusSweepPlan``), so a resumed
  sweep revisits exactly the same positions. d is mapped to positions through the profile's
  steps/mm and one reading of (position, d) on the homed motor. The estimated duration counts
  moves (trapezoid profile), settle and exposure x averaging; it is an estimate.
* **Plans as files.** Save / Load write and read a small JSON file (format
  ``psfbench-sweep-plan``); a bad file is refused with a message naming the file and field.
* **Run.** A new, auto-numbered session folder under the sessions folder
  (``create_sweep_session``), the engine through ``model.start_run``, then the AIF capture
  (``aif_plan_for`` / ``AifSink``) after a complete sweep when the policy says so. The engine's
  prompts (e.g. "set the minimum aperture") appear as window-modal OK/Cancel boxes answered
  with ``model.answer_prompt``. Progress (done/total, ETA), the newest frame (pulled on a
  timer, never pushed) and d / Df per step fill in as the run goes; the form is locked.
* **Errors and resume.** An error (device, disk) ends the run with a message; the session on
  disk stays consistent. After an abort or an error, or for any session folder given to
  :meth:`SweepPanel.resume_session`, Resume runs only the missing steps (``pending_work``),
  then the AIF if the session wants one.

Device I/O (session creation reads the camera, marks read the controller) runs on the model's
device thread via ``model.call``; nothing here blocks the GUI thread on a device.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QEvent, QSize, Qt, QTimer
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QBoxLayout,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.widgets.inputs import ComboBox, DoubleSpinBox, SpinBox, action_button

log = logging.getLogger(__name__)

PLAN_FORMAT = "psfbench-sweep-plan"
PLAN_VERSION = 1
UNITS = ("steps", "d_mm", "Df_mm")
UNIT_LABELS = {"steps": "Motor steps", "d_mm": "Distance d (mm)", "Df_mm": "Focus depth Df (mm)"}
AIF_POLICIES = ("capture", "skip")
AIF_LABELS = {
    "capture": "Capture after the sweep (prompt)",
    "skip": "Skip",
}
DEFAULT_SESSIONS_DIR = "~/psfbench-sessions"
D_COLOUR = "#2f7bd8"
DF_COLOUR = "#d8762f"
PLOT_TITLE_D = f"<span style='color:{D_COLOUR}'>● d</span> (left)"
PLOT_TITLE = f"{PLOT_TITLE_D}, <span style='color:{DF_COLOUR}'>■ Df</span> (right) per step"
SESSION_STEM = "sweep"
#: message colours per theme (light window, dark window): >= 4.5:1 on the window colour
ERROR_COLOURS = ("#c0392b", "#ff8a80")
WARN_COLOURS = ("#8a5a00", "#f0b450")


class PlanFileError(ValueError):
    """A plan file or stored plan is unreadable or invalid; the message names file and field."""


# --------------------------------------------------------------------------- the plan form


@dataclass(frozen=True)
class SweepForm:
    """What the operator entered: the panel's plan before it is resolved to motor positions.

    ``near``/``far`` are in ``unit`` ("steps", "d_mm", "Df_mm"); ``exposure_us`` None keeps the
    camera's current exposure.
    """

    unit: str = "steps"
    near: float = 0.0
    far: float = 0.0
    steps: int = 40
    settle_s: float = 0.2
    average: int = 1
    exposure_us: float | None = None
    aif: str = "capture"
    aif_average: int = 4

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": PLAN_FORMAT,
            "version": PLAN_VERSION,
            "range": {"unit": self.unit, "near": self.near, "far": self.far},
            "steps": self.steps,
            "settle_s": self.settle_s,
            "average": self.average,
            "exposure_us": self.exposure_us,
            "aif": self.aif,
            "aif_average": self.aif_average,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str) -> SweepForm:
        """Validate a plan dict; errors read ``<where>: <field>: <what is wrong>``."""

        def bad(fld: str, msg: str) -> PlanFileError:
            return PlanFileError(f"{where}: {fld}: {msg}")

        if not isinstance(data, Mapping):
            raise bad("(top level)", "expected a JSON object")
        if data.get("format") != PLAN_FORMAT:
            raise bad("format", f"expected {PLAN_FORMAT!r}, got {data.get('format')!r}")
        version = data.get("version")
        if version != PLAN_VERSION:
            raise bad("version", f"expected {PLAN_VERSION}, got {version!r}")
        known = {"format", "version", "range", "steps", "settle_s", "average", "exposure_us"}
        known |= {"aif", "aif_average"}
        extra = sorted(set(data) - known)
        if extra:
            raise bad(extra[0], "unknown field")
        rng = data.get("range")
        if not isinstance(rng, Mapping):
            raise bad("range", "expected an object with unit, near, far")
        unit = rng.get("unit")
        if unit not in UNITS:
            raise bad("range.unit", f"must be one of {', '.join(UNITS)}; got {unit!r}")

        def number(value: Any, fld: str, *, low: float | None = None, gt: bool = False) -> float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise bad(fld, f"expected a number, got {value!r}")
            x = float(value)
            if not math.isfinite(x):
                raise bad(fld, f"must be finite, got {value!r}")
            if low is not None and (x <= low if gt else x < low):
                raise bad(fld, f"must be {'>' if gt else '>='} {low:g}, got {value!r}")
            return x

        def integer(value: Any, fld: str, low: int) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise bad(fld, f"expected an integer, got {value!r}")
            if value < low:
                raise bad(fld, f"must be >= {low}, got {value}")
            return int(value)

        for key in ("near", "far"):
            if key not in rng:
                raise bad(f"range.{key}", "missing")
        if "steps" not in data:
            raise bad("steps", "missing")
        exposure = data.get("exposure_us")
        aif = data.get("aif", "capture")
        if aif not in AIF_POLICIES:
            raise bad("aif", f"must be one of {', '.join(AIF_POLICIES)}; got {aif!r}")
        return cls(
            unit=str(unit),
            near=number(rng["near"], "range.near"),
            far=number(rng["far"], "range.far"),
            steps=integer(data["steps"], "steps", 1),
            settle_s=number(data.get("settle_s", 0.2), "settle_s", low=0.0),
            average=integer(data.get("average", 1), "average", 1),
            exposure_us=None
            if exposure is None
            else number(exposure, "exposure_us", low=0.0, gt=True),
            aif=str(aif),
            aif_average=integer(data.get("aif_average", 4), "aif_average", 1),
        )


def load_plan_file(path: str | Path) -> SweepForm:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlanFileError(f"{p}: cannot read ({exc.strerror or exc})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanFileError(f"{p}: not JSON (line {exc.lineno}: {exc.msg})") from None
    return SweepForm.from_dict(data, str(p))


def save_plan_file(form: SweepForm, path: str | Path) -> Path:
    p = Path(path)
    if p.suffix.lower() != ".json":
        p = p.with_name(p.name + ".json")
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(json.dumps(form.to_dict(), indent=2) + "\n", encoding="utf-8")
    tmp.replace(p)
    return p


# --------------------------------------------------------------------------- bench facts


@dataclass(frozen=True)
class BenchFacts:
    """What the plan needs from the bench, read once on the device thread."""

    steps_per_mm: float = 400.0
    soft_limits: tuple[int, int] | None = None
    suggested: tuple[int, int] | None = None
    speed: float | None = None  # steps/s
    accel: float | None = None  # steps/s^2
    exposure_us: float | None = None
    position: int | None = None
    homed: bool = False
    d_mm: float | None = None  # a reading taken at ``position``
    F_mm: float | None = None  # nominal lens (profile), for Df
    e_mm: float | None = None
    time_scale: float = 1.0  # virtual bench: wall seconds per physical second
    trigger: str = "software"

    @property
    def d_home_mm(self) -> float | None:
        """d at motor position 0 from one reading (None without one). Before homing the
        position counter is arbitrary, so this is then only good for differences (the
        estimate); Start homes the motor and reads again before it resolves the range."""
        if self.d_mm is None or self.position is None:
            return None
        return self.d_mm - self.position / self.steps_per_mm

    @property
    def has_lens(self) -> bool:
        return self.F_mm is not None and self.e_mm is not None


def read_bench_facts(bench: Any) -> BenchFacts:
    """Device thread: controller state, one d reading, camera exposure, profile lens."""
    from psfbench.core.acquisition.engine import bench_time_scale

    ctl = bench.focus
    settings = bench.info.settings
    st = ctl.status()
    try:
        d: float | None = float(ctl.read_distance_mm())
    except Exception as exc:  # no sensor, sensor error: d and Df ranges are unavailable
        log.info("sweep panel: no distance reading (%s)", exc)
        d = None
    lens = getattr(settings, "nominal_lens", None)
    f_mm, e_mm = lens() if callable(lens) else (None, None)
    try:
        exposure = float(bench.camera.exposure_us)
    except Exception:
        exposure = None
    suggested = getattr(bench.info, "suggested_sweep_steps", None)
    return BenchFacts(
        steps_per_mm=float(settings.focus.steps_per_mm),
        soft_limits=tuple(int(x) for x in ctl.soft_limits()),  # type: ignore[arg-type]
        suggested=None if suggested is None else (int(suggested[0]), int(suggested[1])),
        speed=_safe_float(ctl.speed),
        accel=_safe_float(ctl.acceleration),
        exposure_us=exposure,
        position=int(ctl.position()),
        homed=bool(st.homed),
        d_mm=d,
        F_mm=f_mm,
        e_mm=e_mm,
        time_scale=float(bench_time_scale(bench)),
        trigger="hardware" if settings.camera.trigger_mode == "hardware" else "software",
    )


def facts_for_plan(bench: Any, unit: str) -> BenchFacts:
    """Device thread, at Start: fresh facts; a d or Df range homes the motor first (the sweep
    would home anyway), so that the position counter maps d to motor positions exactly."""
    facts = read_bench_facts(bench)
    if unit != "steps" and not facts.homed:
        bench.focus.home()
        facts = read_bench_facts(bench)
    return facts


def _safe_float(fn: Callable[[], Any]) -> float | None:
    try:
        v = float(fn())
    except Exception:
        return None
    return v if v > 0 else None


# thin lens (core/optics.py eqs. 1 and 12), on floats: importing psfbench.core.optics pulls in torch
def focus_depth_mm(d_mm: float, e_mm: float, F_mm: float) -> float | None:
    """Df = F v / (v - F) with v = d + e; None where there is no real focus depth."""
    v = d_mm + e_mm
    return None if v <= F_mm else F_mm * v / (v - F_mm)


def d_for_focus_depth(Df_mm: float, e_mm: float, F_mm: float) -> float:
    if Df_mm <= F_mm:
        raise ValueError(f"focus depth {Df_mm:g} mm is not beyond the focal length F = {F_mm} mm")
    return F_mm * Df_mm / (Df_mm - F_mm) - e_mm


def to_position(value: float, unit: str, facts: BenchFacts) -> float:
    """A range end in ``unit`` as a (fractional) motor position."""
    if unit == "steps":
        return value
    d_home = facts.d_home_mm
    if d_home is None:
        raise ValueError("a range in d or Df needs the distance sensor, which gave no reading")
    if unit == "Df_mm":
        if not facts.has_lens:
            raise ValueError(
                "a range in Df needs the profile's [lens] focal_length_mm and nominal_e_mm"
            )
        value = d_for_focus_depth(value, facts.e_mm, facts.F_mm)  # type: ignore[arg-type]
    return (value - d_home) * facts.steps_per_mm


def from_position(pos: float, unit: str, facts: BenchFacts, d_mm: float | None = None) -> float:
    """A motor position (and, if known, its d reading) expressed in ``unit``."""
    if unit == "steps":
        return pos
    if d_mm is None:
        d_home = facts.d_home_mm
        if d_home is None:
            raise ValueError("no distance reading")
        d_mm = d_home + pos / facts.steps_per_mm
    if unit == "d_mm":
        return d_mm
    if not facts.has_lens:
        raise ValueError("no lens F and e in the profile")
    df = focus_depth_mm(d_mm, facts.e_mm, facts.F_mm)  # type: ignore[arg-type]
    if df is None:
        raise ValueError(f"d = {d_mm:.3f} mm has no real focus depth")
    return df


def build_plan(form: SweepForm, facts: BenchFacts, *, check_limits: bool = True) -> Any:
    """The engine's ``FocusSweepPlan`` for the form; PlanError/ValueError with a clear text."""
    from psfbench.core.acquisition.plans.base import PlanError
    from psfbench.core.acquisition.plans.focus_sweep import FocusSweepPlan, sweep_positions

    try:
        lo = to_position(form.near, form.unit, facts)
        hi = to_position(form.far, form.unit, facts)
    except ValueError as exc:
        raise PlanError(f"range: {exc}") from None
    positions = sweep_positions(lo, hi, form.steps)
    if check_limits and facts.soft_limits is not None:
        a, b = facts.soft_limits
        outside = [p for p in positions if not a <= p <= b]
        if outside:
            raise PlanError(
                f"range: {len(outside)} of {len(positions)} positions (e.g. {outside[0]}) lie "
                f"outside the focus controller's soft limits [{a}, {b}] steps"
            )
    spec: dict[str, Any] = {
        "start": form.near,
        "stop": form.far,
        "steps": form.steps,
        "unit": form.unit,
        "steps_per_mm": facts.steps_per_mm,
        "source": "gui",
    }
    if form.unit != "steps":
        spec["d_home_mm"] = facts.d_home_mm
    if form.unit == "Df_mm":
        spec["lens_F_mm"], spec["nominal_e_mm"] = facts.F_mm, facts.e_mm
    return FocusSweepPlan(
        positions=positions,
        settle_s=form.settle_s,
        average=form.average,
        exposure_us=form.exposure_us,
        trigger=facts.trigger,  # type: ignore[arg-type]
        spec=spec,
    )


def move_time_s(distance_steps: float, speed: float | None, accel: float | None) -> float:
    """Trapezoidal (or triangular) move time; 0 when speed is unknown."""
    dist = abs(distance_steps)
    if dist == 0 or not speed:
        return 0.0
    if not accel:
        return dist / speed
    if dist >= speed * speed / accel:
        return dist / speed + speed / accel
    return 2.0 * math.sqrt(dist / accel)


def estimate_duration_s(positions: tuple[int, ...], form: SweepForm, facts: BenchFacts) -> float:
    """Physical seconds: steps x (move + settle + exposure x averaging), an estimate."""
    exposure_s = (form.exposure_us or facts.exposure_us or 0.0) * 1e-6
    total = 0.0
    prev = facts.position if facts.position is not None else positions[0]
    for p in positions:
        total += move_time_s(p - prev, facts.speed, facts.accel)
        total += form.settle_s + exposure_s * form.average
        prev = p
    return total


def format_duration(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    m, s = divmod(s, 60)
    if m < 60:
        return f"{m} min {s:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def next_session_path(folder: str | Path, stem: str = SESSION_STEM) -> Path:
    """``folder/<stem>_NNN`` with NNN one above the highest existing (like pymmcore-widgets'
    get_next_available_path): never an existing folder, never reusing a gap."""
    root = Path(folder).expanduser()
    pat = re.compile(rf"^{re.escape(stem)}_(\d+)$")
    highest = 0
    if root.is_dir():
        for p in root.iterdir():
            m = pat.match(p.name)
            if m:
                highest = max(highest, int(m.group(1)))
    n = highest + 1
    while (root / f"{stem}_{n:03d}").exists():
        n += 1
    return root / f"{stem}_{n:03d}"


def _aif_policy(writer: Any) -> str | None:
    """The session's AIF policy ("capture"/"skip") from its metadata; None if unknown."""
    try:
        mode = writer.meta.plan.parameters.get("aif_mode")
    except AttributeError:
        return None
    return mode if mode in AIF_POLICIES else None


def plan_summary(
    plan: Any,
    *,
    aif: bool,
    resumed: bool = False,
    aif_policy: str | None = None,
    camera_exposure_us: float | None = None,
    to_take: int | None = None,
) -> dict[str, str]:
    """Read-only text of a ``FocusSweepPlan`` (rows "range", "steps", "step", "aif") for the summary
    shown while it runs; works for plans from the form and from a session on disk (the CLI's
    spec has unit "mm", of focus travel from home)."""
    if plan is None:
        return {"range": "reading the session …", "steps": "—", "step": "—", "aif": "—"}
    positions = tuple(getattr(plan, "positions", ()))
    spec = getattr(plan, "spec", None) or {}
    unit, start, stop = spec.get("unit"), spec.get("start"), spec.get("stop")
    n = len(positions)
    motor = f"motor {positions[0]} → {positions[-1]} steps" if positions else ""
    numbers = isinstance(start, int | float) and isinstance(stop, int | float)
    if numbers and unit in (*UNITS, "mm"):
        if unit == "steps":
            rng = f"{start:g} … {stop:g} motor steps"
        elif unit == "d_mm":
            rng = f"d {start:.3f} … {stop:.3f} mm ({motor})"
        elif unit == "Df_mm":
            rng = f"Df {start:.1f} … {stop:.1f} mm ({motor})"
        else:
            rng = f"{start:.3f} … {stop:.3f} mm from home ({motor})"
    else:
        rng = motor or "—"
    count = str(n)
    if to_take is not None and to_take != n:
        count += f" ({to_take} missing, taken now)"
    exposure = getattr(plan, "exposure_us", None)
    if exposure is None:
        exp = "camera setting"
        if camera_exposure_us:
            exp = f"{camera_exposure_us:.0f} µs (camera setting)"
    else:
        exp = f"{exposure:.0f} µs"
    average = int(getattr(plan, "average", 1))
    step = (
        f"settle {float(getattr(plan, 'settle_s', 0.0)):.3g} s · averaging {average} "
        f"frame{'s' if average != 1 else ''} · exposure {exp}"
    )
    if aif:
        aif_text = AIF_LABELS["capture"]
    elif resumed and aif_policy == "capture":
        aif_text = "already taken"
    else:
        aif_text = AIF_LABELS["skip"]
    return {"range": rng, "steps": count, "step": step, "aif": aif_text}


# --------------------------------------------------------------------------- the panel


def _theme_colour(widget: QWidget, colours: tuple[str, str]) -> str:
    """``colours[1]`` on a dark window (dark theme), else ``colours[0]``."""
    dark = widget.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return colours[1] if dark else colours[0]


class _FormScroll(QScrollArea):
    """The plan form: asks for its full height (QScrollArea caps its hint at 24 lines) and
    scrolls by whole form rows when the dock is shorter. Never squeezed below a few rows."""

    def __init__(self) -> None:
        super().__init__()
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.min_rows = 3
        self.row_pitch = 30  # set from the form once it is built

    def setWidget(self, widget: QWidget) -> None:  # noqa: N802 (Qt API)
        super().setWidget(widget)
        widget.installEventFilter(self)

    def eventFilter(self, obj: Any, event: QEvent) -> bool:  # noqa: N802 (Qt API)
        # the form grew or shrank (e.g. the estimate wrapped): ask the panel's layout again
        if obj is self.widget() and event.type() == QEvent.Type.LayoutRequest:
            self.updateGeometry()
        return super().eventFilter(obj, event)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        w = self.widget()
        if w is None:
            return super().sizeHint()
        hint = w.sizeHint()
        height = hint.height()
        if w.hasHeightForWidth() and self.viewport().width() > 50:  # wrapped labels
            height = max(w.heightForWidth(self.viewport().width()), 1)
        return QSize(hint.width() + self.verticalScrollBar().sizeHint().width(), height)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self.updateGeometry()  # the wrapped rows' height depends on the width

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        w = self.widget()
        full = w.sizeHint().height() if w is not None else 0
        return QSize(super().minimumSizeHint().width(), min(full, self.min_rows * self.row_pitch))


class _ElidedLabel(QLabel):
    """One line, elided in the middle to the width it gets (a path has no word breaks, so a
    word-wrapped label would force the dock wider); the full text is the tooltip."""

    def __init__(self) -> None:
        super().__init__()
        self._full = ""
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

    def full_text(self) -> str:
        return self._full

    def set_full_text(self, text: str) -> None:
        self._full = text
        self.setToolTip(text)
        self._elide()

    def minimumSizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(20, super().minimumSizeHint().height())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        text = self.fontMetrics().elidedText(
            self._full, Qt.TextElideMode.ElideMiddle, max(20, self.width())
        )
        if text != self.text():
            self.setText(text)


class _Monitor(QWidget):
    """Frame and plot side by side, or stacked when the space is taller than wide. Its size
    hint is its minimum: the plan form gets its full height first, the monitor the rest."""

    def __init__(self) -> None:
        super().__init__()
        self.box = QBoxLayout(QBoxLayout.Direction.LeftToRight, self)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        return QSize(300, self.minimumHeight())

    def resizeEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().resizeEvent(event)
        tall = self.height() > 1.1 * self.width()
        want = QBoxLayout.Direction.TopToBottom if tall else QBoxLayout.Direction.LeftToRight
        if self.box.direction() != want:
            self.box.setDirection(want)


@dataclass
class _Job:
    """One session being acquired: its writer and what is left to do (sweep, AIF)."""

    path: Path
    writer: Any
    plan: Any  # the FocusSweepPlan
    steps: list[int] | None  # None: all
    resumed: bool
    aif: bool  # the session wants an AIF shot (policy "capture" and none yet)
    stage: str = "sweep"  # "sweep" | "aif" | "done"
    abort_requested: bool = False
    failed: str = ""
    last_status: str = ""  # the last stage's Finished status


class SweepPanel(QWidget):
    """See the module docstring. Public slots: start, pause, resume, abort, resume_session,
    load_plan, save_plan."""

    name = "sweep"
    title = "Focus sweep"

    def __init__(self, model: Any, settings: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName(self.name)
        self.model = model
        self.settings = settings
        self.facts = BenchFacts()
        self._job: _Job | None = None
        self._engine: Any = None
        self._paused = False
        self._pausing = False
        self._resumable: Path | None = None
        self._closed = False
        self._last_seq = -1
        self._d: dict[int, float] = {}
        self._total = 0
        self._message = ""
        self._status_warn = False
        #: the open operator prompt (a QMessageBox), for tests and for closing on abort
        self.prompt_box: QMessageBox | None = None
        self._prompt_id: str | None = None
        #: the last error box shown (non-blocking)
        self.error_box: QMessageBox | None = None
        self._build()
        self._restore_state()
        self._frame_timer = QTimer(self)
        self._frame_timer.setInterval(150)
        self._frame_timer.timeout.connect(self._pull_frame)
        model.stateChanged.connect(self._on_state)
        model.runningChanged.connect(self._on_running)
        model.acquisitionEvent.connect(self._on_event)
        self._on_state(model.state)

    def sizeHint(self) -> QSize:  # noqa: N802 (Qt API)
        """A dock ~420 px wide (the plots would otherwise ask for a full screen width)."""
        return QSize(420, 720)

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        # Top to bottom: the plan form (idle; scrolls by whole rows when the dock is short) or,
        # while a session is acquired, a read-only summary of the plan; the run controls
        # (always visible); the monitor (newest frame, d / Df), which takes the rest. No
        # splitter: a splitter squeezed the locked form to a stub with a row cut in half.
        outer = QVBoxLayout(self)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.setSpacing(4)

        # -- the form (scrolls when the dock is short)
        form_host = QWidget()
        fl = QVBoxLayout(form_host)
        fl.setContentsMargins(0, 0, 0, 0)

        self.plan_group = QGroupBox("Plan")
        pf = QFormLayout(self.plan_group)
        pf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        pf.setContentsMargins(8, 4, 8, 4)  # compact: the form fits a 768 px screen
        pf.setVerticalSpacing(4)
        self.unit_box = ComboBox()
        for u in UNITS:
            self.unit_box.addItem(UNIT_LABELS[u], u)
        self.unit_box.setToolTip(
            "Give the range in motor steps, in sensor distance d, or in focus depth Df "
            "(Df needs the profile's lens F and nominal e)"
        )
        pf.addRow("Range in", self.unit_box)
        self.near_spin = DoubleSpinBox()
        self.far_spin = DoubleSpinBox()
        self.mark_near = action_button("Mark near", tooltip="Use the current focus position")
        self.mark_far = action_button("Mark far", tooltip="Use the current focus position")
        for label, spin, mark in (
            ("Near", self.near_spin, self.mark_near),
            ("Far", self.far_spin, self.mark_far),
        ):
            row = QHBoxLayout()
            row.setSpacing(6)  # explicit: the form's own spacing is not inherited
            row.addWidget(spin, 1)
            row.addWidget(mark)
            pf.addRow(label, row)
        self.steps_spin = SpinBox()
        self.steps_spin.setRange(1, 100_000)
        self.steps_spin.setValue(40)
        pf.addRow("Steps", self.steps_spin)
        self.settle_spin = DoubleSpinBox()
        self.settle_spin.setRange(0.0, 600.0)
        self.settle_spin.setDecimals(3)
        self.settle_spin.setSingleStep(0.05)
        self.settle_spin.setSuffix(" s")
        pf.addRow("Settle time", self.settle_spin)
        self.average_spin = SpinBox()
        self.average_spin.setRange(1, 1000)
        self.average_spin.setToolTip("Frames averaged per step (d is averaged the same way)")
        pf.addRow("Averaging", self.average_spin)
        self.exposure_spin = DoubleSpinBox()
        self.exposure_spin.setRange(0.0, 60_000_000.0)
        self.exposure_spin.setDecimals(0)
        self.exposure_spin.setSingleStep(1000)
        self.exposure_spin.setSuffix(" µs")
        self.exposure_spin.setSpecialValueText("camera setting")
        pf.addRow("Exposure", self.exposure_spin)
        self.aif_box = ComboBox()
        for a in AIF_POLICIES:
            self.aif_box.addItem(AIF_LABELS[a], a)
        self.aif_box.setToolTip(
            "All-in-focus shot after the sweep: you are asked to stop the lens down first"
        )
        pf.addRow("All-in-focus", self.aif_box)
        self.estimate_label = QLabel("—")
        self.estimate_label.setWordWrap(True)
        pf.addRow("Estimate", self.estimate_label)
        io_row = QHBoxLayout()
        io_row.setSpacing(6)
        self.load_button = action_button("Load plan…", tooltip="Read a sweep plan (JSON)")
        self.save_button = action_button("Save plan…", tooltip="Write this plan (JSON)")
        io_row.addWidget(self.load_button)
        io_row.addWidget(self.save_button)
        io_row.addStretch(1)
        pf.addRow(io_row)
        fl.addWidget(self.plan_group)

        self.out_group = QGroupBox("Output")
        of = QFormLayout(self.out_group)
        of.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        of.setContentsMargins(8, 4, 8, 4)  # compact: the form fits a 768 px screen
        of.setVerticalSpacing(4)
        folder_row = QHBoxLayout()
        folder_row.setSpacing(6)
        self.folder_edit = QLineEdit()
        self.folder_edit.setToolTip("Sessions folder: each sweep gets a new numbered folder here")
        self.browse_button = action_button("…", tooltip="Choose the sessions folder")
        folder_row.addWidget(self.folder_edit, 1)
        folder_row.addWidget(self.browse_button)
        of.addRow("Folder", folder_row)
        self.name_edit = QLineEdit()
        self.name_edit.setToolTip("New session folder name (numbered automatically)")
        of.addRow("Session", self.name_edit)
        fl.addWidget(self.out_group)

        run_group = QGroupBox("Run")
        rl = QVBoxLayout(run_group)
        buttons = QHBoxLayout()
        self.start_button = action_button("Start", tooltip="Run the planned sweep")
        self.pause_button = action_button("Pause", tooltip="Pause after the current step")
        self.resume_button = action_button(
            "Resume", tooltip="Continue a paused run, or the missing steps of a stopped session"
        )
        self.abort_button = action_button(
            "Abort", tooltip="Stop after the current step; saved frames stay, Resume continues"
        )
        for b in (self.start_button, self.pause_button, self.resume_button, self.abort_button):
            b.setMinimumWidth(60)
            buttons.addWidget(b)
        rl.addLayout(buttons)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("%v / %m steps")
        rl.addWidget(self.progress)
        self.status_label = QLabel("Not connected")
        self.status_label.setWordWrap(True)
        self.status_label.setMinimumWidth(50)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        rl.addWidget(self.status_label)
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.message_label.setMinimumWidth(50)
        self.message_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.message_label.setVisible(False)
        rl.addWidget(self.message_label)
        fl.addStretch(1)

        self.form_scroll = _FormScroll()
        self.form_scroll.setWidget(form_host)
        pitch = self.near_spin.sizeHint().height() + max(0, pf.verticalSpacing())
        self.form_scroll.row_pitch = pitch
        self.form_scroll.verticalScrollBar().setSingleStep(pitch)
        outer.addWidget(self.form_scroll)

        # -- the plan, read-only, while a session is acquired (the form is locked then)
        self.summary_group = QGroupBox("Plan")
        self.summary_group.setToolTip("The plan being run; the form comes back when it ends")
        sf = QFormLayout(self.summary_group)
        sf.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        sf.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
        sf.setVerticalSpacing(2)
        sf.setLabelAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.summary_labels: dict[str, QLabel] = {}
        rows = (
            ("range", "Range"),
            ("steps", "Steps"),
            ("step", "Each step"),
            ("aif", "All-in-focus"),
        )
        for key, label in rows:
            value = QLabel("—")
            value.setWordWrap(True)
            value.setMinimumWidth(50)
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            sf.addRow(label, value)
            self.summary_labels[key] = value
        self.summary_session = _ElidedLabel()
        sf.addRow("Session", self.summary_session)
        self.summary_group.setVisible(False)
        outer.addWidget(self.summary_group)

        # -- run controls (always visible) above the monitor: newest frame, d / Df per step
        outer.addWidget(run_group)
        self.monitor = _Monitor()
        ml = self.monitor.box
        ml.setContentsMargins(0, 0, 0, 0)
        ml.setSpacing(2)
        self.monitor.setMinimumHeight(100)
        self.monitor.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.frame_widget = pg.GraphicsLayoutWidget()
        self.plot_widget = pg.GraphicsLayoutWidget()
        ml.addWidget(self.frame_widget, 2)
        ml.addWidget(self.plot_widget, 3)
        self.frame_title = self.frame_widget.addLabel("newest frame", row=0, col=0, size="9pt")
        self.frame_view = self.frame_widget.addViewBox(row=1, col=0)
        self.frame_view.setAspectLocked(True)
        self.frame_view.invertY(True)
        self.frame_view.setMenuEnabled(False)
        self.frame_item = pg.ImageItem(axisOrder="row-major")
        self.frame_view.addItem(self.frame_item)
        # one plot, two y axes (d left, Df right): readable even when the dock is short
        self.plot_title = self.plot_widget.addLabel(PLOT_TITLE, row=0, col=0, size="9pt")
        self.d_plot = self.plot_widget.addPlot(row=1, col=0)
        self.d_plot.setMenuEnabled(False)
        self.d_plot.showGrid(x=True, y=True, alpha=0.3)
        self.d_plot.setLabel("left", "d", units="mm")
        self.d_plot.setLabel("bottom", "step")
        self.d_plot.showAxis("right")
        self.d_plot.setLabel("right", "Df", units="mm")
        self.df_view = pg.ViewBox()
        self.df_view.setMenuEnabled(False)
        self.plot_widget.scene().addItem(self.df_view)
        self.d_plot.getAxis("right").linkToView(self.df_view)
        self.df_view.setXLink(self.d_plot)
        # fixed widths (no jitter), wide enough for d "31.25" and Df "1900" beside their titles
        for side, width in (("left", 48), ("right", 56)):
            self.d_plot.getAxis(side).enableAutoSIPrefix(False)
            self.d_plot.getAxis(side).setWidth(width)
        self.d_plot.vb.sigResized.connect(self._sync_df_view)
        self.d_curve = self.d_plot.plot(
            [], [], pen=pg.mkPen(D_COLOUR, width=2), symbol="o", symbolSize=5,
            symbolBrush=D_COLOUR, symbolPen=None,
        )  # fmt: skip
        self.df_curve = pg.PlotDataItem(
            [], [], pen=pg.mkPen(DF_COLOUR, width=2), symbol="s", symbolSize=5,
            symbolBrush=DF_COLOUR, symbolPen=None,
        )  # fmt: skip
        self.df_view.addItem(self.df_curve)
        outer.addWidget(self.monitor, 1)

        # -- wiring
        self.unit_box.currentIndexChanged.connect(self._on_unit_changed)
        for spin in (self.near_spin, self.far_spin, self.settle_spin, self.exposure_spin):
            spin.valueChanged.connect(self._refresh_estimate)
        for ispin in (self.steps_spin, self.average_spin):
            ispin.valueChanged.connect(self._refresh_estimate)
        self.aif_box.currentIndexChanged.connect(self._refresh_estimate)
        self.mark_near.clicked.connect(lambda: self._mark("near"))
        self.mark_far.clicked.connect(lambda: self._mark("far"))
        self.load_button.clicked.connect(self._load_dialog)
        self.save_button.clicked.connect(self._save_dialog)
        self.browse_button.clicked.connect(self._browse_folder)
        self.folder_edit.editingFinished.connect(self._folder_changed)
        self.start_button.clicked.connect(self.start)
        self.pause_button.clicked.connect(self.pause)
        self.resume_button.clicked.connect(self.resume)
        self.abort_button.clicked.connect(self.abort)

    # ------------------------------------------------------------------ form <-> plan

    @property
    def unit(self) -> str:
        return str(self.unit_box.currentData())

    def form(self) -> SweepForm:
        """The plan as entered now."""
        exposure = self.exposure_spin.value()
        return SweepForm(
            unit=self.unit,
            near=self.near_spin.value(),
            far=self.far_spin.value(),
            steps=self.steps_spin.value(),
            settle_s=self.settle_spin.value(),
            average=self.average_spin.value(),
            exposure_us=exposure if exposure > 0 else None,
            aif=str(self.aif_box.currentData()),
            aif_average=self._aif_average,
        )

    def set_form(self, form: SweepForm) -> None:
        self._aif_average = form.aif_average
        self.unit_box.blockSignals(True)
        self.unit_box.setCurrentIndex(UNITS.index(form.unit))
        self.unit_box.blockSignals(False)
        self._configure_range_spins()
        self.near_spin.setValueSilently(form.near)
        self.far_spin.setValueSilently(form.far)
        self.steps_spin.setValueSilently(form.steps)
        self.settle_spin.setValueSilently(form.settle_s)
        self.average_spin.setValueSilently(form.average)
        self.exposure_spin.setValueSilently(form.exposure_us or 0.0)
        self.aif_box.setCurrentIndex(AIF_POLICIES.index(form.aif))
        self._refresh_estimate()

    def _configure_range_spins(self) -> None:
        unit = self.unit
        for spin in (self.near_spin, self.far_spin):
            if unit == "steps":
                spin.setDecimals(0)
                spin.setRange(-1e7, 1e7)
                spin.setSingleStep(10)
                spin.setSuffix(" steps")
            else:
                spin.setDecimals(3)
                spin.setRange(-1e6, 1e6)
                spin.setSingleStep(0.1 if unit == "d_mm" else 10.0)
                spin.setSuffix(" mm")

    def _on_unit_changed(self) -> None:
        """Convert the range to the new unit where the bench allows it, else keep numbers."""
        old = getattr(self, "_unit_shown", "steps")
        new = self.unit
        near, far = self.near_spin.value(), self.far_spin.value()
        converted: list[float] = []
        try:
            for v in (near, far):
                converted.append(from_position(to_position(v, old, self.facts), new, self.facts))
        except ValueError:
            converted = []
        self._configure_range_spins()
        if converted:
            self.near_spin.setValueSilently(converted[0])
            self.far_spin.setValueSilently(converted[1])
        self._unit_shown = new
        self._refresh_estimate()

    def _current_plan(self) -> Any:
        """The plan from the form and the facts read last (estimate, early checks)."""
        exact = self.unit == "steps" or self.facts.homed
        return build_plan(self.form(), self.facts, check_limits=exact)

    def _refresh_estimate(self, *_: Any) -> None:
        from psfbench.core.acquisition.plans.base import PlanError

        self._unit_shown = self.unit
        try:
            plan = self._current_plan()
        except (PlanError, ValueError) as exc:
            colour = _theme_colour(self, ERROR_COLOURS)
            self.estimate_label.setText(f"<span style='color:{colour}'>{_html(str(exc))}</span>")
            self.estimate_label.setToolTip(str(exc))
            return
        form = self.form()
        seconds = estimate_duration_s(plan.positions, form, self.facts)
        pos = plan.positions
        text = f"≈ {format_duration(seconds)} for {len(pos)} steps ({pos[0]} → {pos[-1]} steps)"
        if self.facts.time_scale != 1.0:
            text += (
                f"; virtual bench at {1 / self.facts.time_scale:.0f}× speed: "
                f"≈ {format_duration(seconds * self.facts.time_scale)}"
            )
        if form.aif == "capture":
            text += ", then the all-in-focus shot"
        if self.unit != "steps" and not self.facts.homed:
            text += " (positions approximate: the motor is homed at Start)"
        self.estimate_label.setText(text)
        self.estimate_label.setToolTip(
            "Estimate: moves (speed and acceleration of the focus drive) + settle time + "
            "exposure × averaging per step; camera read-out, homing and disk are not counted"
        )

    # ------------------------------------------------------------------ saved state

    def _state_ok(self, data: Any) -> SweepForm | None:
        try:
            return SweepForm.from_dict(data, "settings panels.sweep.plan")
        except PlanFileError as exc:
            log.warning("%s (default plan used)", exc)
            return None

    def _restore_state(self) -> None:
        self._aif_average = 4
        self._fresh_form = True
        state = self.settings.panels.get(self.name, {})
        form = None
        if isinstance(state, dict) and "plan" in state:
            form = self._state_ok(state["plan"])
        self._unit_shown = form.unit if form else "steps"
        if form is not None:
            self._fresh_form = False
            self.set_form(form)
        else:
            self._configure_range_spins()
            self.settle_spin.setValueSilently(0.2)
            self.average_spin.setValueSilently(1)
        folder = self.settings.sessions_dir or DEFAULT_SESSIONS_DIR
        self.folder_edit.setText(folder)
        self._refresh_name()

    def _save_state(self) -> None:
        try:
            panels = dict(self.settings.panels)
            panels[self.name] = {"plan": self.form().to_dict()}
            self.settings.panels = panels
        except Exception as exc:  # settings must never break the panel
            log.warning("sweep panel: cannot store its state: %s", exc)

    def _folder(self) -> Path:
        return Path(self.folder_edit.text().strip() or DEFAULT_SESSIONS_DIR).expanduser()

    def _refresh_name(self) -> None:
        self.name_edit.setText(next_session_path(self._folder()).name)

    def _folder_changed(self) -> None:
        text = self.folder_edit.text().strip()
        if text:
            try:
                self.settings.sessions_dir = text
            except Exception as exc:
                log.warning("sweep panel: sessions folder not stored: %s", exc)
        self._refresh_name()

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Sessions folder", str(self._folder()))
        if path:
            self.folder_edit.setText(path)
            self._folder_changed()

    # ------------------------------------------------------------------ plans on disk

    def load_plan(self, path: str | Path) -> bool:
        """Fill the form from a plan file; a bad file leaves the form and says why."""
        try:
            form = load_plan_file(path)
        except PlanFileError as exc:
            self._show_error("Cannot load the plan", str(exc))
            return False
        if form.unit == "Df_mm" and not self.facts.has_lens and self.model.connected:
            self._show_error(
                "Plan loaded with a warning",
                f"{path}: range.unit: Df needs the profile's [lens] focal_length_mm and "
                "nominal_e_mm; add them or change the unit",
            )
        self.set_form(form)
        self._save_state()
        self._set_status(f"Plan loaded from {Path(path).name}", tip=str(path))
        return True

    def save_plan(self, path: str | Path) -> Path | None:
        try:
            written = save_plan_file(self.form(), path)
        except OSError as exc:
            self._show_error("Cannot save the plan", f"{path}: {exc.strerror or exc}")
            return None
        self._set_status(f"Plan saved to {written.name}", tip=str(written))
        return written

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load sweep plan", str(self._folder()), "Sweep plans (*.json)"
        )
        if path:
            self.load_plan(path)

    def _save_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self, "Save sweep plan", str(self._folder() / "sweep-plan.json"), "Sweep plans (*.json)"
        )
        if path:
            self.save_plan(path)

    # ------------------------------------------------------------------ bench state

    def _on_state(self, state: str) -> None:
        if state == "connected":
            self._read_facts()
        self._update_controls()
        if not self.busy:
            self._set_status(
                {
                    "connected": "Ready",
                    "connecting": "Connecting…",
                    "disconnecting": "Disconnecting…",
                }.get(state, "Not connected")
            )

    def _read_facts(self, then: Callable[[BenchFacts], None] | None = None) -> None:
        def done(facts: BenchFacts) -> None:
            self._set_facts(facts)
            if then is not None:
                then(facts)

        def failed(exc: BaseException) -> None:
            self._show_error("Focus controller", f"cannot read the focus position: {exc}")

        try:
            self.model.call(read_bench_facts, self.model.bench, on_done=done, on_error=failed)
        except RuntimeError as exc:
            log.warning("sweep panel: %s", exc)

    def _set_facts(self, facts: BenchFacts) -> None:
        if self._closed:
            return
        first = self.facts.soft_limits is None
        self.facts = facts
        lens_ok = facts.has_lens
        item = self.unit_box.model().item(UNITS.index("Df_mm"))  # type: ignore[attr-defined]
        if item is not None:
            item.setEnabled(lens_ok)
            item.setToolTip(
                "" if lens_ok else "needs the profile's [lens] focal_length_mm and nominal_e_mm"
            )
        if first and self._fresh_form and self.unit == "steps":
            rng = facts.suggested or facts.soft_limits
            if rng is not None:
                self.near_spin.setValueSilently(float(rng[0]))
                self.far_spin.setValueSilently(float(rng[1]))
        self._update_df_note()
        self._refresh_estimate()

    def _mark(self, which: str) -> None:
        """Near/far from the current focus position (read on the device thread)."""

        def got(facts: BenchFacts) -> None:
            if facts.position is None:
                return
            if not facts.homed and self.unit == "steps":
                self._set_status(
                    "Marked a position of an unhomed motor: the sweep homes first, which "
                    "resets the step count; home the focus motor, then mark again",
                    warn=True,
                )
            try:
                value = from_position(facts.position, self.unit, facts, facts.d_mm)
            except ValueError as exc:
                self._show_error("Mark", f"cannot express the position in {self.unit}: {exc}")
                return
            spin = self.near_spin if which == "near" else self.far_spin
            spin.setValueSilently(value)
            self._refresh_estimate()
            self._save_state()

        if not self.model.connected or self.busy:
            return
        self._read_facts(then=got)

    # ------------------------------------------------------------------ controls

    @property
    def busy(self) -> bool:
        """A session is being acquired (a run is going, or between the sweep and the AIF)."""
        return self._job is not None

    def _update_controls(self) -> None:
        connected = bool(self.model.connected)
        busy = self.busy
        running = busy and bool(self.model.running)
        other_run = bool(self.model.running) and not busy
        editable = connected and not busy and not other_run
        self.plan_group.setEnabled(not busy)
        self.out_group.setEnabled(not busy)
        self._show_summary(busy)
        self.mark_near.setEnabled(editable)
        self.mark_far.setEnabled(editable)
        self.start_button.setEnabled(editable and not other_run)
        self.pause_button.setEnabled(running and not self._paused and not self._pausing)
        can_resume_session = self._resumable is not None and connected and not busy
        self.resume_button.setEnabled(
            (running and (self._paused or self._pausing)) or (can_resume_session and not other_run)
        )
        self.abort_button.setEnabled(busy)

    def _show_summary(self, busy: bool) -> None:
        """While a session is acquired the locked form gives way to a read-only summary of
        the plan, and its room to the monitor; the form comes back when the job ends."""
        if busy:
            self._refresh_summary()
        if self.summary_group.isHidden() == busy:
            self.form_scroll.setVisible(not busy)
            self.summary_group.setVisible(busy)

    def _refresh_summary(self) -> None:
        job = self._job
        if job is None:
            return
        texts = plan_summary(
            job.plan,
            aif=job.aif,
            resumed=job.resumed,
            aif_policy=_aif_policy(job.writer),
            camera_exposure_us=self.facts.exposure_us,
            to_take=None if job.steps is None else len(job.steps),
        )
        for key, label in self.summary_labels.items():
            if label.text() != texts[key]:
                label.setText(texts[key])
        if self.summary_session.full_text() != str(job.path):
            self.summary_session.set_full_text(str(job.path))

    @property
    def summary(self) -> str:
        """The plan summary shown while a session is acquired (plain text, one line a row)."""
        rows = [f"{k}: {v.text()}" for k, v in self.summary_labels.items()]
        return "\n".join([*rows, f"session: {self.summary_session.full_text()}"])

    def _on_running(self, running: bool) -> None:
        if not running and self._job is not None and self.model.engine is self._engine:
            # next tick: starting the AIF run inside this signal would emit runningChanged(True)
            # to the slots that have not yet seen this False
            QTimer.singleShot(0, self._next_stage)
        self._update_controls()

    # ------------------------------------------------------------------ public slots

    def start(self) -> bool:
        """Start the planned sweep into a new session folder. False (and a message) if not."""
        from psfbench.core.acquisition.plans.base import PlanError

        if self.busy or not self.model.connected or self.model.running:
            return False
        self._clear_message()
        try:
            plan = self._current_plan()
        except (PlanError, ValueError) as exc:
            self._show_error("Cannot start the sweep", str(exc))
            return False
        name = self.name_edit.text().strip()
        if not name or Path(name).name != name:
            self._show_error("Cannot start the sweep", f"session name {name!r}: not a folder name")
            return False
        out = self._folder() / name
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            self._show_error(
                "Cannot start the sweep",
                f"{out}: already exists and is not empty; choose another name, or Resume it",
            )
            return False
        form = self.form()
        self._save_state()
        placeholder = _Job(out, None, plan, None, False, form.aif == "capture")
        self._job = placeholder
        self._update_controls()
        self._set_status(f"Creating {out.name} …", tip=str(out))

        def create(bench: Any) -> Any:
            from psfbench.core.acquisition.sessions import create_sweep_session

            facts = facts_for_plan(bench, form.unit)
            exact = build_plan(form, facts)
            out.parent.mkdir(parents=True, exist_ok=True)
            writer = create_sweep_session(
                out,
                bench,
                exact,
                aif="capture" if form.aif == "capture" else "skip",
                aif_average=form.aif_average,
            )
            return facts, exact, writer

        def created(result: Any) -> None:
            facts, exact, writer = result
            self._set_facts(facts)
            placeholder.writer, placeholder.plan = writer, exact
            self._reset_monitor(len(exact.positions))
            self._run_stage()

        def failed(exc: BaseException) -> None:
            self._job = None
            self._update_controls()
            self._show_error("Cannot create the session", f"{out}: {exc}")

        try:
            self.model.call(create, self.model.bench, on_done=created, on_error=failed)
        except RuntimeError as exc:
            failed(exc)
            return False
        return True

    def pause(self) -> bool:
        if not self.busy or not self.model.pause_run():
            return False
        self._pausing = True
        self._set_status("Pausing after the current step …")
        self._update_controls()
        return True

    def resume(self) -> bool:
        """Continue a paused run, or else the last stopped session's missing work."""
        if self.busy and (self._paused or self._pausing):
            if self.model.resume_run():
                self._pausing = False
                self._paused = False
                self._set_status("Running")
                self._update_controls()
                return True
            return False
        if self._resumable is not None and not self.busy:
            return self.resume_session(self._resumable)
        return False

    def abort(self) -> bool:
        """Stop after the current step (frames already taken are saved; Resume continues)."""
        job = self._job
        if job is None:
            return False
        job.abort_requested = True
        self._close_prompt()
        if self.model.running and self.model.engine is self._engine:
            self.model.abort_run()
        self._set_status("Stopping after the current step …")
        return True

    def resume_session(self, path: str | Path) -> bool:
        """Continue a session folder: its missing steps only, then the AIF if it wants one."""
        p = Path(path)
        if self.busy or self.model.running:
            self._show_error("Cannot resume", f"{p}: another run is going")
            return False
        if not self.model.connected:
            self._resumable = p
            self._show_error("Cannot resume", f"{p}: connect the bench first, then Resume")
            self._update_controls()
            return False
        self._clear_message()
        placeholder = _Job(p, None, None, None, True, False)
        self._job = placeholder
        self._update_controls()
        self._set_status(f"Opening {p.name} …", tip=str(p))
        profile_name = getattr(self.model.bench.info.settings, "name", None)

        def prepare(bench: Any) -> Any:
            from psfbench.core.acquisition.sessions import complete_ground_truth, pending_work
            from psfbench.core.dataset import SessionWriter
            from psfbench.core.dataset.sweep_log import read_log

            writer = SessionWriter.open_existing(p)
            try:
                work = pending_work(writer)
                stored = (work.profile or {}).get("name")
                if stored is not None and profile_name is not None and stored != profile_name:
                    raise ValueError(
                        f"session.json: plan.parameters.device_profile.name: taken with profile "
                        f"{stored!r}, the bench connected is {profile_name!r}; connect "
                        f"{stored!r} to resume"
                    )
                complete_ground_truth(writer, bench)
                records, _ = read_log(p / "sweep.jsonl").latest_by_index()
                done = {i: r.d_mm for i, r in records.items() if r.d_mm is not None}
            except BaseException:
                writer.close()
                raise
            return writer, work, done

        def ready(result: Any) -> None:
            writer, work, done = result
            placeholder.writer = writer
            placeholder.plan = work.plan
            placeholder.aif = work.aif_needed
            if work.complete:
                writer.close()
                self._job = None
                self._resumable = None
                self._update_controls()
                self._set_status(
                    f"{p.name}: nothing to resume, all {work.plan.total_steps()} steps are saved",
                    tip=str(p),
                )
                return
            self._resumable = None
            self._reset_monitor(work.plan.total_steps(), done)
            if work.missing_steps:
                placeholder.steps = list(work.missing_steps)
                self._set_status(
                    f"Resuming {p.name}: {len(work.missing_steps)} of "
                    f"{work.plan.total_steps()} steps missing"
                )
            else:
                placeholder.stage = "aif"
            self._run_stage()

        def failed(exc: BaseException) -> None:
            self._job = None
            self._update_controls()
            self._show_error("Cannot resume", f"{p}: {exc}")

        try:
            self.model.call(prepare, self.model.bench, on_done=ready, on_error=failed)
        except RuntimeError as exc:
            failed(exc)
            return False
        return True

    # ------------------------------------------------------------------ running

    def _run_stage(self) -> None:
        """Start the job's current stage (sweep or AIF) on the model's engine."""
        job = self._job
        if job is None or self._closed:
            return
        self._paused = self._pausing = False
        if job.abort_requested:  # aborted while the session was being created / opened
            self._end_job(None)
            return
        try:
            if job.stage == "sweep":
                from psfbench.core.acquisition.session_io import SessionSink

                self._engine = self.model.start_run(
                    job.plan,
                    SessionSink(job.writer),
                    steps=job.steps,
                    resumed=job.resumed,
                    session=str(job.path),
                )
            else:
                from psfbench.core.acquisition.plans.aif_capture import AifSink
                from psfbench.core.acquisition.sessions import aif_plan_for

                self._set_status("All-in-focus shot: waiting for the lens to be stopped down …")
                self._engine = self.model.start_run(
                    aif_plan_for(job.writer), AifSink(job.writer), session=str(job.path)
                )
        except Exception as exc:
            self._end_job(f"cannot start the run: {exc}")
            return
        self._last_seq = -1
        self._frame_timer.start()
        self._update_controls()

    def _next_stage(self) -> None:
        """The engine finished (runningChanged False): go on to the AIF, or end the job."""
        job = self._job
        if job is None or self.model.running:
            return
        self._frame_timer.stop()
        self._show_last_frame()
        if job.failed or job.abort_requested or job.last_status != "completed":
            # failed, aborted here, by E-stop or a disconnect, or the AIF prompt cancelled
            self._end_job(job.failed or None)
            return
        if job.stage == "sweep" and job.aif:
            job.stage = "aif"
            self._run_stage()
            return
        job.stage = "done"
        self._end_job(None)

    def _end_job(self, error: str | None) -> None:
        job, self._job = self._job, None
        self._engine = None
        self._paused = self._pausing = False
        self._close_prompt()
        if job is None:
            return
        complete = job.stage == "done" and error is None
        if complete and job.aif:
            self.progress.setFormat("all-in-focus shot saved")
        else:
            if job.stage != "sweep":  # back from the AIF's 0/1 to the sweep's steps
                self.progress.setRange(0, max(1, self._total))
                self.progress.setValue(self._total)
            self.progress.setFormat("%v / %m steps")
        if job.writer is not None:
            try:
                job.writer.close()
            except Exception as exc:
                log.warning("closing %s: %s", job.path, exc)
        if complete:
            self._resumable = None
            extra = " with the all-in-focus image" if job.aif else ""
            self._set_status(f"Session complete{extra}: {job.path.name}", tip=str(job.path))
        else:
            self._resumable = job.path
            if error is None and job.stage == "aif":
                self._set_status(
                    f"All-in-focus shot not taken; every sweep step is saved in {job.path.name}. "
                    "Resume takes the all-in-focus shot.",
                    warn=True,
                )
            else:
                what = "stopped" if error is None else "failed"
                self._set_status(
                    f"Sweep {what}; the session is consistent. Resume continues {job.path.name}.",
                    warn=True,
                )
            if error is not None:
                self._show_error(
                    "Sweep failed",
                    f"{error}\n\nThe frames taken are saved in {job.path}; after fixing the "
                    "cause, press Resume to take the missing steps.",
                )
        self._refresh_name()
        self._update_controls()
        if self.model.connected and not self._closed:
            self._read_facts()  # the motor moved: the estimate's first move starts here now

    # ------------------------------------------------------------------ events

    def _on_event(self, event: Any) -> None:
        if self._job is None or self._engine is None or self.model.engine is not self._engine:
            return
        kind = getattr(event, "kind", "")
        job = self._job
        if kind == "started":
            if job.stage == "sweep":
                self.progress.setRange(0, max(1, event.total_steps))
                self.progress.setValue(event.total_steps - event.steps_to_run)
                self.progress.setFormat("%v / %m steps")
                if not job.abort_requested:
                    self._set_status(f"Running: {job.path.name}")
            else:
                self.progress.setRange(0, 1)
                self.progress.setValue(0)
                self.progress.setFormat("all-in-focus shot")
        elif kind == "step":
            if job.stage == "sweep" and event.d_mm is not None:
                self._d[int(event.index)] = float(event.d_mm)
                self._redraw_plot()
        elif kind == "progress":
            self.progress.setRange(0, max(1, event.total))
            self.progress.setValue(event.done)
            if job.stage == "sweep":
                eta = "" if event.eta_s is None else f", ETA {format_duration(event.eta_s)}"
                self.progress.setFormat(f"%v / %m steps{eta}")
            else:
                self.progress.setFormat("all-in-focus shot saved")
        elif kind == "paused":
            self._paused, self._pausing = True, False
            self._set_status(f"Paused before step {event.next_index}; Resume continues")
        elif kind == "resumed":
            self._paused = self._pausing = False
            self._set_status(f"Running: {job.path.name}")
        elif kind == "prompt":
            self._show_prompt(event.prompt_id, event.message)
        elif kind == "warning":
            self._set_status(f"Warning: {event.message}", warn=True)
            log.warning("sweep: %s", event.message)
        elif kind == "error":
            job.failed = event.message
        elif kind == "finished":
            self._close_prompt()
            job.last_status = event.status
            if event.status == "failed" and not job.failed:
                job.failed = event.message or "the run failed"
        self._update_controls()

    # ------------------------------------------------------------------ prompts

    def _show_prompt(self, prompt_id: str, message: str) -> None:
        """A window-modal OK/Cancel box; the answer goes back to the engine."""
        self._close_prompt()
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Focus sweep",
            message,
            QMessageBox.StandardButton.Ok | QMessageBox.StandardButton.Cancel,
            self,
        )
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.setDefaultButton(QMessageBox.StandardButton.Ok)
        self.prompt_box = box
        self._prompt_id = prompt_id

        def answered(result: int) -> None:
            if self._prompt_id != prompt_id:
                return
            self._prompt_id = None
            self.prompt_box = None
            accepted = result == QMessageBox.StandardButton.Ok
            self.model.answer_prompt(prompt_id, accepted)
            box.deleteLater()

        box.finished.connect(answered)
        box.open()

    def _close_prompt(self) -> None:
        box, self.prompt_box = self.prompt_box, None
        self._prompt_id = None
        if box is not None:
            box.close()
            box.deleteLater()

    # ------------------------------------------------------------------ monitor

    def _reset_monitor(self, total: int, done: Mapping[int, float] | None = None) -> None:
        self._total = total
        self._d = dict(done or {})
        self.progress.setRange(0, max(1, total))
        self.progress.setValue(len(self._d))
        self.progress.setFormat("%v / %m steps")
        self.d_plot.setXRange(-0.5, max(total - 0.5, 0.5), padding=0.02)
        self._redraw_plot()

    def _sync_df_view(self) -> None:
        self.df_view.setGeometry(self.d_plot.vb.sceneBoundingRect())
        self.df_view.linkedViewChanged(self.d_plot.vb, self.df_view.XAxis)

    def _update_df_note(self) -> None:
        if self.facts.has_lens:
            self.plot_title.setText(PLOT_TITLE, size="9pt")
            self.d_plot.setLabel("right", "Df", units="mm")
        else:
            self.plot_title.setText(
                f"{PLOT_TITLE_D}; Df needs the profile's lens F and nominal e", size="9pt"
            )
            self.d_plot.setLabel("right", "Df unknown")

    def _redraw_plot(self) -> None:
        idx = sorted(self._d)
        x = np.asarray(idx, dtype=float)
        d = np.asarray([self._d[i] for i in idx], dtype=float)
        self.d_curve.setData(x, d)
        f, e = self.facts.F_mm, self.facts.e_mm
        if f is not None and e is not None and len(idx):
            df = [focus_depth_mm(v, e, f) for v in d]
            keep = [i for i, v in enumerate(df) if v is not None]
            self.df_curve.setData(x[keep], np.asarray([df[i] for i in keep], dtype=float))
        else:
            self.df_curve.setData([], [])

    def _show_last_frame(self) -> None:
        """The stage's last frame (the model serves run frames only while the run goes)."""
        latest = getattr(self._engine, "latest_frame", None)
        if latest is not None:
            self._show_frame(np.asarray(latest[1]), latest[0])

    def _pull_frame(self) -> None:
        if self._closed:
            return
        try:
            frame = self.model.latest_frame()
        except Exception as exc:
            log.debug("sweep panel: no frame (%s)", exc)
            return
        if frame is None or frame.source != "run" or frame.seq == self._last_seq:
            return
        self._last_seq = frame.seq
        self._show_frame(np.asarray(frame.image), frame.metadata.get("step"))

    def _show_frame(self, image: np.ndarray, step: Any) -> None:
        img = image
        k = max(1, max(img.shape[:2]) // 400)
        if k > 1:
            img = img[::k, ::k]
        self.frame_item.setImage(img, autoLevels=False, levels=_levels(img))
        shape = "×".join(str(n) for n in image.shape[1::-1])
        what = f"step {step}" if self._job is None or self._job.stage == "sweep" else "all-in-focus"
        self.frame_title.setText(f"{what}, {shape} px", size="9pt")

    # ------------------------------------------------------------------ messages

    def _set_status(self, text: str, *, warn: bool = False, tip: str = "") -> None:
        self.status_label.setText(text)
        self.status_label.setToolTip(tip or text)
        self._status_warn = warn
        self._style_messages()

    def _clear_message(self) -> None:
        self._message = ""
        self.message_label.clear()
        self.message_label.setVisible(False)

    def _show_error(self, title: str, message: str) -> None:
        """Inline (stays visible) plus a non-blocking message box."""
        log.error("%s: %s", title, message)
        self._message = f"{title}: {message}"
        self.message_label.setText(f"<b>{_html(title)}</b>: {_html(message)}")
        self._style_messages()
        self.message_label.setVisible(True)
        if self._closed:
            return
        if self.error_box is not None:
            self.error_box.close()
            self.error_box.deleteLater()
        box = QMessageBox(
            QMessageBox.Icon.Warning, title, message, QMessageBox.StandardButton.Ok, self
        )
        box.setWindowModality(Qt.WindowModality.NonModal)
        self.error_box = box
        box.show()

    def _style_messages(self) -> None:
        warn = self._status_warn
        self.status_label.setStyleSheet(
            f"color: {_theme_colour(self, WARN_COLOURS)};" if warn else ""
        )
        self.message_label.setStyleSheet(f"color: {_theme_colour(self, ERROR_COLOURS)};")

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        """Theme switch: the message colours follow the new window colour."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and hasattr(self, "_frame_timer"):
            self._style_messages()
            if not self.busy:
                self._refresh_estimate()

    @property
    def message(self) -> str:
        """The inline error message shown now (plain text), '' if none."""
        return self._message if self.message_label.isVisible() else ""

    # ------------------------------------------------------------------ shutdown

    def shutdown(self) -> None:
        """Stop the timer, close dialogs; abort a run (the model waits for it at close)."""
        if self._closed:
            return
        self._closed = True
        self._frame_timer.stop()
        self._close_prompt()
        if self.error_box is not None:
            self.error_box.close()
            self.error_box = None
        job = self._job
        if job is not None:
            job.abort_requested = True
            if self.model.running and self.model.engine is self._engine:
                self.model.abort_run()
            elif job.writer is not None:
                job.writer.close()
                self._job = None
        self._save_state()


def _levels(img: np.ndarray) -> tuple[float, float]:
    """Display levels from the 0.5/99.5 percentiles of a subsample (hot pixels ignored)."""
    sample = img[::4, ::4] if img.size > 40_000 else img
    lo, hi = np.percentile(sample, (0.5, 99.5))
    if hi <= lo:
        hi = lo + 1
    return float(lo), float(hi)


def _html(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\n", "<br>")
    )


__all__ = [
    "BenchFacts",
    "PlanFileError",
    "SweepForm",
    "SweepPanel",
    "build_plan",
    "estimate_duration_s",
    "load_plan_file",
    "next_session_path",
    "save_plan_file",
]
