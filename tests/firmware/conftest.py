"""Fixtures for the firmware-in-simavr tests: one build per session, one fresh board per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from psfbench.core.devices.serial_controller import SerialFocusController
from psfbench.core.devices.simavr import FirmwareSimulator, build_firmware

_HEADERS = Path("/usr/include/simavr/sim_avr.h")


@pytest.fixture(scope="session")
def firmware_build() -> None:
    """``make -C firmware all sim`` once, so `make test` works from a clean clone."""
    if shutil.which("avr-gcc") is None or not _HEADERS.exists():
        pytest.skip("needs gcc-avr, arduino-core-avr and libsimavr-dev (make sysdeps)")
    build_firmware(("all", "sim"))


@pytest.fixture
def sim(firmware_build: None, tmp_path: Path) -> Iterator[FirmwareSimulator]:
    # 40 steps above the MIN switch keeps homing short: simavr runs about real time at best.
    with FirmwareSimulator(workdir=tmp_path / "sim", start_pos=40, travel=5000) as s:
        yield s


@pytest.fixture
def ctl(sim: FirmwareSimulator) -> Iterator[SerialFocusController]:
    c = SerialFocusController(sim.port, timeout_s=1.0)
    c.connect()
    yield c
    c.close()
