"""The Qt projector: core's ``Projector`` protocol as a window on a second screen.

:class:`QtProjector` is what the acquisition engine drives when the profile says
``[projector] driver = "screen"`` (core has no window system, so the GUI attaches it as
``bench.projector`` after connecting; see :meth:`psfbench.app.bench_model.BenchModel`). Pattern
scans, fringe scans and calibration captures run unchanged on it.

* **Where**: a frameless full-screen window on the screen picked *by name*
  (:mod:`psfbench.app.projector.screens`); with one screen, or when the named screen is not
  connected, an ordinary movable window instead (never a full-screen window over the operator's only
  screen), and :attr:`QtProjector.fallback_reason` says why.
* **Pixel for pixel**: ``width`` x ``height`` are the screen's *physical* pixels (logical size
  x the window's device pixel ratio). A pattern becomes an RGB32 ``QImage`` whose device pixel
  ratio equals the window's and is drawn at the origin without smoothing, so each pattern pixel
  is one device pixel at any desktop scale factor (1, 1.25, 1.5, 2 ...); black elsewhere; the
  cursor is hidden over the window. Float patterns are quantised with rounding
  (``rint(p * 255)``), uint8 patterns are shown as given.
* **show() returns after the paint**: from a worker thread (the engine's) the pattern travels
  to the GUI thread in a posted ``QEvent`` (no cross-thread signals); the GUI thread paints it
  with a synchronous ``repaint()`` (paint + flush to the window system) and only then sets the
  caller's ``threading.Event``. If the GUI thread does not paint within ``paint_timeout_s``,
  ``show`` raises :class:`DeviceError`. Called on the GUI thread it paints synchronously (no
  event round trip, no deadlock). Afterwards it waits ``settle_ms`` (the projector's own
  latency and the camera's exposure start: set it in the Projector panel) unless
  ``settle=False``.
* **Lifecycle**: the window can be closed and reopened (the panel; a show() reopens it);
  :meth:`close` ends the projector: waiting and later ``show`` calls raise
  :class:`DeviceError`, ``blank`` does nothing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QEvent, QEventLoop, QObject, QPointF, Qt, QThread
from PySide6.QtGui import QCloseEvent, QGuiApplication, QImage, QPainter, QPaintEvent, QScreen
from PySide6.QtWidgets import QWidget

from psfbench.app.projector.screens import ScreenChoice, choose_screen, display_name, physical_size
from psfbench.core.devices.protocols import DeviceError, ProjectorInfo, normalise_pattern

log = logging.getLogger(__name__)

#: default wait after a pattern is painted before ``show`` returns (SLStudio's 100 ms)
DEFAULT_SETTLE_MS = 100
MAX_SETTLE_MS = 10_000


def pattern_to_uint8(pattern: np.ndarray, width: int, height: int) -> np.ndarray:
    """A projector pattern (protocol rules: (H, W) or (H, W, 3), uint8 or float in [0, 1],
    the screen's size) as the uint8 image the window shows; raises :class:`DeviceError`."""
    arr = np.asarray(pattern)
    if arr.dtype == np.uint8:
        if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
            raise DeviceError(
                f"projector pattern must be (H, W) or (H, W, 3), got shape {arr.shape}"
            )
        if arr.shape[:2] != (height, width):
            raise DeviceError(
                f"projector pattern is {arr.shape[1]}x{arr.shape[0]} but the screen is "
                f"{width}x{height}"
            )
        return np.array(arr, dtype=np.uint8, copy=True)
    norm = normalise_pattern(arr, width, height)
    return np.rint(norm * np.float32(255.0)).astype(np.uint8)


def rgb32_image(img8: np.ndarray) -> QImage:
    """uint8 (H, W) grey or (H, W, 3) RGB as an RGB32 QImage owning its pixels (the window
    system's native format: drawn without conversion or filtering)."""
    h, w = img8.shape[:2]
    if img8.ndim == 2:
        g = img8.astype(np.uint32)
        argb = np.uint32(0xFF000000) | (g << 16) | (g << 8) | g
    else:
        r, g, b = (img8[..., i].astype(np.uint32) for i in range(3))
        argb = np.uint32(0xFF000000) | (r << 16) | (g << 8) | b
    argb = np.ascontiguousarray(argb, dtype=np.uint32)
    return QImage(argb.data, w, h, w * 4, QImage.Format.Format_RGB32).copy()


@dataclass(eq=False)
class _Request:
    """One pattern on its way to the window; ``done`` is set once it has been painted."""

    image: np.ndarray | None  # uint8 as shown; None = blank (black)
    size: tuple[int, int]
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None
    seq: int = -1  # assigned on the GUI thread when handed to the window


class _PresentEvent(QEvent):
    TYPE = QEvent.Type(QEvent.registerEventType())

    def __init__(self, request: _Request) -> None:
        super().__init__(self.TYPE)
        self.request = request


class _Receiver(QObject):
    """Lives on the GUI thread; worker threads post pattern requests to it."""

    def __init__(self, handler: Callable[[_Request], None]) -> None:
        super().__init__()
        self._handler = handler

    def event(self, event: QEvent) -> bool:  # noqa: D401 (Qt API)
        if event.type() == _PresentEvent.TYPE and isinstance(event, _PresentEvent):
            self._handler(event.request)
            return True
        return super().event(event)


class ProjectorWindow(QWidget):
    """The window itself: black, the current image at the origin, 1:1 device pixels."""

    def __init__(self, fullscreen: bool, on_closed: Callable[[], None], title: str) -> None:
        flags = Qt.WindowType.Window
        if fullscreen:
            flags |= Qt.WindowType.FramelessWindowHint
        super().__init__(None, flags)
        self.setObjectName("projectorWindow")
        self.setWindowTitle(title)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        # never what keeps the application running (or ends it) when windows close
        self.setAttribute(Qt.WidgetAttribute.WA_QuitOnClose, False)
        self.setCursor(Qt.CursorShape.BlankCursor)
        self.fullscreen = fullscreen
        self._on_closed = on_closed
        self.image: QImage | None = None
        self.pattern: np.ndarray | None = None
        self.image_seq = -1
        #: the sequence number and uint8 pattern (None: black) of the last completed paint
        self.painted_seq = -1
        self.painted_pattern: np.ndarray | None = None
        self.on_painted: Callable[[], None] | None = None

    def set_image(self, pattern: np.ndarray | None, seq: int) -> None:
        """Show ``pattern`` (uint8 as displayed; None: black) at the next paint."""
        self.pattern = pattern
        self.image = None if pattern is None else rgb32_image(pattern)
        self.image_seq = seq

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802 (Qt API)
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, False)
        p.fillRect(self.rect(), Qt.GlobalColor.black)
        img = self.image
        if img is not None:
            dpr = self.devicePixelRatioF()
            if img.devicePixelRatio() != dpr:
                img.setDevicePixelRatio(dpr)  # one image pixel = one device pixel
            p.drawImage(QPointF(0.0, 0.0), img)
        p.end()
        self.painted_pattern = self.pattern
        self.painted_seq = self.image_seq
        if self.on_painted is not None:
            self.on_painted()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt API)
        super().closeEvent(event)
        self._on_closed()


