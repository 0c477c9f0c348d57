"""The main window: dockable panels over one :class:`psfbench.app.bench_model.BenchModel`.

Layout: the live view and the fitting panel as tabs in the centre (each needs the room: the
image, or the landscape with the inspected sweep images); the focus controller, the sweep
panel and the session browser as tabs in the right column; the log under the live view.
Menus and toolbar come from one action registry (:mod:`psfbench.app.actions`). The layout, geometry
and theme are restored per user (:mod:`psfbench.app.settings`); a geometry saved on a screen that is
gone is not restored (the window is centred on the primary screen instead). Closing asks for
confirmation only while a sweep is running; panels and the bench are shut down on close,
never left running.
"""

from __future__ import annotations

import base64
import importlib
import logging
import shutil
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QRect, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QGuiApplication
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QTabWidget,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from psfbench.app.actions import ACTIONS, MENUS, build_actions
from psfbench.app.bench_model import BenchModel
from psfbench.app.settings import GuiSettings, save_settings
from psfbench.app.theme import apply_theme
from psfbench.app.widgets.inputs import ComboBox
from psfbench.app.widgets.log_panel import LogPanel

log = logging.getLogger(__name__)

#: (module, class, dock area or "central"): the panels, in creation order
PANELS: tuple[tuple[str, str, str], ...] = (
    ("psfbench.app.panels.live_view", "LiveViewPanel", "central"),
    ("psfbench.app.panels.focus", "FocusPanel", "right"),
    ("psfbench.app.panels.sweep", "SweepPanel", "right"),
    ("psfbench.app.panels.sessions", "SessionsPanel", "right"),
    ("psfbench.app.panels.projector", "ProjectorPanel", "right"),
    ("psfbench.app.panels.fringe", "FringePanel", "central"),
    ("psfbench.app.panels.calibration", "CalibrationPanel", "central"),
    ("psfbench.app.panels.fitting", "FitPanel", "central"),
)

#: the right column's tabbed docks, in tab order
RIGHT_TABS = ("focus", "sweep", "sessions", "projector")

_AREAS = {
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
}


