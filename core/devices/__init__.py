"""Devices: typed Protocols, real drivers (Basler/pypylon, serial controller) and simulators.

Import the Protocols and error types from here; drivers live in their own modules so that
importing this package never loads pypylon or pyserial.
"""

from psfbench.core.devices.protocols import (
    PIXEL_FORMAT_MAX,
    PIXEL_FORMATS,
    TRIGGER_MODES,
    Camera,
    CameraInfo,
    ControllerInfo,
    ControllerStatus,
    DeviceDisconnected,
    DeviceError,
    DeviceTimeout,
    DistanceSensor,
    FocusController,
    Frame,
    FrameLost,
    GrabStrategy,
    LimitError,
    PixelFormat,
    Projector,
    ProjectorInfo,
    Roi,
    StaleFrameError,
    StepResult,
    TriggerMode,
)

__all__ = [
    "Bench",
    "BenchInfo",
    "open_bench",
    "PIXEL_FORMATS",
    "PIXEL_FORMAT_MAX",
    "TRIGGER_MODES",
    "Camera",
    "CameraInfo",
    "ControllerInfo",
    "ControllerStatus",
    "DeviceDisconnected",
    "DeviceError",
    "DeviceTimeout",
    "DistanceSensor",
    "FocusController",
    "Frame",
    "FrameLost",
    "GrabStrategy",
    "LimitError",
    "PixelFormat",
    "Projector",
    "ProjectorInfo",
    "Roi",
    "StaleFrameError",
    "StepResult",
    "TriggerMode",
]


def __getattr__(name: str) -> object:
    # open_bench pulls in profiles and simulators; load it on first use, not on import.
    if name in ("open_bench", "Bench", "BenchInfo"):
        from psfbench.core.devices import factory

        return getattr(factory, name)
    raise AttributeError(f"module 'psfbench.core.devices' has no attribute {name!r}")
