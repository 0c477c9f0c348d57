"""Projector contract: implementations subclass this and provide ``projector``."""

from __future__ import annotations

import numpy as np
import pytest

from psfbench.core.devices import DeviceError, Projector


class ProjectorContract:
    @pytest.fixture
    def projector(self) -> Projector:  # pragma: no cover - overridden
        raise NotImplementedError

    def test_is_a_projector(self, projector: Projector) -> None:
        assert isinstance(projector, Projector)
        assert projector.width > 0 and projector.height > 0
        assert (projector.info.width, projector.info.height) == (projector.width, projector.height)

    def test_show_accepts_screen_sized_patterns(self, projector: Projector) -> None:
        h, w = projector.height, projector.width
        projector.show(np.zeros((h, w), np.uint8))
        projector.show(np.ones((h, w, 3), np.float32))
        projector.blank()

    def test_show_rejects_bad_patterns(self, projector: Projector) -> None:
        h, w = projector.height, projector.width
        with pytest.raises(DeviceError):
            projector.show(np.zeros((h + 1, w), np.uint8))
        with pytest.raises(DeviceError):
            projector.show(np.full((h, w), 2.0, np.float32))
        with pytest.raises(DeviceError):
            projector.show(np.zeros((h, w, 4), np.uint8))
