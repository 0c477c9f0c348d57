"""The fringe pattern sources run through the real acquisition engine on the virtual bench
and decode to the world's depth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from psfbench.core.acquisition.fringe_scan import calibration_from_world
from psfbench.core.fringe.scan import decode_scan
from psfbench.core.fringe.sources import fringe_scan_from_params, register_sources

pytest.importorskip("psfbench.core.acquisition.plans.pattern_scan")


class _Sink:
    def __init__(self) -> None:
        self.frames: dict[int, np.ndarray] = {}
        self.fields: dict[int, dict[str, Any]] = {}

    def write_frame(self, index: int, image: np.ndarray, record_fields: Any) -> None:
        self.frames[index] = np.array(image, copy=True)
        self.fields[index] = dict(record_fields)


def test_sources_validate_and_match_scan() -> None:
    from psfbench.core.acquisition.plans.base import PlanError
    from psfbench.core.acquisition.plans.pattern_scan import make_source

    register_sources()
    src = make_source("fringe_scan", {"counts": [70, 64.2, 59.2], "steps": 4})
    scan = fringe_scan_from_params({"counts": [70, 64.2, 59.2], "steps": 4}, 320, 200)
    assert src.count == 12
    np.testing.assert_array_equal(src.pattern(5, 320, 200), scan.patterns()[5])
    assert src.describe(5) == {"kind": "fringe", "count": 64.2, "step": 1}
    with pytest.raises(PlanError, match="steps"):
        make_source("fringe_scan", {"steps": 2})
    cal = make_source("procam_calibration", {"width": 1024, "height": 768, "step": 1})
    assert cal.count == 42 and cal.describe(41) == {"kind": "black"}


def test_engine_fringe_scan_on_virtual_bench() -> None:
    from psfbench.core.acquisition import AcquisitionEngine, PatternScanPlan
    from psfbench.core.bench.settings import VirtualBenchSettings
    from psfbench.core.bench.world import BenchWorld
    from psfbench.core.devices.factory import open_bench

    register_sources()
    over = {
        "width": 160,
        "height": 128,
        "projector_width": 512,
        "projector_height": 384,
        "time_scale": 0.001,
        "scene": "planes",
    }
    steps = BenchWorld(VirtualBenchSettings(**over)).steps_for_focus_depth(500.0)
    bench = open_bench("virtual", virtual_overrides={**over, "power_on_position_steps": steps})
    try:
        plan = PatternScanPlan("fringe_scan", {}, settle_s=0.0, exposure_us=4500.0)
        sink = _Sink()
        result = AcquisitionEngine(bench).run(plan, sink)
        assert result.status == "completed", result.message
        world = bench.info.world
        cal = calibration_from_world(world, (512, 384))
        stack = np.stack([sink.frames[i] for i in range(plan.total_steps())]).astype(np.float32)
        res = decode_scan(stack, cal, fringe_scan_from_params(plan.params, 512, 384))
        truth = np.asarray(world.scene.depth_mm, np.float32)
        v = res.valid
        assert v.mean() > 0.6
        assert np.sqrt(np.mean((res.depth[v] - truth[v]) ** 2)) < 0.2
    finally:
        bench.close()
