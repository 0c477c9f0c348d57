"""The engine on the virtual bench: real simulated devices, real session writer, injected faults."""

from __future__ import annotations

import errno
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from psfbench.core.acquisition import AcquisitionEngine, EventBus, FocusSweepPlan, PatternScanPlan
from psfbench.core.acquisition.bench_io import session_meta, write_ground_truth
from psfbench.core.acquisition.plans import AifCapturePlan, AifSink, RepeatCapturePlan
from psfbench.core.acquisition.session_io import SessionSink, stored_plan
from psfbench.core.bench import read_stamp
from psfbench.core.dataset import Session, SessionWriter
from psfbench.core.devices.factory import open_bench

from .acq_helpers import Recorder

SMALL = {"width": 48, "height": 32, "time_scale": 0.01, "stamp_state": True}


@pytest.fixture
def bench():
    b = open_bench("virtual", virtual_overrides=SMALL)
    yield b
    b.close()


def _session(path: Path, bench, plan) -> SessionWriter:
    writer = SessionWriter.create(path, session_meta(bench, plan))
    write_ground_truth(writer, bench)
    return writer


def _run(bench, plan, writer, **kw):
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    engine = AcquisitionEngine(bench, bus=bus)
    result = engine.run(plan, SessionSink(writer), **kw)
    bus.flush(5)
    return result, rec, engine


@pytest.mark.parametrize("trigger", ["software", "hardware"], ids=["sw-trigger", "line-trigger"])
def test_sweep_frames_were_taken_at_the_recorded_state(tmp_path, bench, trigger) -> None:
    plan = FocusSweepPlan.from_range(1700, 2400, 8, settle_s=0.05, trigger=trigger)
    writer = _session(tmp_path / "s", bench, plan)
    result, rec, _ = _run(bench, plan, writer)
    writer.close()
    assert result.status == "completed", result.message
    session = Session.open(tmp_path / "s")
    report = session.validate()
    assert report.valid and report.frames == 8 and report.has_depth
    ids = []
    for i, rec_ in enumerate(session.records):
        stamp = read_stamp(session.frame(i))  # written by the camera from the world state
        assert stamp["position"] == rec_.motor_steps == plan.positions[i]
        assert stamp["frame_id"] == rec_.device_state["frame_id"]
        ids.append(stamp["frame_id"])
        if trigger == "hardware":
            assert stamp["trigger_count"] > 0
    assert ids == sorted(set(ids))  # fresh frame per step: never reused
    d = session.d_mm
    assert np.all(np.diff(d) > 0)  # d follows the focus drive (noise 3 um << 0.22 mm step)
    meta = session.meta
    assert meta.provenance.simulated_truth["A"] == 800.0
    assert meta.lens.focal_length_mm == 50.0 and meta.camera.bit_depth == 12
    assert stored_plan(meta) == plan


def test_aif_capture_is_sharp_and_stored(tmp_path) -> None:
    b = open_bench("virtual", virtual_overrides={**SMALL, "stamp_state": False, "noise": False})
    try:
        plan = FocusSweepPlan.from_range(1700, 2400, 2, settle_s=0.0)
        writer = _session(tmp_path / "s", b, plan)
        _run(b, plan, writer)
        bus = EventBus()
        engine = AcquisitionEngine(b, bus=bus)
        prompts: list[str] = []

        def answer(e) -> None:
            if e.kind == "prompt":
                prompts.append(e.message)
                engine.answer(e.prompt_id, True)

        bus.subscribe(answer)
        result = engine.run(AifCapturePlan(average=2, position=2000), AifSink(writer))
        writer.close()
        assert result.status == "completed", result.message
        assert prompts and "MINIMUM aperture" in prompts[0]
        session = Session.open(tmp_path / "s")
        assert session.has_aif and session.validate().valid
        assert session.meta.plan.parameters["aif_capture"]["frames_averaged"] == 2

        # the stopped-down shot has more high-frequency energy than any sweep frame
        def sharpness(img: np.ndarray) -> float:
            return float(np.abs(np.diff(img.astype(np.float64), axis=1)).mean())

        aif = Session.open(tmp_path / "s").aif(as_float=False, channels_first=False)
        assert sharpness(aif) > max(sharpness(session.frame(i)) for i in range(2))
        assert b.info.world.aperture_scale == 1.0  # reopened after the shot
    finally:
        b.close()


