"""Basler cameras through pypylon, implementing :class:`psfbench.core.devices.protocols.Camera`.

Tested against pylon's camera emulation (``PYLON_CAMEMU=N``), which runs the real driver path;
docs/devices.md lists what the emulator cannot do. Sweeps stream ``one_by_one`` and every
frame's BlockID is checked for continuity, so a lost, failed or repeated buffer becomes a
counted, visible event (:class:`FrameLost`) instead of a silent gap; live view may use
``latest_only``, whose overwritten frames are counted as dropped.

pypylon is imported lazily so that importing :mod:`psfbench.core.devices` never needs it.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import numpy as np

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

#: Our pixel-format names and the GenICam names that deliver them (first available wins).
_PF_NAMES: dict[str, tuple[str, ...]] = {
    "Mono8": ("Mono8",),
    "Mono12": ("Mono12",),
    "Mono16": ("Mono16",),
    "RGB8": ("RGB8", "RGB8Packed"),
}


def _pylon() -> Any:
    try:
        from pypylon import pylon
    except ImportError as exc:  # pragma: no cover - pypylon is a declared extra
        raise DeviceError("Basler support needs pypylon: pip install 'psfbench[basler]'") from exc
    return pylon


def enable_emulation(count: int) -> None:
    """Make pylon list at least ``count`` emulated cameras.

    pylon reads ``PYLON_CAMEMU`` once, when its transport-layer factory first starts, so the
    count is only ever raised here: lowering it later in the same process would change
    nothing in pylon but mislead every later reader of the variable.
    """
    try:
        current = int(os.environ.get("PYLON_CAMEMU", "0"))
    except ValueError:
        current = 0
    os.environ["PYLON_CAMEMU"] = str(max(int(count), current))


def enumerate_cameras() -> list[dict[str, str]]:
    """Basler cameras visible now: serial, model, vendor, device class, friendly name."""
    pylon = _pylon()
    out = []
    for di in pylon.TlFactory.GetInstance().EnumerateDevices():
        out.append(
            {
                "serial": di.GetSerialNumber(),
                "model": di.GetModelName(),
                "vendor": di.GetVendorName(),
                "device_class": di.GetDeviceClass(),
                "name": di.GetFriendlyName(),
            }
        )
    return out


def transport_layers() -> list[str]:
    """Device classes of the pylon transport layers that loaded (``BaslerUsb``, ``BaslerGigE``,
    ``BaslerCamEmu``...). Empty in a bundle whose runtime hook did not set ``PYLON_TL_PATH``:
    the symptom of cameras that silently vanish (installer/README.md)."""
    return [tl.GetDeviceClass() for tl in _pylon().TlFactory.GetInstance().EnumerateTls()]


class BaslerCamera:
    """A Basler camera (or the pylon emulator) behind the Camera Protocol."""

    def __init__(self, serial: str | None = None, *, hardware_trigger_line: str = "Line1") -> None:
        self._serial_wanted = serial
        self._line = hardware_trigger_line
        self._cam: Any = None
        self._info: CameraInfo | None = None
        self._pf_node_name: dict[str, str] = {}
        self._trigger_mode: TriggerMode = "free-run"
        self._streaming = False
        self._strategy: GrabStrategy = "one_by_one"
        self._dropped = 0
        self._last_block: int | None = None
        self._tick_hz = 1e9
        self._lock = threading.RLock()

    # ---------------------------------------------------------------- helpers

    def _name(self) -> str:
        return f"Basler camera {self._info.serial if self._info else self._serial_wanted or ''}"

    def _c(self) -> Any:
        if self._cam is None or not self._cam.IsOpen():
            raise DeviceError(f"{self._name()} is not open")
        if self._cam.IsCameraDeviceRemoved():
            raise DeviceDisconnected(f"{self._name()}: device removed")
        return self._cam

    def _node(self, *names: str) -> Any:
        nm = self._c().GetNodeMap()
        for n in names:
            try:
                node = nm.GetNode(n)
            except Exception:
                node = None
            if node is not None:
                return node
        raise DeviceError(f"{self._name()}: feature {names[0]} not available on this model")

    def _set(self, node_name: str, value: Any, *alternatives: str) -> None:
        from pypylon import genicam

        node = self._node(node_name, *alternatives)
        try:
            node.SetValue(value)
        except genicam.OutOfRangeException as exc:
            raise LimitError(f"{self._name()}: {node_name} = {value!r} out of range") from exc
        except genicam.GenericException as exc:
            raise DeviceError(
                f"{self._name()}: cannot set {node_name} = {value!r}: {str(exc).split(' : ')[0]}"
            ) from exc

    def _refuse_while_streaming(self, what: str) -> None:
        if self._streaming:
            raise DeviceError(f"{self._name()}: cannot change {what} while streaming")

    # ---------------------------------------------------------------- lifecycle

    @property
    def is_open(self) -> bool:
        return self._cam is not None and bool(self._cam.IsOpen())

    @property
    def is_streaming(self) -> bool:
        return self._streaming

    @property
    def dropped_frames(self) -> int:
        return self._dropped

    def open(self) -> None:
        pylon = _pylon()
        from pypylon import genicam

        tlf = pylon.TlFactory.GetInstance()
        devices = tlf.EnumerateDevices()
        if self._serial_wanted:
            devices = [d for d in devices if d.GetSerialNumber() == self._serial_wanted]
        if not devices:
            what = f"serial {self._serial_wanted}" if self._serial_wanted else "any Basler camera"
            raise DeviceDisconnected(f"Basler camera not found ({what}); check cable and power")
        try:
            cam = pylon.InstantCamera(tlf.CreateDevice(devices[0]))
            cam.Open()
        except genicam.GenericException as exc:
            raise DeviceError(f"cannot open Basler camera: {exc}") from exc
        self._cam = cam
        di = cam.GetDeviceInfo()
        pf_entries = {e.GetSymbolic() for e in cam.PixelFormat.GetEntries()}
        self._pf_node_name = {}
        for ours, names in _PF_NAMES.items():
            for n in names:
                if n in pf_entries and genicam.IsAvailable(cam.PixelFormat.GetEntryByName(n)):
                    self._pf_node_name[ours] = n
                    break
        exp = self._node("ExposureTime", "ExposureTimeAbs")
        try:
            gain = self._node("Gain", "GainAbs")
            gain_range = (float(gain.GetMin()), float(gain.GetMax()))
        except (DeviceError, Exception):
            gain_range = (0.0, 0.0)
        try:
            tick = self._node("GevTimestampTickFrequency")
            self._tick_hz = float(tick.GetValue())
        except Exception:
            self._tick_hz = 1e9
        self._info = CameraInfo(
            vendor=di.GetVendorName(),
            model=di.GetModelName(),
            serial=di.GetSerialNumber(),
            sensor_width=int(self._node("WidthMax").GetValue()),
            sensor_height=int(self._node("HeightMax").GetValue()),
            pixel_formats=tuple(p for p in PIXEL_FORMATS if p in self._pf_node_name),
            exposure_range_us=(float(exp.GetMin()), float(exp.GetMax())),
            gain_range_db=gain_range,
            pixel_size_um=None,
            driver="pypylon",
        )
        self.trigger_mode = "software"

    def close(self) -> None:
        if self._streaming:
            self.stop_streaming()
        if self._cam is not None:
            try:
                self._cam.Close()
            finally:
                self._cam = None

    def __enter__(self) -> BaslerCamera:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---------------------------------------------------------------- settings

    @property
    def info(self) -> CameraInfo:
        if self._info is None:
            raise DeviceError(f"{self._name()} is not open")
        return self._info

    @property
    def exposure_us(self) -> float:
        return float(self._node("ExposureTime", "ExposureTimeAbs").GetValue())

    @exposure_us.setter
    def exposure_us(self, value: float) -> None:
        lo, hi = self.info.exposure_range_us
        if not lo <= float(value) <= hi:
            raise LimitError(f"{self._name()}: exposure {value} us outside [{lo}, {hi}] us")
        self._set("ExposureTime", float(value), "ExposureTimeAbs")

    @property
    def gain_db(self) -> float:
        return float(self._node("Gain", "GainAbs").GetValue())

    @gain_db.setter
    def gain_db(self, value: float) -> None:
        lo, hi = self.info.gain_range_db
        if not lo <= float(value) <= hi:
            raise LimitError(f"{self._name()}: gain {value} dB outside [{lo}, {hi}] dB")
        self._set("Gain", float(value), "GainAbs")

    @property
    def roi(self) -> Roi:
        g = self._node
        return Roi(
            int(g("OffsetX").GetValue()),
            int(g("OffsetY").GetValue()),
            int(g("Width").GetValue()),
            int(g("Height").GetValue()),
        )

    @roi.setter
    def roi(self, value: Roi) -> None:
        self._refuse_while_streaming("roi")
        info = self.info
        if (
            value.width < 1
            or value.height < 1
            or value.x < 0
            or value.y < 0
            or value.x + value.width > info.sensor_width
            or value.y + value.height > info.sensor_height
        ):
            raise LimitError(
                f"{self._name()}: ROI {value} does not fit the "
                f"{info.sensor_width}x{info.sensor_height} sensor"
            )
        # Offsets first to 0 so any new size is legal, then size, then the new offsets.
        self._set("OffsetX", 0)
        self._set("OffsetY", 0)
        self._set("Width", int(value.width))
        self._set("Height", int(value.height))
        self._set("OffsetX", int(value.x))
        self._set("OffsetY", int(value.y))

    @property
    def pixel_format(self) -> PixelFormat:
        current = str(self._node("PixelFormat").ToString())
        for ours, name in self._pf_node_name.items():
            if name == current:
                return ours  # type: ignore[return-value]
        raise DeviceError(f"{self._name()}: camera is in unsupported pixel format {current}")

    @pixel_format.setter
    def pixel_format(self, value: PixelFormat) -> None:
        self._refuse_while_streaming("pixel_format")
        if value not in self._pf_node_name:
            raise DeviceError(
                f"{self._name()}: pixel format {value!r} not supported "
                f"(supported: {', '.join(self._pf_node_name)})"
            )
        self._set("PixelFormat", self._pf_node_name[value])

    @property
    def trigger_mode(self) -> TriggerMode:
        return self._trigger_mode

    @trigger_mode.setter
    def trigger_mode(self, value: TriggerMode) -> None:
        self._refuse_while_streaming("trigger_mode")
        if value not in ("software", "hardware", "free-run"):
            raise DeviceError(f"{self._name()}: unknown trigger mode {value!r}")
        self._set("TriggerSelector", "FrameStart")
        if value == "free-run":
            self._set("TriggerMode", "Off")
        else:
            self._set("TriggerMode", "On")
            self._set("TriggerSource", "Software" if value == "software" else self._line)
            if value == "hardware":
                self._set("TriggerActivation", "RisingEdge")
        self._trigger_mode = value

    def use_image_folder(self, folder: str | os.PathLike[str]) -> None:
        """Emulator only: serve the image files in ``folder`` (sorted, cycling) bit-exactly.

        For Mono12 the emulator divides 16-bit files by 16, so store 12-bit data << 4.
        """
        self._refuse_while_streaming("image source")
        self._set("TestImageSelector", "Off")
        self._set("ImageFileMode", "On")
        self._set("ImageFilename", str(folder))

    def force_failed_buffer(self, count: int = 1) -> None:
        """Emulator only: the next ``count`` buffers arrive failed (fault-injection tests)."""
        self._set("ForceFailedBufferCount", int(count))
        node = self._node("ForceFailedBuffer")
        node.Execute()

    # ---------------------------------------------------------------- acquisition

    def start_streaming(
        self, buffer_count: int = 16, strategy: GrabStrategy = "one_by_one"
    ) -> None:
        pylon = _pylon()
        cam = self._c()
        if self._streaming:
            raise DeviceError(f"{self._name()}: already streaming")
        if buffer_count < 1:
            raise LimitError(f"{self._name()}: buffer_count must be >= 1")
        strategies = {
            "one_by_one": pylon.GrabStrategy_OneByOne,
            "latest_only": pylon.GrabStrategy_LatestImageOnly,
        }
        if strategy not in strategies:
            raise DeviceError(f"{self._name()}: unknown grab strategy {strategy!r}")
        cam.MaxNumBuffer.Value = int(buffer_count)
        self._strategy = strategy
        self._dropped = 0
        self._last_block = None
        cam.StartGrabbing(strategies[strategy])
        self._streaming = True

    def stop_streaming(self) -> None:
        if not self._streaming:
            return
        try:
            if self._cam is not None:
                self._cam.StopGrabbing()
        finally:
            self._streaming = False

    def trigger(self) -> None:
        pylon = _pylon()
        cam = self._c()
        if not self._streaming:
            raise DeviceError(f"{self._name()}: trigger() needs start_streaming() first")
        if self._trigger_mode != "software":
            raise DeviceError(f"{self._name()}: software trigger in {self._trigger_mode!r} mode")
        if not cam.WaitForFrameTriggerReady(2000, pylon.TimeoutHandling_Return):
            raise DeviceTimeout(f"{self._name()}: not ready for a trigger within 2 s")
        cam.ExecuteSoftwareTrigger()

    def drain(self) -> int:
        """Discard frames already waiting (they predate the next trigger); returns how many."""
        pylon = _pylon()
        cam = self._c()
        n = 0
        while self._streaming:
            r = cam.RetrieveResult(0, pylon.TimeoutHandling_Return)
            if not r.IsValid():
                break
            if r.GrabSucceeded():
                self._last_block = int(r.BlockID)
            r.Release()
            n += 1
        return n

    def retrieve(self, timeout_s: float = 5.0) -> Frame:
        pylon = _pylon()
        cam = self._c()
        if not self._streaming:
            raise DeviceError(f"{self._name()}: retrieve() needs start_streaming() first")
        r = cam.RetrieveResult(max(int(timeout_s * 1000), 0), pylon.TimeoutHandling_Return)
        if not r.IsValid():
            if cam.IsCameraDeviceRemoved():
                raise DeviceDisconnected(f"{self._name()}: device removed")
            raise DeviceTimeout(f"{self._name()}: no frame within {timeout_s} s")
        t_host = time.monotonic()
        try:
            block = int(r.BlockID)
            skipped = int(r.GetNumberOfSkippedImages())
            if not r.GrabSucceeded():
                self._dropped += 1
                self._last_block = block
                raise FrameLost(
                    f"{self._name()}: frame {block} failed "
                    f"(error {r.ErrorCode:#x}: {r.ErrorDescription.strip()})",
                    block,
                )
            gap = 0
            if self._last_block is not None:
                gap = block - self._last_block - 1
            self._dropped += max(gap, skipped, 0)
            self._last_block = block
            image = np.array(r.GetArray(), copy=True)
            ts = int(r.TimeStamp)
        finally:
            r.Release()
        fmt = self.pixel_format
        meta = {
            "camera": "basler",
            "serial": self.info.serial,
            "model": self.info.model,
            "exposure_us": self.exposure_us,
            "gain_db": self.gain_db,
            "trigger": self._trigger_mode,
            "block_id": block,
            "block_gap": max(gap, 0),
            "skipped": skipped,
            "timestamp_source": "camera" if ts else "host",
        }
        return Frame(
            image=image,
            frame_id=block,
            timestamp=ts / self._tick_hz if ts else t_host,
            metadata=meta,
            pixel_format=fmt,
            dropped=self._dropped,
        )

    def grab(self, timeout_s: float = 5.0) -> Frame:
        """One frame in its own short acquisition (the emulator restarts its image files)."""
        if self._streaming:
            raise DeviceError(f"{self._name()}: grab() while streaming; use retrieve()")
        self.start_streaming(buffer_count=2)
        try:
            if self._trigger_mode == "software":
                self.trigger()
            return self.retrieve(timeout_s)
        finally:
            self.stop_streaming()
