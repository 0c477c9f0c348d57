"""The focus sweep panel against the virtual bench: runs, pause/resume/abort, prompts, faults,
resume of a stopped session, plan files; every check ends on the session on disk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from psfbench.core.dataset import Session

#: small frames and 100x fast time: a step costs tens of ms of wall time
SMALL_BENCH = {"time_scale": 0.01, "width": 64, "height": 48}
TIMEOUT = 30_000


@pytest.fixture
def model(qtbot) -> Iterator:  # type: ignore[no-untyped-def]
    from psfbench.app.bench_model import BenchModel

    m = BenchModel()
    errors: list[tuple[str, str]] = []
    m.errorOccurred.connect(lambda t, msg: errors.append((t, msg)))
    m.connect_bench("virtual", dict(SMALL_BENCH))
    qtbot.waitUntil(lambda: m.connected, timeout=TIMEOUT)
    m.test_errors = errors  # type: ignore[attr-defined]
    yield m
    m.close()


@pytest.fixture
def panel(qtbot, model, gui_settings, tmp_path):  # type: ignore[no-untyped-def]
    from psfbench.app.panels.sweep import SweepPanel

    gui_settings.sessions_dir = str(tmp_path / "sessions")
    p = SweepPanel(model, gui_settings)
    qtbot.addWidget(p)
    p.resize(420, 760)
    p.show()
    qtbot.waitUntil(lambda: p.facts.soft_limits is not None, timeout=TIMEOUT)
    p.events = []  # type: ignore[attr-defined]
    model.acquisitionEvent.connect(p.events.append)  # type: ignore[attr-defined]
    yield p
    p.shutdown()
    if p.error_box is not None:
        p.error_box.close()


def _set(spin, value) -> None:  # type: ignore[no-untyped-def]
    """As a user: type the value, then leave the field (one editingFinished)."""
    spin.setValue(value)
    spin.editingFinished.emit()


def _plan(panel, *, steps: int, settle_s: float, aif: str, near: int = 1000, far: int = 2400):  # type: ignore[no-untyped-def]
    panel.unit_box.setCurrentIndex(0)  # motor steps
    _set(panel.near_spin, near)
    _set(panel.far_spin, far)
    _set(panel.steps_spin, steps)
    _set(panel.settle_spin, settle_s)
    panel.aif_box.setCurrentIndex(0 if aif == "capture" else 1)


def _click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _session(panel) -> Path:  # type: ignore[no-untyped-def]
    sessions = sorted((Path(panel.settings.sessions_dir)).iterdir())
    assert len(sessions) == 1, sessions
    return sessions[0]


def _finished(panel) -> list:  # type: ignore[no-untyped-def]
    return [e for e in panel.events if e.kind == "finished"]


def _saved_steps(path: Path) -> int:
    log = path / "sweep.jsonl"
    return log.read_bytes().count(b"\n") if log.exists() else 0


def _on_step(model, index: int, action) -> list[int]:  # type: ignore[no-untyped-def]
    """Do ``action`` once (on the GUI thread, as a click would) when step ``index`` or a later
    one is reported: acts mid-run whatever the machine's speed."""
    fired: list[int] = []

    def hook(event) -> None:  # type: ignore[no-untyped-def]
        if event.kind == "step" and event.index >= index and not fired:
            fired.append(event.index)
            action()

    model.acquisitionEvent.connect(hook)
    return fired


def _answer_prompt(qtbot, panel, accept: bool) -> str:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: panel.prompt_box is not None, timeout=TIMEOUT)
    box = panel.prompt_box
    assert box.isVisible()
    text = box.text()
    which = QMessageBox.StandardButton.Ok if accept else QMessageBox.StandardButton.Cancel
    qtbot.mouseClick(box.button(which), Qt.MouseButton.LeftButton)
    return text


