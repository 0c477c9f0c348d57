"""The serial driver + real firmware (in simavr) against the shared FocusController contract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from psfbench.core.devices.serial_controller import SerialFocusController
from psfbench.core.devices.simavr import FirmwareSimulator
from tests.devices.contract_focus import FocusControllerContract


@pytest.mark.firmware
class TestSerialFocusController(FocusControllerContract):
    move_span = (100, 300)
    timeout_s = 60.0

    @pytest.fixture
    def controller(self, sim: FirmwareSimulator) -> Iterator[SerialFocusController]:
        c = SerialFocusController(sim.port, timeout_s=1.0)
        c.connect()
        yield c
        c.close()
