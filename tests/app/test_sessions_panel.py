"""Session browser panel: real sessions made by ``psfbench acquire sweep`` on the virtual bench,
some of them damaged on disk, browsed, opened, validated and handed on for resume / fit."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PySide6.QtCore import QPoint, Qt, QTimer

from psfbench.core.cli import main
from psfbench.core.dataset import Session

W, H = 160, 120
NAMES = ("a_complete", "b_noaif", "c_incomplete", "d_missing_frame", "e_bad_json", "f_complete")


def _sweep(out: Path, *extra: str) -> list[str]:
    return [
        "acquire",
        "sweep",
        "--profile",
        "virtual",
        "--virtual",
        f"width={W}",
        "--virtual",
        f"height={H}",
        "--virtual",
        "time_scale=0.01",
        "--out",
        str(out),
        "--quiet",
        "--settle",
        "0",
        *extra,
    ]


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six sessions: complete (with a fit result and depth holes), no AIF, incomplete (sweep
    table cut after 3 of 5 records), a deleted frame file, a corrupt session.json, complete."""
    root = tmp_path_factory.mktemp("sessions")
    assert main(_sweep(root / "a_complete", "--steps", "5")) == 0
    a = root / "a_complete"
    depth = tifffile.imread(a / "depth.tif")
    depth[10:30, 20:60] = np.nan  # holes in the depth map, as a real scan has
    tifffile.imwrite(a / "depth.tif", depth, photometric="minisblack")
    (a / "results" / "fit.json").write_text(
        json.dumps(
            {
                "A": 801.23,
                "e": 23.612,
                "A_std": 2.1,
                "e_std": 0.013,
                "model": {"name": "disc", "params": {"A": 795.18, "e_mm": 23.603, "edge": 0.8716}},
            }
        )  # fmt: skip
    )
    assert main(_sweep(root / "b_noaif", "--steps", "3", "--aif", "skip")) == 0
    assert main(_sweep(root / "c_incomplete", "--steps", "5")) == 0
    log = root / "c_incomplete" / "sweep.jsonl"
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:3]))
    assert main(_sweep(root / "d_missing_frame", "--steps", "4", "--aif", "skip")) == 0
    (root / "d_missing_frame" / "frames" / "frame_0002.tif").unlink()
    assert main(_sweep(root / "e_bad_json", "--steps", "3", "--aif", "skip")) == 0
    (root / "e_bad_json" / "session.json").write_text('{"schema": "psfbench.session/1", "cam')
    assert main(_sweep(root / "f_complete", "--steps", "4")) == 0
    return root


@pytest.fixture
def model(qtbot):  # type: ignore[no-untyped-def]
    from psfbench.app.bench_model import BenchModel

    m = BenchModel()  # the browser needs no bench connected
    yield m
    m.close()


def _make_panel(qtbot, model, settings):  # type: ignore[no-untyped-def]
    from psfbench.app.panels.sessions import SessionsPanel

    panel = SessionsPanel(model, settings)
    qtbot.addWidget(panel)
    panel.resize(1000, 600)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


@pytest.fixture
def panel(qtbot, model, gui_settings, sessions):  # type: ignore[no-untyped-def]
    gui_settings.sessions_dir = str(sessions)
    p = _make_panel(qtbot, model, gui_settings)
    _wait_scanned(qtbot, p, len(NAMES))
    yield p
    p.shutdown()


def _wait_scanned(qtbot, panel, n: int, timeout: int = 20_000) -> None:  # type: ignore[no-untyped-def]
    qtbot.waitUntil(lambda: not panel.scanning and len(panel.summaries) == n, timeout=timeout)


def _row_center(panel, path: Path | str) -> QPoint:  # type: ignore[no-untyped-def]
    idx = panel.proxy.mapFromSource(panel._rows[str(path)].index())
    panel.table.scrollTo(idx)
    return panel.table.visualRect(idx).center()


def _click_row(qtbot, panel, path: Path | str) -> None:  # type: ignore[no-untyped-def]
    qtbot.mouseClick(
        panel.table.viewport(), Qt.MouseButton.LeftButton, pos=_row_center(panel, path)
    )
    assert panel.selected_path() == str(path)


