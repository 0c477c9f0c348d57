"""The fitting panel on a simulated session: a fit started from the panel fills the landscape
in, ends with the same A and e and the same files as ``psfbench fit``; cancelling keeps the
GUI responsive and the session's earlier results; a session with results shows them without
a fit; points are inspected with the core's loss values; the export's files hold what is
shown."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from psfbench.core.cli import main as cli

#: small enough for seconds per fit on 2 cores; enough e columns to see the landscape fill in
GRID = ("8", "6")
FRAMES = "8"


@pytest.fixture(scope="module")
def sim_session(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, tuple[float, float]]:
    from psfbench.core.simulation import SimulationSpec, simulate_session

    spec = SimulationSpec(
        A=800.0, e_mm=23.6, scene="planes", frames=10, height=96, width=128, seed=7
    )
    path = tmp_path_factory.mktemp("fitpanel") / "session"
    simulate_session(path, spec)
    return path, (spec.A, spec.e_mm)


@pytest.fixture(scope="module")
def fitted_session(sim_session, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    """The simulated session with results from ``psfbench fit`` (small grid)."""
    path = tmp_path_factory.mktemp("fitted") / "session"
    shutil.copytree(sim_session[0], path)
    _cli_fit(path)
    return path


@pytest.fixture
def session(sim_session, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A fresh copy of the simulated session, without results."""
    dst = tmp_path / "sim_session"
    shutil.copytree(sim_session[0], dst)
    return dst


