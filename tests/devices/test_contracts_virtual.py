"""The virtual bench's devices against the shared contracts."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from psfbench.core.bench import (
    BenchWorld,
    SimCamera,
    SimDistanceSensor,
    SimFocusController,
    SimProjector,
    VirtualBenchSettings,
)
from psfbench.core.devices.factory import ControllerDistanceSensor
from tests.devices.contract_camera import CameraContract
from tests.devices.contract_focus import FocusControllerContract
from tests.devices.contract_projector import ProjectorContract
from tests.devices.contract_sensor import DistanceSensorContract


def small_world(**kw: object) -> BenchWorld:
    opts: dict[str, object] = {"width": 48, "height": 40, "time_scale": 0.01, "noise": True}
    opts.update(kw)
    return BenchWorld(VirtualBenchSettings(**opts))  # type: ignore[arg-type]


class TestSimCamera(CameraContract):
    @pytest.fixture
    def camera(self) -> Iterator[SimCamera]:
        cam = SimCamera(small_world())
        cam.open()
        yield cam
        cam.close()


class TestSimFocusController(FocusControllerContract):
    move_span = (100, 2000)

    @pytest.fixture
    def controller(self) -> Iterator[SimFocusController]:
        ctl = SimFocusController(small_world())
        ctl.connect()
        yield ctl
        ctl.close()


class TestSimProjector(ProjectorContract):
    @pytest.fixture
    def projector(self) -> SimProjector:
        return SimProjector(small_world(projector_width=64, projector_height=40))


class TestSimDistanceSensor(DistanceSensorContract):
    @pytest.fixture
    def sensor(self) -> SimDistanceSensor:
        return SimDistanceSensor(small_world())


class TestControllerDistanceSensor(DistanceSensorContract):
    """The real-bench arrangement: the sensor is read through the focus controller."""

    @pytest.fixture
    def sensor(self) -> Iterator[ControllerDistanceSensor]:
        ctl = SimFocusController(small_world())
        ctl.connect()
        yield ControllerDistanceSensor(ctl)
        ctl.close()


def test_sim_sensor_noise_matches_settings() -> None:
    w = small_world(sensor_noise_mm=0.003)
    r = np.array([w.read_sensor_mm() for _ in range(2000)])
    assert r.std() == pytest.approx(0.003, rel=0.1)
    assert r.mean() == pytest.approx(w.true_d_mm(), abs=0.0005)