def test_pause_resume_abort_then_resume_completes_the_session(qtbot, panel, model) -> None:
    _plan(panel, steps=8, settle_s=5.0, aif="capture")  # 50 ms settle per step
    assert "≈" in panel.estimate_label.text() and "8 steps" in panel.estimate_label.text()
    _on_step(model, 1, lambda: _click(qtbot, panel.pause_button))
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: model.running, timeout=TIMEOUT)
    # the form is locked while running; only the run buttons work
    assert not panel.plan_group.isEnabled() and not panel.out_group.isEnabled()
    assert not panel.start_button.isEnabled() and not panel.mark_near.isEnabled()
    assert panel.abort_button.isEnabled()
    out = _session(panel)

    qtbot.waitUntil(lambda: any(e.kind == "paused" for e in panel.events), timeout=TIMEOUT)
    assert panel.resume_button.isEnabled() and not panel.pause_button.isEnabled()
    assert "Paused" in panel.status_label.text()
    (paused,) = [e for e in panel.events if e.kind == "paused"]
    assert model.engine.state.value == "paused" and 2 <= paused.next_index < 8
    qtbot.waitUntil(lambda: _saved_steps(out) == paused.next_index, timeout=TIMEOUT)
    qtbot.wait(300)  # nothing is taken while paused
    assert _saved_steps(out) == paused.next_index

    # resume, and abort as soon as the next step is in
    _on_step(model, paused.next_index, lambda: _click(qtbot, panel.abort_button))
    _click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    (fin,) = _finished(panel)
    assert fin.status == "aborted" and fin.done < 8
    report = Session.open(out).validate()
    assert report.valid and paused.next_index + 1 <= report.frames < 8
    assert not report.has_aif
    assert panel.plan_group.isEnabled() and panel.resume_button.isEnabled()
    assert "Resume" in panel.status_label.text()

    # a later resume takes only the missing steps, then the all-in-focus shot
    before = report.frames
    _click(qtbot, panel.resume_button)
    message = _answer_prompt(qtbot, panel, accept=True)
    assert "MINIMUM aperture" in message
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    assert [e.status for e in _finished(panel)] == ["aborted", "completed", "completed"]
    started = [e for e in panel.events if e.kind == "started"]
    assert started[1].resumed and started[1].steps_to_run == 8 - before
    report = Session.open(out).validate()
    assert report.valid and report.frames == 8 and report.duplicate_indices == []
    assert report.has_aif
    assert "complete" in panel.status_label.text() and not panel.resume_button.isEnabled()
    assert panel.name_edit.text() == "sweep_002"  # the next session gets a new folder
    assert len(panel._d) == 8  # the plot holds every step's d (and Df)
    assert model.test_errors == []


def _fully_drawn(label) -> bool:  # type: ignore[no-untyped-def]
    """A (word-wrapped) label has the height its text needs at its width: no row cut."""
    need = label.heightForWidth(label.width()) if label.wordWrap() else label.sizeHint().height()
    return label.isVisible() and label.height() >= need


