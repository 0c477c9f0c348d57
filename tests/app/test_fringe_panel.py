"""The fringe-scan panel on the virtual bench, driven by clicks as an operator would: the
white/black check, a scan through the engine compared with the CLI's scan, abort, saving."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from tests.app.conftest import FAST_BENCH

#: a glint in the upper right of the frame (fractions of the camera frame)
SHINY = [0.62, 0.15, 0.8, 0.35]
#: at this exposure the virtual scene (albedo <= 1, ambient 1 + projector 1) stays below
#: 0.8 x full scale under white: nothing clips except a glint
EXPOSURE_US = 4000.0


def _panel(model: Any, settings: Any, qtbot: Any, tmp_path: Path) -> Any:
    from psfbench.app.panels.fringe import FringePanel

    panel = FringePanel(model, settings)
    qtbot.addWidget(panel)
    panel.resize(1200, 740)
    panel.show()
    # the panel reads the camera's exposure on connect; then the operator types one
    qtbot.waitUntil(lambda: panel.exposure_spin.value() > 100, timeout=5000)
    _commit(panel.exposure_spin, EXPOSURE_US)
    panel.dir_edit.setText(str(tmp_path / "scans"))
    panel.dir_edit.editingFinished.emit()
    return panel


def _commit(spin: Any, value: float) -> None:
    spin.setFocus()
    spin.setValue(value)
    spin.editingFinished.emit()


def _click(qtbot: Any, button: Any) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def _shiny_model(qtbot: Any) -> Any:
    from psfbench.app.bench_model import BenchModel

    model = BenchModel()
    model.connect_bench("virtual", {**FAST_BENCH, "shiny_patch": SHINY})
    qtbot.waitUntil(lambda: model.connected, timeout=30_000)
    return model


def _patch_mask(model: Any) -> np.ndarray:
    m = model.bench.info.world.shiny_mask()
    assert m is not None
    return m > 0


def _scan(qtbot: Any, panel: Any) -> None:
    _click(qtbot, panel.start_button)
    assert panel.busy == "scan", panel.message
    qtbot.waitUntil(lambda: panel.result is not None and not panel.busy, timeout=60_000)
    assert panel.message == ""


def test_check_marks_the_shiny_patch_only(qtbot, gui_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    model = _shiny_model(qtbot)
    try:
        panel = _panel(model, gui_settings, qtbot, tmp_path)
        inside = _patch_mask(model)
        _click(qtbot, panel.check_button)
        qtbot.waitUntil(lambda: panel.check_result is not None and not panel.busy, timeout=20_000)
        chk = panel.check_result
        # on the device: the exposure typed in the panel, the projector blanked afterwards,
        # the lens opened again after the stopped-down shots
        assert model.bench.camera.exposure_us == EXPOSURE_US
        assert model.bench.projector.current is None
        assert model.bench.info.world.aperture_scale == 1.0
        assert chk.verdict == "clipped"
        assert chk.clipped[inside].mean() > 0.99
        assert not chk.clipped[~inside].any()
        # what the operator sees: the overlay marks the patch (code 1) and nothing else clips
        shown = panel.camera_view.data
        assert shown is not None and shown.shape == inside.shape
        assert (shown[inside] == 1).mean() > 0.99 and not (shown[~inside] == 1).any()
        text = panel.check_label.text()
        assert f"{100 * chk.clipped_fraction:.2f} % clip" in text
        assert "lower the exposure" in text
        # lower the exposure 20x: nothing clips any more, most of the scene lacks contrast
        _commit(panel.exposure_spin, 200.0)
        _click(qtbot, panel.check_button)
        qtbot.waitUntil(lambda: panel.check_result is not chk and not panel.busy, timeout=20_000)
        assert panel.check_result.clipped_fraction == 0.0
        assert panel.check_result.verdict == "low_contrast"
        assert "raise the exposure" in panel.check_label.text()
        panel.shutdown()
    finally:
        model.close()


def test_panel_scan_matches_the_cli(qtbot, bench_model, gui_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from psfbench.core.acquisition.bench_io import open_bench_from
    from psfbench.core.acquisition.fringe_scan import run_fringe_scan
    from psfbench.core.dataset.tiff_io import read_tiff
    from psfbench.core.fringe.ply import read_ply

    panel = _panel(bench_model, gui_settings, qtbot, tmp_path)
    _click(qtbot, panel.check_button)
    qtbot.waitUntil(lambda: panel.check_result is not None and not panel.busy, timeout=20_000)
    assert panel.check_result.ok, panel.check_result.hint
    _scan(qtbot, panel)
    folder = tmp_path / "scans" / "fringe-001"
    assert panel.result_folder == folder and panel.last_status == "completed"
    # every frame on disk, the CLI's outputs beside them, the plan recorded
    assert len(list((folder / "frames").glob("pattern_*.tif"))) == 12
    depth = read_tiff(folder / "depth.tif", "depth", "depth.tif")
    np.testing.assert_array_equal(depth, panel.result.depth)
    assert len(read_ply(folder / "points.ply")[0]) == int(panel.result.valid.sum())
    summary = json.loads((folder / "fringe.json").read_text())
    assert summary["frames"] == 12 and summary["rmse_vs_truth_mm"] == panel.result_rmse
    plan = json.loads((folder / "scan.json").read_text())["plan"]
    assert plan["source"] == "fringe_scan" and plan["exposure_us"] == EXPOSURE_US
    assert bench_model.bench.info.world.aperture_scale == 1.0

    # the CLI's path (`psfbench acquire fringe --exposure 4000`) on a bench of the same profile
    bench = open_bench_from("virtual", **FAST_BENCH)
    try:
        cli = run_fringe_scan(bench, tmp_path / "cli", exposure_us=EXPOSURE_US)
    finally:
        bench.close()
    assert cli.status == "ok" and cli.rmse_vs_truth_mm is not None
    panel_rmse = panel.result_rmse
    assert panel_rmse is not None
    # Tolerance: the two scans see different camera noise (the panel's bench also took the
    # check's two frames first), so their RMSEs agree to 10 % + 0.005 mm, not bit for bit;
    # both are ~0.08 mm on this scene.
    assert abs(panel_rmse - cli.rmse_vs_truth_mm) <= 0.1 * cli.rmse_vs_truth_mm + 0.005
    assert abs(panel.result.valid.mean() - cli.valid_fraction) < 0.03
    cli_depth = read_tiff(tmp_path / "cli" / "depth.tif", "depth", "depth.tif")
    both = np.isfinite(cli_depth) & panel.result.valid
    assert both.mean() > 0.7
    diff = (panel.result.depth[both] - cli_depth[both]).astype(np.float64)
    # the same surface: no offset between the two maps, and pixel differences no larger than
    # two independent noise draws of the measured RMSEs make
    assert abs(diff.mean()) < 0.01
    assert np.sqrt(np.mean(diff**2)) < 1.3 * np.hypot(panel_rmse, cli.rmse_vs_truth_mm)
    print(f"RMSE vs truth: panel {panel_rmse:.4f} mm, CLI {cli.rmse_vs_truth_mm:.4f} mm")

    # the result maps are filled: depth with its profile, the refusals partition the frame
    from psfbench.core.fringe.scan import REFUSAL_REASONS

    assert panel.tabs.currentWidget() is panel.depth_view
    dist, prof = panel.depth_view.profile()
    assert dist.size > 100 and np.isfinite(prof).mean() > 0.5
    codes = panel.refused_view.data
    assert codes is not None and codes.max() <= len(REFUSAL_REASONS)
    assert ((codes == 0) == panel.result.valid).all()
    assert panel.freq_box.count() == 3
    panel.shutdown()


def test_profile_line_follows_a_drag(qtbot, bench_model, gui_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(bench_model, gui_settings, qtbot, tmp_path)
    _commit(panel.settle_spin, 0.0)
    _scan(qtbot, panel)
    view = panel.depth_view
    h, w = panel.result.depth.shape
    # a vertical line through column 250 (the 550 mm step of the "steps" scene)
    view.set_line((250.5, 5.0), (250.5, h - 5.0))
    dist, prof = view.profile()
    truth = bench_model.bench.info.world.scene.depth_mm
    assert abs(float(np.nanmedian(prof)) - float(np.median(truth[:, 250]))) < 1.0
    x, y = view.curve.getData()
    np.testing.assert_array_equal(y, prof)
    # drag the line's end handle with the mouse: the profile follows
    handle = view.line.getHandles()[1]
    start = view.line_points()
    vb = view.plot.vb
    vp = view.graphics.viewport()

    def at(x: float, y: float) -> QPointF:
        return QPointF(view.graphics.mapFromScene(vb.mapViewToScene(QPointF(x, y))))

    def send(kind: Any, pos: QPointF, button: Any, buttons: Any) -> None:
        # mouse events as the window system delivers them to the viewport (QTest's synthetic
        # moves are unreliable on the offscreen platform)
        glob = QPointF(vp.mapToGlobal(pos.toPoint()))
        ev = QMouseEvent(kind, pos, glob, button, buttons, Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(vp, ev)

    left, none = Qt.MouseButton.LeftButton, Qt.MouseButton.NoButton
    (x0, y0), (x1, y1) = start[1], (40.5, h - 5.0)
    # pyqtgraph drops mouse moves closer than its rate limit: pace them like a hand
    pace = 40
    qtbot.wait(pace)
    send(QEvent.Type.MouseMove, at(x0, y0), none, none)  # hover: the handle accepts drags
    qtbot.wait(pace)
    send(QEvent.Type.MouseButtonPress, at(x0, y0), left, left)
    for k in range(1, 11):
        qtbot.wait(pace)
        t = k / 10
        send(QEvent.Type.MouseMove, at(x0 + t * (x1 - x0), y0 + t * (y1 - y0)), none, left)
    qtbot.wait(pace)
    send(QEvent.Type.MouseButtonRelease, at(x1, y1), left, none)
    assert handle is view.line.getHandles()[1]
    end = view.line_points()[1]
    assert abs(end[0] - 40.5) < 3 and abs(end[1] - (h - 5.0)) < 3
    assert view.line_points()[0] == pytest.approx(start[0])
    # the plot now runs from column 250 at the top to column ~40 at the bottom: it crosses
    # the scene's steps, so it spans their depths
    x, y = view.curve.getData()
    dist, prof = view.profile()
    np.testing.assert_array_equal(y, prof)
    assert np.nanmax(prof) - np.nanmin(prof) > 50
    panel.shutdown()


def test_abort_keeps_frames_and_the_panel_usable(
    qtbot, bench_model, gui_settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    panel = _panel(bench_model, gui_settings, qtbot, tmp_path)
    _commit(panel.settle_spin, 10_000.0)  # 10 s per pattern, 0.1 s at the fast clock
    _click(qtbot, panel.start_button)
    folder = tmp_path / "scans" / "fringe-001"
    qtbot.waitUntil(
        lambda: len(list((folder / "frames").glob("pattern_*.tif"))) >= 2, timeout=20_000
    )
    _click(qtbot, panel.abort_button)
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    assert panel.last_status == "aborted"
    on_disk = sorted((folder / "frames").glob("pattern_*.tif"))
    assert 2 <= len(on_disk) < 12
    assert len(on_disk) == len(panel.frames)
    assert panel.result is None and not (folder / "depth.tif").exists()
    assert "Aborted" in panel.status_label.text() and str(folder) in panel.status_label.text()
    world = bench_model.bench.info.world
    assert world.aperture_scale == 1.0 and bench_model.bench.projector.current is None
    assert not bench_model.running
    # usable: a new scan goes into the next folder and decodes
    assert panel.start_button.isEnabled() and panel.check_button.isEnabled()
    _commit(panel.settle_spin, 0.0)
    _scan(qtbot, panel)
    assert panel.result_folder == tmp_path / "scans" / "fringe-002"
    assert len(list(folder.glob("frames/pattern_*.tif"))) == len(on_disk)  # untouched
    panel.shutdown()


def test_save_into_session_and_ply(qtbot, bench_model, gui_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from psfbench.core.dataset import Session
    from psfbench.core.fringe.ply import read_ply
    from tests.dataset.helpers import write_session

    panel = _panel(bench_model, gui_settings, qtbot, tmp_path)
    _commit(panel.settle_spin, 0.0)
    _scan(qtbot, panel)
    h, w = panel.result.depth.shape
    session = write_session(tmp_path / "session", shape=(h, w))
    old_depth = Session.open(session).depth()
    panel.save_to_session(session)
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    assert panel.message == ""
    s = Session.open(session)
    np.testing.assert_array_equal(s.depth(), panel.result.depth)  # NaN where refused
    # nothing already on disk is lost: the old depth map is kept beside it
    from psfbench.core.dataset.tiff_io import read_tiff

    kept = read_tiff(session / "depth-previous-1.tif", "depth", "depth-previous-1.tif")
    np.testing.assert_array_equal(kept, old_depth)
    # a session whose frames have another size is refused, and its depth stays as it was
    other = write_session(tmp_path / "other", shape=(12, 16))
    before = (other / "depth.tif").read_bytes()
    panel.save_to_session(other)
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    assert "differs from the frames" in panel.message
    assert (other / "depth.tif").read_bytes() == before
    assert not list(other.glob("depth-previous-*"))
    # PLY: the valid points, twice to the same name: the first file is kept
    target = tmp_path / "out" / "cloud.ply"
    panel.save_ply(target)
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    pts, cols = read_ply(target)
    assert len(pts) == int(panel.result.valid.sum()) and cols is not None
    np.testing.assert_allclose(pts, panel.result.points[panel.result.valid])
    first = target.read_bytes()
    panel.save_ply(target)
    qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
    assert (tmp_path / "out" / "cloud-previous-1.ply").read_bytes() == first
    panel.shutdown()


def test_settings_remembered_and_bad_forms_refused(
    qtbot, bench_model, gui_settings, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from psfbench.app.panels.fringe import FringePanel

    panel = _panel(bench_model, gui_settings, qtbot, tmp_path)
    panel.counts_edit.setText("32, 28")
    panel.counts_edit.editingFinished.emit()
    _commit(panel.steps_spin, 5)
    qtbot.mouseClick(panel.gray_box, Qt.MouseButton.LeftButton)
    _commit(panel.gray_step_spin, 4)
    panel.axis_box.setCurrentIndex(panel.axis_box.findData("y"))
    panel.method_box.setCurrentIndex(panel.method_box.findData("graycode"))
    qtbot.mouseClick(panel.gamma_box, Qt.MouseButton.LeftButton)
    _commit(panel.gamma_spin, 1.8)
    st = gui_settings.panels["fringe"]
    assert st["counts"] == [32.0, 28.0] and st["steps"] == 5 and st["gray"] is True
    assert st["gray_step"] == 4 and st["axis"] == "y" and st["method"] == "graycode"
    assert st["gamma_on"] is True and st["gamma"] == 1.8 and st["exposure_us"] == EXPOSURE_US
    assert panel.form().plan_params() == {
        "counts": [32.0, 28.0],
        "steps": 5,
        "axis": "y",
        "gray_step": 4,
        "gamma": 1.8,
    }
    assert panel.start_button.isEnabled()
    # heterodyne with counts that do not beat down to one period: refused, Start disabled
    panel.method_box.setCurrentIndex(panel.method_box.findData("heterodyne"))
    assert "Frequencies" in panel.message and not panel.start_button.isEnabled()
    panel.counts_edit.setText("70, abc")
    panel.counts_edit.editingFinished.emit()
    assert "not a list of numbers" in panel.message
    panel.shutdown()
    # a new panel (the next start) shows the saved form; junk in the settings is dropped
    gui_settings.panels["fringe"]["steps"] = 99
    again = FringePanel(bench_model, gui_settings)
    qtbot.addWidget(again)
    assert again.counts_edit.text() == "32, 28"  # the last valid frequencies
    assert again.steps_spin.value() == 4  # 99 out of range -> the default
    assert again.gray_box.isChecked() and again.axis_box.currentData() == "y"
    assert again.exposure_spin.value() == EXPOSURE_US
    again.shutdown()


def test_gamma_and_a_calibration_from_the_sessions_folder(qtbot, gui_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from psfbench.app.bench_model import BenchModel
    from psfbench.core.acquisition.fringe_scan import world_calibration

    model = BenchModel()
    model.connect_bench("virtual", {**FAST_BENCH, "projector_gamma": 2.0})
    qtbot.waitUntil(lambda: model.connected, timeout=30_000)
    try:
        # what the calibration wizard's "Save to session" leaves (here: the exact geometry)
        gui_settings.sessions_dir = str(tmp_path / "sessions")
        saved = tmp_path / "sessions" / "procam_calibration_20250101-120000" / "calibration.json"
        saved.parent.mkdir(parents=True)
        saved.write_text(world_calibration(model.bench).to_json(), encoding="utf-8")
        panel = _panel(model, gui_settings, qtbot, tmp_path)
        _commit(panel.settle_spin, 0.0)
        # measure the projector's gamma: pre-compensation switches on with it
        _click(qtbot, panel.gamma_button)
        qtbot.waitUntil(lambda: not panel.busy, timeout=20_000)
        assert panel.message == ""
        assert panel.gamma_spin.value() == pytest.approx(2.0, abs=0.1)
        assert panel.gamma_box.isChecked()
        assert panel.form().plan_params()["gamma"] == panel.gamma_spin.value()
        # the wizard's calibration is offered; choose it and scan with it
        idx = panel.calib_box.findData(str(saved))
        assert idx >= 0
        assert panel.calib_box.itemText(idx) == f"{saved.parent.name}/calibration.json"
        panel.calib_box.setCurrentIndex(idx)
        assert "calibration.json: camera 307x257, projector 640x400" in panel.calib_label.text()
        assert gui_settings.panels["fringe"]["calibration"] == str(saved)
        _scan(qtbot, panel)
        assert json.loads((panel.result_folder / "scan.json").read_text())["calibration"] == str(
            saved
        )
        assert panel.result_rmse is not None and panel.result_rmse < 0.15
        # a file that is not a calibration is refused with a message
        bad = tmp_path / "bad.json"
        bad.write_text("{}", encoding="utf-8")
        assert not panel.open_calibration(bad)
        assert "not a projector-camera calibration" in panel.message
        panel.shutdown()
    finally:
        model.close()