@pytest.fixture
def with_results(fitted_session, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A fresh copy of the session with ``psfbench fit``'s results."""
    dst = tmp_path / "fitted_session"
    shutil.copytree(fitted_session, dst)
    return dst


@pytest.fixture
def panel(qtbot, gui_settings) -> Iterator:  # type: ignore[no-untyped-def]
    from psfbench.app.bench_model import BenchModel
    from psfbench.app.panels.fitting import FitPanel

    model = BenchModel()  # the panel never needs the bench
    p = FitPanel(model, gui_settings)
    qtbot.addWidget(p)
    p.resize(460, 900)
    p.show()
    yield p
    p.shutdown()
    model.close()


def _type(qtbot, spin, value) -> None:  # type: ignore[no-untyped-def]
    """Type a value into a spin box as a user would (select all, type, Enter)."""
    spin.setFocus()
    spin.selectAll()
    qtbot.keyClicks(spin, str(value))
    qtbot.keyClick(spin, Qt.Key.Key_Return)


def _small_form(qtbot, p, grid=GRID, frames=FRAMES) -> None:  # type: ignore[no-untyped-def]
    p.tabs.setCurrentIndex(1)
    _type(qtbot, p.n_A, grid[0])
    _type(qtbot, p.n_e, grid[1])
    _type(qtbot, p.frames_spin, frames)
    p.device_box.setCurrentIndex(p.device_box.findData("cpu"))
    fs = p.form_settings()
    assert fs.grid == (int(grid[0]), int(grid[1])) and fs.frames == int(frames)


def _open(qtbot, p, path: Path, results: bool) -> None:  # type: ignore[no-untyped-def]
    p.open_session(path)
    if results:
        qtbot.waitUntil(lambda: p.results is not None, timeout=20_000)
    else:
        qtbot.waitUntil(lambda: "No fit results" in p.status_label.text(), timeout=20_000)


def _files(session: Path) -> dict[str, tuple[bytes, int]]:
    res = session / "results"
    return {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in sorted(res.iterdir())}


def _cli_fit(session: Path, *extra: str) -> None:
    args = ["fit", str(session), "--grid", "x".join(GRID), "--frames", FRAMES]
    assert cli([*args, "--device", "cpu", "--quiet", *extra]) == 0


def test_a_fit_from_the_panel_fills_in_and_equals_the_cli(qtbot, panel, session, tmp_path):  # type: ignore[no-untyped-def]
    from psfbench.core.fit.grid import Landscape

    twin = tmp_path / "twin"
    shutil.copytree(session, twin)
    _open(qtbot, panel, session, results=False)
    _small_form(qtbot, panel)
    seen: list[int] = []  # NaN count of the heatmap each time it was looked at while running

    def look() -> None:
        shown = panel.view.displayed()
        if panel.running and shown is not None:
            seen.append(int(np.isnan(shown).sum()))

    watcher = QTimer()
    watcher.timeout.connect(look)
    watcher.start(5)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.running and panel.cancel_button.isEnabled() and not panel.run_button.isEnabled()
    qtbot.waitUntil(lambda: not panel.running, timeout=90_000)
    watcher.stop()
    total = int(GRID[0]) * int(GRID[1])
    assert any(0 < n < total for n in seen), f"never a partly filled landscape: {seen}"
    assert any(0 < n < total for n in panel.view.fill_history)
    assert panel.results is not None and not panel.last_error, panel.status_label.text()
    assert np.isfinite(panel.view.displayed()).all()

    # the same fit from the command line, on a copy of the session
    fs = panel.form_settings()
    assert cli(["fit", str(twin), *fs.cli_args(), "--quiet"]) == 0
    gui = json.loads((session / "results" / "fit.json").read_text())
    ref = json.loads((twin / "results" / "fit.json").read_text())
    for key in ("A", "e", "A_std", "e_std", "loss", "terms", "grid_optimum", "datasheet"):
        assert gui[key] == ref[key], key
    assert gui["settings"]["fit_settings"] == ref["settings"]["fit_settings"]
    assert gui["truth"] == ref["truth"]
    assert sorted(p.name for p in (session / "results").iterdir()) == sorted(
        p.name for p in (twin / "results").iterdir()
    )
    for name in ("landscape.npz", "landscape_zoom.npz"):
        a, b = Landscape.load(session / "results" / name), Landscape.load(twin / "results" / name)
        np.testing.assert_array_equal(a.A_values, b.A_values)
        np.testing.assert_array_equal(a.e_values, b.e_values)
        for t in a.per_image:
            np.testing.assert_array_equal(a.per_image[t], b.per_image[t])
    # what the panel shows is what was written
    assert panel.view.optimum == (gui["A"], gui["e"])
    assert panel.view.std == (gui["A_std"], gui["e_std"])
    np.testing.assert_allclose(
        panel.view.surface(), Landscape.load(session / "results" / "landscape.npz").total
    )
    assert f"{gui['A']:.1f}" in panel.status_label.text()
    assert panel.progress.format().startswith("done in")
    # another session: the bar no longer tells this fit's "done in"
    _open(qtbot, panel, twin, results=True)
    assert panel.progress.format() == "idle"


def test_cancel_midway_keeps_the_results_and_the_gui_responsive(qtbot, panel, with_results):  # type: ignore[no-untyped-def]
    session = with_results  # earlier results
    before = _files(session)
    doc = json.loads((session / "results" / "fit.json").read_text())
    _open(qtbot, panel, session, results=True)
    assert panel.view.optimum == (doc["A"], doc["e"])
    _small_form(qtbot, panel, grid=("24", "16"))  # a longer fit to cancel
    clock = QElapsedTimer()
    beats: list[int] = []
    heart = QTimer()
    heart.setTimerType(Qt.TimerType.PreciseTimer)
    heart.timeout.connect(lambda: beats.append(clock.elapsed()))
    clock.start()
    heart.start(10)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert panel.results is None  # the earlier results are not shown while fitting
    # midway: a quarter of the landscape's columns done, the rest not
    total = 24 * 16
    qtbot.waitUntil(
        lambda: any(0 < n <= total - 4 * 24 for n in panel.view.fill_history), timeout=60_000
    )
    qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.running, timeout=30_000)
    qtbot.wait(300)
    heart.stop()
    gaps = np.diff(beats)
    print(f"heartbeat: {len(gaps)} beats, max gap {gaps.max()} ms, p99 {np.percentile(gaps, 99)}")
    assert len(gaps) > 30 and gaps.max() < 200, f"max gap {gaps.max()} ms over {len(gaps)} beats"
    assert (
        "cancelled" in panel.status_label.text() and "earlier results" in panel.status_label.text()
    )
    assert _files(session) == before  # nothing written, nothing touched
    # the earlier results are shown again
    assert panel.results is not None and panel.view.optimum == (doc["A"], doc["e"])
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()