def test_plan_summary_replaces_the_form_while_running(qtbot, panel, model) -> None:
    """At the main window's dock size (1366x768) the locked form gives way to a read-only
    summary of the plan (before: a splitter squeezed it to a stub with the Near row cut in
    half) and its room goes to the monitor; the form comes back, unchanged, after the run."""
    panel.resize(450, 680)
    _plan(panel, steps=8, settle_s=5.0, aif="skip", near=1200, far=2000)
    _set(panel.average_spin, 2)
    _set(panel.exposure_spin, 12000)
    before = panel.form()
    qtbot.waitUntil(lambda: panel.form_scroll.isVisible() and not panel.summary_group.isVisible())
    # idle: the whole form is shown without scrolling at this size
    assert panel.form_scroll.verticalScrollBar().maximum() == 0
    idle_monitor = panel.monitor.height()

    _on_step(model, 1, lambda: _click(qtbot, panel.pause_button))
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: any(e.kind == "paused" for e in panel.events), timeout=TIMEOUT)
    out = _session(panel)
    assert panel.summary_group.isVisible() and not panel.form_scroll.isVisible()
    assert not panel.plan_group.isEnabled()  # still locked (hidden) while running
    text = panel.summary
    for want in ("1200 … 2000 motor steps", "steps: 8", "settle 5 s", "averaging 2 frames",
                 "exposure 12000 µs", "aif: Skip", f"session: {out}"):  # fmt: skip
        assert want in text, (want, text)
    assert all(_fully_drawn(label) for label in panel.summary_labels.values())
    assert panel.summary_group.height() >= panel.summary_group.minimumSizeHint().height()
    assert panel.monitor.height() > idle_monitor + 150  # the run gets the form's room
    # the summary is the plan the session on disk runs
    positions = Session.open(out).meta.plan.parameters["engine_plan"]["positions"]
    assert (positions[0], positions[-1], len(positions)) == (1200, 2000, 8)

    _click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    assert Session.open(out).validate().frames == 8
    assert panel.form_scroll.isVisible() and not panel.summary_group.isVisible()
    assert panel.plan_group.isEnabled() and panel.form() == before
    # the whole form again, the monitor back to about its idle height (the status may wrap)
    qtbot.waitUntil(lambda: panel.form_scroll.verticalScrollBar().maximum() == 0)
    qtbot.waitUntil(lambda: abs(panel.monitor.height() - idle_monitor) < 40, timeout=TIMEOUT)


def test_short_dock_scrolls_the_form_by_rows_and_keeps_the_run_controls(qtbot, panel) -> None:
    """Idle in a short dock the form scrolls (by one form row per step) and is never
    squeezed below a few rows; the run controls and the monitor stay whole."""
    panel.resize(450, 470)
    scroll = panel.form_scroll
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() > 0)
    assert scroll.height() >= scroll.minimumSizeHint().height() >= 2 * scroll.row_pitch
    assert scroll.verticalScrollBar().singleStep() == scroll.row_pitch
    assert scroll.row_pitch >= panel.near_spin.height()
    for b in (panel.start_button, panel.abort_button):
        assert b.visibleRegion().boundingRect() == b.rect()
    assert _fully_drawn(panel.status_label)
    assert panel.monitor.height() >= panel.monitor.minimumHeight()
    # a tall dock shows the whole form, the monitor takes the rest
    panel.resize(450, 1000)
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() == 0)
    assert panel.monitor.height() > 300


def test_abort_right_after_the_first_step_ends_aborted(qtbot, panel, model) -> None:
    """The GUI's Abort takes the engine's abort path: requested between steps, never lost."""
    _plan(panel, steps=8, settle_s=2.0, aif="capture")

    def abort_on_first_step(event) -> None:  # type: ignore[no-untyped-def]
        if event.kind == "step" and event.index == 0:
            panel.abort()

    model.acquisitionEvent.connect(abort_on_first_step)
    try:
        _click(qtbot, panel.start_button)
        qtbot.waitUntil(lambda: bool(_finished(panel)), timeout=TIMEOUT)
        qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    finally:
        model.acquisitionEvent.disconnect(abort_on_first_step)
    (fin,) = _finished(panel)
    assert fin.status == "aborted" and fin.done < fin.total == 8
    assert not any(e.kind == "prompt" for e in panel.events)  # no AIF after an abort
    report = Session.open(_session(panel)).validate()
    assert report.valid and 1 <= report.frames < 8 and not report.has_aif


def test_estop_mid_sweep_stops_without_the_aif_and_leaves_it_resumable(qtbot, panel, model) -> None:
    _plan(panel, steps=8, settle_s=2.0, aif="capture")
    _on_step(model, 1, model.estop)
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: bool(_finished(panel)), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    (fin,) = _finished(panel)
    assert fin.status == "aborted" and not any(e.kind == "prompt" for e in panel.events)
    report = Session.open(_session(panel)).validate()
    assert report.valid and 2 <= report.frames < 8
    assert panel.resume_button.isEnabled()


