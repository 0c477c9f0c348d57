"""Projector panel: where the projector window goes, its settle delay, test patterns, preview.

A thin view over the bench's projector (``model.bench.projector``):

* **Screen** by name (with physical size and scale factor), remembered in the GUI settings
  (``panels["projector"]["screen"]``); the profile's ``[projector] screen`` index is the
  default until one is picked. Picking a screen moves an open window there. With one screen
  or a screen that is gone, the window is an ordinary movable window and the panel says so
  (gui-anchors C15).
* **Open / Close window** for the Qt projector (``[projector] driver = "screen"``); a scan
  reopens a closed window by itself.
* **Settle delay** (ms): how long ``show`` waits after the paint before the camera is
  triggered (remembered; applies at once, also mid-scan).
* **Test patterns**: white, black, checkerboard, a 1-px grid (any scaling or smoothing shows
  as blurred or missing lines), a fringe; Blank. On the virtual bench they light the virtual
  scene (through the device thread); on the Qt projector they are painted at once.
* **Preview** of the current pattern
  (:class:`psfbench.app.widgets.projector_preview.ProjectorPreview`).

Controls are disabled, with the reason shown, when there is no projector or a run owns it.
"""

from __future__ import annotations

import contextlib
import logging
from functools import partial
from typing import Any

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QGuiApplication, QPalette, QScreen
from PySide6.QtWidgets import (
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.bench_model import BenchModel
from psfbench.app.projector import (
    MAX_SETTLE_MS,
    QtProjector,
    install,
    list_screens,
    projector_options,
    save_projector_options,
)
from psfbench.app.projector.screens import display_name
from psfbench.app.settings import GuiSettings
from psfbench.app.widgets.inputs import ComboBox, SpinBox, action_button
from psfbench.app.widgets.projector_preview import ProjectorPreview

log = logging.getLogger(__name__)

WARN_COLOURS = ("#8a5a00", "#f0b450")
ERROR_COLOURS = ("#c0392b", "#ff8a80")

#: (key, button text, tooltip)
TEST_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("white", "White", "Full white: the brightest the camera will see"),
    ("black", "Black", "Full black (the window's own black, not blank)"),
    ("checkerboard", "Checkerboard", "32-px squares: focus and geometry"),
    ("grid", "1-px grid", "1-pixel lines every 16 px: any scaling or smoothing blurs them"),
    ("fringe", "Fringe", "A sinusoidal fringe, 32-px period along x"),
)


