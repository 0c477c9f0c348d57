"""The projector-camera calibration wizard, driven by clicks and typing as a user would.

* From files: the real captures in ../shared/data/procam-graycode-calibration give the same
  RMS as ``psfbench calibrate procam`` with the same arguments (the CLI's JSON, to 1e-6);
  dropping a pose and recalibrating gives what calibrating the remaining poses directly gives;
  a stated RMS limit below the result refuses it; saving writes the profile's and the
  session's copy.
* Live: on the virtual bench's chessboard scene, the board is detected in the live view, three
  poses are captured through the engine into the CLI's folder layout and calibrate to the
  virtual projector's true focal length; an aborted capture keeps nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from psfbench.app.panels.calibration import ALL_POSES, PANEL_KEY, CalibrationPanel, WizardForm

PROCAM = "procam-graycode-calibration"
POSES = [f"capture_{i}" for i in range(5)]


def _type_into(qtbot, spin, value) -> None:  # type: ignore[no-untyped-def]
    """Replace a spin box's text by typing, then Enter (one valueCommitted)."""
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), str(value))
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)
    assert spin.value() == pytest.approx(value)


def _click(qtbot, button) -> None:  # type: ignore[no-untyped-def]
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _use_box(panel: CalibrationPanel, label: str):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QCheckBox

    for i, p in enumerate(panel.poses):
        if p.label == label:
            return panel.result_table.cellWidget(i, 0).findChild(QCheckBox)
    raise KeyError(label)


def _cli_json(folder: Path, out: Path, extra: list[str] | None = None) -> dict:  # type: ignore[type-arg]
    from psfbench.core.cli import main

    argv = ["calibrate", "procam", str(folder), "--projector", "1024x768", "--chessboard", "9x7"]
    argv += ["--square", "75", "--graycode-step", "1", "--json", str(out), *(extra or [])]
    assert main(argv) == 0
    return json.loads(out.read_text())


def _assert_table_matches(panel: CalibrationPanel, d: dict, labels: list[str]) -> None:  # type: ignore[type-arg]
    for key, col in (("camera_rms", "Camera px"), ("projector_rms", "Projector px")):
        assert panel.result_value(ALL_POSES, col) == pytest.approx(d[key], abs=1e-6)
    assert panel.result_value(ALL_POSES, "Stereo cam px") == pytest.approx(d["rms"], abs=1e-6)
    by = {Path(v["name"]).name: v for v in d["views"]}
    assert sorted(by) == sorted(labels)
    for label in labels:
        v = by[label]
        for key, col in (
            ("camera_rms", "Camera px"),
            ("projector_rms", "Projector px"),
            ("stereo_camera_rms", "Stereo cam px"),
            ("stereo_projector_rms", "Stereo proj px"),
        ):
            assert panel.result_value(label, col) == pytest.approx(v[key], abs=1e-6), (label, col)