def test_a_session_with_results_shows_them_without_fitting(qtbot, with_results, sim_session):  # type: ignore[no-untyped-def]
    from psfbench.app.main_window import MainWindow
    from psfbench.app.settings import GuiSettings
    from psfbench.core.fit.grid import Landscape
    from tests.app.conftest import FAST_BENCH

    session = with_results
    before = _files(session)
    doc = json.loads((session / "results" / "fit.json").read_text())
    w = MainWindow(GuiSettings(), overrides=dict(FAST_BENCH))
    qtbot.addWidget(w)
    w.resize(1366, 768)
    w.show()
    panel = w.panels["fitting"]
    assert type(panel).__name__ == "FitPanel"
    started: list[bool] = []
    panel._fit_tasks.submit = lambda *a, **k: started.append(True)  # type: ignore[method-assign]
    w.open_session(str(session))  # File -> Open session / drag and drop
    qtbot.waitUntil(lambda: panel.results is not None, timeout=20_000)
    ls = Landscape.load(session / "results" / "landscape.npz")
    np.testing.assert_allclose(panel.view.surface(), ls.total)
    assert panel.view.optimum == (doc["A"], doc["e"])
    assert panel.view.std == (doc["A_std"], doc["e_std"])
    assert panel.view.truth == sim_session[1] == (doc["truth"]["A"], doc["truth"]["e"])
    go = doc["grid_optimum"]
    assert panel.view.grid_minimum()[:2] == (go["A"], go["e"])
    assert len(panel.view.zoom_points) > 0  # the zoom design's points over the coarse grid
    assert len(panel.view.optimum_item.data) == 1 and panel.view.ellipse_item.xData.size > 0
    assert "not refitted" in panel.status_label.text()
    assert panel.form_settings().grid == tuple(int(g) for g in GRID)  # the form shows the fit's
    # the session browser's Fit… opens the session in the fitting panel and brings it up
    w.docks["sessions"].raise_()
    w.central_tabs.setCurrentIndex(0)
    w.panels["sessions"].fitRequested.emit(str(session))
    qtbot.waitUntil(lambda: w.central_tabs.currentWidget() is panel, timeout=5_000)
    qtbot.waitUntil(lambda: not panel.visibleRegion().isEmpty(), timeout=5_000)
    assert panel.session_path == session.absolute()
    qtbot.waitUntil(lambda: panel.results is not None, timeout=20_000)
    assert not started and not panel.running
    assert _files(session) == before
    w.close()


def test_inspecting_points_gives_the_cores_loss_values(qtbot, panel, with_results):  # type: ignore[no-untyped-def]
    from psfbench.core.fit.inspect import inspect_point

    session = with_results
    _open(qtbot, panel, session, results=True)
    qtbot.waitUntil(lambda: panel.problem is not None, timeout=30_000)
    ins = panel.inspector
    if ins is None:
        pytest.skip("psfbench.app.widgets.inspector is not available")
    panel.tabs.setCurrentIndex(0)
    for which in ("fitted", "truth"):
        button = panel.go_optimum if which == "fitted" else panel.go_truth
        A, e = panel.named_point(which)
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda A=A, e=e: ins.current_point == (A, e) and bool(ins.loss_table()),
                        timeout=30_000)  # fmt: skip
        core = inspect_point(panel.problem, A, e, frames=[ins.shown_frame])
        for term, value in ins.loss_table().items():
            assert value == pytest.approx(float(core.per_image[term][0]), rel=1e-5), term
    # a click on the heatmap inspects the point under the mouse
    view = panel.view
    A0, e0 = 700.0, 23.96
    pos = view.widget_pos(A0, e0)
    qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton, pos=pos)
    qtbot.waitUntil(lambda: ins.current_point is not None and ins.current_point != (A, e),
                    timeout=30_000)  # fmt: skip
    cA, ce = ins.current_point
    assert abs(cA - A0) < 0.02 * (view.landscape.A_values[-1] - view.landscape.A_values[0])
    assert abs(ce - e0) < 0.02 * (view.landscape.e_values[-1] - view.landscape.e_values[0])
    qtbot.waitUntil(lambda: bool(ins.loss_table()), timeout=30_000)
    core = inspect_point(panel.problem, cA, ce, frames=[ins.shown_frame])
    assert ins.loss_table()["total"] == pytest.approx(float(core.per_image["total"][0]), rel=1e-5)
    # the landscape's image selector picks the inspector's sweep image
    view.set_image_index(3)
    frame = view.landscape.frame_indices[3]
    assert panel.problem.frame_indices[ins.shown_frame] == frame


