"""Typed device Protocols shared by real drivers, simulators and the acquisition engine.

The engine and the GUI only ever see these Protocols, so a Basler camera, the pylon emulator and
the virtual bench are interchangeable, and one contract test suite per Protocol
(``tests/devices/contract_*.py``) holds every implementation to the same behaviour.

Conventions every implementation follows (the contract tests check them):

* I/O happens in *methods* (``position()``, ``status()``, ``read_distance_mm()``); attributes are
  settings (``exposure_us``, ``roi``...) whose setters validate and raise :class:`DeviceError`
  (or :class:`LimitError` for out-of-range values) instead of clamping silently.
* Distances are mm, motor positions are integer full/micro steps, exposure is microseconds,
  gain is dB, timestamps are seconds on the device's own monotonic clock (only differences are
  meaningful; the virtual bench uses simulated seconds so a time-scaled test still reports
  physical durations).
* A moving controller refuses moves before :meth:`FocusController.home` and after
  :meth:`FocusController.estop` (an e-stop may lose steps, so the position must be re-homed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

PixelFormat = Literal["Mono8", "Mono12", "Mono16", "RGB8"]
PIXEL_FORMATS: tuple[PixelFormat, ...] = ("Mono8", "Mono12", "Mono16", "RGB8")

#: Full-scale value of each pixel format; Mono12 travels in uint16 holding 0..4095.
PIXEL_FORMAT_MAX: dict[str, int] = {"Mono8": 255, "Mono12": 4095, "Mono16": 65535, "RGB8": 255}
PIXEL_FORMAT_DTYPE: dict[str, type[np.generic]] = {
    "Mono8": np.uint8,
    "Mono12": np.uint16,
    "Mono16": np.uint16,
    "RGB8": np.uint8,
}

TriggerMode = Literal["software", "hardware", "free-run"]
TRIGGER_MODES: tuple[TriggerMode, ...] = ("software", "hardware", "free-run")

#: ``one_by_one`` queues every frame and never drops silently (sweeps); ``latest_only`` keeps
#: only the newest frame (live view), counting the overwritten ones as dropped.
GrabStrategy = Literal["one_by_one", "latest_only"]


# --------------------------------------------------------------------------------------------
# Errors


class DeviceError(RuntimeError):
    """A device refused or failed a request; the message says which device and why."""


class DeviceTimeout(DeviceError, TimeoutError):
    """No answer (frame, move completion, reply) within the requested time."""


class DeviceDisconnected(DeviceError, ConnectionError):
    """The device is gone (unplugged, closed, port vanished); reopen before using it again."""


class LimitError(DeviceError, ValueError):
    """A requested value lies outside the device's range or the configured soft limits."""


class FrameLost(DeviceError):
    """A frame the camera owed us did not arrive intact (failed buffer, gap in frame ids).

    Sweeps treat this as a retryable step failure; it is never swallowed silently.
    ``frame_id`` is the id the lost frame carried, when the driver knows it (a failed buffer),
    so sequence checks can account for it instead of flagging the next good frame too.
    """

    def __init__(self, message: str, frame_id: int | None = None) -> None:
        super().__init__(message)
        self.frame_id = frame_id


class StaleFrameError(DeviceError):
    """A frame older than the trigger it was meant to answer (a reused or leftover buffer)."""


# --------------------------------------------------------------------------------------------
# Data records


@dataclass(frozen=True)
class Roi:
    """Region of interest in sensor pixels (offset from the top-left corner)."""

    x: int
    y: int
    width: int
    height: int


@dataclass
class Frame:
    """One image as delivered, with the identity needed to prove it is fresh and in order.

    ``frame_id`` increases by one per exposure since streaming started (a gap means frames were
    lost); ``dropped`` is the stream's cumulative count of frames the driver knows it lost
    (buffer underruns, failed buffers, latest-only overwrites) at the time this one arrived.
    """

    image: np.ndarray
    frame_id: int
    timestamp: float
    metadata: dict[str, Any] = field(default_factory=dict)
    pixel_format: PixelFormat = "Mono8"
    dropped: int = 0

    def as_float(self) -> np.ndarray:
        """Image scaled to float32 in [0, 1] by its pixel format's full scale (12-bit aware)."""
        return self.image.astype(np.float32) / np.float32(PIXEL_FORMAT_MAX[self.pixel_format])


@dataclass(frozen=True)
class CameraInfo:
    vendor: str
    model: str
    serial: str
    sensor_width: int
    sensor_height: int
    pixel_formats: tuple[PixelFormat, ...]
    exposure_range_us: tuple[float, float]
    gain_range_db: tuple[float, float]
    pixel_size_um: float | None = None
    driver: str = ""


@dataclass(frozen=True)
class ControllerInfo:
    name: str
    firmware_version: str
    protocol_version: int = 1
    serial: str = ""


@dataclass(frozen=True)
class ControllerStatus:
    moving: bool
    homed: bool
    limit_hit: bool
    sensor_error: bool
    trigger_count: int
    position: int = 0
    estopped: bool = False


@dataclass(frozen=True)
class StepResult:
    """Outcome of one synchronised sweep step: where the motor is, what d read, when it fired.

    ``t_trigger - t_move_done >= settle_s`` always holds; ``trigger_count`` is the controller's
    total trigger count after this step's trigger, so the engine can pair it with a frame.
    """

    position: int
    d_mm: float
    t_move_done: float
    t_trigger: float
    trigger_count: int