def test_prompt_cancel_ends_without_aif_and_resume_takes_it(qtbot, panel, model) -> None:
    _plan(panel, steps=6, settle_s=0.0, aif="capture")
    _click(qtbot, panel.start_button)
    _answer_prompt(qtbot, panel, accept=False)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    out = _session(panel)
    report = Session.open(out).validate()
    assert report.valid and report.frames == 6 and not report.has_aif
    assert [e.status for e in _finished(panel)] == ["completed", "aborted"]
    assert "All-in-focus shot not taken" in panel.status_label.text()
    assert panel.resume_button.isEnabled()
    # Resume: no step is missing, so only the all-in-focus shot is taken
    _click(qtbot, panel.resume_button)
    _answer_prompt(qtbot, panel, accept=True)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    report = Session.open(out).validate()
    assert report.valid and report.frames == 6 and report.has_aif
    assert [e for e in panel.events if e.kind == "started"][-1].plan == "aif_capture"


def test_camera_timeout_is_reported_and_resume_after_the_fix_completes(qtbot, panel, model) -> None:
    _plan(panel, steps=8, settle_s=5.0, aif="skip")
    faults = model.bench.info.world.faults
    _on_step(model, 1, lambda: setattr(faults, "camera_timeout", True))
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: model.running, timeout=TIMEOUT)
    out = _session(panel)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    (fin,) = _finished(panel)
    assert fin.status == "failed"
    assert any(e.kind == "error" for e in panel.events)
    # the user sees what failed and what to do, inline and in a message box
    assert "no frame" in panel.message and "Resume" in panel.message
    assert panel.error_box is not None and panel.error_box.isVisible()
    assert "no frame" in panel.error_box.text()
    report = Session.open(out).validate()
    assert report.valid and 2 <= report.frames < 8
    assert panel.resume_button.isEnabled()

    faults.camera_timeout = False
    _click(qtbot, panel.resume_button)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    assert _finished(panel)[-1].status == "completed"
    report = Session.open(out).validate()
    assert report.valid and report.frames == 8 and report.duplicate_indices == []
    assert not report.has_aif  # policy "skip"
    assert not panel.resume_button.isEnabled()


def test_resume_session_of_a_folder_with_missing_steps(qtbot, panel, model, tmp_path) -> None:
    """The session browser's entry point: a folder a CLI sweep left incomplete."""
    from psfbench.core.cli import main

    out = tmp_path / "cli-session"
    args = ["acquire", "sweep", "--profile", "virtual", "--out", str(out), "--quiet"]
    args += ["--steps", "5", "--aif", "skip", "--settle", "0"]
    for k, v in SMALL_BENCH.items():
        args += ["--virtual", f"{k}={v}"]
    assert main(args) == 0
    # drop the last two steps as an interrupted sweep would have left them
    log = out / "sweep.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:3]))
    for rec in lines[3:]:
        (out / json.loads(rec)["frame"]).unlink()
    assert Session.open(out).validate().missing_steps == [3, 4]
    assert panel.resume_session(out)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    started = [e for e in panel.events if e.kind == "started"]
    assert len(started) == 1 and started[0].resumed and started[0].steps_to_run == 2
    report = Session.open(out).validate()
    assert report.valid and report.frames == 5 and report.duplicate_indices == []
    # a complete session: nothing to do, said so
    assert panel.resume_session(out)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    assert "nothing to resume" in panel.status_label.text()