def test_table_lists_every_session_with_frames_and_validity(panel, sessions, gui_settings):  # type: ignore[no-untyped-def]
    assert sorted(Path(p).name for p in panel.row_paths()) == sorted(NAMES)
    frames = {n: panel.cell_text(str(sessions / n), 1) for n in NAMES}
    assert frames == {
        "a_complete": "5/5",
        "b_noaif": "3/3",
        "c_incomplete": "3/5",
        "d_missing_frame": "4/4",
        "e_bad_json": "3/?",  # counted from sweep.jsonl; the plan is in the broken file
        "f_complete": "4/4",
    }
    status = {n: panel.cell_text(str(sessions / n), 2) for n in NAMES}
    for n in ("a_complete", "b_noaif", "f_complete"):
        assert status[n].endswith("valid"), status
    assert "incomplete: 2 missing" in status["c_incomplete"]
    assert "frame_0002.tif: file is missing" in status["d_missing_frame"]
    assert "session.json" in status["e_bad_json"]
    # the full problem text is in the tooltip
    tip = panel.cell_tooltip(str(sessions / "d_missing_frame"), 2)
    assert "frames/frame_0002.tif: frame: file is missing" in tip
    assert "not valid JSON" in panel.cell_tooltip(str(sessions / "e_bad_json"), 2)
    assert "missing steps: 3, 4" in panel.cell_tooltip(str(sessions / "c_incomplete"), 2)
    # the same verdict as core's validation
    for n in NAMES[:4] + NAMES[5:]:
        rep = Session.open(sessions / n, strict=False).validate()
        s = panel.summaries[str(sessions / n)]
        assert (s.valid, s.frames, s.missing_steps) == (rep.valid, rep.frames, rep.missing_steps)
    # depth map / AIF and the fit result
    assert panel.cell_text(str(sessions / "a_complete"), 4) == "depth · AIF"
    assert panel.cell_text(str(sessions / "b_noaif"), 4) == "depth"
    assert panel.cell_text(str(sessions / "a_complete"), 5) == "A 801.2 · e 23.612 mm"
    assert panel.cell_text(str(sessions / "b_noaif"), 5) == "—"
    # a thumbnail on every row, the broken one too (its middle frame)
    for n in NAMES:
        item = panel._rows[str(sessions / n)]
        pix = item.data(Qt.ItemDataRole.DecorationRole)
        assert pix is not None and not pix.isNull(), n
    assert "2 invalid" in panel.status_label.text()
    assert gui_settings.sessions_dir == str(sessions)


def test_sorted_by_date_newest_first_and_sort_is_remembered(qtbot, panel, gui_settings):  # type: ignore[no-untyped-def]
    def dates() -> list[float]:
        return [panel.summaries[p].created.timestamp() for p in panel.row_paths()]

    assert dates() == sorted(dates(), reverse=True)
    header = panel.table.horizontalHeader()
    x = header.sectionViewportPosition(3) + header.sectionSize(3) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(x, 5))
    assert dates() == sorted(dates())
    assert gui_settings.panels["sessions"] == {"sort_column": 3, "sort_desc": False}


