"""Fringe scan on the virtual bench (core/bench): the simulated projector lights the virtual
scene, the simulated camera renders it through the hidden defocus PSF with shot and read
noise, 12-bit. The decoded depth is compared with the world's exact depth map.

The camera and projector geometry is the world's ground truth (a procam calibration of the
virtual bench would need a virtual chessboard scene). The bench's projector model has no
occlusion, so there are no shadowed pixels to exclude; its dead-leaves texture has nearly
black patches, which the quality mask rightly drops.
"""

from __future__ import annotations

import numpy as np
import pytest

from core.fringe.calibrate import ProcamCalibration
from core.fringe.scan import decode_scan, fringe_scan_patterns

bench = pytest.importorskip("core.bench.world")

WD = 500.0


def _scan_bench(kind: str, aperture: float):
    from core.bench.camera import SimCamera
    from core.bench.projector import SimProjector
    from core.bench.settings import VirtualBenchSettings
    from core.bench.world import BenchWorld

    base = dict(
        scene=kind,
        width=320,
        height=256,
        projector_width=1024,
        projector_height=768,
        working_distance_mm=WD,
        time_scale=0.001,
        seed=2,
    )
    steps = BenchWorld(VirtualBenchSettings(**base)).steps_for_focus_depth(WD)
    world = BenchWorld(VirtualBenchSettings(**base, power_on_position_steps=steps))
    world.set_aperture_scale(aperture)
    R, t = world.projector_pose()
    cal = ProcamCalibration(
        world.camera_matrix(),
        np.zeros(5),
        (world.width, world.height),
        world.projector_matrix(),
        np.zeros(5),
        (1024, 768),
        R,
        np.asarray(t),
        0.0,
        0.0,
        0.0,
    )
    pats, scan = fringe_scan_patterns(1024, 768)
    cam = SimCamera(world, pixel_format="Mono12", exposure_us=4500.0)  # no clipping
    proj = SimProjector(world)
    frames = []
    with cam:
        for p in pats:
            proj.show(p)
            frames.append(cam.grab().image)
    proj.blank()
    images = np.stack(frames).astype(np.float32) / 4095.0
    return world, decode_scan(images, cal, scan)


def test_virtual_plane_at_working_distance() -> None:
    world, res = _scan_bench("planes", aperture=1.0)  # in focus: full aperture is fine
    truth = np.asarray(world.scene.depth_mm, np.float32)
    mx, _ = world.projector_maps()
    v = res.valid
    assert v.mean() > 0.75
    # absolute phase: no 2-pi (14.6 projector px) errors anywhere it is kept
    assert np.abs(res.projector_coord[v] - mx[v]).max() < 1.0
    assert np.sqrt(np.mean((res.depth[v] - truth[v]) ** 2)) <= 0.1


def test_virtual_objects_scene() -> None:
    # Stopped down as for the all-in-focus shot: 467-550 mm is too deep for fine fringes
    # at the working aperture (the defocus blur washes them out; see docs/fringe.md).
    world, res = _scan_bench("objects", aperture=0.0)
    truth = np.asarray(world.scene.depth_mm, np.float32)
    assert np.ptp(truth) > 50
    v = res.valid
    assert v.mean() > 0.7
    mx, _ = world.projector_maps()
    assert np.abs(res.projector_coord[v] - mx[v]).max() < 1.0
    assert np.sqrt(np.mean((res.depth[v] - truth[v]) ** 2)) <= 0.3