def test_range_in_focus_depth_reaches_those_focus_depths(qtbot, panel, model) -> None:
    """A Df range: the motor is homed at Start and the recorded d give back those Df."""
    from psfbench.app.panels.sweep import focus_depth_mm

    idx = panel.unit_box.findData("Df_mm")
    assert panel.unit_box.model().item(idx).isEnabled()  # the virtual profile has a lens
    panel.unit_box.setCurrentIndex(idx)
    _set(panel.near_spin, 420.0)
    _set(panel.far_spin, 600.0)
    _set(panel.steps_spin, 3)
    _set(panel.settle_spin, 0.0)
    panel.aif_box.setCurrentIndex(1)
    _click(qtbot, panel.start_button)
    qtbot.waitUntil(lambda: not panel.busy, timeout=TIMEOUT)
    session = Session.open(_session(panel))
    assert session.validate().valid
    f_mm, e_mm = panel.facts.F_mm, panel.facts.e_mm
    df = [focus_depth_mm(r.d_mm, e_mm, f_mm) for r in session.records]
    # the ends are the Df asked for (1 motor step is ~0.5 mm of Df here, the sensor noise a
    # few um of d); steps are evenly spaced in motor position, i.e. in d, not in Df
    assert [df[0], df[-1]] == pytest.approx([420.0, 600.0], abs=2.0)
    d = [r.d_mm for r in session.records]
    assert d[1] == pytest.approx((d[0] + d[2]) / 2, abs=0.01) and df[0] < df[1] < df[2]
    assert session.meta.plan.parameters["engine_plan"]["spec"]["unit"] == "Df_mm"


def test_mark_near_and_far_read_the_focus_position(qtbot, panel, model) -> None:
    ctl = model.bench.focus
    done = []
    model.call(ctl.home, on_done=done.append)
    qtbot.waitUntil(lambda: bool(done), timeout=TIMEOUT)
    model.call(ctl.move_abs, 1500, on_done=done.append)
    qtbot.waitUntil(lambda: len(done) == 2, timeout=TIMEOUT)
    panel.unit_box.setCurrentIndex(0)
    _click(qtbot, panel.mark_near)
    qtbot.waitUntil(lambda: panel.near_spin.value() == 1500, timeout=TIMEOUT)
    model.call(ctl.move_abs, 2100, on_done=done.append)
    qtbot.waitUntil(lambda: len(done) == 3, timeout=TIMEOUT)
    panel.unit_box.setCurrentIndex(panel.unit_box.findData("d_mm"))
    _click(qtbot, panel.mark_far)
    true_d = model.bench.info.world.true_d_mm()
    qtbot.waitUntil(lambda: abs(panel.far_spin.value() - true_d) < 0.02, timeout=TIMEOUT)
    # near was converted to d when the unit changed: 600 steps = 1.5 mm below far
    assert panel.near_spin.value() == pytest.approx(true_d - 1.5, abs=0.02)


def test_plan_file_round_trip_and_bad_files(qtbot, panel, tmp_path) -> None:
    _plan(panel, steps=12, settle_s=0.35, aif="skip", near=900, far=2100)
    _set(panel.average_spin, 3)
    _set(panel.exposure_spin, 12000)
    path = panel.save_plan(tmp_path / "my-plan.json")
    assert path == tmp_path / "my-plan.json"
    data = json.loads(path.read_text())
    assert data["range"] == {"unit": "steps", "near": 900.0, "far": 2100.0}
    assert data["steps"] == 12 and data["average"] == 3 and data["exposure_us"] == 12000.0
    assert data["aif"] == "skip" and data["settle_s"] == pytest.approx(0.35)
    saved = panel.form()

    _plan(panel, steps=4, settle_s=1.0, aif="capture", near=100, far=200)
    _set(panel.exposure_spin, 0)  # "camera setting"
    assert panel.form() != saved
    assert panel.load_plan(path)
    assert panel.form() == saved and panel.steps_spin.value() == 12
    assert panel.exposure_spin.value() == 12000 and panel.aif_box.currentData() == "skip"

    bad = {
        "not-json.json": ("{steps: 3", "not JSON"),
        "steps.json": ({**data, "steps": 0}, "steps: must be >= 1"),
        "unit.json": ({**data, "range": {**data["range"], "unit": "inch"}}, "range.unit"),
        "far.json": ({**data, "range": {"unit": "steps", "near": 1}}, "range.far: missing"),
        "settle.json": ({**data, "settle_s": "slow"}, "settle_s: expected a number"),
        "extra.json": ({**data, "speed": 3}, "speed: unknown field"),
    }
    for name, (content, expect) in bad.items():
        f = tmp_path / name
        f.write_text(content if isinstance(content, str) else json.dumps(content))
        assert not panel.load_plan(f)
        assert str(f) in panel.message and expect in panel.message, panel.message
        assert panel.form() == saved  # a bad file changes nothing
    assert not panel.load_plan(tmp_path / "missing.json")
    assert "cannot read" in panel.message


