"""The virtual bench's devices against the shared contracts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.bench import (
    BenchWorld,
    SimCamera,
    SimFocusController,
    SimProjector,
    VirtualBenchSettings,
)
from tests.devices.contract_camera import CameraContract
from tests.devices.contract_focus import FocusControllerContract
from tests.devices.contract_projector import ProjectorContract


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
