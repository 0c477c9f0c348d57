"""Simulated camera of the virtual bench: renders the world at the instant it is triggered.

Exposures are captured (world state at the trigger instant) on the triggering thread and
rendered on a worker thread, as a real camera exposes at the trigger and delivers later.
Buffers behave like a real driver's: ``one_by_one`` keeps up to ``buffer_count`` frames and
counts any it must drop (a frame-id gap shows it), ``latest_only`` keeps the newest.
The sensor model: photo-electrons with shot noise, read noise, gain, 12-bit ADC.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from typing import Any

import numpy as np

from psfbench.core.bench.stamp import stamp
from psfbench.core.bench.world import LUMA, BenchWorld
from psfbench.core.devices.protocols import (
    PIXEL_FORMATS,
    CameraInfo,
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
    Frame,
    FrameLost,
    GrabStrategy,
    LimitError,
    PixelFormat,
    Roi,
    TriggerMode,
)

EXPOSURE_RANGE_US = (10.0, 10_000_000.0)
GAIN_RANGE_DB = (0.0, 24.0)

_FAILED = object()


class SimCamera:
    """Virtual camera implementing :class:`psfbench.core.devices.protocols.Camera`."""

    def __init__(
        self,
        world: BenchWorld,
        *,
        serial: str = "VIRTUAL-0001",
        pixel_format: PixelFormat = "Mono12",
        exposure_us: float = 10_000.0,
        gain_db: float = 0.0,
        trigger_mode: TriggerMode = "software",
    ) -> None:
        self.world = world
        self._serial = serial
        self._open = False
        self._lock = threading.RLock()
        self._rng = np.random.default_rng([world.settings.seed, 0xCA3])
        self._exposure_us = 0.0
        self._gain_db = 0.0
        self._roi = Roi(0, 0, world.width, world.height)
        self._pixel_format: PixelFormat = "Mono12"
        self._trigger_mode: TriggerMode = "software"
        self.exposure_us = exposure_us
        self.gain_db = gain_db
        self.pixel_format = pixel_format
        self.trigger_mode = trigger_mode
        self._next_id = 0
        self._dropped = 0
        self._streaming = False
        self._strategy: GrabStrategy = "one_by_one"
        self._buffer_count = 16
        self._out: collections.deque[Any] = collections.deque()
        self._out_cv = threading.Condition()
        self._exposures: queue.Queue[Any] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._hw_waiter: queue.Queue[tuple[int, float]] | None = None

    # ---------------------------------------------------------------- settings

    @property
    def info(self) -> CameraInfo:
        s = self.world.settings
        return CameraInfo(
            vendor="psfbench",
            model="Virtual bench camera",
            serial=self._serial,
            sensor_width=s.width,
            sensor_height=s.height,
            pixel_formats=PIXEL_FORMATS,
            exposure_range_us=EXPOSURE_RANGE_US,
            gain_range_db=GAIN_RANGE_DB,
            pixel_size_um=s.pixel_size_um,
            driver="virtual",
        )

    @property
    def exposure_us(self) -> float:
        return self._exposure_us

    @exposure_us.setter
    def exposure_us(self, value: float) -> None:
        lo, hi = EXPOSURE_RANGE_US
        if not lo <= float(value) <= hi:
            raise LimitError(f"virtual camera: exposure {value} us outside [{lo}, {hi}] us")
        self._exposure_us = float(value)

    @property
    def gain_db(self) -> float:
        return self._gain_db

    @gain_db.setter
    def gain_db(self, value: float) -> None:
        lo, hi = GAIN_RANGE_DB
        if not lo <= float(value) <= hi:
            raise LimitError(f"virtual camera: gain {value} dB outside [{lo}, {hi}] dB")
        self._gain_db = float(value)

    @property
    def roi(self) -> Roi:
        return self._roi

    @roi.setter
    def roi(self, value: Roi) -> None:
        self._refuse_while_streaming("roi")
        w, h = self.world.width, self.world.height
        if (
            value.width < 1
            or value.height < 1
            or value.x < 0
            or value.y < 0
            or value.x + value.width > w
            or value.y + value.height > h
        ):
            raise LimitError(f"virtual camera: ROI {value} does not fit the {w}x{h} sensor")
        self._roi = Roi(int(value.x), int(value.y), int(value.width), int(value.height))

    @property
    def pixel_format(self) -> PixelFormat:
        return self._pixel_format

    @pixel_format.setter
    def pixel_format(self, value: PixelFormat) -> None:
        self._refuse_while_streaming("pixel_format")
        if value not in PIXEL_FORMATS:
            raise DeviceError(f"virtual camera: pixel format {value!r} not in {PIXEL_FORMATS}")
        self._pixel_format = value

    @property
    def trigger_mode(self) -> TriggerMode:
        return self._trigger_mode

    @trigger_mode.setter
    def trigger_mode(self, value: TriggerMode) -> None:
        self._refuse_while_streaming("trigger_mode")
        if value not in ("software", "hardware", "free-run"):
            raise DeviceError(f"virtual camera: unknown trigger mode {value!r}")
        self._trigger_mode = value

    def _refuse_while_streaming(self, what: str) -> None:
        if getattr(self, "_streaming", False):
            raise DeviceError(f"virtual camera: cannot change {what} while streaming")

    # ---------------------------------------------------------------- lifecycle

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def is_streaming(self) -> bool:
        return self._streaming

    @property
    def dropped_frames(self) -> int:
        return self._dropped

    def open(self) -> None:
        if self.world.faults.camera_disconnected:
            raise DeviceDisconnected(f"virtual camera {self._serial}: not found")
        self._open = True

    def close(self) -> None:
        if self._streaming:
            self.stop_streaming()
        self._open = False

    def __enter__(self) -> SimCamera:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check(self) -> None:
        if self.world.faults.camera_disconnected:
            self._open = False
            raise DeviceDisconnected(f"virtual camera {self._serial}: device removed")
        if not self._open:
            raise DeviceError(f"virtual camera {self._serial} is not open")

    # ---------------------------------------------------------------- exposure pipeline

    def _capture(self, trigger_count: int | None = None, t: float | None = None) -> Any:
        """Freeze what this exposure will see; rendering may happen later."""
        with self._lock:
            frame_id = self._next_id
            self._next_id += 1
        faults = self.world.faults
        if faults.camera_failed_frames > 0:
            faults.camera_failed_frames -= 1
            return (_FAILED, frame_id)
        state = self.world.state_at(t)
        settings = (self._exposure_us, self._gain_db, self._roi, self._pixel_format)
        return (state, frame_id, trigger_count, settings, self._trigger_mode)

    def _develop(self, exposure: Any) -> Frame:
        state, frame_id, trigger_count, settings, mode = exposure
        exposure_us, gain_db, roi, fmt = settings
        s = self.world.settings
        img = self.world.optical_image(state)[
            :, roi.y : roi.y + roi.height, roi.x : roi.x + roi.width
        ]
        sig = np.tensordot(LUMA, img, axes=1) if fmt != "RGB8" else np.moveaxis(img, 0, -1)
        electrons = sig.astype(np.float64) * (exposure_us / s.exposure_ref_us) * s.full_well_e
        if s.noise:
            with self._lock:
                electrons = self._rng.poisson(np.clip(electrons, 0.0, None)).astype(np.float64)
                electrons += self._rng.normal(0.0, s.read_noise_e, electrons.shape)
        dn12 = np.clip(
            np.rint(electrons * 10 ** (gain_db / 20.0) * 4095.0 / s.full_well_e), 0, 4095
        ).astype(np.uint16)
        if fmt == "Mono12":
            out: np.ndarray = dn12
        elif fmt == "Mono16":
            out = dn12 << 4
        else:
            out = (dn12 >> 4).astype(np.uint8)
        position = round(float(state["motor_steps"]))
        if s.stamp_state:
            stamp(
                out,
                frame_id=frame_id,
                position=position,
                trigger_count=trigger_count if trigger_count is not None else 0,
            )
        meta = {
            "exposure_us": exposure_us,
            "gain_db": gain_db,
            "roi": [roi.x, roi.y, roi.width, roi.height],
            "trigger": mode,
            "trigger_count": trigger_count,
            "motor_steps": position,
            "camera": "virtual",
            "serial": self._serial,
        }
        return Frame(
            image=out,
            frame_id=frame_id,
            timestamp=float(state["t"]),
            metadata=meta,
            pixel_format=fmt,
            dropped=self._dropped,
        )

    def _deliver(self, item: Any) -> None:
        with self._out_cv:
            if self._strategy == "latest_only":
                self._dropped += len(self._out)
                self._out.clear()
            elif len(self._out) >= self._buffer_count:
                self._dropped += 1  # no free buffer: the camera loses this frame
                return
            self._out.append(item)
            self._out_cv.notify_all()

    def _worker(self) -> None:
        while not self._stop.is_set():
            try:
                exposure = self._exposures.get(timeout=0.05)
            except queue.Empty:
                continue
            if exposure is None:
                return
            if exposure[0] is _FAILED:
                self._deliver(exposure)
                continue
            try:
                self._deliver(self._develop(exposure))
            except Exception as exc:  # pragma: no cover - surfaced to retrieve()
                self._deliver(exc)

    def _free_run(self) -> None:
        t_next = self.world.clock.now()
        while not self._stop.is_set():
            period = max(1.0 / self.world.settings.max_fps, self._exposure_us * 1e-6)
            self.world.clock.sleep_until(t_next)
            if self._stop.is_set():
                return
            if not self.world.faults.camera_timeout:
                self._exposures.put(self._capture())
            # a camera never renders faster than it can read out: keep the pipeline shallow
            while self._exposures.qsize() > 2 and not self._stop.is_set():
                time.sleep(0.001)
            t_next = max(t_next + period, self.world.clock.now())

    def _on_hardware_trigger(self, count: int, t: float) -> None:
        if self.world.faults.camera_timeout:
            return
        if self._streaming:
            self._exposures.put(self._capture(count, t))
        elif self._hw_waiter is not None:
            self._hw_waiter.put((count, t))

    # ---------------------------------------------------------------- Camera API

    def grab(self, timeout_s: float = 5.0) -> Frame:
        self._check()
        if self._streaming:
            raise DeviceError("virtual camera: grab() while streaming; use retrieve()")
        if self.world.faults.camera_timeout:
            time.sleep(min(timeout_s, 0.05))
            raise DeviceTimeout(f"virtual camera: no frame within {timeout_s} s")
        count: int | None = None
        t: float | None = None
        if self._trigger_mode == "hardware":
            self._hw_waiter = queue.Queue()
            self.world.subscribe_trigger(self._on_hardware_trigger)
            try:
                count, t = self._hw_waiter.get(timeout=timeout_s)
            except queue.Empty:
                raise DeviceTimeout(
                    f"virtual camera: no hardware trigger within {timeout_s} s"
                ) from None
            finally:
                self.world.unsubscribe_trigger(self._on_hardware_trigger)
                self._hw_waiter = None
        exposure = self._capture(count, t)
        if exposure[0] is _FAILED:
            self._dropped += 1
            raise FrameLost(
                f"virtual camera: frame {exposure[1]} arrived as a failed buffer", exposure[1]
            )
        return self._develop(exposure)

    def start_streaming(
        self, buffer_count: int = 16, strategy: GrabStrategy = "one_by_one"
    ) -> None:
        self._check()
        if self._streaming:
            raise DeviceError("virtual camera: already streaming")
        if buffer_count < 1:
            raise LimitError("virtual camera: buffer_count must be >= 1")
        if strategy not in ("one_by_one", "latest_only"):
            raise DeviceError(f"virtual camera: unknown grab strategy {strategy!r}")
        self._strategy = strategy
        self._buffer_count = int(buffer_count)
        self._out.clear()
        self._exposures = queue.Queue()
        self._stop.clear()
        self._dropped = 0
        self._next_id = 0
        self._streaming = True
        self._threads = [threading.Thread(target=self._worker, daemon=True, name="simcam-dev")]
        if self._trigger_mode == "free-run":
            self._threads.append(
                threading.Thread(target=self._free_run, daemon=True, name="simcam-freerun")
            )
        elif self._trigger_mode == "hardware":
            self.world.subscribe_trigger(self._on_hardware_trigger)
        for th in self._threads:
            th.start()

    def stop_streaming(self) -> None:
        if not self._streaming:
            return
        self.world.unsubscribe_trigger(self._on_hardware_trigger)
        self._stop.set()
        self._exposures.put(None)
        for th in self._threads:
            th.join(timeout=5.0)
        self._threads = []
        self._streaming = False
        with self._out_cv:
            self._out.clear()

    def trigger(self) -> None:
        self._check()
        if not self._streaming:
            raise DeviceError("virtual camera: trigger() needs start_streaming() first")
        if self._trigger_mode != "software":
            raise DeviceError(
                f"virtual camera: software trigger while in {self._trigger_mode!r} mode"
            )
        if self.world.faults.camera_timeout:
            return
        self._exposures.put(self._capture())

    def drain(self) -> int:
        """Discard frames already delivered (stale for the next trigger); returns how many."""
        with self._out_cv:
            n = len(self._out)
            self._out.clear()
        return n

    def retrieve(self, timeout_s: float = 5.0) -> Frame:
        self._check()
        if not self._streaming:
            raise DeviceError("virtual camera: retrieve() needs start_streaming() first")
        deadline = time.monotonic() + timeout_s
        with self._out_cv:
            while not self._out:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._check()
                    raise DeviceTimeout(f"virtual camera: no frame within {timeout_s} s")
                self._out_cv.wait(remaining)
            item = self._out.popleft()
        if isinstance(item, tuple) and item and item[0] is _FAILED:
            self._dropped += 1
            raise FrameLost(f"virtual camera: frame {item[1]} arrived as a failed buffer", item[1])
        if isinstance(item, Exception):
            raise DeviceError(f"virtual camera: rendering failed: {item}") from item
        assert isinstance(item, Frame)
        item.dropped = self._dropped
        return item