def test_panel_state_is_remembered_and_a_bad_one_ignored(qtbot, model, gui_settings) -> None:
    from psfbench.app.panels.sweep import SweepPanel

    p = SweepPanel(model, gui_settings)
    qtbot.addWidget(p)
    _set(p.steps_spin, 17)
    p.shutdown()
    assert gui_settings.panels["sweep"]["plan"]["steps"] == 17
    q = SweepPanel(model, gui_settings)
    qtbot.addWidget(q)
    assert q.steps_spin.value() == 17
    q.shutdown()
    gui_settings.panels = {"sweep": {"plan": {"format": "psfbench-sweep-plan", "steps": -1}}}
    r = SweepPanel(model, gui_settings)
    qtbot.addWidget(r)
    assert r.steps_spin.value() == 40  # defaults, no crash
    r.shutdown()


def test_plan_summary_text() -> None:
    """The summary reads plans from the form (steps, d, Df) and from CLI sessions (mm)."""
    from psfbench.app.panels.sweep import plan_summary
    from psfbench.core.acquisition import FocusSweepPlan

    cli = FocusSweepPlan.from_range(1.0, 9.0, 5, unit="mm", steps_per_mm=400, settle_s=0.2)
    s = plan_summary(cli, aif=False, resumed=True, aif_policy="capture", to_take=2)
    assert s["range"] == "1.000 … 9.000 mm from home (motor 400 → 3600 steps)"
    assert s["steps"] == "5 (2 missing, taken now)" and s["aif"] == "already taken"
    assert s["step"] == "settle 0.2 s · averaging 1 frame · exposure camera setting"
    df = FocusSweepPlan(positions=(10, 20), exposure_us=500.0, average=3,
                        spec={"unit": "Df_mm", "start": 420.0, "stop": 600.0})  # fmt: skip
    s = plan_summary(df, aif=True, camera_exposure_us=9000.0)
    assert s["range"] == "Df 420.0 … 600.0 mm (motor 10 → 20 steps)"
    assert "averaging 3 frames · exposure 500 µs" in s["step"] and "Capture" in s["aif"]
    assert plan_summary(None, aif=False)["range"] == "reading the session …"


def test_helpers() -> None:
    from psfbench.app.panels.sweep import (
        BenchFacts,
        SweepForm,
        estimate_duration_s,
        format_duration,
        move_time_s,
    )

    assert move_time_s(0, 4000, 20000) == 0
    assert move_time_s(4000, 4000, 20000) == pytest.approx(1.0 + 0.2)  # cruise + ramps
    assert move_time_s(100, 4000, 20000) == pytest.approx(2 * (100 / 20000) ** 0.5)
    facts = BenchFacts(speed=4000, accel=20000, exposure_us=10_000, position=0)
    form = SweepForm(steps=3, settle_s=0.5, average=2)
    t = estimate_duration_s((0, 100, 200), form, facts)
    assert t == pytest.approx(3 * (0.5 + 0.02) + 2 * move_time_s(100, 4000, 20000))
    assert format_duration(75) == "1 min 15 s" and format_duration(3.25) == "3.2 s"


def test_next_session_path(tmp_path) -> None:
    from psfbench.app.panels.sweep import next_session_path

    assert next_session_path(tmp_path / "none").name == "sweep_001"
    (tmp_path / "sweep_001").mkdir()
    (tmp_path / "sweep_007").mkdir()
    (tmp_path / "other").mkdir()
    assert next_session_path(tmp_path).name == "sweep_008"