def test_aif_prompt_declined_aborts_without_image(tmp_path, bench) -> None:
    plan = FocusSweepPlan.from_range(1700, 2400, 2, settle_s=0.0)
    writer = _session(tmp_path / "s", bench, plan)
    engine = AcquisitionEngine(bench)
    engine.bus.subscribe(lambda e: engine.answer(e.prompt_id, False) if e.kind == "prompt" else 0)
    result = engine.run(AifCapturePlan(), AifSink(writer))
    writer.close()
    assert result.status == "aborted"
    assert not (tmp_path / "s" / "aif.tif").exists()


def test_abort_mid_move_stops_the_motor(tmp_path) -> None:
    b = open_bench(
        "virtual",
        virtual_overrides={**SMALL, "time_scale": 1.0, "speed_steps_per_s": 2000.0},
    )
    try:
        b.focus.home()
        plan = FocusSweepPlan(positions=(0, 4000), settle_s=0.0)
        writer = _session(tmp_path / "s", b, plan)
        engine = AcquisitionEngine(b)
        saved = threading.Event()
        engine.bus.subscribe(lambda e: saved.set() if e.kind == "frame_saved" else 0, inline=True)
        engine.start(plan, SessionSink(writer))
        assert saved.wait(10)
        time.sleep(0.3)  # now travelling 0 -> 4000 (2 s at full speed)
        assert b.focus.status().moving
        t0 = time.monotonic()
        engine.abort()
        result = engine.wait(5)
        assert time.monotonic() - t0 < 1.0
        writer.close()
        assert result is not None and result.status == "aborted"
        deadline = time.monotonic() + 2
        while b.focus.status().moving and time.monotonic() < deadline:
            time.sleep(0.01)
        st = b.focus.status()
        assert not st.moving and 0 < st.position < 4000  # stopped part way, not at the target
        report = Session.open(tmp_path / "s").validate()
        assert report.valid and report.frames == 1 and report.missing_steps == [1]
    finally:
        b.close()


def _fault_after(engine: AcquisitionEngine, index: int, apply) -> None:
    def on(e) -> None:
        if e.kind == "step" and e.index == index:
            apply()

    engine.bus.subscribe(on, inline=True)


@pytest.mark.parametrize("fault", ["camera_timeout", "camera_disconnected"])
def test_camera_fault_fails_cleanly_and_resume_completes(tmp_path, bench, fault) -> None:
    plan = FocusSweepPlan.from_range(1700, 2400, 6, settle_s=0.0)
    writer = _session(tmp_path / "s", bench, plan)
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    engine = AcquisitionEngine(bench, bus=bus, grab_timeout_s=0.2, grab_retries=1)
    _fault_after(engine, 2, lambda: setattr(bench.info.world.faults, fault, True))
    result = engine.run(plan, SessionSink(writer))
    bus.flush(5)
    writer.close()
    assert result.status == "failed"
    word = "no frame" if fault == "camera_timeout" else "camera"
    assert word in result.message
    assert rec.of("error")[0].index == 3 and rec.kinds()[-1] == "finished"
    assert rec.of("warning"), "the retry / reconnect attempt is reported"
    report = Session.open(tmp_path / "s").validate()
    assert report.valid and report.frames == 3 and report.missing_steps == [3, 4, 5]
    assert not bench.focus.status().moving
    # camera back: resume only the missing steps, from the plan stored in the session
    setattr(bench.info.world.faults, fault, False)
    bench.camera.open()
    writer = SessionWriter.open_existing(tmp_path / "s")
    result, _, _ = _run(bench, stored_plan(writer.meta), writer, steps=writer.missing_steps())
    writer.close()
    assert result.status == "completed" and result.saved_this_run == (3, 4, 5)
    report = Session.open(tmp_path / "s").validate()
    assert report.valid and report.frames == 6 and report.duplicate_indices == []


