"""The application's one handle on the bench: a thin Qt model over core's devices and engine.

Every panel talks to the bench through one :class:`BenchModel` (injected, never a global):

* **Opening and closing** the bench (``psfbench.core.acquisition.bench_io.open_bench_from``) happens
  on the model's device thread, never on the GUI thread (a serial handshake or a Basler
  enumeration takes seconds). ``stateChanged`` reports "disconnected" / "connecting" /
  "connected" / "disconnecting".
* **Device calls** from panels (jog, home, exposure, ...) go through :meth:`BenchModel.call`:
  one worker thread runs them in order (the devices see one command at a time, as from the
  CLI) and the result or the error comes back on the GUI thread. E-stop is the exception:
  :meth:`BenchModel.estop` sends it at once on its own thread, whatever is queued.
* **Live frames**: :class:`LiveGrabber` streams the camera (free-run, latest-only) on its own
  thread into a one-frame slot; views pull :meth:`BenchModel.latest_frame` on a timer at
  their own pace, so display never slows acquisition (gui-anchors B1-B4).
* **Runs**: :meth:`BenchModel.start_run` runs a plan on a core
  :class:`psfbench.core.acquisition.AcquisitionEngine`; its plain-Python events reach the GUI thread
  through an :class:`psfbench.app.event_pump.EventPump` (a queue drained by a timer: no cross-thread
  Qt signals) and are re-emitted as ``acquisitionEvent``. Live streaming is stopped for the
  run (the engine owns the camera) and ``latest_frame`` then returns the engine's newest frame.

Nothing here blocks the GUI thread for device I/O except :meth:`close`, which waits (bounded)
for the workers at exit.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from psfbench.app.event_pump import EventPump

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LiveFrame:
    """One frame for display: ``seq`` increases by one per frame the source produced."""

    seq: int
    image: np.ndarray  # as delivered (uint8/uint16, (H, W) or (H, W, 3)); read-only
    full_scale: int  # the pixel format's maximum value (255, 4095, 65535)
    source: str  # "live" | "run"
    timestamp: float  # time.monotonic() when it arrived
    metadata: dict[str, Any]


class LiveGrabber:
    """Streams a camera on its own thread; keeps only the newest frame (a one-frame slot).

    ``produced`` counts frames received, ``fps`` is the rate over the last second. The camera
    is switched to free-run, latest-only streaming for the duration and restored after.
    """

    def __init__(self, camera: Any) -> None:
        self.camera = camera
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._latest: LiveFrame | None = None
        self.produced = 0
        self._times: list[float] = []
        self.error: str | None = None
        self._saved_mode: str | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self.error = None
        self._thread = threading.Thread(target=self._loop, name="live-grabber", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def latest(self) -> LiveFrame | None:
        with self._lock:
            return self._latest

    @property
    def fps(self) -> float:
        with self._lock:
            t = [x for x in self._times if x > time.monotonic() - 1.0]
        return float(len(t))

    def _loop(self) -> None:
        from psfbench.core.devices.protocols import PIXEL_FORMAT_MAX, DeviceError, DeviceTimeout

        cam = self.camera
        try:
            self._saved_mode = cam.trigger_mode
            cam.trigger_mode = "free-run"
            cam.start_streaming(buffer_count=2, strategy="latest_only")
        except Exception as exc:  # device refused: report, do not crash the GUI
            self.error = f"live view: cannot start the camera stream: {exc}"
            log.error(self.error)
            self._restore()
            return
        try:
            while not self._stop.is_set():
                try:
                    frame = cam.retrieve(timeout_s=0.5)
                except DeviceTimeout:
                    continue
                except DeviceError as exc:
                    self.error = f"live view: {exc}"
                    log.warning(self.error)
                    continue
                now = time.monotonic()
                img = frame.image
                img.setflags(write=False)
                with self._lock:
                    self.produced += 1
                    self._times.append(now)
                    if len(self._times) > 512:
                        del self._times[:256]
                    self._latest = LiveFrame(
                        seq=self.produced,
                        image=img,
                        full_scale=int(PIXEL_FORMAT_MAX[frame.pixel_format]),
                        source="live",
                        timestamp=now,
                        metadata=dict(frame.metadata),
                    )
        finally:
            try:
                cam.stop_streaming()
            except Exception as exc:
                log.warning("live view: stopping the stream: %s", exc)
            self._restore()

    def _restore(self) -> None:
        if self._saved_mode is not None:
            try:
                self.camera.trigger_mode = self._saved_mode
            except Exception as exc:
                log.warning("live view: restoring the trigger mode: %s", exc)


class BenchModel(QObject):
    """See the module docstring. ``overrides``: virtual-bench settings for tests and demos."""

    stateChanged = Signal(str)
    #: {"camera": "...", "focus": "...", "sensor": "...", "projector": "..."}: short states
    devicesChanged = Signal(dict)
    #: (title, message): a device or run error to show the user
    errorOccurred = Signal(str, str)
    #: a psfbench.core.acquisition Event, delivered on the GUI thread
    acquisitionEvent = Signal(object)
    runningChanged = Signal(bool)
    liveChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.bench: Any = None
        self.profile_name = "virtual"
        self.overrides: dict[str, Any] = {}
        self.state = "disconnected"
        self.engine: Any = None
        self.live: LiveGrabber | None = None
        self._device = ThreadPoolExecutor(1, thread_name_prefix="bench-device")
        self._pump = EventPump(self._on_core_event, interval_ms=20, parent=self)
        self._run_seq = 0
        self._run_latest: tuple[int, Any] | None = None
        self._run_session = ""
        self._closing = False
        self._closed = False
        #: makes the Qt projector for a profile with ``[projector] driver = "screen"``
        #: (``fn(bench) -> Projector``, GUI thread); None: app.projector's default
        self.projector_factory: Callable[[Any], Any] | None = None
        self._qt_projector: Any = None

    # ------------------------------------------------------------------ connection

    @property
    def connected(self) -> bool:
        return self.state == "connected" and self.bench is not None

    @property
    def running(self) -> bool:
        return self.engine is not None and self.engine.wait(0) is None

    def connect_bench(self, profile: str, overrides: dict[str, Any] | None = None) -> Future:
        """Open the bench of ``profile`` (a name or TOML path) on the device thread."""
        if self.state not in ("disconnected",):
            raise RuntimeError(f"cannot connect while {self.state}")
        self.profile_name = profile
        self.overrides = dict(overrides or {})
        self._set_state("connecting")

        def work() -> Any:
            from psfbench.core.acquisition.bench_io import open_bench_from

            return open_bench_from(profile, **self.overrides)

        def done(bench: Any) -> None:
            self.bench = bench
            self._attach_projector(bench)
            self._set_state("connected")
            self.refresh_devices()

        def failed(exc: BaseException) -> None:
            self._set_state("disconnected")
            self.errorOccurred.emit("Cannot connect", f"{profile}: {exc}")

        return self.call(work, on_done=done, on_error=failed, needs_bench=False)

    def disconnect_bench(self) -> Future | None:
        """Abort any run, stop live view, close the devices (on the device thread)."""
        if self.bench is None:
            return None
        self.abort_run()
        self.stop_live()
        self._close_projector()  # first: a scan waiting for a paint is released, not stuck
        if self.engine is not None:
            self.engine.wait(10)
        bench = self.bench
        self._set_state("disconnecting")

        def work() -> None:
            bench.close()

        def done(_: Any) -> None:
            self.bench = None
            self._set_state("disconnected")
            self.devicesChanged.emit({})

        def failed(exc: BaseException) -> None:
            self.bench = None
            self._set_state("disconnected")
            self.errorOccurred.emit("Disconnect", str(exc))

        return self.call(work, on_done=done, on_error=failed, needs_bench=False)

    def _attach_projector(self, bench: Any) -> None:
        """Core leaves ``bench.projector`` None for ``[projector] driver = "screen"`` (no
        window system): attach the GUI's Qt projector (made here, on the GUI thread)."""
        try:
            driver = bench.info.settings.projector.driver
        except AttributeError:
            return
        if driver != "screen" or bench.projector is not None or self._closing:
            return
        from psfbench.app.projector import projector_for_bench

        factory = self.projector_factory or projector_for_bench
        try:
            bench.projector = self._qt_projector = factory(bench)
        except Exception as exc:
            log.error("projector window: %s", exc)
            self.errorOccurred.emit("Projector", f"cannot open the projector window: {exc}")

    def _close_projector(self) -> None:
        """Close the attached Qt projector (GUI thread): a ``show`` waiting for a paint
        returns with an error instead of waiting for a GUI thread about to block."""
        proj, self._qt_projector = self._qt_projector, None
        if proj is not None:
            try:
                proj.close()
            except Exception as exc:
                log.warning("closing the projector window: %s", exc)

    def _set_state(self, state: str) -> None:
        self.state = state
        self.stateChanged.emit(state)

    def device_states(self) -> dict[str, str]:
        """Short per-device states for the status bar and the profile panel (GUI thread)."""
        b = self.bench
        if b is None:
            return {}
        out: dict[str, str] = {}
        try:
            out["camera"] = (
                ("streaming" if b.camera.is_streaming else "open")
                if (b.camera.is_open)
                else "closed"
            )
        except Exception as exc:
            out["camera"] = f"error: {exc}"
        try:
            st = b.focus.status()
            out["focus"] = "moving" if st.moving else ("homed" if st.homed else "not homed")
        except Exception as exc:
            out["focus"] = f"error: {exc}"
        out["sensor"] = "present" if b.sensor is not None else "none"
        out["projector"] = "present" if b.projector is not None else "none"
        return out

    def refresh_devices(self) -> None:
        """Query device states on the device thread and emit ``devicesChanged``."""
        if self.bench is None or self._closing:
            return
        self.call(self.device_states, on_done=self.devicesChanged.emit)

    # ------------------------------------------------------------------ device calls

    def call(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_done: Callable[[Any], None] | None = None,
        on_error: Callable[[BaseException], None] | None = None,
        needs_bench: bool = True,
    ) -> Future:
        """Run ``fn(*args)`` on the device thread; ``on_done(result)`` / ``on_error(exc)`` run
        on the GUI thread afterwards. Without ``on_error`` an error is shown to the user
        (``errorOccurred``). Raises RuntimeError when the model is closed."""
        if self._closed:
            raise RuntimeError("the bench model is closed")

        def guarded() -> Any:
            if needs_bench and self.bench is None:
                raise RuntimeError("no bench connected")
            return fn(*args)

        fut = self._device.submit(guarded)

        def finished(f: Future) -> None:
            # back to the GUI thread through the pump (never a cross-thread Qt signal)
            self._pump.post(_Callback(f, on_done, on_error))

        fut.add_done_callback(finished)
        return fut

    def estop(self) -> None:
        """Emergency stop of the focus motor, at once, bypassing the queued device calls;
        also aborts a running sweep."""
        bench = self.bench
        if self.engine is not None:
            self.engine.abort()
        if bench is None:
            return

        def send() -> None:
            try:
                bench.focus.estop()
                log.warning("E-STOP sent to the focus controller")
            except Exception as exc:
                self._pump.post(_Error("E-stop failed", str(exc)))

        threading.Thread(target=send, name="estop", daemon=True).start()

    # ------------------------------------------------------------------ live view

    def start_live(self) -> bool:
        """Stream the camera for the live view; False when busy (a run owns the camera)."""
        if self.bench is None or self.running:
            return False
        if self.live is None or self.live.camera is not self.bench.camera:
            self.live = LiveGrabber(self.bench.camera)
        self.live.start()
        self.liveChanged.emit(True)
        return True

    def stop_live(self) -> None:
        if self.live is not None and self.live.running:
            self.live.stop()
            self.liveChanged.emit(False)

    @property
    def live_running(self) -> bool:
        return self.live is not None and self.live.running

    def latest_frame(self) -> LiveFrame | None:
        """The newest frame: the run's while a run is going, else the live stream's."""
        eng = self.engine
        if eng is not None and self.running:
            latest = eng.latest_frame
            if latest is None:
                return None
            if self._run_latest is None or self._run_latest[1] is not latest[1]:
                self._run_seq += 1
                self._run_latest = (self._run_seq, latest[1])
            img = np.asarray(latest[1])
            fs = _full_scale(self.bench, img)
            return LiveFrame(self._run_seq, img, fs, "run", time.monotonic(), {"step": latest[0]})
        if self.live is not None:
            return self.live.latest()
        return None

    def camera_fps(self) -> float:
        return self.live.fps if self.live_running and self.live is not None else 0.0

    # ------------------------------------------------------------------ runs

    def start_run(
        self,
        plan: Any,
        sink: Any,
        *,
        steps: list[int] | None = None,
        resumed: bool = False,
        session: str = "",
    ) -> Any:
        """Run ``plan`` into ``sink`` on a new engine (live view stopped first); events come
        back as ``acquisitionEvent``. Returns the engine. RuntimeError if busy or no bench."""
        from psfbench.core.acquisition import AcquisitionEngine

        if self.bench is None:
            raise RuntimeError("no bench connected")
        if self.running:
            raise RuntimeError("a run is already going")
        self.stop_live()
        # the device thread must be idle: wait (bounded) for queued panel calls
        self._device.submit(lambda: None).result(timeout=30)
        engine = AcquisitionEngine(self.bench)
        engine.bus.subscribe(self._pump.post, inline=True, name="gui")
        self.engine = engine
        self._run_latest = None
        self._run_session = session
        engine.start(plan, sink, steps=steps, resumed=resumed, session=session)
        self.runningChanged.emit(True)
        return engine

    def pause_run(self) -> bool:
        return self.engine is not None and self.engine.pause()

    def resume_run(self) -> bool:
        return self.engine is not None and self.engine.resume()

    def abort_run(self) -> bool:
        return self.engine is not None and self.running and self.engine.abort()

    def answer_prompt(self, prompt_id: str, accepted: bool) -> bool:
        return self.engine is not None and self.engine.answer(prompt_id, accepted)

    # ------------------------------------------------------------------ events

    def _on_core_event(self, event: Any) -> None:
        if isinstance(event, _Callback):
            event.deliver(self)
            return
        if isinstance(event, _Error):
            self.errorOccurred.emit(event.title, event.message)
            return
        self.acquisitionEvent.emit(event)
        if getattr(event, "kind", "") == "finished":
            # let the engine thread end, then report "not running" (next pump tick at most)
            QTimer.singleShot(0, self._after_run)

    def _after_run(self) -> None:
        if self.engine is not None:
            self.engine.wait(5)
            self.engine.bus.flush(2)
            self.engine.bus.close()
        self.runningChanged.emit(False)
        self.refresh_devices()

    # ------------------------------------------------------------------ shutdown

    def close(self, timeout: float = 10.0) -> None:
        """Stop everything and close the bench (GUI exit): abort the run, stop live view, let
        queued device work finish (a connect still opening is taken over and closed too),
        close the devices. Waits at most ``timeout`` seconds per step, never forever;
        idempotent."""
        if self._closed:
            return
        self._closing = True
        if self.engine is not None and self.running:
            self.engine.abort()
            self._close_projector()
            self.engine.wait(timeout)
        self.stop_live()
        try:  # the device thread finishes what was queued (e.g. a bench being opened) ...
            self._device.submit(lambda: None).result(timeout=timeout)
        except Exception as exc:
            log.warning("closing: device work still running after %.0f s: %s", timeout, exc)
        self._pump.drain()  # ... and its results are delivered now, not after close
        self._close_projector()  # before bench.close: its blank() must not wait for a paint
        bench, self.bench = self.bench, None
        if bench is not None:
            try:
                self._device.submit(bench.close).result(timeout=timeout)
            except Exception as exc:
                log.warning("closing the bench: %s", exc)
        self._closed = True
        self._device.shutdown(wait=False, cancel_futures=True)
        self._pump.stop()
        self._set_state("disconnected")


@dataclass
class _Callback:
    future: Future
    on_done: Callable[[Any], None] | None
    on_error: Callable[[BaseException], None] | None

    def deliver(self, model: BenchModel) -> None:
        exc = self.future.exception()
        if exc is None:
            if self.on_done is not None:
                self.on_done(self.future.result())
            return
        if self.on_error is not None:
            self.on_error(exc)
        else:
            log.error("device call failed: %s", exc)
            model.errorOccurred.emit("Device error", str(exc))


@dataclass
class _Error:
    title: str
    message: str


def _full_scale(bench: Any, img: np.ndarray) -> int:
    from psfbench.core.devices.protocols import PIXEL_FORMAT_MAX

    try:
        return int(PIXEL_FORMAT_MAX[bench.camera.pixel_format])
    except Exception:
        return 255 if img.dtype == np.uint8 else 65535
