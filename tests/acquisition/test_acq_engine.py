"""Engine contract without devices: event order, pause/resume/abort, backpressure, failures."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from psfbench.core.acquisition import AcquisitionEngine, EventBus, RunState
from psfbench.core.acquisition.session_io import SessionSink
from psfbench.core.dataset import Session, SessionWriter

from .acq_helpers import (
    CountingPlan,
    NoDeviceBench,
    QuotaSink,
    Recorder,
    SlowSink,
    new_session,
)


def _engine(**kw: object) -> tuple[AcquisitionEngine, Recorder]:
    bus = EventBus()
    rec = Recorder()
    bus.subscribe(rec, name="recorder")
    return AcquisitionEngine(NoDeviceBench(), bus=bus, **kw), rec  # type: ignore[arg-type]


def test_event_order_and_session_contents(tmp_path) -> None:
    plan = CountingPlan(6)
    writer = new_session(tmp_path / "s", plan)
    engine, rec = _engine()
    result = engine.run(plan, SessionSink(writer))
    writer.close()
    assert engine.bus.flush(5)
    assert result.status == "completed" and result.missing == ()
    kinds = rec.kinds()
    assert kinds[0] == "started" and kinds[-1] == "finished"
    assert rec.of("finished")[0].status == "completed"
    steps = [e.index for e in rec.of("step")]
    saved = [e.index for e in rec.of("frame_saved")]
    assert steps == saved == list(range(6))
    # each frame is announced as acquired before it is announced as saved
    for i in range(6):
        assert kinds.index("step") <= kinds.index("frame_saved")
        s = next(k for k, e in enumerate(rec.events) if e.kind == "step" and e.index == i)
        f = next(k for k, e in enumerate(rec.events) if e.kind == "frame_saved" and e.index == i)
        assert s < f
    progress = rec.of("progress")
    assert [p.done for p in progress] == list(range(1, 7))
    assert progress[-1].eta_s == 0
    session = Session.open(tmp_path / "s")
    report = session.validate()
    assert report.valid and report.frames == 6 and report.missing_steps == []
    assert np.all(session.frame(3) == 3)
    assert session.record(3).d_mm == 13.0 and session.record(3).motor_steps == 3
    assert engine.state is RunState.FINISHED


def test_pause_resume_and_no_steps_while_paused(tmp_path) -> None:
    plan = CountingPlan(8, step_s=0.02)
    writer = new_session(tmp_path / "s", plan)
    engine, rec = _engine()
    paused = threading.Event()
    engine.bus.subscribe(lambda e: paused.set() if e.kind == "paused" else None, inline=True)
    engine.start(plan, SessionSink(writer))
    while len(plan.acquired) < 2:
        time.sleep(0.005)
    assert engine.pause()
    assert paused.wait(5)
    assert engine.state is RunState.PAUSED
    n = len(plan.acquired)
    time.sleep(0.2)
    assert len(plan.acquired) == n  # nothing acquired while paused
    assert engine.resume()
    result = engine.wait(10)
    writer.close()
    engine.bus.flush(5)
    assert result is not None and result.status == "completed"
    kinds = rec.kinds()
    assert kinds.count("paused") == 1 and kinds.count("resumed") == 1
    p, r = kinds.index("paused"), kinds.index("resumed")
    assert "step" not in kinds[p:r]
    assert rec.of("paused")[0].next_index == rec.of("resumed")[0].next_index == n
    # (that the pause is not counted in the ETA: test_time_paused_is_not_in_the_eta)
    index, image = engine.latest_frame
    assert index == 7 and int(image[0, 0]) == 7
    assert Session.open(tmp_path / "s").validate().frames == 8


def test_abort_interrupts_long_settle_and_leaves_consistent_session(tmp_path) -> None:
    plan = CountingPlan(5, settle_s=30.0)
    writer = new_session(tmp_path / "s", plan)
    engine, rec = _engine()
    engine.start(plan, SessionSink(writer))
    time.sleep(0.1)
    t0 = time.monotonic()
    assert engine.abort()
    result = engine.wait(5)
    assert time.monotonic() - t0 < 1.0  # no waiting out the 30 s settle
    writer.close()
    engine.bus.flush(5)
    assert result is not None and result.status == "aborted"
    assert result.missing == (0, 1, 2, 3, 4)
    assert plan.torn_down.is_set()
    assert rec.kinds()[-1] == "finished" and rec.of("finished")[0].status == "aborted"
    report = Session.open(tmp_path / "s").validate()
    assert report.valid and report.missing_steps == [0, 1, 2, 3, 4]


def test_abort_while_paused(tmp_path) -> None:
    plan = CountingPlan(5, step_s=0.01)
    writer = new_session(tmp_path / "s", plan)
    engine, rec = _engine()
    paused = threading.Event()
    engine.bus.subscribe(lambda e: paused.set() if e.kind == "paused" else None, inline=True)
    engine.start(plan, SessionSink(writer))
    engine.pause()
    assert paused.wait(5)
    engine.abort()
    result = engine.wait(5)
    writer.close()
    assert result is not None and result.status == "aborted"
    assert len(result.saved_this_run) + len(result.missing) == 5
    assert not engine.resume() and not engine.pause()


def test_slow_subscriber_and_slow_disk_lose_nothing(tmp_path) -> None:
    """A subscriber 100x slower than acquisition delays only itself; a slow disk applies
    backpressure (the queue holds 1 frame) and still every frame is stored in order."""
    n = 25
    plan = CountingPlan(n)
    writer = new_session(tmp_path / "s", plan)
    bus = EventBus()
    slow_seen: list[str] = []

    def slow(event: object) -> None:
        time.sleep(0.02)
        slow_seen.append(event.kind)  # type: ignore[attr-defined]

    bus.subscribe(slow, name="slow")
    engine = AcquisitionEngine(NoDeviceBench(), bus=bus, writer_queue=1)
    t0 = time.monotonic()
    result = engine.run(plan, SlowSink(writer, 0.01))
    run_s = time.monotonic() - t0
    writer.close()
    assert result.status == "completed" and result.missing == ()
    assert len(slow_seen) < 3 * n + 2  # acquisition finished before the subscriber caught up
    assert run_s < 0.02 * (3 * n + 2)
    assert bus.flush(10)
    assert slow_seen.count("frame_saved") == n and slow_seen[-1] == "finished"
    session = Session.open(tmp_path / "s")
    assert session.indices == list(range(n))
    assert all(int(session.frame(i)[0, 0]) == i for i in range(n))


def test_broken_subscriber_does_not_break_the_run(tmp_path) -> None:
    plan = CountingPlan(3)
    writer = new_session(tmp_path / "s", plan)
    engine, rec = _engine()

    def broken(event: object) -> None:
        raise RuntimeError("subscriber bug")

    sub = engine.bus.subscribe(broken, inline=True)
    result = engine.run(plan, SessionSink(writer))
    writer.close()
    assert result.status == "completed"
    assert sub.errors == sub.delivered > 0


def test_disk_full_fails_cleanly_then_resume_completes(tmp_path) -> None:
    plan = CountingPlan(6)
    writer = new_session(tmp_path / "s", plan)
    engine, rec = _engine()
    result = engine.run(plan, QuotaSink(writer, quota_frames=3))
    writer.close()
    engine.bus.flush(5)
    assert result.status == "failed"
    assert "disk full" in result.message and str(tmp_path / "s") in result.message
    errors = rec.of("error")
    assert len(errors) == 1 and errors[0].index == 3 and "disk full" in errors[0].message
    assert rec.kinds()[-1] == "finished"
    report = Session.open(tmp_path / "s").validate()
    assert report.valid and report.frames == 3 and report.missing_steps == [3, 4, 5]
    # space freed: resume the missing steps only
    writer = SessionWriter.open_existing(tmp_path / "s")
    plan2 = CountingPlan(6)
    result = AcquisitionEngine(NoDeviceBench()).run(
        plan2, SessionSink(writer), steps=writer.missing_steps(), resumed=True
    )
    writer.close()
    assert result.status == "completed" and plan2.acquired == [3, 4, 5]
    report = Session.open(tmp_path / "s").validate()
    assert report.valid and report.frames == 6 and report.duplicate_indices == []


class _FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


class _ClockedPlan(CountingPlan):
    """Each step takes exactly ``step`` seconds of a fake clock, and starts only after the
    previous frame's Progress event: the ETA is then exact, whatever the machine's load (the
    real-time version of this test failed on a loaded CI runner)."""

    def __init__(self, n: int, clock: _FakeClock, step: float) -> None:
        super().__init__(n)
        self.clock, self.step = clock, step
        self.saved = threading.Semaphore(0)
        self.n_saved = 0
        self.saved_cv = threading.Condition()

    def on_progress(self) -> None:
        with self.saved_cv:
            self.n_saved += 1
            self.saved_cv.notify_all()
        self.saved.release()

    def acquire(self, ctx, index):  # type: ignore[no-untyped-def]
        if index > 0:
            assert self.saved.acquire(timeout=10)  # frame index - 1 is on disk
        self.clock.t += self.step
        return super().acquire(ctx, index)


def _clocked(tmp_path, n: int, step: float):  # type: ignore[no-untyped-def]
    clock = _FakeClock()
    plan = _ClockedPlan(n, clock, step)
    writer = new_session(tmp_path / "s", plan)
    engine, rec = _engine(clock=clock)
    engine.bus.subscribe(lambda e: plan.on_progress() if e.kind == "progress" else None,
                         inline=True)  # fmt: skip
    return clock, plan, writer, engine, rec


def test_eta_is_elapsed_per_frame_times_frames_left(tmp_path) -> None:
    step = 2.5
    _clock, plan, writer, engine, rec = _clocked(tmp_path, 10, step)
    engine.run(plan, SessionSink(writer))
    writer.close()
    engine.bus.flush(5)
    progress = rec.of("progress")
    assert [p.done_this_run for p in progress] == list(range(1, 11))
    for p in progress:
        assert p.eta_s == pytest.approx((p.to_run - p.done_this_run) * step)
        assert p.elapsed_s == pytest.approx(p.done_this_run * step)


def test_time_paused_is_not_in_the_eta(tmp_path) -> None:
    step = 2.0
    clock, plan, writer, engine, rec = _clocked(tmp_path, 6, step)
    paused = threading.Event()
    engine.bus.subscribe(lambda e: paused.set() if e.kind == "paused" else None, inline=True)
    original = plan.acquire

    def acquire(ctx, index):  # type: ignore[no-untyped-def]
        if index == 3:  # pause before step 3 starts, stay paused 500 s of the clock
            engine.pause()
        return original(ctx, index)

    plan.acquire = acquire  # type: ignore[method-assign]
    engine.start(plan, SessionSink(writer))
    assert paused.wait(10)
    with plan.saved_cv:  # frames 0-3 are on disk (their ETAs read the clock) before it jumps
        assert plan.saved_cv.wait_for(lambda: plan.n_saved == 4, timeout=10)
    clock.t += 500.0
    assert engine.resume()
    result = engine.wait(10)
    writer.close()
    engine.bus.flush(5)
    assert result is not None and result.status == "completed"
    for p in rec.of("progress"):
        assert p.eta_s == pytest.approx((p.to_run - p.done_this_run) * step)


def test_second_start_while_running_is_refused(tmp_path) -> None:
    plan = CountingPlan(3, settle_s=5.0)
    writer = new_session(tmp_path / "s", plan)
    engine, _ = _engine()
    engine.start(plan, SessionSink(writer))
    with pytest.raises(RuntimeError, match="already in progress"):
        engine.start(plan, SessionSink(writer))
    engine.abort()
    assert engine.wait(5) is not None
    writer.close()


def test_out_of_range_steps_rejected(tmp_path) -> None:
    plan = CountingPlan(3)
    engine, _ = _engine()
    with pytest.raises(ValueError, match="outside"):
        engine.start(plan, SessionSink(new_session(tmp_path / "s", plan)), steps=[0, 7])