def test_open_shows_the_frames_depth_map_and_aif(qtbot, panel, sessions):  # type: ignore[no-untyped-def]
    a = sessions / "a_complete"
    _click_row(qtbot, panel, a)  # a real double-click is a press, a release, then this
    qtbot.mouseDClick(panel.table.viewport(), Qt.MouseButton.LeftButton, pos=_row_center(panel, a))
    viewer = panel.viewer
    assert viewer is not None and viewer.isVisible()
    qtbot.waitUntil(
        lambda: viewer.pending_loads == 0 and viewer.current_record is not None, timeout=10_000
    )
    session = Session.open(a)

    def shows(pos: int) -> bool:
        rec = session.records[pos]
        img = viewer.frame_item.image
        return (
            viewer.current_record is not None
            and viewer.current_record.index == rec.index
            and img is not None
            and np.array_equal(img, tifffile.imread(a / rec.frame))
        )

    assert shows(2)  # opens on the middle frame
    assert f"d = {session.records[2].d_mm:.3f} mm" in viewer.frame_label.text()
    assert f"motor {session.records[2].motor_steps} steps" in viewer.frame_label.text()
    qtbot.mouseClick(viewer.next_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shows(3), timeout=5_000)
    viewer.slider.setFocus()
    qtbot.keyClick(viewer.slider, Qt.Key.Key_Home)
    qtbot.waitUntil(lambda: shows(0), timeout=5_000)
    assert "frame 1/5 · index 0" in viewer.frame_label.text()
    lo, hi = viewer.frame_item.levels
    assert lo < hi
    # depth map: the file's values with its NaN holes, colour bar in mm over the valid range
    depth = tifffile.imread(a / "depth.tif")
    assert np.array_equal(viewer.depth_item.image, depth, equal_nan=True)
    holes = int(np.isnan(depth).sum())
    assert holes > 0 and f"{holes} px" in viewer.depth_tab.caption.text()
    assert int((viewer.hole_item.image[..., 3] == 255).sum()) == holes
    c_lo, c_hi = viewer.colorbar.levels()
    assert np.nanmin(depth) <= c_lo < c_hi <= np.nanmax(depth)
    assert viewer.colorbar.getAxis("left").labelText == "depth (mm)"
    assert np.array_equal(viewer.aif_item.image, tifffile.imread(a / "aif.tif"))


def test_viewer_of_a_broken_session_says_why(qtbot, panel, sessions):  # type: ignore[no-untyped-def]
    panel.open_session(sessions / "e_bad_json")
    viewer = panel.viewer
    qtbot.waitUntil(lambda: bool(viewer.error), timeout=10_000)
    assert "not valid JSON" in viewer.frames_tab.message.text()
    panel.open_session(sessions / "b_noaif")
    qtbot.waitUntil(
        lambda: viewer.pending_loads == 0 and viewer.current_record is not None, timeout=10_000
    )
    assert viewer.error == ""
    assert "No all-in-focus image" in viewer.aif_tab.message.text()


def test_open_session_from_the_command_line_browses_its_folder(  # type: ignore[no-untyped-def]
    qtbot, model, gui_settings, sessions, tmp_path
):
    gui_settings.sessions_dir = str(tmp_path / "elsewhere")
    panel = _make_panel(qtbot, model, gui_settings)
    try:
        qtbot.waitUntil(lambda: not panel.scanning, timeout=10_000)
        assert panel.row_paths() == []
        assert "does not exist" in panel.status_label.text()
        c = str(sessions / "c_incomplete")
        panel.open_session(c)
        _wait_scanned(qtbot, panel, len(NAMES))
        assert panel.selected_path() == c
        assert panel.folder_edit.text() == str(sessions)
        assert gui_settings.sessions_dir == str(sessions)
        assert gui_settings.recent_sessions[0] == c
        viewer = panel.viewer
        qtbot.waitUntil(lambda: viewer.current_record is not None, timeout=10_000)
        assert viewer.path == c and len(viewer.records) == 3
    finally:
        panel.shutdown()


def test_resume_and_fit_hand_on_the_selected_path(qtbot, panel, sessions):  # type: ignore[no-untyped-def]
    c, a, d = (str(sessions / n) for n in ("c_incomplete", "a_complete", "d_missing_frame"))
    _click_row(qtbot, panel, c)
    assert panel.resume_button.isEnabled()
    assert "2 missing steps" in panel.resume_button.toolTip()
    with qtbot.waitSignal(panel.resumeRequested, timeout=2_000) as sig:
        qtbot.mouseClick(panel.resume_button, Qt.MouseButton.LeftButton)
    assert sig.args == [c]
    _click_row(qtbot, panel, a)
    assert not panel.resume_button.isEnabled()
    assert panel.fit_button.isEnabled()
    # a fit with --model: the chosen PSF model is told beside the paper's Gaussian
    assert "PSF model disc: A 795.2, edge 0.8716" in panel.details.toPlainText()
    with qtbot.waitSignal(panel.fitRequested, timeout=2_000) as sig:
        qtbot.mouseClick(panel.fit_button, Qt.MouseButton.LeftButton)
    assert sig.args == [a]
    _click_row(qtbot, panel, d)
    assert not panel.resume_button.isEnabled() and not panel.fit_button.isEnabled()
    assert "problems" in panel.fit_button.toolTip()
    assert "frames/frame_0002.tif: frame: file is missing" in panel.details.toPlainText()
    with qtbot.assertNotEmitted(panel.resumeRequested):
        panel.resume_selected()


