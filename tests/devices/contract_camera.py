"""Camera contract: every Camera implementation subclasses this and provides ``camera``.

The fixture yields an *open* camera in software trigger mode whose sensor is at least 32x32.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

from psfbench.core.devices import (
    Camera,
    DeviceError,
    DeviceTimeout,
    Frame,
    LimitError,
    Roi,
)


class CameraContract:
    @pytest.fixture
    def camera(self) -> Camera:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_a_camera(self, camera: Camera) -> None:
        assert isinstance(camera, Camera)
        info = camera.info
        assert info.sensor_width >= 32 and info.sensor_height >= 32
        assert "Mono8" in info.pixel_formats and "Mono12" in info.pixel_formats
        lo, hi = info.exposure_range_us
        assert 0 < lo < hi
        assert camera.is_open

    def test_exposure_and_gain_round_trip_and_limits(self, camera: Camera) -> None:
        camera.exposure_us = 5000.0
        assert camera.exposure_us == pytest.approx(5000.0, rel=1e-3)
        lo, hi = camera.info.exposure_range_us
        with pytest.raises(LimitError):
            camera.exposure_us = hi * 10
        assert camera.exposure_us == pytest.approx(5000.0, rel=1e-3)
        glo, ghi = camera.info.gain_range_db
        camera.gain_db = glo
        assert camera.gain_db == pytest.approx(glo, abs=0.05)
        with pytest.raises(LimitError):
            camera.gain_db = ghi + 100

    def test_roi_shapes_frames(self, camera: Camera) -> None:
        camera.roi = Roi(4, 2, 24, 16)
        assert camera.roi == Roi(4, 2, 24, 16)
        frame = camera.grab(5.0)
        assert frame.image.shape[:2] == (16, 24)
        with pytest.raises(LimitError):
            camera.roi = Roi(0, 0, camera.info.sensor_width + 1, 8)

    @pytest.mark.parametrize(
        ("fmt", "dtype", "maxval"),
        [("Mono8", np.uint8, 255), ("Mono12", np.uint16, 4095), ("Mono16", np.uint16, 65535)],
    )
    def test_pixel_formats(self, camera: Camera, fmt: str, dtype: type, maxval: int) -> None:
        if fmt not in camera.info.pixel_formats:
            pytest.skip(f"{fmt} not supported")
        camera.roi = Roi(0, 0, 32, 32)
        camera.pixel_format = fmt  # type: ignore[assignment]
        assert camera.pixel_format == fmt
        frame = camera.grab(5.0)
        assert isinstance(frame, Frame)
        assert frame.pixel_format == fmt
        assert frame.image.dtype == dtype and frame.image.shape == (32, 32)
        assert int(frame.image.max()) <= maxval
        f = frame.as_float()
        assert f.dtype == np.float32 and 0.0 <= f.min() and f.max() <= 1.0

    def test_rgb8(self, camera: Camera) -> None:
        if "RGB8" not in camera.info.pixel_formats:
            pytest.skip("no RGB8")
        camera.roi = Roi(0, 0, 32, 32)
        camera.pixel_format = "RGB8"
        frame = camera.grab(5.0)
        assert frame.image.shape == (32, 32, 3) and frame.image.dtype == np.uint8

    def test_software_trigger_stream_is_one_frame_per_trigger(self, camera: Camera) -> None:
        camera.roi = Roi(0, 0, 32, 32)
        camera.trigger_mode = "software"
        camera.start_streaming(buffer_count=8)
        try:
            assert camera.is_streaming
            with pytest.raises(DeviceError):
                camera.pixel_format = "Mono8"
            with pytest.raises(DeviceTimeout):
                camera.retrieve(0.2)  # no trigger, no frame
            frames = []
            for _ in range(4):
                camera.trigger()
                frames.append(camera.retrieve(5.0))
            ids = [f.frame_id for f in frames]
            assert ids == list(range(ids[0], ids[0] + 4))
            ts = [f.timestamp for f in frames]
            assert ts == sorted(ts)
            assert all(f.dropped == 0 for f in frames) and camera.dropped_frames == 0
            with pytest.raises(DeviceTimeout):
                camera.retrieve(0.2)
        finally:
            camera.stop_streaming()
        assert not camera.is_streaming

    def test_drain_discards_waiting_frames(self, camera: Camera) -> None:
        camera.roi = Roi(0, 0, 32, 32)
        camera.start_streaming(buffer_count=8)
        try:
            for _ in range(3):
                camera.trigger()
            deadline = time.monotonic() + 5
            drained = 0
            while drained < 3 and time.monotonic() < deadline:
                drained += camera.drain()
                time.sleep(0.02)
            assert drained == 3
            with pytest.raises(DeviceTimeout):
                camera.retrieve(0.2)
        finally:
            camera.stop_streaming()

    def test_latest_only_keeps_the_newest(self, camera: Camera) -> None:
        camera.roi = Roi(0, 0, 32, 32)
        camera.start_streaming(buffer_count=4, strategy="latest_only")
        try:
            for _ in range(3):
                camera.trigger()
                time.sleep(0.1)
            time.sleep(0.2)
            frame = camera.retrieve(5.0)
            assert frame.dropped >= 2 and camera.dropped_frames >= 2
        finally:
            camera.stop_streaming()

    def test_free_run_streams_increasing_ids(self, camera: Camera) -> None:
        camera.roi = Roi(0, 0, 32, 32)
        camera.trigger_mode = "free-run"
        camera.start_streaming(buffer_count=16)
        try:
            ids = [camera.retrieve(5.0).frame_id for _ in range(3)]
        finally:
            camera.stop_streaming()
            camera.trigger_mode = "software"
        assert ids == sorted(ids) and len(set(ids)) == 3

    def test_misuse_is_a_device_error(self, camera: Camera) -> None:
        with pytest.raises(DeviceError):
            camera.retrieve(0.1)  # not streaming
        with pytest.raises(DeviceError):
            camera.trigger()
        camera.close()
        assert not camera.is_open
        with pytest.raises(DeviceError):
            camera.grab(0.5)
