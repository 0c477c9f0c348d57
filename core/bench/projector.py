"""Simulated projector and distance sensor of the virtual bench (façades over the world)."""

from __future__ import annotations

import numpy as np

from psfbench.core.bench.world import BenchWorld
from psfbench.core.devices.protocols import ProjectorInfo, normalise_pattern


class SimProjector:
    """Virtual projector: what it shows lights the virtual scene the camera renders."""

    def __init__(self, world: BenchWorld) -> None:
        self.world = world

    @property
    def width(self) -> int:
        return self.world.settings.projector_width

    @property
    def height(self) -> int:
        return self.world.settings.projector_height

    @property
    def info(self) -> ProjectorInfo:
        return ProjectorInfo(name="virtual projector", width=self.width, height=self.height)

    @property
    def current(self) -> np.ndarray | None:
        return self.world.pattern

    def show(self, pattern: np.ndarray) -> None:
        self.world.set_pattern(normalise_pattern(pattern, self.width, self.height))

    def blank(self) -> None:
        self.world.set_pattern(None)


class SimDistanceSensor:
    """Virtual distance sensor: the true lens-plate distance d plus Gaussian noise."""

    def __init__(self, world: BenchWorld) -> None:
        self.world = world

    def read_mm(self) -> float:
        return self.world.read_sensor_mm()