def test_validate_rereads_the_disk_and_refresh_finds_new_sessions(  # type: ignore[no-untyped-def]
    qtbot, model, gui_settings, sessions, tmp_path
):
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copytree(sessions / "b_noaif", root / "one")
    gui_settings.sessions_dir = str(root)
    panel = _make_panel(qtbot, model, gui_settings)
    try:
        _wait_scanned(qtbot, panel, 1)
        one = str(root / "one")
        assert panel.summaries[one].valid
        _click_row(qtbot, panel, one)
        (root / "one" / "frames" / "frame_0001.tif").write_bytes(b"II*\x00garbage")
        qtbot.mouseClick(panel.validate_button, Qt.MouseButton.LeftButton)
        dlg = panel.report_dialog
        assert dlg is not None and dlg.isVisible()
        qtbot.waitUntil(lambda: "INVALID" in dlg.text(), timeout=10_000)
        assert "frames/frame_0001.tif: frame:" in dlg.text()
        assert "frames                 3" in dlg.text()
        assert "✗" in panel.cell_text(one, 2)  # the row follows the new verdict
        # new sessions (and a folder that is not even readable as one) appear on Refresh
        shutil.copytree(sessions / "f_complete", root / "two")
        (root / "three" / "frames").mkdir(parents=True)
        (root / "four").mkdir()
        (root / "four" / "session.json").write_text("[1, 2]")
        qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
        _wait_scanned(qtbot, panel, 4)
        assert sorted(Path(p).name for p in panel.row_paths()) == ["four", "one", "three", "two"]
        assert panel.summaries[str(root / "two")].valid
        assert "session.json: (file): missing" in panel.cell_tooltip(str(root / "three"), 2)
        assert "expected a JSON object" in panel.cell_tooltip(str(root / "four"), 2)
        # a run finishing refreshes the list by itself
        shutil.rmtree(root / "three")
        from psfbench.core.acquisition.events import Finished

        model.acquisitionEvent.emit(Finished(status="completed", done=3, total=3, missing=()))
        qtbot.waitUntil(lambda: len(panel.row_paths()) == 3, timeout=10_000)
    finally:
        panel.shutdown()


def test_reveal_opens_the_folder(qtbot, panel, sessions, monkeypatch):  # type: ignore[no-untyped-def]
    import psfbench.app.panels.sessions as mod

    opened = []
    monkeypatch.setattr(mod.QDesktopServices, "openUrl", lambda url: opened.append(url))
    _click_row(qtbot, panel, sessions / "b_noaif")
    qtbot.mouseClick(panel.reveal_button, Qt.MouseButton.LeftButton)
    assert [u.toLocalFile() for u in opened] == [str(sessions / "b_noaif")]


def test_gui_thread_stays_responsive_while_scanning(qtbot, panel):  # type: ignore[no-untyped-def]
    stamps: list[float] = []
    beat = QTimer()
    beat.setInterval(10)
    beat.timeout.connect(lambda: stamps.append(time.perf_counter()))
    beat.start()
    try:
        qtbot.wait(100)
        panel.summaries.clear()  # so that the wait below sees a full rescan
        t0 = time.perf_counter()
        qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
        refresh_s = time.perf_counter() - t0
        _wait_scanned(qtbot, panel, len(NAMES))
        qtbot.wait(50)
    finally:
        beat.stop()
    gaps = np.diff(stamps)
    assert refresh_s < 0.05  # the click returns at once: the scan is on the workers
    assert len(stamps) > 10 and gaps.max() < 0.2, gaps.max()


def test_shutdown_is_quick_and_idempotent(qtbot, panel):  # type: ignore[no-untyped-def]
    panel.open_session(panel.row_paths()[0])
    panel.refresh()
    t0 = time.perf_counter()
    panel.shutdown()
    panel.shutdown()
    assert time.perf_counter() - t0 < 0.5
    panel.refresh()  # after shutdown: ignored, no error
    qtbot.wait(100)
