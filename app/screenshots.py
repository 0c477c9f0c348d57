"""``make screenshots``: the main window in realistic states, as PNGs in ``docs/screenshots``.

Drives the real application on the virtual bench, the way a technician would: connect, home
and jog the focus drive, live view with an ROI and the histogram, a sweep caught mid-run, the
session browser over a few sessions (one incomplete), the fitting panel (a fit from the panel,
and a ``--model auto`` fit's PSF-model choice and model table), the session viewer's defocus
map. Each state is saved at 1920x1080 and at
1366x768 (``--sizes``), plus the live view in the dark theme. Runs on Qt's offscreen platform
(no display needed) with its own settings file and sessions folder, never the user's.

    .venv/bin/python -m psfbench.app.screenshots --out docs/screenshots
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

FAST = {"time_scale": 0.01}


def _spin(app: object, seconds: float, until: Callable[[], bool] | None = None) -> bool:
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)  # type: ignore[attr-defined]
        if until is not None and until():
            return True
        time.sleep(0.005)
    return until is None


def _make_sessions(folder: Path) -> None:
    """Three small virtual sweeps for the browser: complete, without AIF, interrupted."""
    from psfbench.core.cli import main as cli

    common = ["--profile", "virtual", "--virtual", "time_scale=0.01", "--quiet", "--yes"]
    cli(["acquire", "sweep", *common, "--steps", "6", "--out", str(folder / "lens50_f8")])
    cli(["acquire", "sweep", *common, "--steps", "5", "--aif", "skip",
         "--out", str(folder / "lens50_f4_noaif")])  # fmt: skip
    part = folder / "lens50_f2_interrupted"
    cli(["acquire", "sweep", *common, "--steps", "6", "--out", str(part)])
    log = part / "sweep.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    log.write_text("".join(lines[:3]))  # as if the power went after 3 frames
    for f in sorted((part / "frames").iterdir())[3:]:
        f.unlink()


def shoot(out: Path, size: tuple[int, int], work: Path, dark: bool) -> list[Path]:
    """One window of ``size`` (the offscreen screen is made that size too) through every
    state; returns the PNGs written."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    from pyqtgraph.util.garbage_collector import GarbageCollector

    gc_guard = GarbageCollector(interval=0.5)  # GC on the GUI thread only (see app/main.py)
    from psfbench.app.main_window import MainWindow
    from psfbench.app.panels.sweep import SweepForm, save_plan_file
    from psfbench.app.settings import GuiSettings

    sessions = work / "sessions"
    if not sessions.exists():
        sessions.mkdir(parents=True)
        _make_sessions(sessions)
    models_master, defocus_frame = _models_session(work)  # before the window: minutes of CPU
    plan = save_plan_file(
        SweepForm(unit="steps", near=300, far=4300, steps=24, settle_s=25.0, aif="skip"),
        work / "plan.json",
    )
    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    tag = f"{size[0]}x{size[1]}"
    w = MainWindow(GuiSettings(sessions_dir=str(sessions)), overrides=dict(FAST))
    w.setGeometry(0, 0, *size)
    w.show()

    def save(name: str) -> None:
        _spin(app, 0.8)  # let plots and the live view catch up
        path = out / f"{name}_{tag}.png"
        w.grab().save(str(path))
        written.append(path)
        print(f"wrote {path}")

    def need(ok: bool, what: str) -> None:
        if not ok:
            raise RuntimeError(f"screenshots: {what} did not happen in time")

    _spin(app, 0.5)
    w.connect_bench()
    need(_spin(app, 30, lambda: w.model.connected), "connect")
    focus, live, sweep = w.panels["focus"], w.panels["live_view"], w.panels["sweep"]
    focus.home()  # type: ignore[attr-defined]
    need(_spin(app, 15, lambda: w.model.bench.focus.status().homed), "homing")
    _spin(app, 1.0)  # the panel's own poll sees the end of homing
    for size_index in (2, 2, 2, 1):
        focus.jog(+1, size_index)  # type: ignore[attr-defined]
        _spin(app, 1.0)
    # a shorter exposure, typed as a technician would: the bright target no longer clips
    spin = live.exposure_spin  # type: ignore[attr-defined]
    spin.setValue(5000.0)
    spin.editingFinished.emit()
    need(_spin(app, 5, lambda: abs(w.model.bench.camera.exposure_us - 5000.0) < 1), "exposure")
    live.start_live()  # type: ignore[attr-defined]
    need(_spin(app, 10, lambda: w.model.live_running), "live view")
    roi = w.model.bench.camera.roi
    live.set_roi(roi.width // 3, roi.height // 3, roi.width // 3, roi.height // 3)  # type: ignore[attr-defined]
    w.docks["focus"].raise_()
    _spin(app, 3.0)
    save("live_view")
    if dark:
        w.actions_["theme_dark"].trigger()
        _spin(app, 1.0)
        save("live_view_dark")
        w.actions_["theme_dark"].trigger()
    live.stop_live()  # type: ignore[attr-defined]
    need(_spin(app, 5, lambda: not w.model.live_running), "live view stop")
    save("focus_controller")
    w.docks["sweep"].raise_()
    need(bool(sweep.load_plan(plan)), "plan load")  # type: ignore[attr-defined]
    sweep.start()  # type: ignore[attr-defined]
    need(_spin(app, 90, lambda: _progress(sweep) >= 0.4), "sweep progress")
    save("sweep_running")
    sweep.abort()  # type: ignore[attr-defined]
    need(_spin(app, 30, lambda: not w.model.running), "sweep abort")
    w.docks["sessions"].raise_()
    sp = w.panels["sessions"]
    sp.refresh()  # type: ignore[attr-defined]
    need(_spin(app, 30, lambda: _rows_ready(sp)), "session scan")
    save("session_browser")
    # a fitted session opened in the fitting panel (its first: no earlier run on the progress
    # bar), then in the browser's viewer
    w.show_panel("fitting")  # type: ignore[attr-defined]
    session = _models_in_panel(app, w, w.panels["fitting"], models_master, work, tag, need, save)
    written.append(_defocus_in_viewer(app, w, session, defocus_frame, out, tag, need))
    fp = _fit_in_panel(app, w, work, tag, need)
    save("fitting_landscape")
    if getattr(fp, "inspector", None) is not None:
        # an inspected point away from the optimum, then the fitted vs datasheet comparison
        fp.inspect(fp.results.A * 1.2, fp.results.e + 0.3, label="clicked")  # type: ignore[attr-defined]
        need(
            _spin(
                app,
                30,
                lambda: (
                    fp.inspector.current_point is not None  # type: ignore[attr-defined]
                    and abs(fp.inspector.current_point[0] - fp.results.A * 1.2) < 1e-6
                ),
            ),
            "inspect",
        )  # type: ignore[attr-defined]  # noqa: E501
        save("fitting_inspected_point")
        fp.compare_with_datasheet()  # type: ignore[attr-defined]
        need(_spin(app, 60, lambda: len(fp.inspector.pins) == 2), "two pins")  # type: ignore[attr-defined]
        save("fitting_compare_datasheet")
    w.confirm_close = lambda: True  # type: ignore[method-assign]
    w.close()
    _spin(app, 1.0)
    written += _structured_light(app, out, tag, work, need)
    gc_guard.timer.stop()
    return written


def _window_on(
    app: object, work: Path, size: tuple[int, int], overrides: dict, need: Callable
) -> object:  # noqa: E501
    """A fresh main window of ``size`` connected to a virtual bench with ``overrides``."""
    from psfbench.app.main_window import MainWindow
    from psfbench.app.settings import GuiSettings

    w = MainWindow(GuiSettings(sessions_dir=str(work / "sessions")), overrides=overrides)
    w.setGeometry(0, 0, *size)
    w.show()
    _spin(app, 0.5)
    w.connect_bench()
    need(_spin(app, 30, lambda: w.model.connected), "connect")
    return w


def _structured_light(app: object, out: Path, tag: str, work: Path, need: Callable) -> list[Path]:
    """The projector panel, a fringe scan (check, then the results) of a virtual scene with a
    shiny patch, and the calibration wizard (live detection on the virtual chessboard, then
    the results on the real captures in ../shared/data when they are there)."""
    written: list[Path] = []
    size = tuple(int(v) for v in tag.split("x"))

    def save(w: object, name: str) -> None:
        _spin(app, 0.8)
        path = out / f"{name}_{tag}.png"
        w.grab().save(str(path))  # type: ignore[attr-defined]
        written.append(path)
        print(f"wrote {path}")

    # fringe scan and projector: a glossy patch that clips under the projector's white
    w = _window_on(app, work, size, {**FAST, "shiny_patch": [0.62, 0.15, 0.8, 0.35]}, need)
    pj = w.panels["projector"]  # type: ignore[attr-defined]
    w.docks["projector"].raise_()  # type: ignore[attr-defined]
    pj.show_test_pattern("fringe")
    live = w.panels["live_view"]  # type: ignore[attr-defined]
    live.start_live()  # the camera sees the fringes on the scene beside their preview
    need(_spin(app, 10, lambda: w.model.live_running), "live view")  # type: ignore[attr-defined]
    _spin(app, 2.0)
    save(w, "projector_panel")
    live.stop_live()
    need(_spin(app, 5, lambda: not w.model.live_running), "live view stop")  # type: ignore[attr-defined]
    pj.blank()
    w.show_panel("fringe")  # type: ignore[attr-defined]
    fr = w.panels["fringe"]  # type: ignore[attr-defined]
    fr.exposure_spin.setValue(4000)
    fr.exposure_spin.editingFinished.emit()
    fr.dir_edit.setText(str(work / f"fringe_{tag}"))
    fr.dir_edit.editingFinished.emit()
    fr.check_button.click()
    need(_spin(app, 60, lambda: fr.check_result is not None and not fr.busy), "fringe check")
    save(w, "fringe_check")
    fr.start_button.click()
    need(_spin(app, 120, lambda: fr.result is not None and not fr.busy), "fringe scan")
    fr.depth_view.set_line((10.5, 40.5), (300.5, 220.5))
    save(w, "fringe_depth")
    fr.tabs.setCurrentWidget(fr.refused_view)
    save(w, "fringe_refused")
    w.confirm_close = lambda: True  # type: ignore[attr-defined]
    w.close()
    _spin(app, 1.0)

    # calibration wizard: live on the virtual chessboard, then the real captures
    w = _window_on(app, work, size, {**FAST, "scene": "chessboard"}, need)
    w.show_panel("calibration")  # type: ignore[attr-defined]
    cp = w.panels["calibration"]  # type: ignore[attr-defined]
    cp.step_spin.setValue(2)  # the virtual projector's pixels are finer than the camera's
    cp.step_spin.editingFinished.emit()
    cp.show_step(1)
    cp.start_detection()
    need(_spin(app, 30, lambda: cp.view.found is True), "chessboard detection")
    cp.capture_pose()
    need(
        _spin(app, 120, lambda: cp._capture is None and not cp._work.busy and len(cp.poses) == 1),
        "pose capture",
    )
    need(_spin(app, 30, lambda: cp.view.found is True), "chessboard detection after capture")
    save(w, "calibration_live")
    cp.stop_detection()
    real = Path(__file__).resolve().parents[1].parent / "shared/data/procam-graycode-calibration"
    if real.is_dir():
        cp.set_source("folder", real)
        cp.proj_w.setValue(1024)
        cp.proj_h.setValue(768)
        cp.step_spin.setValue(1)
        cp._form_changed()
        cp.show_step(1)
        cp.load_folder()
        need(_spin(app, 120, lambda: cp._loading is None and len(cp.poses) == 5), "real poses")
        cp.calibrate()
        need(_spin(app, 120, lambda: cp.calibration is not None and not cp._work.busy), "calib")
        cp.set_pose_used(1, False)
        cp.calibrate()
        need(
            _spin(
                app,
                120,
                lambda: (
                    cp.calibration is not None
                    and len(cp.calibration.views) == 4
                    and not cp._work.busy
                ),
            ),
            "recalibration",
        )
        save(w, "calibration_results")
    else:
        print(f"screenshots: {real} not found; no calibration-results shot")
    w.confirm_close = lambda: True  # type: ignore[attr-defined]
    w.close()
    return written


def _fit_in_panel(app: object, w: object, work: Path, tag: str, need: Callable) -> object:
    """The fitting panel after a fit from the panel (Run fit, the CLI's default grid) of a
    simulated session (objects at two depths, true A = 800, e = 23.6 mm) with a datasheet A
    typed in for the comparison; the optimum inspected. Returns the panel."""
    import shutil

    from psfbench.core.fit.session_fit import FitSettings
    from psfbench.core.simulation import SimulationSpec, simulate_session

    master = work / "simulated" / "objects_A800"
    if not master.exists():
        spec = SimulationSpec(A=800.0, e_mm=23.6, scene="objects", frames=12, height=193,
                              width=257, seed=4)  # fmt: skip
        simulate_session(master, spec)
    session = work / "sessions" / f"simulated_objects_{tag}"  # a fresh copy: no results yet
    shutil.copytree(master, session)
    w.show_panel("fitting")  # type: ignore[attr-defined]
    fp = w.panels["fitting"]  # type: ignore[attr-defined]
    fp.open_session(session)
    need(_spin(app, 30, lambda: "No fit results" in fp.status_label.text()), "fit panel open")
    fp.set_form(FitSettings(frames=12, datasheet_A=700.0, device="cpu"))
    fp.start_fit()
    need(_spin(app, 300, lambda: not fp.running), "fit from the panel")
    need(fp.results is not None, f"fit result ({fp.status_label.text()})")
    need(_spin(app, 30, lambda: fp.problem is not None), "inspection problem")
    if fp.inspector is not None:
        fp.inspect(fp.results.A, fp.results.e, label="fitted")
        need(_spin(app, 30, lambda: bool(fp.inspector.loss_table())), "inspection")
    return fp


def _models_session(work: Path) -> tuple[Path, str]:
    """Once per ``make screenshots`` (``work`` is shared by the sizes): a simulated session
    fitted with ``psfbench fit --model auto`` (12 frames: 5 held-out depths), a tiny defocus
    model trained on its PSF and the defocus map of one frame, into the session's
    results/defocus/. Returns the session and that frame (relative to the session)."""
    from psfbench.core.cli import main as cli
    from psfbench.core.simulation import SimulationSpec, simulate_session

    master = work / "simulated" / "objects_A800_auto"
    frame = "frames/frame_0008.tif"  # objects in and out of focus: a map with structure
    done = master / "results" / "defocus" / "frame_0008.tif"
    if done.is_file():
        return master, frame
    t0 = time.monotonic()
    spec = SimulationSpec(A=800.0, e_mm=23.6, scene="objects", frames=12, height=193,
                          width=257, seed=4)  # fmt: skip
    simulate_session(master, spec)
    model = work / "simulated" / "defocus_tiny"
    steps = [
        ["fit", str(master), "--model", "auto", "--device", "cpu", "--quiet"],
        # quality does not matter, but 2 epochs on 24 scenes give a flat map: 48 and 8 (~20 s)
        ["defocus", "train", "--psf", str(master), "--scenes", "48", "--epochs", "8",
         "--threads", "1", "--device", "cpu", "--quiet", "--out", str(model)],
        ["defocus", "map", str(master / frame), "--model", str(model), "--device", "cpu"],
    ]  # fmt: skip
    for argv in steps:
        rc = cli(argv)
        if rc != 0:
            raise RuntimeError(f"screenshots: psfbench {' '.join(argv)} failed (exit {rc})")
    print(f"screenshots: --model auto fit, defocus model and map in {time.monotonic() - t0:.0f} s")
    return master, frame


def _models_in_panel(
    app: object,
    w: object,
    fp: object,
    master: Path,
    work: Path,
    tag: str,
    need: Callable,
    save: Callable[[str], None],
) -> Path:
    """The fitting panel on the ``--model auto`` session (a copy in the sessions folder): the
    Settings tab with the PSF model box on "auto", then the Result tab with fit.txt's model
    table. Returns the copy."""
    import shutil

    from PySide6.QtWidgets import QScrollArea

    from psfbench.core.fit.session_fit import FitSettings

    session = work / "sessions" / f"simulated_models_{tag}"
    shutil.copytree(master, session)
    w.show_panel("fitting")  # type: ignore[attr-defined]
    fp.open_session(session)  # type: ignore[attr-defined]
    need(
        _spin(app, 60, lambda: "not refitted" in fp.status_label.text()),  # type: ignore[attr-defined]
        "fit panel open (--model auto results)",
    )
    fp.set_form(FitSettings(model="auto", frames=12, device="cpu"))  # type: ignore[attr-defined]
    need(fp.model_box.currentData() == "auto", "model box on auto")  # type: ignore[attr-defined]
    fp.tabs.setCurrentIndex(1)  # type: ignore[attr-defined]
    scroll = fp.model_box.parent()  # type: ignore[attr-defined]
    while scroll is not None and not isinstance(scroll, QScrollArea):
        scroll = scroll.parent()
    if scroll is not None:
        _spin(app, 0.3)  # laid out before scrolling
        scroll.ensureWidgetVisible(fp.model_box, 0, 80)  # type: ignore[attr-defined]
    save("fitting_models_settings")
    fp.tabs.setCurrentIndex(2)  # type: ignore[attr-defined]
    need("PSF models" in fp.result_text.toPlainText(), "model table in the Result tab")  # type: ignore[attr-defined]
    save("fitting_models_result")
    return session


def _defocus_in_viewer(
    app: object, w: object, session: Path, frame: str, out: Path, tag: str, need: Callable
) -> Path:
    """The session browser opens ``session`` in its viewer, on the Defocus map tab with
    ``frame`` on screen. The viewer is a window of its own: it is drawn over the main window
    (left, leaving the session browser in view) with a plain title bar, as a screen of that
    size would show them."""
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QColor, QPainter

    from psfbench.core.defocus.infer import session_map_path

    w.docks["sessions"].raise_()  # type: ignore[attr-defined]
    sp = w.panels["sessions"]  # type: ignore[attr-defined]
    sp.open_session(session)
    viewer = sp.viewer
    need(viewer is not None, "session viewer")
    need(
        _spin(app, 30, lambda: viewer.pending_loads == 0 and viewer.current_record is not None),
        "session viewer load",
    )
    names = [Path(r.frame).name for r in viewer.records]
    pos = names.index(Path(frame).name)
    viewer.show_frame(pos)
    want = session_map_path(session, frame)
    need(
        _spin(
            app,
            30,
            lambda: (
                viewer._shown == pos and viewer.defocus_shown == want and viewer.pending_loads == 0
            ),
        ),
        "defocus map",
    )
    viewer.tabs.setCurrentWidget(viewer.defocus_tab)
    win = w.size()  # type: ignore[attr-defined]
    vw, vh = min(1100, int(0.62 * win.width())), min(820, win.height() - 90)
    viewer.resize(vw, vh)
    _spin(app, 0.5)
    viewer.defocus_tab.plot.autoRange(padding=0.02)  # the image fills the resized view
    _spin(app, 0.8)
    need(_spin(app, 30, lambda: _rows_ready(sp)), "session scan")
    shot = w.grab()  # type: ignore[attr-defined]
    top = viewer.grab()
    bar = 26
    x, y = 40, max(0, (win.height() - vh - bar) // 2)  # the browser stays in view
    p = QPainter(shot)
    p.fillRect(QRect(x - 1, y - 1, vw + 2, vh + bar + 2), QColor("#5f6368"))
    p.fillRect(QRect(x, y, vw, bar), QColor("#dadce0"))
    p.setPen(QColor("#202124"))
    p.drawText(QRect(x + 10, y, vw - 20, bar), 0x0081, viewer.windowTitle())  # left, vcentre
    p.drawPixmap(x, y + bar, top)
    p.end()
    path = out / f"session_defocus_map_{tag}.png"
    _spin(app, 0.2)
    shot.save(str(path))
    print(f"wrote {path}")
    viewer.close()
    return path


def _progress(sweep: object) -> float:
    bar = getattr(sweep, "progress", None) or getattr(sweep, "progress_bar", None)
    if bar is None or bar.maximum() <= 0:
        return 0.0
    return float(bar.value()) / float(bar.maximum())


def _rows_ready(panel: object) -> bool:
    text = panel.status_label.text()  # type: ignore[attr-defined]
    return "session" in text and "reading" not in text


def main(argv: list[str] | None = None) -> int:
    import subprocess

    p = argparse.ArgumentParser(prog="python -m psfbench.app.screenshots", description=__doc__)
    p.add_argument("--out", default="docs/screenshots", help="folder for the PNGs")
    p.add_argument("--sizes", nargs="+", default=["1920x1080", "1366x768"])
    p.add_argument("--child", help=argparse.SUPPRESS)  # WxH: one size, in this process
    p.add_argument("--work", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        size = tuple(int(v) for v in args.child.lower().split("x"))
        shoot(Path(args.out), size, Path(args.work), dark=args.child == args.sizes[0])  # type: ignore[arg-type]
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.sizes:
            width, height = (int(v) for v in spec.lower().split("x"))
            # an offscreen screen of exactly this size: the window is laid out as on a real one
            cfg = Path(tmp) / f"screen_{spec}.json"
            screen = {"name": "screen0", "x": 0, "y": 0, "width": width, "height": height,
                      "logicalDpi": 96, "logicalBaseDpi": 96, "dpr": 1}  # fmt: skip
            cfg.write_text(json.dumps({"screens": [screen]}))
            env = dict(os.environ)
            env["QT_QPA_PLATFORM"] = f"offscreen:configfile={cfg}"
            env["PSFBENCH_GUI_SETTINGS"] = str(Path(tmp) / f"gui_{spec}.json")
            cmd = [sys.executable, "-m", "psfbench.app.screenshots", "--out", args.out,
                   "--child", spec, "--work", tmp, "--sizes", *args.sizes]  # fmt: skip
            rc = subprocess.run(cmd, env=env).returncode
            if rc != 0:
                print(f"screenshots at {spec} failed (exit {rc})", file=sys.stderr)
                return rc
    return 0


if __name__ == "__main__":
    sys.exit(main())