def _on_gui_thread() -> bool:
    app = QCoreApplication.instance()
    return app is not None and QThread.currentThread() == app.thread()


class QtProjector:
    """core's ``Projector`` as a window (see the module docstring). Create it on the GUI
    thread; ``show``/``blank`` from any thread; everything else on the GUI thread.

    ``screen_name``: the screen to use (by name); ``screen_index``: the default without a
    name (the profile's ``[projector] screen``). ``fallback_size``: the pattern size (physical
    pixels) of the movable fallback window (default: half the screen's). ``mirror``: another
    projector shown the same patterns after each paint (the virtual world, so a virtual
    camera sees what the window shows); ignored with a warning when its size differs.
    """

    def __init__(
        self,
        screen_name: str | None = None,
        *,
        screen_index: int | None = None,
        settle_ms: int = DEFAULT_SETTLE_MS,
        paint_timeout_s: float = 5.0,
        fallback_size: tuple[int, int] | None = None,
        mirror: Any = None,
    ) -> None:
        if QGuiApplication.instance() is None:
            raise DeviceError("projector: a Qt application is needed for the projector window")
        if not _on_gui_thread():
            raise RuntimeError("QtProjector must be created on the GUI thread")
        self.requested_name = screen_name or ""
        self.screen_index = screen_index
        self.settle_ms = settle_ms
        self.paint_timeout_s = float(paint_timeout_s)
        self.fallback_size = fallback_size
        self.mirror = mirror
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._closed = False
        self._seq = 0
        self._window: ProjectorWindow | None = None
        self._receiver = _Receiver(self._present)
        self._listeners: list[Callable[[], None]] = []
        #: number of patterns (and blanks) handed to the window; the preview polls it
        self.pattern_seq = 0
        #: the uint8 image the window shows (None: blank)
        self.current: np.ndarray | None = None
        self._choice: ScreenChoice = choose_screen(self.requested_name or None, screen_index)
        self._width, self._height = self._size_for(self._choice, None)
        app = QGuiApplication.instance()
        assert isinstance(app, QGuiApplication)
        app.screenAdded.connect(self._on_screens_changed)
        app.screenRemoved.connect(self._on_screens_changed)

    # ------------------------------------------------------------------ Projector protocol

    @property
    def width(self) -> int:
        return self._width

    @property
    def height(self) -> int:
        return self._height

    @property
    def info(self) -> ProjectorInfo:
        how = "full screen" if self.fullscreen else "movable window"
        return ProjectorInfo(
            name=f"projector window on {display_name(self.screen)} ({how})",
            width=self._width,
            height=self._height,
        )

    def show(self, pattern: np.ndarray, *, settle: bool = True) -> None:
        """Paint ``pattern``, return once painted plus ``settle_ms`` (unless ``settle`` is
        False). Raises :class:`DeviceError` for a bad pattern, a closed projector or when the
        GUI thread does not paint in time."""
        if self._closed:
            raise DeviceError("projector: the projector window is closed (bench disconnected)")
        size = (self._width, self._height)
        img8 = pattern_to_uint8(pattern, *size)
        self._present_and_wait(_Request(img8, size))
        mirror = self.mirror
        if mirror is not None:
            try:
                mirror.show(pattern)
            except DeviceError as exc:
                log.warning("projector: the virtual scene does not follow the window: %s", exc)
                self.mirror = None
        if settle and self.settle_ms > 0:
            time.sleep(self.settle_ms / 1000.0)

    def blank(self) -> None:
        """Black everywhere (returns once painted; no settle delay). Does nothing once the
        projector is closed."""
        if self._closed:
            return
        self._present_and_wait(_Request(None, (self._width, self._height)))
        if self.mirror is not None:
            try:
                self.mirror.blank()
            except DeviceError as exc:
                log.warning("projector: blanking the virtual scene: %s", exc)

    # ------------------------------------------------------------------ state

    @property
    def settle_ms(self) -> int:
        return self._settle_ms

    @settle_ms.setter
    def settle_ms(self, value: int) -> None:
        v = int(value)
        if not 0 <= v <= MAX_SETTLE_MS:
            raise DeviceError(f"projector: settle delay must be 0..{MAX_SETTLE_MS} ms, got {v}")
        self._settle_ms = v

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def is_open(self) -> bool:
        """The window is on screen."""
        return self._window is not None and self._window.isVisible()

    @property
    def fullscreen(self) -> bool:
        return self._choice.fullscreen

    @property
    def fallback_reason(self) -> str:
        """Why the projector is a movable window instead of full screen ('' when full screen)."""
        return self._choice.reason

    @property
    def screen_name(self) -> str:
        return self._choice.name

    @property
    def screen(self) -> QScreen:
        return self._choice.screen

    @property
    def window(self) -> ProjectorWindow | None:
        return self._window

    def add_listener(self, fn: Callable[[], None]) -> None:
        """``fn()`` is called on the GUI thread when the window opens, closes or moves."""
        self._listeners.append(fn)

    def remove_listener(self, fn: Callable[[], None]) -> None:
        if fn in self._listeners:
            self._listeners.remove(fn)

    def _notify(self) -> None:
        for fn in list(self._listeners):
            try:
                fn()
            except Exception:
                log.exception("projector listener failed")

    # ------------------------------------------------------------------ window (GUI thread)

    def _size_for(self, choice: ScreenChoice, dpr: float | None) -> tuple[int, int]:
        scr = choice.screen
        g = scr.geometry()
        d = float(dpr if dpr is not None else scr.devicePixelRatio())
        if choice.fullscreen:
            return physical_size(g.width(), g.height(), d)
        if self.fallback_size is not None:
            return int(self.fallback_size[0]), int(self.fallback_size[1])
        w, h = physical_size(g.width(), g.height(), d)
        return max(w // 2, 8), max(h // 2, 8)

    def open_window(self, screen_name: str | None = None) -> None:
        """Show the window on ``screen_name`` (default: the screen asked for before), full
        screen, or as a movable window when that is impossible (see ``fallback_reason``).
        A window already open is moved (recreated). GUI thread only."""
        if self._closed:
            raise DeviceError("projector: closed")
        if screen_name is not None:
            self.requested_name = screen_name
        choice = choose_screen(self.requested_name or None, self.screen_index)
        self._discard_window()
        self._choice = choice
        title = "psfbench projector" + ("" if choice.fullscreen else " (movable window)")
        win = ProjectorWindow(choice.fullscreen, self._window_closed, title)
        win.on_painted = self._complete_painted
        win.setScreen(choice.screen)
        if choice.fullscreen:
            win.setGeometry(choice.screen.geometry())
            win.showFullScreen()
            dpr = win.devicePixelRatioF()
        else:
            dpr = float(choice.screen.devicePixelRatio())
            w, h = self._size_for(choice, dpr)
            lw, lh = math.ceil(w / dpr - 1e-6), math.ceil(h / dpr - 1e-6)
            win.setFixedSize(lw, lh)
            avail = choice.screen.availableGeometry()
            win.move(
                avail.x() + max((avail.width() - lw) // 2, 0),
                avail.y() + max((avail.height() - lh) // 2, 0),
            )
            win.show()
            dpr = win.devicePixelRatioF()
        self._window = win
        new_size = self._size_for(choice, dpr)
        if new_size != (self._width, self._height):
            log.info(
                "projector: pattern size %dx%d -> %dx%d",
                self._width,
                self._height,
                *new_size,
            )
        self._width, self._height = new_size
        if self.current is None or self.current.shape[:2] != (self._height, self._width):
            self.current = None
        win.set_image(self.current, self._seq)
        if choice.fullscreen:
            log.info(
                "projector: full screen on %r, %dx%d px (scale %g)",
                display_name(choice.screen),
                self._width,
                self._height,
                dpr,
            )
        else:
            log.warning("projector: %s (%dx%d px)", choice.reason, self._width, self._height)
        self._notify()

    def close_window(self) -> None:
        """Take the window off the screen (the projector stays attached; ``show`` reopens it).
        GUI thread only."""
        if self._window is None:
            return
        self._discard_window()
        log.info("projector: window closed")
        self._notify()

    def _discard_window(self) -> None:
        win, self._window = self._window, None
        if win is not None:
            win.on_painted = None
            win._on_closed = lambda: None
            win.close()
            win.deleteLater()
        self._fail_pending(None)  # nothing left to paint them: waiters retry via show()

    def _window_closed(self) -> None:
        """The user closed the (movable) window."""
        win, self._window = self._window, None
        if win is None:
            return
        win.on_painted = None
        win.deleteLater()
        self._fail_pending(None)
        log.info("projector: window closed by the user (a pattern reopens it)")
        self._notify()

    def _on_screens_changed(self, _screen: QScreen | None = None) -> None:
        """A screen came or went: put an open window where it belongs now (full screen on the
        named screen if it is back, else the fallback)."""
        if self._closed or self._window is None:
            return
        choice = choose_screen(self.requested_name or None, self.screen_index)
        if choice.name != self._choice.name or choice.fullscreen != self._choice.fullscreen:
            log.warning("projector: the screens changed; moving the projector window")
            self.open_window()

    # ------------------------------------------------------------------ painting

    def _present_and_wait(self, req: _Request) -> None:
        if _on_gui_thread():
            with self._lock:
                self._pending.append(req)
            self._present(req)
            deadline = time.monotonic() + self.paint_timeout_s
            while not req.done.is_set() and time.monotonic() < deadline:
                # not painted synchronously (window not exposed yet): let Qt expose it
                QCoreApplication.processEvents(
                    QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents, 10
                )
        else:
            with self._lock:
                if self._closed:
                    raise DeviceError("projector: the projector window is closed")
                self._pending.append(req)
            QCoreApplication.postEvent(self._receiver, _PresentEvent(req))
            req.done.wait(self.paint_timeout_s)
        if not req.done.is_set():
            with self._lock:
                if req in self._pending:
                    self._pending.remove(req)
            raise DeviceError(
                f"projector: the pattern was not painted within {self.paint_timeout_s:g} s "
                "(the GUI thread is busy or the window cannot be shown)"
            )
        if req.error is not None:
            raise req.error

    def _present(self, req: _Request) -> None:
        """GUI thread: hand the request's image to the window and paint it now."""
        with self._lock:
            if req not in self._pending:  # timed out or failed meanwhile
                return
        if self._closed:
            self._finish(req, DeviceError("projector: the projector window is closed"))
            return
        if req.size != (self._width, self._height):
            self._finish(
                req,
                DeviceError(
                    f"projector: the screen changed while showing a pattern ("
                    f"{req.size[0]}x{req.size[1]} -> {self._width}x{self._height})"
                ),
            )
            return
        if req.image is None and self._window is None:
            self.current = None
            self.pattern_seq += 1
            self._finish(req, None)  # nothing on screen to blank
            return
        if self._window is None or not self._window.isVisible():
            log.info("projector: opening the window to show a pattern")
            try:
                self.open_window()
            except Exception as exc:
                self._finish(req, DeviceError(f"projector: cannot open the window: {exc}"))
                return
            if req.size != (self._width, self._height):
                self._finish(req, DeviceError("projector: the screen changed (size)"))
                return
        win = self._window
        assert win is not None
        self._seq += 1
        req.seq = self._seq
        win.set_image(req.image, req.seq)
        self.current = req.image
        self.pattern_seq += 1
        win.repaint()  # synchronous: paint and flush to the window system
        self._complete_painted()

    def _complete_painted(self) -> None:
        win = self._window
        if win is None:
            return
        painted = win.painted_seq
        with self._lock:
            ready = [r for r in self._pending if 0 <= r.seq <= painted]
            for r in ready:
                self._pending.remove(r)
        for r in ready:
            r.done.set()

    def _finish(self, req: _Request, error: BaseException | None) -> None:
        with self._lock:
            if req in self._pending:
                self._pending.remove(req)
        req.error = error
        req.done.set()

    def _fail_pending(self, error: BaseException | None) -> None:
        """Release every waiter whose pattern is already in a window being discarded, with
        ``error`` (None: requests not handed over yet stay queued)."""
        with self._lock:
            if error is None:
                dropped = [r for r in self._pending if r.seq >= 0]
            else:
                dropped = list(self._pending)
            for r in dropped:
                self._pending.remove(r)
        for r in dropped:
            r.error = error or DeviceError("projector: the window closed before the paint")
            r.done.set()

    # ------------------------------------------------------------------ end

    def close(self) -> None:
        """End of the projector (bench disconnected, application exit): waiting and later
        ``show`` calls raise :class:`DeviceError`, ``blank`` does nothing, the window goes.
        Idempotent; the window part runs on the GUI thread only."""
        with self._lock:
            was_closed, self._closed = self._closed, True
        self._fail_pending(DeviceError("projector: the projector window was closed"))
        if was_closed or not _on_gui_thread():
            return
        app = QGuiApplication.instance()
        if isinstance(app, QGuiApplication):
            for sig in (app.screenAdded, app.screenRemoved):
                with contextlib.suppress(RuntimeError, TypeError):
                    sig.disconnect(self._on_screens_changed)
        self._discard_window()
        self.mirror = None
        self._notify()
        self._listeners.clear()
        self._receiver.deleteLater()