class PanelUnavailable(QWidget):
    """Shown in place of a panel that failed to load: the error, not a crash."""

    def __init__(self, title: str, error: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.name = title.lower().replace(" ", "_")
        self.title = title
        label = QLabel(f"{title} is not available:\n{error}")
        label.setWordWrap(True)
        QVBoxLayout(self).addWidget(label)

    def shutdown(self) -> None:
        pass


class MainWindow(QMainWindow):
    """``overrides``: virtual-bench settings used when connecting (tests, demos)."""

    def __init__(
        self,
        settings: GuiSettings,
        model: BenchModel | None = None,
        *,
        overrides: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.setObjectName("psfbenchMainWindow")
        self.setWindowTitle("psfbench")
        self.setAcceptDrops(True)
        self.settings = settings
        self.model = model if model is not None else BenchModel(self)
        self.overrides = dict(overrides or {})
        #: replaced by tests: returns True to close while a sweep runs
        self.confirm_close = self._ask_close_while_running
        self._shut = False
        apply_theme(settings.theme)
        self.actions_ = build_actions(self, self.trigger)
        self.panels: dict[str, QWidget] = {}
        self.docks: dict[str, QDockWidget] = {}
        self._build_panels()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self._sized = bool(settings.window_state)
        self._default_state = self.saveState()
        self._restore_geometry()
        self.model.stateChanged.connect(self._on_state)
        self.model.runningChanged.connect(lambda _r: self._update_actions())
        self.model.liveChanged.connect(lambda on: self.actions_["live"].setChecked(on))
        self.model.errorOccurred.connect(self._show_error)
        self.model.devicesChanged.connect(self._on_devices)
        self._devices: dict[str, str] = {}
        #: camera frames the live view did not draw (it skips to the newest), since start
        self.display_skipped = 0
        self._last_counts: tuple[int, int] | None = None
        self._update_actions()
        self._status_timer = QTimer(self)
        self._status_timer.setInterval(500)
        self._status_timer.timeout.connect(self._update_status)
        self._status_timer.start()
        self._tick = 0

    # ------------------------------------------------------------------ construction

    def _build_panels(self) -> None:
        self.central_tabs = QTabWidget(self)
        self.central_tabs.setObjectName("centralTabs")
        self.central_tabs.setDocumentMode(True)
        self.setCentralWidget(self.central_tabs)
        self.setDockNestingEnabled(True)
        # the right column runs the full height; the bottom docks sit under the live view only
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.setCorner(Qt.Corner.TopRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        for module, cls, area in PANELS:
            panel = self._make_panel(module, cls)
            self.panels[panel.name] = panel
            if area == "central":
                self.central_tabs.addTab(panel, getattr(panel, "title", panel.name))
                continue
            self._add_dock(panel, _AREAS[area])
        self.log_panel = LogPanel(self)
        self.panels["log"] = self.log_panel
        self._add_dock(self.log_panel, _AREAS["bottom"])
        # Right column, full height: focus controller, sweep and sessions as tabs (stacked,
        # they do not fit a 768 px screen); the log, short, under the live view. Users
        # rearrange; the layout is saved.
        tabbed = [self.docks[k] for k in RIGHT_TABS if k in self.docks]
        for other in tabbed[1:]:
            self.tabifyDockWidget(tabbed[0], other)
        if tabbed:
            tabbed[0].raise_()
        sessions = self.panels.get("sessions")
        if sessions is not None and hasattr(sessions, "resumeRequested"):
            sessions.resumeRequested.connect(self._resume_from_browser)
        if sessions is not None and hasattr(sessions, "fitRequested"):
            sessions.fitRequested.connect(self._fit_requested)
        fitting = self.panels.get("fitting")
        if fitting is not None and hasattr(fitting, "resultsWritten") and sessions is not None:
            # the browser's fit column shows the new results
            fitting.resultsWritten.connect(lambda _p: self._call_panel("sessions", "refresh"))

    def _make_panel(self, module: str, cls: str) -> QWidget:
        title = cls.removesuffix("Panel")
        try:
            panel_cls = getattr(importlib.import_module(module), cls)
            panel: QWidget = panel_cls(self.model, self.settings, self)
        except Exception as exc:  # a broken panel must not take the application down
            log.exception("panel %s failed to load", cls)
            return PanelUnavailable(title, f"{type(exc).__name__}: {exc}", self)
        return panel

    def _add_dock(self, panel: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(getattr(panel, "title", panel.objectName()), self)
        dock.setObjectName(f"dock_{panel.name}")  # type: ignore[attr-defined]
        dock.setWidget(panel)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
        )
        self.addDockWidget(area, dock)
        self.docks[panel.name] = dock  # type: ignore[attr-defined]

    def _build_menus_and_toolbar(self) -> None:
        menus = {name: self.menuBar().addMenu(name) for name in MENUS}
        for info in ACTIONS:
            menus[info.menu].addAction(self.actions_[info.key])
            if info.key == "about":
                continue
        view = menus["&View"]
        view.addSeparator()
        for dock in self.docks.values():
            view.addAction(dock.toggleViewAction())
        self.actions_["theme_dark"].setChecked(self.settings.theme == "dark")

        bar = QToolBar("Bench", self)
        bar.setObjectName("toolbar_bench")
        bar.setMovable(False)
        bar.addWidget(QLabel(" Profile "))
        self.profile_box = ComboBox(self)
        self.profile_box.setObjectName("profileBox")
        self.profile_box.setEditable(True)
        self.profile_box.setMinimumContentsLength(14)
        self.profile_box.setToolTip(
            "Device profile: 'virtual' (the simulated bench), a name from the config folder, "
            "or a path to a TOML profile"
        )
        self._fill_profiles()
        bar.addWidget(self.profile_box)
        for info in ACTIONS:
            if info.toolbar:
                bar.addAction(self.actions_[info.key])
                if info.key == "disconnect":
                    bar.addSeparator()
        estop = bar.widgetForAction(self.actions_["estop"])
        if estop is not None:
            estop.setObjectName("estopToolButton")
            estop.setStyleSheet(
                "QToolButton { background: #c62828; color: white; font-weight: bold;"
                " padding: 3px 10px; border-radius: 3px; }"
                "QToolButton:disabled { background: #8d6e6e; color: #eeeeee; }"
            )
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)

    def _fill_profiles(self) -> None:
        from psfbench.core.config.profiles import available_profiles

        names = ["virtual"]
        try:
            names += [n for n in available_profiles() if n != "virtual"]
        except Exception as exc:
            log.warning("listing profiles: %s", exc)
        self.profile_box.addItems(names)
        self.profile_box.setCurrentText(self.settings.profile or "virtual")

    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.status_bench = QLabel("Bench: disconnected")
        self.status_devices = QLabel("")
        self.status_fps = QLabel("")
        self.status_disk = QLabel("")
        for w in (self.status_bench, self.status_devices, self.status_fps, self.status_disk):
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            w.setContentsMargins(6, 0, 6, 0)
            sb.addPermanentWidget(w)
        self.status_fps.setToolTip(
            "camera frames per second / frames displayed per second; frames the display "
            "skipped (the newest frame is always shown, the camera never waits for the screen)"
        )

    def showEvent(self, event: Any) -> None:  # noqa: N802 (Qt API)
        super().showEvent(event)
        if not self._sized:  # first start: the live image gets most of the window
            self._sized = True
            QTimer.singleShot(0, self._default_dock_sizes)

    def _default_dock_sizes(self) -> None:
        h, w = self.height(), self.width()
        right = [d for k, d in self.docks.items() if k in RIGHT_TABS]
        if right:
            self.resizeDocks(right[:1], [max(450, int(w * 0.3))], Qt.Orientation.Horizontal)
        if "log" in self.docks:
            self.resizeDocks(
                [self.docks["log"]], [max(110, int(h * 0.15))], Qt.Orientation.Vertical
            )

    # ------------------------------------------------------------------ geometry

    def _restore_geometry(self) -> None:
        s = self.settings
        screen = QGuiApplication.primaryScreen()
        avail = screen.availableGeometry() if screen is not None else QRect(0, 0, 1366, 768)
        restored = False
        if s.geometry and s.window_rect is not None:
            rect = QRect(*s.window_rect)
            if self._on_a_screen(rect):
                restored = self.restoreGeometry(QByteArray(base64.b64decode(s.geometry)))
            else:
                log.warning(
                    "the window was last on a screen that is not connected (%s at %s): "
                    "opening it on the primary screen",
                    s.screen_name or "?",
                    s.window_rect,
                )
        if not restored:
            w = min(1600, int(avail.width() * 0.92))
            h = min(1000, int(avail.height() * 0.92))
            self.resize(w, h)
            self.move(avail.center().x() - w // 2, avail.center().y() - h // 2)
        if s.window_state:
            try:
                self.restoreState(QByteArray(base64.b64decode(s.window_state)))
            except Exception as exc:
                log.warning("window layout not restored: %s", exc)

    @staticmethod
    def _on_a_screen(rect: QRect) -> bool:
        """True when the rectangle's centre and most of its title bar lie on a screen."""
        for screen in QGuiApplication.screens():
            geo = screen.availableGeometry()
            title = QRect(rect.x(), rect.y(), rect.width(), 30)
            if geo.contains(rect.center()) and geo.intersected(title).width() >= 100:
                return True
        return False

    def save_layout(self) -> None:
        s = self.settings
        s.geometry = base64.b64encode(bytes(self.saveGeometry().data())).decode()
        s.window_state = base64.b64encode(bytes(self.saveState().data())).decode()
        g = self.geometry()
        s.window_rect = (g.x(), g.y(), g.width(), g.height())
        screen = self.screen()
        s.screen_name = screen.name() if screen is not None else ""
        s.profile = self.profile_box.currentText()
        save_settings(s)

    # ------------------------------------------------------------------ actions

    def trigger(self, key: str) -> None:
        """Run the command ``key`` of :data:`psfbench.app.actions.ACTIONS`."""
        panels = self.panels
        handlers = {
            "open_session": self._open_session_dialog,
            "sessions_folder": self._sessions_folder_dialog,
            "quit": self.close,
            "connect": self.connect_bench,
            "disconnect": self.model.disconnect_bench,
            "live": lambda: (
                self.show_panel("live_view"),
                self._call_panel("live_view", "toggle_live"),
            ),
            "snapshot": lambda: self._call_panel("live_view", "snapshot"),
            "home": lambda: self._call_panel("focus", "home"),
            "estop": self.estop,
            "start_sweep": lambda: self._call_panel("sweep", "start"),
            "pause_sweep": self._pause_or_resume,
            "abort_sweep": lambda: self._call_panel("sweep", "abort"),
            "theme_dark": self._toggle_theme,
            "reset_layout": lambda: self.restoreState(self._default_state),
            "about": self.show_about,
        }
        del panels
        handlers[key]()

    def _call_panel(self, name: str, method: str, *args: Any) -> Any:
        panel = self.panels.get(name)
        fn = getattr(panel, method, None)
        if fn is None:
            log.warning("%s: %s is not available", name, method)
            return None
        return fn(*args)

    def connect_bench(self) -> None:
        profile = self.profile_box.currentText().strip() or "virtual"
        overrides = self.overrides if profile == "virtual" else {}
        try:
            self.model.connect_bench(profile, overrides)
        except RuntimeError as exc:
            self._show_error("Connect", str(exc))

    def estop(self) -> None:
        focus = self.panels.get("focus")
        if focus is not None and hasattr(focus, "estop"):
            focus.estop()
        else:
            self.model.estop()

    def _pause_or_resume(self) -> None:
        eng = self.model.engine
        paused = eng is not None and str(getattr(eng.state, "value", eng.state)) == "paused"
        self._call_panel("sweep", "resume" if paused else "pause")

    def _toggle_theme(self) -> None:
        theme = "dark" if self.actions_["theme_dark"].isChecked() else "light"
        self.settings.theme = theme
        apply_theme(theme, self)

    def show_about(self) -> None:
        from psfbench.app.about import AboutDialog

        extra = {"bench": f"{self.model.profile_name} ({self.model.state})"}
        AboutDialog(self, extra).exec()

    def _open_session_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open session folder")
        if path:
            self.open_session(path)

    def _sessions_folder_dialog(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Sessions folder")
        if path:
            self._call_panel("sessions", "set_folder", path)

    def open_session(self, path: str | Path) -> None:
        """Show a session in the session browser (``--session``, drag and drop, File menu);
        the fitting panel shows its results too when it has some (no fit is started)."""
        dock = self.docks.get("sessions")
        if dock is not None:
            dock.show()
            dock.raise_()
        self._call_panel("sessions", "open_session", str(path))
        fitting = self.panels.get("fitting")
        if fitting is not None and hasattr(fitting, "offer_session"):
            fitting.offer_session(str(path))

    def _resume_from_browser(self, path: str) -> None:
        dock = self.docks.get("sweep")
        if dock is not None:
            dock.show()
            dock.raise_()
        self._call_panel("sweep", "resume_session", path)

    def show_panel(self, name: str) -> None:
        """Bring a panel to the front: raise its dock, or select its tab in the centre."""
        dock = self.docks.get(name)
        if dock is not None:
            dock.show()
            dock.raise_()
            return
        panel = self.panels.get(name)
        if panel is not None and self.central_tabs.indexOf(panel) >= 0:
            self.central_tabs.setCurrentWidget(panel)

    def _fit_requested(self, path: str) -> None:
        """The session browser's Fit…: the session in the fitting panel, its dock raised."""
        if not hasattr(self.panels.get("fitting"), "open_session"):
            QMessageBox.information(
                self,
                "Fit",
                "The fitting panel is not available (see the log). Fit this session from a "
                f"terminal:\n\n    psfbench fit {path}",
            )
            return
        self.show_panel("fitting")
        self._call_panel("fitting", "open_session", path)

    # ------------------------------------------------------------------ state

    def _on_state(self, state: str) -> None:
        self._update_actions()
        self._update_status()
        if state == "connected":
            log.info("bench connected: %s", self.model.profile_name)

    def _on_devices(self, devices: dict) -> None:  # type: ignore[type-arg]
        self._devices = dict(devices)

    def _update_actions(self) -> None:
        connected = self.model.connected
        running = self.model.running
        busy = self.model.state in ("connecting", "disconnecting")
        for info in ACTIONS:
            act = self.actions_[info.key]
            if info.key == "connect":
                act.setEnabled(not connected and not busy)
            elif info.needs == "bench":
                act.setEnabled(connected)
            elif info.needs == "idle":
                act.setEnabled(connected and not running)
            elif info.needs == "run":
                act.setEnabled(running)
        self.actions_["disconnect"].setEnabled(connected and not busy)
        self.profile_box.setEnabled(self.model.state == "disconnected")

    def _update_status(self) -> None:
        m = self.model
        self._tick += 1
        state = m.state
        if m.running:
            state += ", sweep running"
        self.status_bench.setText(f"Bench: {m.profile_name} — {state}")
        if m.connected and not m.running and self._tick % 4 == 0:
            m.refresh_devices()
        dev = self._devices if m.connected else {}
        self.status_devices.setText(
            "  ".join(f"{k}: {v}" for k, v in dev.items()) if dev else "devices: —"
        )
        live = self.panels.get("live_view")
        disp_fps = float(getattr(live, "display_fps", 0.0) or 0.0)
        produced = m.live.produced if m.live is not None else 0
        displayed = int(getattr(live, "displayed_frames", 0) or 0)
        if m.live_running and self._last_counts is not None:
            # frames the camera made that the view never drew (it draws the newest only)
            dp, dd = produced - self._last_counts[0], displayed - self._last_counts[1]
            self.display_skipped += max(0, dp - dd) if dp >= 0 else 0
        self._last_counts = (produced, displayed) if m.live_running else None
        if m.running:
            text = f"sweep frames / display {disp_fps:.0f} fps"
        else:
            text = f"camera {m.camera_fps():.0f} fps / display {disp_fps:.0f} fps"
        self.status_fps.setText(f"{text}, skipped {self.display_skipped}")
        where = Path(self.settings.sessions_dir or Path.home())
        while not where.exists() and where != where.parent:
            where = where.parent
        try:
            free = shutil.disk_usage(where).free / 1e9
            self.status_disk.setText(f"free {free:.1f} GB ({where})")
        except OSError:
            self.status_disk.setText("free: ?")

    def _show_error(self, title: str, message: str) -> None:
        log.error("%s: %s", title, message)
        self.statusBar().showMessage(f"{title}: {message}", 10_000)
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self)
        box.setObjectName("errorBox")
        box.setModal(False)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.show()

    # ------------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 (Qt API)
        urls = event.mimeData().urls()
        if urls and all(Path(u.toLocalFile()).is_dir() for u in urls):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 (Qt API)
        for url in event.mimeData().urls():
            self.open_session(url.toLocalFile())
        event.acceptProposedAction()

    # ------------------------------------------------------------------ closing

    def _ask_close_while_running(self) -> bool:
        answer = QMessageBox.question(
            self,
            "A sweep is running",
            "A focus sweep is running. Abort it and close psfbench?\n\n"
            "Frames already taken are saved; the session can be resumed later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        if self.model.running and not self.confirm_close():
            event.ignore()
            return
        self.shutdown()
        event.accept()

    def shutdown(self) -> None:
        """Save the layout, stop every panel, abort a run and close the bench (idempotent)."""
        if self._shut:
            return
        self._shut = True
        self._status_timer.stop()
        try:
            self.save_layout()
        except Exception as exc:
            log.warning("saving the layout: %s", exc)
        for panel in self.panels.values():
            try:
                panel.shutdown()  # type: ignore[attr-defined]
            except Exception as exc:
                log.warning("stopping panel %s: %s", getattr(panel, "name", panel), exc)
        self.model.close()
