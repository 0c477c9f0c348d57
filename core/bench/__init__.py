"""The virtual bench: a simulated world (scene, lens, focus drive, sensor, projector) and the
simulated devices that implement the device Protocols over it. ``open_bench("virtual")`` in
:mod:`psfbench.core.devices.factory` is the usual way in; :func:`make_virtual_bench` builds one
directly.
"""

from __future__ import annotations

from psfbench.core.bench.camera import SimCamera
from psfbench.core.bench.controller import SimFocusController
from psfbench.core.bench.projector import SimDistanceSensor, SimProjector
from psfbench.core.bench.settings import VirtualBenchSettings
from psfbench.core.bench.stamp import read_stamp
from psfbench.core.bench.world import BenchWorld, SimClock

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
