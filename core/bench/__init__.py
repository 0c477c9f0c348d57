"""The virtual bench: a simulated world (scene, lens, focus drive, sensor, projector) and the
simulated devices that implement the device Protocols over it. ``open_bench("virtual")`` in
:mod:`core.devices.factory` is the usual way in; :func:`make_virtual_bench` builds one directly.
"""

from __future__ import annotations

from core.bench.camera import SimCamera
from core.bench.controller import SimFocusController
from core.bench.projector import SimDistanceSensor, SimProjector
from core.bench.settings import VirtualBenchSettings
from core.bench.stamp import read_stamp
from core.bench.world import BenchWorld, SimClock

__all__ = [
    "BenchWorld",
    "SimCamera",
    "SimClock",
    "SimDistanceSensor",
    "SimFocusController",
    "SimProjector",
    "VirtualBenchSettings",
    "read_stamp",
]