@pytest.mark.parametrize("trigger", ["software", "hardware"], ids=["sw-trigger", "line-trigger"])
def test_failed_buffer_is_retried_not_skipped(tmp_path, bench, trigger) -> None:
    plan = FocusSweepPlan.from_range(1700, 2400, 4, settle_s=0.0, trigger=trigger)
    writer = _session(tmp_path / "s", bench, plan)
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    engine = AcquisitionEngine(bench, bus=bus)
    _fault_after(engine, 1, lambda: setattr(bench.info.world.faults, "camera_failed_frames", 1))
    result = engine.run(plan, SessionSink(writer))
    bus.flush(5)
    writer.close()
    assert result.status == "completed"
    assert any("lost frame" in w.message and w.index == 2 for w in rec.of("warning"))
    session = Session.open(tmp_path / "s")
    assert [read_stamp(session.frame(i))["position"] for i in range(4)] == list(plan.positions)


def test_disk_full_in_the_real_write_path(tmp_path, bench, monkeypatch) -> None:
    """ENOSPC raised by the atomic file write itself (a fake quota of 2 more files)."""
    import psfbench.core.dataset.tiff_io as tiff_io

    plan = FocusSweepPlan.from_range(1700, 2400, 5, settle_s=0.0)
    writer = _session(tmp_path / "s", bench, plan)
    real = tiff_io.atomic_write_with
    budget = [2]

    def quota(target, write):
        if budget[0] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        budget[0] -= 1
        return real(target, write)

    monkeypatch.setattr(tiff_io, "atomic_write_with", quota)
    result, rec, _ = _run(bench, plan, writer)
    writer.close()
    assert result.status == "failed" and "disk full" in result.message
    assert "frame_0002.tif" in result.message
    report = Session.open(tmp_path / "s").validate()
    assert report.valid and report.frames == 2 and report.missing_steps == [2, 3, 4]


def _tmpfs(path: Path, size: str) -> bool:
    import subprocess

    path.mkdir()
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    return r.returncode == 0


def test_disk_full_on_a_small_tmpfs(tmp_path, bench) -> None:
    mnt = tmp_path / "small"
    if not _tmpfs(mnt, "64k"):
        pytest.skip("cannot mount a tmpfs here (needs root); the fake quota test covers ENOSPC")
    import subprocess

    try:
        plan = FocusSweepPlan.from_range(100, 4700, 40, settle_s=0.0)
        writer = _session(mnt / "s", bench, plan)
        result, rec, _ = _run(bench, plan, writer)
        writer.close()
        assert result.status == "failed" and "disk full" in result.message
        report = Session.open(mnt / "s").validate()
        assert report.valid, report.problems
        assert 0 < report.frames < 40
        assert report.missing_steps == list(range(report.frames, 40))
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_pattern_scan_shows_each_pattern_before_its_frame(tmp_path, bench) -> None:
    plan = PatternScanPlan("levels", {"levels": [0.0, 0.5, 1.0]}, settle_s=0.01)
    writer = _session(tmp_path / "s", bench, plan)
    result, _, _ = _run(bench, plan, writer)
    writer.close()
    assert result.status == "completed", result.message
    session = Session.open(tmp_path / "s")
    means = [float(session.frame(i)[1:].mean()) for i in range(3)]
    assert means[0] < means[1] < means[2]  # the projector really lit the scene each time
    assert [r.device_state["pattern"]["level"] for r in session.records] == [0.0, 0.5, 1.0]
    assert bench.projector.current is None  # blanked afterwards


