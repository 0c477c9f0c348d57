"""DistanceSensor contract: implementations subclass this and provide ``sensor``."""

from __future__ import annotations

import numpy as np
import pytest

from psfbench.core.devices import DistanceSensor


class DistanceSensorContract:
    #: readings of a still bench must agree to within this (mm, standard deviation)
    max_noise_mm: float = 0.05

    @pytest.fixture
    def sensor(self) -> DistanceSensor:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_a_sensor(self, sensor: DistanceSensor) -> None:
        assert isinstance(sensor, DistanceSensor)

    def test_readings_are_finite_positive_and_repeatable(self, sensor: DistanceSensor) -> None:
        r = np.array([sensor.read_mm() for _ in range(20)])
        assert np.all(np.isfinite(r)) and np.all(r > 0)
        assert r.std() <= self.max_noise_mm