def test_export_writes_the_figure_numbers_and_report(qtbot, panel, with_results, tmp_path):  # type: ignore[no-untyped-def]
    from psfbench.app.fit_export import read_landscape_csv
    from psfbench.core import __version__

    session = with_results
    _open(qtbot, panel, session, results=True)
    doc = json.loads((session / "results" / "fit.json").read_text())
    panel.view.set_term("laplacian")
    panel.export_to(tmp_path / "export")
    qtbot.waitUntil(lambda: panel.last_export is not None, timeout=60_000)
    paths = panel.last_export
    assert set(paths) == {"png", "svg", "csv", "slices_csv", "npz", "html"}
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = paths["svg"].read_text()
    assert "<svg" in svg and "optical parameter A" in svg
    shown = panel.view.surface()
    A, e, grid = read_landscape_csv(paths["csv"])
    np.testing.assert_array_equal(A, panel.view.landscape.A_values)
    np.testing.assert_array_equal(e, panel.view.landscape.e_values)
    np.testing.assert_array_equal(grid, shown)
    with np.load(paths["npz"]) as z:
        np.testing.assert_array_equal(z["loss"], shown)
        np.testing.assert_array_equal(z["optimum"], [doc["A"], doc["e"]])
        sl = panel.view.slices()
        np.testing.assert_array_equal(z["slice_A_loss"], sl["loss_A"])
        assert json.loads(bytes(z["meta_json"]).decode())["term"] == "laplacian"
    slices = paths["slices_csv"].read_text().splitlines()
    assert slices[0] == "slice,A,e_mm,loss" and len(slices) == 1 + int(GRID[0]) + int(GRID[1])
    html = paths["html"].read_text()
    for text in (f"{doc['A']:.2f}", f"{doc['e']:.4f}", f"{doc['A_std']:.2f}", "uncertainty",
                 "Datasheet", "Software version", __version__, "data:image/png;base64,",
                 "psfbench fit"):  # fmt: skip
        assert text in html, text


def test_settings_are_remembered_and_bad_ones_dropped(qtbot, gui_settings) -> None:  # type: ignore[no-untyped-def]
    from psfbench.app.bench_model import BenchModel
    from psfbench.app.panels.fitting import FitPanel
    from psfbench.core.fit.session_fit import FitSettings

    model = BenchModel()
    p = FitPanel(model, gui_settings)
    qtbot.addWidget(p)
    _type(qtbot, p.n_A, "12")
    p.noise_auto.setChecked(False)
    _type(qtbot, p.noise_spin, "0.002")
    saved = gui_settings.panels["fitting"]["fit"]
    assert saved["grid"][0] == 12 and saved["noise_sd"] == "0.002"
    assert "--grid 12x10" in p.cli_label.text() and "--noise-sd 0.002" in p.cli_label.text()
    p.shutdown()
    p2 = FitPanel(model, gui_settings)
    qtbot.addWidget(p2)
    assert p2.form_settings().grid == (12, 10) and p2.form_settings().noise_sd == "0.002"
    p2.shutdown()
    gui_settings.panels["fitting"] = {"fit": {"grid": [0, -1]}}
    p3 = FitPanel(model, gui_settings)
    qtbot.addWidget(p3)
    assert p3.form_settings() == FitSettings()
    p3.shutdown()
    model.close()