def test_pattern(kind: str, width: int, height: int) -> np.ndarray:
    """A test pattern of the projector's size, uint8 (H, W)."""
    if kind == "white":
        return np.full((height, width), 255, np.uint8)
    if kind == "black":
        return np.zeros((height, width), np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    if kind == "checkerboard":
        return np.where(((x // 32) + (y // 32)) % 2 == 0, 255, 0).astype(np.uint8)
    if kind == "grid":
        return np.where((x % 16 == 0) | (y % 16 == 0), 255, 0).astype(np.uint8)
    if kind == "fringe":
        from psfbench.core.fringe.patterns import fringe_patterns, to_uint8

        return to_uint8(fringe_patterns(width, height, counts=[width / 32.0], steps=4)[0])
    raise ValueError(f"unknown test pattern {kind!r}")


def _theme_colour(widget: QWidget, colours: tuple[str, str]) -> str:
    dark = widget.palette().color(QPalette.ColorRole.Window).lightness() < 128
    return colours[1] if dark else colours[0]


class ProjectorPanel(QWidget):
    """See the module docstring."""

    name = "projector"
    title = "Projector"

    def __init__(
        self, model: BenchModel, settings: GuiSettings, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.model = model
        self.settings = settings
        self._listened: Any = None
        self._busy = False  # a test pattern is on its way through the device thread
        self._closed = False
        install(model, settings)  # the Qt projector made at connect uses these settings
        opts = projector_options(settings)

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.fallback_label = QLabel()
        self.fallback_label.setWordWrap(True)
        self.fallback_label.hide()
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.message_label = QLabel()
        self.message_label.setWordWrap(True)
        self.message_label.hide()

        # -- screen
        screen_group = QGroupBox("Projector screen")
        self.screen_combo = ComboBox()
        self.screen_combo.setSizeAdjustPolicy(
            ComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.screen_combo.setMinimumContentsLength(16)
        self.screen_combo.setToolTip(
            "The screen the projector is connected to, by name (remembered). Full screen "
            "needs a second screen; with one screen the projector is a movable window."
        )
        self.screen_combo.activated.connect(self._on_screen_picked)
        self.open_button = action_button("Open window", tooltip="Show the projector window")
        self.close_button = action_button(
            "Close window", tooltip="Take the projector window off the screen"
        )
        self.open_button.clicked.connect(self.open_window)
        self.close_button.clicked.connect(self.close_window)
        self.settle_spin = SpinBox()
        self.settle_spin.setRange(0, MAX_SETTLE_MS)
        self.settle_spin.setSingleStep(10)
        self.settle_spin.setSuffix(" ms")
        self.settle_spin.setValueSilently(int(opts["settle_ms"]))
        self.settle_spin.setToolTip(
            "Wait after a pattern is painted before the camera is triggered (the "
            "projector's own delay and frame rate). Remembered; applies at once."
        )
        self.settle_spin.valueCommitted.connect(self._on_settle)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Screen", self.screen_combo)
        form.addRow("Settle after paint", self.settle_spin)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.close_button)
        buttons.addStretch(1)
        sl = QVBoxLayout(screen_group)
        sl.addLayout(form)
        sl.addLayout(buttons)
        sl.addWidget(self.fallback_label)

        # -- test patterns
        test_group = QGroupBox("Test patterns")
        grid = QGridLayout(test_group)
        self.pattern_buttons: dict[str, QPushButton] = {}
        for i, (key, text, tip) in enumerate(TEST_PATTERNS):
            b = action_button(text, tooltip=tip)
            b.clicked.connect(partial(self.show_test_pattern, key))
            self.pattern_buttons[key] = b
            grid.addWidget(b, i // 3, i % 3)
        self.blank_button = action_button("Blank", tooltip="Black everywhere (projector idle)")
        self.blank_button.clicked.connect(self.blank)
        grid.addWidget(self.blank_button, 1, 2)

        # -- preview
        preview_group = QGroupBox("Preview (what the projector shows)")
        self.preview = ProjectorPreview(self._projector)
        pl = QVBoxLayout(preview_group)
        pl.addWidget(self.preview)
        preview_group.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

        lay = QVBoxLayout(self)
        lay.addWidget(self.status_label)
        lay.addWidget(self.reason_label)
        lay.addWidget(screen_group)
        lay.addWidget(test_group)
        lay.addWidget(self.message_label)
        lay.addWidget(preview_group, 1)

        model.stateChanged.connect(self._refresh)
        model.runningChanged.connect(self._refresh)
        model.devicesChanged.connect(self._refresh)
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            app.screenAdded.connect(self._on_screens_changed)
            app.screenRemoved.connect(self._on_screens_changed)
        self._reload_screens()
        self._refresh()

    # ------------------------------------------------------------------ state

    def _projector(self) -> Any:
        bench = self.model.bench
        return None if bench is None else getattr(bench, "projector", None)

    def _qt_projector(self) -> QtProjector | None:
        p = self._projector()
        return p if isinstance(p, QtProjector) and not p.closed else None

    def _profile_driver(self) -> str:
        try:
            return str(self.model.bench.info.settings.projector.driver)
        except AttributeError:
            return ""

    def _reload_screens(self) -> None:
        """Fill the screen list (names, physical size, scale); keep a remembered screen that
        is not connected as an entry that says so."""
        want = self._wanted_screen()
        self.screen_combo.blockSignals(True)
        self.screen_combo.clear()
        infos = list_screens()
        for info in infos:
            self.screen_combo.addItem(info.label(), info.name)
            self.screen_combo.setItemData(
                self.screen_combo.count() - 1, info.label(), Qt.ItemDataRole.ToolTipRole
            )
        if want and want not in [i.name for i in infos]:
            self.screen_combo.addItem(f"{want} — not connected", want)
        idx = self.screen_combo.findData(want) if want else -1
        self.screen_combo.setCurrentIndex(max(idx, 0))
        self.screen_combo.blockSignals(False)

    def _wanted_screen(self) -> str:
        """The screen asked for: remembered by name, else the profile's index."""
        name = projector_options(self.settings)["screen"]
        if name:
            return str(name)
        qp = self._qt_projector()
        if qp is not None:
            return qp.screen_name
        try:
            index = int(self.model.bench.info.settings.projector.screen)
        except (AttributeError, TypeError, ValueError):
            return ""
        screens = QGuiApplication.screens()
        return screens[index].name() if 0 <= index < len(screens) else ""

    def _on_screens_changed(self, _screen: QScreen | None = None) -> None:
        if self._closed:
            return
        self._reload_screens()
        self._refresh()

    def _refresh(self, *_: Any) -> None:
        if self._closed:
            return
        proj = self._projector()
        qp = self._qt_projector()
        if qp is not self._listened:
            if self._listened is not None:
                self._listened.remove_listener(self._refresh)
            self._listened = qp
            if qp is not None:
                qp.add_listener(self._refresh)
        running = self.model.running
        connected = self.model.connected
        reason = ""
        if not connected:
            status = "Not connected."
            reason = "Connect a bench to use its projector."
        elif proj is None:
            if self._profile_driver() == "screen":
                status = "The projector window could not be opened (see the log)."
            else:
                status = 'No projector in this profile ([projector] driver = "none").'
            reason = 'A profile with [projector] driver = "screen" or "virtual" has one.'
        elif qp is not None:
            where = "full screen" if qp.fullscreen else "movable window"
            state = "" if qp.is_open else " Window closed: Open window or a scan reopens it."
            status = (
                f"Projector window on {display_name(qp.screen)}: {qp.width}×{qp.height} px, "
                f"{where}.{state}"
            )
        else:
            status = (
                f"Virtual projector, {proj.width}×{proj.height} px: patterns light the "
                "virtual scene. The screen settings apply to a profile with "
                '[projector] driver = "screen".'
            )
        if connected and proj is not None and running:
            reason = "A run is using the projector."
        self.status_label.setText(status)
        self.reason_label.setText(reason)
        self.reason_label.setVisible(bool(reason))
        self.reason_label.setStyleSheet(f"color: {_theme_colour(self, WARN_COLOURS)};")
        usable = connected and proj is not None and not running
        for b in self.pattern_buttons.values():
            b.setEnabled(usable and not self._busy)
        self.blank_button.setEnabled(usable and not self._busy)
        self.open_button.setEnabled(usable and qp is not None and not qp.is_open)
        self.close_button.setEnabled(usable and qp is not None and qp.is_open)
        self.screen_combo.setEnabled(not running)
        why_window = (
            ""
            if qp is not None
            else 'Only for a projector window (profile [projector] driver = "screen").'
        )
        self.open_button.setToolTip(why_window or "Show the projector window")
        self.close_button.setToolTip(why_window or "Take the projector window off the screen")
        self._show_fallback(qp)

    def _show_fallback(self, qp: QtProjector | None) -> None:
        lines = []
        if qp is not None and not qp.fullscreen:
            lines.append(qp.fallback_reason)
        elif qp is not None:
            main = self.window().screen() if self.window() is not self else None
            if main is not None and main.name() == qp.screen_name and self.window().isVisible():
                lines.append(
                    f"The projector covers {qp.screen_name}, the screen this window is on."
                )
        self.fallback_label.setText("\n".join(lines))
        self.fallback_label.setVisible(bool(lines))
        self.fallback_label.setStyleSheet(f"color: {_theme_colour(self, WARN_COLOURS)};")

    def _message(self, text: str, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setVisible(bool(text))
        colour = _theme_colour(self, ERROR_COLOURS) if error else ""
        self.message_label.setStyleSheet(f"color: {colour};" if colour else "")

    # ------------------------------------------------------------------ user actions

    def _on_screen_picked(self, index: int) -> None:
        name = self.screen_combo.itemData(index)
        if not isinstance(name, str) or not name:
            return
        save_projector_options(self.settings, screen=name)
        log.info("projector: screen %r picked", name)
        qp = self._qt_projector()
        if qp is not None and not self.model.running:
            if qp.is_open:
                qp.open_window(name)  # moves it
            else:
                qp.requested_name = name
        self._refresh()

    def _on_settle(self, value: int) -> None:
        save_projector_options(self.settings, settle_ms=int(value))
        qp = self._qt_projector()
        if qp is not None:
            qp.settle_ms = int(value)

    def open_window(self) -> None:
        """Show the projector window on the chosen screen."""
        qp = self._qt_projector()
        if qp is None or self.model.running:
            return
        name = self.screen_combo.currentData()
        try:
            qp.open_window(name if isinstance(name, str) and name else None)
        except Exception as exc:
            self._message(f"Cannot open the projector window: {exc}", error=True)
        self._refresh()

    def close_window(self) -> None:
        """Take the projector window off the screen."""
        qp = self._qt_projector()
        if qp is None or self.model.running:
            return
        qp.close_window()
        self._refresh()

    def show_test_pattern(self, kind: str) -> None:
        """Project a test pattern: white, black, checkerboard, grid, fringe."""
        proj = self._projector()
        if proj is None or self.model.running:
            return
        pattern = test_pattern(kind, int(proj.width), int(proj.height))
        self._send(proj.show, pattern, kind)

    def blank(self) -> None:
        """Black everywhere."""
        proj = self._projector()
        if proj is None or self.model.running:
            return
        self._send(proj.blank, None, "blank")

    def _send(self, fn: Any, pattern: np.ndarray | None, what: str) -> None:
        args = () if pattern is None else (pattern,)
        qp = self._qt_projector()
        if qp is not None:
            # a window, not a device: painted at once on this (the GUI) thread, no settle
            try:
                if pattern is None:
                    qp.blank()
                else:
                    qp.show(pattern, settle=False)
                self._message("")
            except Exception as exc:
                self._message(f"{what}: {exc}", error=True)
            self.preview.poll()
            return
        self._busy = True
        self._refresh()

        def done(_: Any) -> None:
            self._busy = False
            self._message("")
            self._refresh()
            self.preview.poll()

        def failed(exc: BaseException) -> None:
            self._busy = False
            self._message(f"{what}: {exc}", error=True)
            self._refresh()

        try:
            self.model.call(fn, *args, on_done=done, on_error=failed)
        except RuntimeError as exc:
            failed(exc)

    # ------------------------------------------------------------------ Qt

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt API)
        super().changeEvent(event)
        if event.type() == QEvent.Type.PaletteChange and not self._closed:
            self._refresh()

    def shutdown(self) -> None:
        """Stop the preview timer and listeners (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self.preview.shutdown()
        if self._listened is not None:
            self._listened.remove_listener(self._refresh)
            self._listened = None
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            for sig in (app.screenAdded, app.screenRemoved):
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect(self._on_screens_changed)
