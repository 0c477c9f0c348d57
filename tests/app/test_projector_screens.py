"""The Qt projector on several screens at different scale factors (a subprocess with its own
offscreen screen set-up: A at scale 1, B at scale 2, C at scale 1.5).

Checks, each on the real window: selection by name puts it full screen (frameless, no cursor)
on the named screen; ``width`` x ``height`` are the screen's physical pixels; the grabbed
pixels equal the pattern exactly (grey, RGB and float patterns) at every scale factor, and the
window system's own copy (``QScreen.grabWindow``, which the offscreen platform returns at the
logical size from the top-left of the backing store) matches too; the profile's index is the
default without a name; a name that is gone falls back to a movable window; the panel's screen
picker moves the window and is remembered over the profile's index at the next connect.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]

SCREENS = [
    # physical pixels; logicalDpi / 96 is the desktop scale factor (Qt's high-DPI scaling)
    {"name": "A", "x": 0, "y": 0, "width": 800, "height": 600, "logicalDpi": 96},
    {"name": "B", "x": 800, "y": 0, "width": 1280, "height": 800, "logicalDpi": 192},
    {"name": "C", "x": 1440, "y": 0, "width": 1366, "height": 768, "logicalDpi": 144},
]

PROFILE = """
name = "screen-projector-test"
[projector]
driver = "screen"
screen = 1
"""


# ------------------------------------------------------------------ child process


def _spin(app: Any, seconds: float, until: Any = None) -> bool:
    from PySide6.QtCore import QEventLoop

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        if until is not None and until():
            return True
        time.sleep(0.002)
    return until is None


def _rgb(image: Any) -> np.ndarray:
    """QImage -> (H, W, 3) uint8 RGB (a copy: the QImage may go away)."""
    from PySide6.QtGui import QImage

    img = image.convertToFormat(QImage.Format.Format_RGB32)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    a = np.frombuffer(img.constBits(), np.uint8).reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)
    return a[..., [2, 1, 0]].copy()  # BGRA in memory (little endian) -> RGB


def _as_rgb(pattern: np.ndarray) -> np.ndarray:
    p = np.asarray(pattern)
    if p.dtype != np.uint8:
        p = np.rint(p * 255.0).astype(np.uint8)
    return np.repeat(p[..., None], 3, axis=2) if p.ndim == 2 else p


def _pixel_checks(app: Any, proj: Any) -> dict[str, Any]:
    from PySide6.QtCore import Qt

    win = proj.window
    w, h = proj.width, proj.height
    rng = np.random.default_rng(7)
    patterns = {
        "grey_uint8": rng.integers(0, 256, (h, w), dtype=np.uint8),
        "rgb_uint8": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
        "float": rng.random((h, w)).astype(np.float32),
    }
    out: dict[str, Any] = {
        "fullscreen": proj.fullscreen,
        "window_full_screen": win.isFullScreen(),
        "frameless": bool(win.windowFlags() & Qt.WindowType.FramelessWindowHint),
        "cursor_hidden": win.cursor().shape() == Qt.CursorShape.BlankCursor,
        "on_screen": win.screen().name(),
        "geometry_is_screen": win.geometry() == proj.screen.geometry(),
        "size": [w, h],
        "dpr": win.devicePixelRatioF(),
        "exact": {},
        "window_system_copy": {},
    }
    for name, pattern in patterns.items():
        proj.show(pattern, settle=False)
        _spin(app, 0.05)
        grabbed = _rgb(win.grab().toImage())
        expect = _as_rgb(pattern)
        gh, gw = grabbed.shape[:2]
        exact = (
            gh >= h
            and gw >= w
            and np.array_equal(grabbed[:h, :w], expect)
            and not grabbed[h:, :].any()  # black beyond the pattern (fractional scale)
            and not grabbed[:, w:].any()
        )
        out["exact"][name] = {"equal": bool(exact), "grab": [gw, gh]}
        ws = _rgb(proj.screen.grabWindow(win.winId()).toImage())
        sh, sw = min(ws.shape[0], h), min(ws.shape[1], w)
        out["window_system_copy"][name] = bool(
            np.array_equal(ws[:sh, :sw], expect[:sh, :sw]) and sh > 0 and sw > 0
        )
    return out


def _child(out_path: str) -> int:
    from PySide6.QtWidgets import QApplication

    app = QApplication(sys.argv[:1])
    from psfbench.app.bench_model import BenchModel
    from psfbench.app.panels.projector import ProjectorPanel
    from psfbench.app.projector import QtProjector, list_screens
    from psfbench.app.settings import GuiSettings
    from psfbench.core.devices.protocols import Projector

    res: dict[str, Any] = {
        "screens": {s.name: [s.physical_width, s.physical_height, s.dpr] for s in list_screens()}
    }
    for name in ("A", "B", "C"):
        proj = QtProjector(name, screen_index=0)
        proj.open_window()
        _spin(app, 0.1)
        res[name] = _pixel_checks(app, proj)
        res[name]["is_projector"] = isinstance(proj, Projector)
        proj.close()
        _spin(app, 0.05)

    by_index = QtProjector(None, screen_index=2)
    by_index.open_window()
    res["by_index"] = [by_index.screen_name, by_index.fullscreen]
    by_index.close()
    gone = QtProjector("HDMI-9", screen_index=1)
    gone.open_window()
    _spin(app, 0.05)
    win = gone.window
    res["gone"] = {
        "fullscreen": gone.fullscreen,
        "window_full_screen": win.isFullScreen(),
        "reason": gone.fallback_reason,
        "size": [gone.width, gone.height],
    }
    gone.close()

    # the panel's screen picker, with a profile whose projector is a screen window
    profile = Path(out_path).with_name("screen.toml")
    profile.write_text(PROFILE)
    settings = GuiSettings()
    model = BenchModel()
    panel = ProjectorPanel(model, settings)
    panel.resize(420, 700)
    panel.show()
    model.connect_bench(str(profile), {"time_scale": 0.01})
    ok = _spin(app, 60, lambda: model.connected)
    qp = model.bench.projector if ok else None
    res["connected"] = {
        "ok": ok,
        "qt_projector": isinstance(qp, QtProjector),
        "screen": qp.screen_name if qp else None,
        "fullscreen": qp.fullscreen if qp else None,
        "open": qp.is_open if qp else None,
        "status": panel.status_label.text(),
    }
    combo = panel.screen_combo
    idx = combo.findData("C")
    combo.setCurrentIndex(idx)
    combo.activated.emit(idx)  # what a click on the entry does
    _spin(app, 0.1)
    res["picked"] = {
        "screen": qp.screen_name,
        "fullscreen": qp.fullscreen,
        "window_on": qp.window.screen().name(),
        "size": [qp.width, qp.height],
        "remembered": settings.panels.get("projector", {}).get("screen"),
    }
    model.disconnect_bench()
    _spin(app, 30, lambda: model.state == "disconnected")
    res["after_disconnect"] = {"closed": qp.closed, "window": qp.window is not None}
    model.connect_bench(str(profile), {"time_scale": 0.01})
    _spin(app, 60, lambda: model.connected)
    qp2 = model.bench.projector
    res["reconnected"] = {"screen": qp2.screen_name, "fullscreen": qp2.fullscreen}
    panel.shutdown()
    model.close()
    res["closed_at_exit"] = qp2.closed
    Path(out_path).write_text(json.dumps(res))
    return 0


# ------------------------------------------------------------------ the test (parent)


@pytest.fixture(scope="module")
def child(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("screens")
    cfg = tmp / "screens.json"
    cfg.write_text(json.dumps({"screens": [dict(s, logicalBaseDpi=96, dpr=1) for s in SCREENS]}))
    out = tmp / "result.json"
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = f"offscreen:configfile={cfg}"
    env["PSFBENCH_GUI_SETTINGS"] = str(tmp / "gui.json")
    proc = subprocess.run(
        [sys.executable, "-m", "tests.app.test_projector_screens", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return dict(json.loads(out.read_text()))


def test_screens_are_listed_with_physical_pixels_and_scale(child: dict[str, Any]) -> None:
    assert child["screens"] == {
        "A": [800, 600, 1.0],
        "B": [1280, 800, 2.0],
        "C": [1366, 768, 1.5],
    }


@pytest.mark.parametrize(("name", "size", "dpr"), [("A", [800, 600], 1.0), ("B", [1280, 800], 2.0)])
def test_full_screen_on_the_named_screen_pixel_for_pixel(
    child: dict[str, Any], name: str, size: list[int], dpr: float
) -> None:
    r = child[name]
    assert r["is_projector"]
    assert r["fullscreen"] and r["window_full_screen"] and r["geometry_is_screen"]
    assert r["on_screen"] == name
    assert r["frameless"] and r["cursor_hidden"]
    assert r["size"] == size and r["dpr"] == dpr
    for kind, got in r["exact"].items():
        assert got == {"equal": True, "grab": size}, kind
    assert all(r["window_system_copy"].values()), r["window_system_copy"]


def test_fractional_scale_is_pixel_for_pixel_too(child: dict[str, Any]) -> None:
    r = child["C"]
    assert r["on_screen"] == "C" and r["fullscreen"] and r["dpr"] == 1.5
    assert r["size"] == [1366, 768]
    # Qt rounds the logical width (911 px x 1.5 = 1366.5): one device column beyond the
    # pattern may exist; it is black and the pattern itself is exact
    for kind, got in r["exact"].items():
        assert got["equal"], kind
    assert all(r["window_system_copy"].values())


def test_profile_index_is_the_default_and_a_missing_name_falls_back(
    child: dict[str, Any],
) -> None:
    assert child["by_index"] == ["C", True]
    gone = child["gone"]
    assert not gone["fullscreen"] and not gone["window_full_screen"]
    assert "'HDMI-9' is not connected" in gone["reason"]
    assert "movable window" in gone["reason"]


def test_panel_picks_the_screen_by_name_and_it_is_remembered(child: dict[str, Any]) -> None:
    c = child["connected"]
    assert c["ok"] and c["qt_projector"] and c["open"]
    assert c["screen"] == "B" and c["fullscreen"]  # the profile's screen = 1
    assert "Projector window on B: 1280×800 px, full screen" in c["status"]
    p = child["picked"]
    assert p == {
        "screen": "C",
        "fullscreen": True,
        "window_on": "C",
        "size": [1366, 768],
        "remembered": "C",
    }
    assert child["after_disconnect"] == {"closed": True, "window": False}
    assert child["reconnected"] == {"screen": "C", "fullscreen": True}  # name beats index
    assert child["closed_at_exit"]


if __name__ == "__main__":
    sys.exit(_child(sys.argv[1]))
