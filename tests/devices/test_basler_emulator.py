"""The Basler driver on pylon's camera emulation: contract, pixel-exact files, fault paths."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pypylon")

from psfbench.core.devices import FrameLost, Roi, StaleFrameError  # noqa: E402
from psfbench.core.devices.basler import BaslerCamera, enable_emulation, enumerate_cameras  # noqa: E402
from psfbench.core.devices.sequencing import FrameSequencer  # noqa: E402
from tests.devices.contract_camera import CameraContract  # noqa: E402

enable_emulation(2)


@pytest.fixture
def emu() -> Iterator[BaslerCamera]:
    cam = BaslerCamera()
    cam.open()
    cam.trigger_mode = "software"
    cam.roi = Roi(0, 0, 64, 48)
    yield cam
    cam.close()


class TestBaslerEmulatorContract(CameraContract):
    @pytest.fixture
    def camera(self, emu: BaslerCamera) -> BaslerCamera:
        return emu


def test_enumerates_emulated_cameras() -> None:
    cams = enumerate_cameras()
    assert len(cams) >= 2
    assert all(c["vendor"] == "Basler" for c in cams)
    serial = cams[1]["serial"]
    with BaslerCamera(serial) as cam:
        assert cam.info.serial == serial


def _write_files(folder: Path, frames: list[np.ndarray]) -> None:
    import cv2

    folder.mkdir()
    for i, f in enumerate(frames):
        assert cv2.imwrite(str(folder / f"frame{i:03d}.png"), f)


def test_pixel_exact_delivery_mono12(emu: BaslerCamera, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    data12 = [rng.integers(0, 4096, (48, 64), dtype=np.uint16) for _ in range(3)]
    _write_files(tmp_path / "imgs", [d << 4 for d in data12])  # emulator divides by 16
    emu.use_image_folder(tmp_path / "imgs")
    emu.pixel_format = "Mono12"
    emu.start_streaming(buffer_count=4)
    try:
        seq = FrameSequencer(emu)
        got = []
        for _ in range(4):
            seq.arm()
            emu.trigger()
            got.append(seq.next_frame(5.0))
    finally:
        emu.stop_streaming()
    for k, frame in enumerate(got):
        assert frame.image.dtype == np.uint16
        np.testing.assert_array_equal(frame.image, data12[k % 3])  # files cycle in order
    assert [f.frame_id for f in got] == list(range(got[0].frame_id, got[0].frame_id + 4))


def test_pixel_exact_delivery_mono8(emu: BaslerCamera, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data8 = [rng.integers(0, 256, (48, 64), dtype=np.uint8) for _ in range(2)]
    _write_files(tmp_path / "imgs", data8)
    emu.use_image_folder(tmp_path / "imgs")
    emu.pixel_format = "Mono8"
    emu.start_streaming(buffer_count=4)
    try:
        for k in range(2):
            emu.trigger()
            np.testing.assert_array_equal(emu.retrieve(5.0).image, data8[k])
    finally:
        emu.stop_streaming()


def test_failed_buffer_is_reported_not_swallowed(emu: BaslerCamera) -> None:
    emu.start_streaming(buffer_count=4)
    try:
        seq = FrameSequencer(emu)
        emu.trigger()
        seq.next_frame(5.0)
        emu.force_failed_buffer(1)
        emu.trigger()
        with pytest.raises(FrameLost, match="failed") as lost:
            seq.next_frame(5.0)
        assert lost.value.frame_id is not None
        assert emu.dropped_frames == 1
        emu.trigger()
        frame = seq.next_frame(5.0)  # the good frame after it is accepted, not lost too
        assert frame.dropped == 1 and frame.frame_id == lost.value.frame_id + 1
        # a frame fetched behind the sequencer's back leaves a hole it reports
        emu.trigger()
        emu.retrieve(5.0)
        emu.trigger()
        with pytest.raises(FrameLost, match="never arrived"):
            seq.next_frame(5.0)
    finally:
        emu.stop_streaming()


def test_stale_frames_are_drained_or_refused(emu: BaslerCamera) -> None:
    emu.start_streaming(buffer_count=8)
    try:
        seq = FrameSequencer(emu)
        emu.trigger()
        first = seq.next_frame(5.0)
        # a leftover frame (e.g. a spurious trigger during the move) must not answer the
        # next step's trigger: arm() discards it and the fresh frame follows it in sequence
        emu.trigger()  # its frame is left waiting on purpose
        time.sleep(0.3)
        assert seq.arm() == 1
        emu.trigger()
        fresh = seq.next_frame(5.0)
        assert fresh.frame_id == first.frame_id + 2
        # a repeated buffer (same id) is refused
        with pytest.raises(StaleFrameError):
            seq.check(fresh)
    finally:
        emu.stop_streaming()


def test_hardware_trigger_mode_configures_the_line(emu: BaslerCamera) -> None:
    """The emulator has no trigger input, so only the configuration can be checked here
    (streaming in this mode on the emulator can block RetrieveResult past its timeout)."""
    emu.trigger_mode = "hardware"
    assert emu.trigger_mode == "hardware"
    assert emu._node("TriggerMode").ToString() == "On"
    assert emu._node("TriggerSource").ToString() == "Line1"
    emu.trigger_mode = "free-run"
    assert emu._node("TriggerMode").ToString() == "Off"


def test_env_names_emulation() -> None:
    assert int(os.environ["PYLON_CAMEMU"]) >= 2