def test_wizard_on_real_captures_matches_the_cli(
    qtbot, bench_model, gui_settings, shared_data, tmp_path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    folder = shared_data / PROCAM
    if not folder.is_dir():
        pytest.skip(f"real procam captures not found: {folder}")
    monkeypatch.setenv("PSFBENCH_CONFIG_DIR", str(tmp_path / "config"))
    gui_settings.sessions_dir = str(tmp_path / "sessions")
    panel = CalibrationPanel(bench_model, gui_settings)
    qtbot.addWidget(panel)
    panel.resize(1200, 760)
    panel.show()
    try:
        # Set-up, by clicks and typing: the CLI's arguments
        _click(qtbot, panel.step_buttons[0])
        radio = panel.folder_radio  # click on its indicator (the widget is wider than its text)
        qtbot.mouseClick(radio, Qt.MouseButton.LeftButton, pos=QPoint(8, radio.height() // 2))
        assert panel.folder_radio.isChecked() and panel.folder_edit.isEnabled()
        qtbot.keyClicks(panel.folder_edit, str(folder))
        qtbot.keyClick(panel.folder_edit, Qt.Key.Key_Return)
        _type_into(qtbot, panel.proj_w, 1024)
        _type_into(qtbot, panel.proj_h, 768)
        _type_into(qtbot, panel.board_cols, 9)
        _type_into(qtbot, panel.board_rows, 7)
        _type_into(qtbot, panel.square, 75)
        _type_into(qtbot, panel.step_spin, 1)
        assert panel.form.projector == (1024, 768) and panel.form.folder == str(folder)
        assert gui_settings.panels[PANEL_KEY]["projector"] == [1024, 768]
        # Poses: decode the folder on the worker
        _click(qtbot, panel.next_button)
        assert panel.step == 1 and panel.folder_box.isVisible() and not panel.live_box.isVisible()
        _click(qtbot, panel.load_button)
        qtbot.waitUntil(lambda: panel._loading is None and len(panel.poses) == 5, timeout=60_000)
        assert [p.label for p in panel.poses] == POSES
        assert all(p.usable for p in panel.poses)
        assert panel.pose_table.item(1, 1).text() == "53/63"  # capture_1: 10 corners undecoded
        assert panel.view.found is True and panel.view.n_corners == 63  # capture_0 shown
        # Calibrate
        _click(qtbot, panel.calibrate_button)
        qtbot.waitUntil(lambda: panel.calibration is not None, timeout=60_000)
        assert panel.step == 2
        cli = _cli_json(folder, tmp_path / "cli.json")
        _assert_table_matches(panel, cli, POSES)
        assert panel.result_table.item(5, 5).text() == f"{cli['rms']:.4f}"  # what is shown
        assert panel.check.ok and "Checks passed" in panel.checks_label.text()
        assert (
            panel.summary_labels["Same from the CLI"].text().startswith("psfbench calibrate procam")
        )

        # Drop the worst pose (capture_1) and recalibrate: the remaining four, directly
        _use_box(panel, "capture_1").click()
        assert not panel.poses[1].used
        _click(qtbot, panel.recalibrate_button)
        qtbot.waitUntil(
            lambda: panel.calibration is not None and len(panel.calibration.views) == 4,
            timeout=60_000,
        )
        four = tmp_path / "four"
        four.mkdir()
        for label in POSES:
            if label != "capture_1":
                os.symlink(folder / label, four / label)
        direct = _cli_json(four, tmp_path / "four.json")
        kept = [p for p in POSES if p != "capture_1"]
        _assert_table_matches(panel, direct, kept)
        assert panel.result_value("capture_1", "Stereo cam px") is None
        assert panel.result_table.item(1, 4).text() == "—"
        assert panel.summary_labels["Poses"].text() == "4 used; dropped: capture_1"
        assert direct["rms"] != pytest.approx(cli["rms"], abs=1e-4)  # the table did change

        # Save: beside the profile and into a session
        from psfbench.core.fringe.calibrate import load_calibration

        _click(qtbot, panel.save_profile_button)
        prof = tmp_path / "config" / "virtual.procam.json"
        assert panel.saved_paths["profile"] == prof
        assert load_calibration(prof).rms == pytest.approx(direct["rms"], abs=1e-9)
        _click(qtbot, panel.save_session_button)
        sess = panel.saved_paths["session"]
        assert sess.parent.parent == tmp_path / "sessions" and sess.name == "calibration.json"
        record = json.loads((sess.parent / "wizard.json").read_text())
        assert record["poses_dropped"] == ["capture_1"] and record["captures"] == str(folder)
        assert load_calibration(sess).rms == pytest.approx(direct["rms"], abs=1e-9)

        # A stated limit below the reached RMS: refused, shown, not savable
        _type_into(qtbot, panel.max_rms, 0.2)
        assert not panel.check.ok
        assert "Refused" in panel.checks_label.text()
        assert "exceeds the limit of 0.2 px" in panel.checks_label.text()
        assert not panel.save_profile_button.isEnabled()
        assert not panel.save_session_button.isEnabled()
        assert bench_model.test_errors == []
    finally:
        panel.shutdown()


@pytest.fixture
def chessboard_model(qtbot):  # type: ignore[no-untyped-def]
    """The virtual bench looking at its calibration chessboard (fast clock)."""
    from psfbench.app.bench_model import BenchModel

    model = BenchModel()
    errors: list[tuple[str, str]] = []
    model.errorOccurred.connect(lambda t, m: errors.append((t, m)))
    model.connect_bench("virtual", {"time_scale": 0.01, "scene": "chessboard"})
    qtbot.waitUntil(lambda: model.connected, timeout=30_000)
    model.test_errors = errors  # type: ignore[attr-defined]
    yield model
    model.close()


def _live_panel(qtbot, model, gui_settings, tmp_path):  # type: ignore[no-untyped-def]
    gui_settings.sessions_dir = str(tmp_path / "sessions")
    panel = CalibrationPanel(model, gui_settings)
    qtbot.addWidget(panel)
    panel.resize(1100, 700)
    panel.show()
    assert panel.live_radio.isChecked()
    # the virtual projector's pixels are smaller than the camera's: 2-pixel Gray-code blocks
    _type_into(qtbot, panel.step_spin, 2)
    _click(qtbot, panel.next_button)
    return panel


def test_live_capture_of_three_poses_calibrates_the_virtual_bench(
    qtbot, chessboard_model, gui_settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    model = chessboard_model
    world = model.bench.info.world
    panel = _live_panel(qtbot, model, gui_settings, tmp_path)
    try:
        assert panel.virtual_row.isVisible() and "projector: 640x400 px" in panel.proj_note.text()
        _click(qtbot, panel.detect_button)
        assert model.live_running and world.aperture_scale == 0.0  # stopped down while live
        qtbot.waitUntil(lambda: panel.view.found is True, timeout=20_000)
        assert panel.view.n_corners == 63 and "found, 63 corners" in panel.detect_label.text()
        qtbot.waitUntil(lambda: model.bench.projector.current is not None, timeout=5_000)
        assert float(model.bench.projector.current.min()) == 1.0  # the board lit white
        for k in range(3):
            _click(qtbot, panel.capture_button)
            qtbot.waitUntil(lambda k=k: len(panel.poses) == k + 1, timeout=60_000)
            assert panel.poses[k].usable, panel.poses[k].reason
            assert len(panel.poses[k].view.object) == 63
            # the board moves on after each capture, and the live view finds it again
            qtbot.waitUntil(lambda k=k: world.board_pose == k + 1, timeout=10_000)
            qtbot.waitUntil(lambda: panel.capture_button.isEnabled(), timeout=20_000)
        session = panel.pose_folder
        assert session is not None and session.parent == tmp_path / "sessions"
        names = sorted(p.name for p in (session / "capture_00").iterdir())
        assert names == [f"graycode_{i:02d}.png" for i in range(36)]  # 9 + 8 bits x2 + 2
        _click(qtbot, panel.calibrate_button)
        qtbot.waitUntil(lambda: panel.calibration is not None, timeout=60_000)
        cal = panel.calibration
        true_f = world.projector_matrix()[0, 0]
        assert abs(cal.projector_matrix[0, 0] - true_f) / true_f < 0.03
        true_c = world.camera_matrix()[0, 0]
        assert abs(cal.camera_matrix[0, 0] - true_c) / true_c < 0.03
        assert panel.check.ok and cal.rms < 1.0
        assert panel.result_value(ALL_POSES, "Stereo cam px") == pytest.approx(cal.rms)
        # the session folder is what `psfbench calibrate procam` reads: same numbers
        from psfbench.core.fringe.calibrate import calibrate_procam

        direct = calibrate_procam(
            session, projector_size=(640, 400), pattern=(9, 7), square=75.0, step=2
        )
        assert direct.rms == pytest.approx(cal.rms, abs=1e-6)
        assert model.test_errors == []
    finally:
        panel.shutdown()
    assert world.aperture_scale == 1.0 and not model.live_running
    # blanked (on the device thread, after the queued work)
    qtbot.waitUntil(lambda: model.bench.projector.current is None, timeout=5_000)


def test_aborted_capture_keeps_nothing(qtbot, chessboard_model, gui_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = chessboard_model
    panel = _live_panel(qtbot, model, gui_settings, tmp_path)
    try:
        _click(qtbot, panel.step_buttons[0])
        _type_into(qtbot, panel.settle, 5.0)  # 50 ms a pattern at the fast clock
        _click(qtbot, panel.step_buttons[1])
        _click(qtbot, panel.capture_button)
        qtbot.waitUntil(lambda: panel.progress.value() >= 2, timeout=20_000)
        folder = panel._capture.folder
        assert any(folder.glob("graycode_*.png"))  # frames go to disk as they arrive
        _click(qtbot, panel.abort_button)
        qtbot.waitUntil(lambda: panel._capture is None and not model.running, timeout=20_000)
        assert not folder.exists() and panel.poses == []
        assert "aborted; nothing kept" in panel.status_label.text()
        assert panel.capture_button.isEnabled()
    finally:
        panel.shutdown()


def test_remembered_settings_are_validated(qtbot, bench_model, gui_settings) -> None:  # type: ignore[no-untyped-def]
    gui_settings.panels[PANEL_KEY] = {
        "source": "folder",
        "folder": "/data/captures",
        "projector": [1920, 1080],
        "chessboard": [9, "x"],
        "square": -3,
        "step": 4,
        "max_rms": 1.5,
    }
    panel = CalibrationPanel(bench_model, gui_settings)
    qtbot.addWidget(panel)
    try:
        f = panel.form
        assert f.source == "folder" and panel.folder_radio.isChecked()
        assert f.projector == (1920, 1080) and f.step == 4 and f.max_rms == 1.5
        assert f.chessboard == WizardForm().chessboard and f.square == WizardForm().square
        assert panel.folder_edit.text() == "/data/captures"
        assert "--max-rms 1.5" in f.cli_command("/data/captures")
        assert WizardForm.from_dict("junk") == WizardForm()
    finally:
        panel.shutdown()