def test_repeat_capture_streams_every_frame_once(tmp_path, bench) -> None:
    plan = RepeatCapturePlan(count=10, position=2000)
    writer = _session(tmp_path / "s", bench, plan)
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec)
    engine = AcquisitionEngine(bench, bus=bus)
    _fault_after(engine, 4, lambda: setattr(bench.info.world.faults, "camera_failed_frames", 1))
    result = engine.run(plan, SessionSink(writer))
    bus.flush(5)
    writer.close()
    assert result.status == "completed", result.message
    session = Session.open(tmp_path / "s")
    ids = [read_stamp(session.frame(i))["frame_id"] for i in range(10)]
    assert ids == list(range(5)) + list(range(6, 11))  # frame 5 was the failed buffer
    assert [w.index for w in rec.of("warning") if "lost frame" in w.message] == [5]
    assert not bench.camera.is_streaming


def test_abort_while_waiting_for_the_operator(tmp_path, bench) -> None:
    plan = FocusSweepPlan.from_range(1700, 2400, 2, settle_s=0.0)
    writer = _session(tmp_path / "s", bench, plan)
    engine = AcquisitionEngine(bench)
    asked = threading.Event()
    engine.bus.subscribe(lambda e: asked.set() if e.kind == "prompt" else 0, inline=True)
    engine.start(AifCapturePlan(), AifSink(writer))
    assert asked.wait(10)
    time.sleep(0.1)
    t0 = time.monotonic()
    engine.abort()
    result = engine.wait(5)
    writer.close()
    assert result is not None and result.status == "aborted"
    assert time.monotonic() - t0 < 1.0
    assert bench.info.world.aperture_scale == 1.0


def test_pattern_scan_from_a_provider_resumes_in_a_fresh_process(tmp_path, bench) -> None:
    """A stored scan naming a source registered by psfbench.core.fringe is rebuilt without anyone
    having imported psfbench.core.fringe first (what `acquire resume` does in a new process)."""
    import subprocess
    import sys

    code = (
        "from psfbench.core.acquisition.plans import plan_from_dict;"
        "p = plan_from_dict({'kind': 'pattern_scan', 'source': 'fringe_scan',"
        "'params': {'counts': [8, 7], 'steps': 4}, 'settle_s': 0.0, 'average': 1});"
        "print(p.total_steps())"
    )
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=repo, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "8"


def test_engine_drives_the_basler_emulator(tmp_path) -> None:
    """The real pypylon driver path (camera emulation) under the engine: single grabs for a
    sweep, one-by-one streaming for a repeat capture, every frame id accounted for."""
    pytest.importorskip("pypylon")
    profile = tmp_path / "emu.toml"
    profile.write_text(
        'name = "emu"\n[camera]\ndriver = "basler"\nemulated = 1\npixel_format = "Mono12"\n'
        "roi = [0, 0, 64, 48]\n"
    )
    b = open_bench(profile, virtual_overrides={"time_scale": 0.01})
    try:
        plan = FocusSweepPlan.from_range(1700, 2400, 4, settle_s=0.0)
        writer = _session(tmp_path / "sweep", b, plan)
        result, _, _ = _run(b, plan, writer)
        writer.close()
        assert result.status == "completed", result.message
        report = Session.open(tmp_path / "sweep").validate()
        assert report.valid and report.frames == 4 and report.shape == [48, 64]

        rplan = RepeatCapturePlan(count=6, position=2000)
        writer = _session(tmp_path / "repeat", b, rplan)
        result, rec, _ = _run(b, rplan, writer)
        writer.close()
        assert result.status == "completed", result.message
        session = Session.open(tmp_path / "repeat")
        ids = [r.device_state["frame_id"] for r in session.records]
        assert ids == list(range(ids[0], ids[0] + 6))
        assert not rec.of("warning")
        assert session.meta.camera.bit_depth == 12 and session.frame(0).max() <= 4095
    finally:
        b.close()