@dataclass(frozen=True)
class ProjectorInfo:
    name: str
    width: int
    height: int


# --------------------------------------------------------------------------------------------
# Protocols


@runtime_checkable
class Camera(Protocol):
    """An area-scan camera.

    ``grab`` is a self-contained single shot: in ``software`` mode it issues the trigger itself,
    in ``hardware`` mode it waits for an external trigger, in ``free-run`` it returns the next
    fresh exposure (never a stale buffered one). Streaming is the sweep path: ``start_streaming``
    then ``trigger`` (software mode) or external triggers, and ``retrieve`` for each frame.
    """

    exposure_us: float
    gain_db: float
    roi: Roi
    pixel_format: PixelFormat
    trigger_mode: TriggerMode

    @property
    def info(self) -> CameraInfo: ...

    @property
    def is_open(self) -> bool: ...

    @property
    def is_streaming(self) -> bool: ...

    @property
    def dropped_frames(self) -> int: ...

    def open(self) -> None: ...

    def close(self) -> None: ...

    def grab(self, timeout_s: float = 5.0) -> Frame: ...

    def start_streaming(
        self, buffer_count: int = 16, strategy: GrabStrategy = "one_by_one"
    ) -> None: ...

    def stop_streaming(self) -> None: ...

    def trigger(self) -> None:
        """Issue one software trigger (software trigger mode while streaming)."""
        ...

    def retrieve(self, timeout_s: float = 5.0) -> Frame:
        """Next frame of the stream; raises :class:`DeviceTimeout` if none arrives in time."""
        ...

    def drain(self) -> int:
        """Discard frames already waiting (stale for the next trigger); returns how many."""
        ...


@runtime_checkable
class FocusController(Protocol):
    """The Arduino-style focus-ring stepper controller with its distance sensor and trigger."""

    def connect(self) -> None: ...

    def close(self) -> None: ...

    @property
    def is_connected(self) -> bool: ...

    def identify(self) -> ControllerInfo: ...

    def version(self) -> str:
        """Firmware version string (same as ``identify().firmware_version``)."""
        ...

    def home(self, timeout_s: float = 60.0) -> None: ...

    def move_abs(self, target_steps: int, *, wait: bool = True, timeout_s: float = 30.0) -> None:
        """Move to an absolute position; :class:`LimitError` outside the soft limits."""
        ...

    def move_rel(self, delta_steps: int, *, wait: bool = True, timeout_s: float = 30.0) -> None: ...

    def wait_idle(self, timeout_s: float = 30.0) -> None: ...

    def position(self) -> int: ...

    def soft_limits(self) -> tuple[int, int]: ...

    def set_soft_limits(self, low: int, high: int) -> None: ...

    def speed(self) -> float:
        """Cruise speed in steps/s."""
        ...

    def set_speed(self, steps_per_s: float) -> None: ...

    def acceleration(self) -> float:
        """Acceleration in steps/s^2."""
        ...

    def set_acceleration(self, steps_per_s2: float) -> None: ...

    def read_distance_mm(self) -> float: ...

    def fire_trigger(self) -> int:
        """Pulse the camera trigger line; returns the controller's total trigger count."""
        ...

    def sweep_step(self, target_steps: int, settle_s: float, timeout_s: float = 30.0) -> StepResult:
        """Move, wait until stopped, settle, read d, fire the trigger: one atomic step."""
        ...

    def stop(self) -> None:
        """Decelerate to a controlled stop (position stays valid)."""
        ...

    def estop(self) -> None:
        """Stop at once; the controller must be homed again before the next move."""
        ...

    def status(self) -> ControllerStatus: ...


@runtime_checkable
class Projector(Protocol):
    """A second screen showing patterns; ``show`` takes (H, W) or (H, W, 3) uint8 or float."""

    @property
    def width(self) -> int: ...

    @property
    def height(self) -> int: ...

    @property
    def info(self) -> ProjectorInfo: ...

    def show(self, pattern: np.ndarray) -> None: ...

    def blank(self) -> None: ...


@runtime_checkable
class DistanceSensor(Protocol):
    """A distance sensor read directly (the controller may also proxy it)."""

    def read_mm(self) -> float:
        """One reading in mm; raises :class:`DeviceError` on a sensor fault."""
        ...


def normalise_pattern(pattern: np.ndarray, width: int, height: int) -> np.ndarray:
    """Validate a projector pattern and return it as float32 in [0, 1], (H, W) or (H, W, 3).

    Projectors accept 8-bit patterns (what a screen shows) or floats in [0, 1]; anything else,
    or a pattern not matching the screen, is a caller bug worth a clear error.
    """
    arr = np.asarray(pattern)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise DeviceError(f"projector pattern must be (H, W) or (H, W, 3), got shape {arr.shape}")
    if arr.shape[:2] != (height, width):
        raise DeviceError(
            f"projector pattern is {arr.shape[1]}x{arr.shape[0]} but the screen is {width}x{height}"
        )
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)) or arr.min() < 0.0 or arr.max() > 1.0:
            raise DeviceError("float projector patterns must be finite and within [0, 1]")
        return arr.astype(np.float32)
    raise DeviceError(f"projector pattern dtype must be uint8 or float, got {arr.dtype}")
