"""The Qt projector in this process (one offscreen screen): the movable-window fallback,
``show`` from a worker thread returning only after the paint, from the GUI thread without a
deadlock, the paint timeout, close releasing a waiting ``show``, pattern validation, and the
preview widget. The multi-screen and scale-factor checks are in test_projector_screens.py."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import numpy as np
import pytest

T = 10_000


def _rgb(image: Any) -> np.ndarray:
    from PySide6.QtGui import QImage

    img = image.convertToFormat(QImage.Format.Format_RGB32)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    a = np.frombuffer(img.constBits(), np.uint8).reshape(h, bpl)[:, : w * 4].reshape(h, w, 4)
    return a[..., [2, 1, 0]].copy()


def _grey(image: Any) -> np.ndarray:
    rgb = _rgb(image)
    assert np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])
    return rgb[..., 0]


@pytest.fixture
def one_screen(qapp: Any) -> Any:
    from PySide6.QtGui import QGuiApplication

    screens = QGuiApplication.screens()
    if len(screens) != 1:
        pytest.skip("needs the plain offscreen platform (one screen)")
    return screens[0]


@pytest.fixture
def proj(qtbot: Any, one_screen: Any) -> Any:
    from psfbench.app.projector import QtProjector

    p = QtProjector(None, screen_index=1, settle_ms=0, fallback_size=(320, 200))
    p.open_window()
    qtbot.waitUntil(lambda: p.is_open, timeout=T)
    yield p
    p.close()


def _run_in_thread(qtbot: Any, fn: Any) -> dict[str, Any]:
    """Run ``fn`` on a worker thread while this (GUI) thread keeps processing events."""
    out: dict[str, Any] = {}

    def body() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:
            out["error"] = exc

    th = threading.Thread(target=body, name="test-worker", daemon=True)
    th.start()
    qtbot.waitUntil(lambda: not th.is_alive(), timeout=T)
    return out


def test_one_screen_gives_a_movable_window_not_full_screen(
    qtbot: Any, one_screen: Any, caplog: pytest.LogCaptureFixture
) -> None:
    from PySide6.QtCore import Qt

    from psfbench.app.projector import QtProjector
    from psfbench.core.devices.protocols import Projector

    caplog.set_level(logging.INFO, logger="psfbench.app.projector")
    p = QtProjector(None, screen_index=1)
    try:
        p.open_window()
        qtbot.waitUntil(lambda: p.is_open, timeout=T)
        win = p.window
        assert isinstance(p, Projector)
        assert not p.fullscreen and not win.isFullScreen()
        assert not win.windowState() & Qt.WindowState.WindowFullScreen
        assert not win.windowFlags() & Qt.WindowType.FramelessWindowHint  # a normal window
        assert "Only one screen" in p.fallback_reason and "movable window" in p.fallback_reason
        assert any(
            r.levelno == logging.WARNING and "Only one screen" in r.getMessage()
            for r in caplog.records
        )
        # default pattern size: half the screen's physical pixels, inside the screen
        g, dpr = one_screen.geometry(), one_screen.devicePixelRatio()
        assert (p.width, p.height) == (int(g.width() * dpr) // 2, int(g.height() * dpr) // 2)
        assert one_screen.availableGeometry().contains(win.geometry())
        x0, y0 = win.x(), win.y()
        win.move(x0 + 10, y0 + 5)  # movable
        qtbot.waitUntil(lambda: (win.x(), win.y()) == (x0 + 10, y0 + 5), timeout=T)
        assert "movable" in p.info.name
        pattern = np.random.default_rng(3).integers(0, 256, (p.height, p.width), np.uint8)
        p.show(pattern, settle=False)
        assert np.array_equal(_grey(win.grab().toImage()), pattern)
    finally:
        p.close()


def test_show_from_a_worker_returns_after_the_pattern_is_painted(qtbot: Any, proj: Any) -> None:
    proj.settle_ms = 30
    rng = np.random.default_rng(1)
    patterns = [rng.integers(0, 256, (200, 320), np.uint8) for _ in range(6)]
    patterns.append(rng.random((200, 320, 3)).astype(np.float32))  # float RGB is rounded
    win = proj.window

    def scan() -> list[tuple[bool, int, float]]:
        seen = []
        for pat in patterns:
            t0 = time.monotonic()
            proj.show(pat)
            elapsed = time.monotonic() - t0
            want = pat if pat.dtype == np.uint8 else np.rint(pat * 255).astype(np.uint8)
            # what the window last painted, read the moment show() returned
            seen.append((np.array_equal(win.painted_pattern, want), win.painted_seq, elapsed))
        return seen

    out = _run_in_thread(qtbot, scan)
    assert "error" not in out, out.get("error")
    seen = out["result"]
    assert [s[0] for s in seen] == [True] * len(patterns)
    seqs = [s[1] for s in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(patterns)
    assert min(s[2] for s in seen) >= 0.03  # the settle delay came after the paint
    last = np.rint(patterns[-1] * 255).astype(np.uint8)
    assert np.array_equal(_rgb(win.grab().toImage()), last)
    assert np.array_equal(proj.current, last)


def test_show_on_the_gui_thread_paints_at_once(qtbot: Any, proj: Any) -> None:
    proj.settle_ms = 20
    pat = np.full((200, 320), 77, np.uint8)
    t0 = time.monotonic()
    proj.show(pat)  # no event round trip: would deadlock if it waited for the event loop
    assert time.monotonic() - t0 >= 0.02
    assert np.array_equal(proj.window.painted_pattern, pat)
    assert np.array_equal(_grey(proj.window.grab().toImage()), pat)
    proj.blank()
    assert proj.current is None and proj.window.painted_pattern is None
    assert not _grey(proj.window.grab().toImage()).any()


def test_show_times_out_with_a_clear_error_when_the_gui_thread_never_paints(
    qtbot: Any, proj: Any
) -> None:
    from psfbench.core.devices.protocols import DeviceError

    before = np.full((200, 320), 10, np.uint8)
    proj.show(before)
    proj.paint_timeout_s = 0.3
    out: dict[str, Any] = {}

    def body() -> None:
        try:
            proj.show(np.full((200, 320), 200, np.uint8))
        except DeviceError as exc:
            out["error"] = exc

    th = threading.Thread(target=body, daemon=True)
    th.start()
    th.join(5)  # this (GUI) thread blocks: nothing paints
    assert not th.is_alive()
    assert "not painted within 0.3 s" in str(out["error"])
    qtbot.wait(50)  # the late request is dropped, not painted after the caller gave up
    assert np.array_equal(proj.window.painted_pattern, before)


def test_close_releases_a_show_waiting_for_the_paint(qtbot: Any, proj: Any) -> None:
    from psfbench.core.devices.protocols import DeviceError

    out: dict[str, Any] = {}

    def body() -> None:
        t0 = time.monotonic()
        try:
            proj.show(np.zeros((200, 320), np.uint8))
        except DeviceError as exc:
            out["error"] = exc
        out["s"] = time.monotonic() - t0

    th = threading.Thread(target=body, daemon=True)
    th.start()
    deadline = time.monotonic() + 5
    while not proj._pending and time.monotonic() < deadline:  # the worker is waiting
        time.sleep(0.005)
    proj.close()  # e.g. disconnect during a scan
    th.join(5)
    assert "closed" in str(out["error"]) and out["s"] < 2.0  # not the 5 s paint timeout
    assert proj.window is None
    with pytest.raises(DeviceError, match="closed"):
        proj.show(np.zeros((200, 320), np.uint8))
    proj.blank()  # nothing to do, no error
    proj.close()  # idempotent


def test_a_window_closed_by_the_user_reopens_for_the_next_pattern(qtbot: Any, proj: Any) -> None:
    proj.window.close()
    qtbot.waitUntil(lambda: not proj.is_open, timeout=T)
    pat = np.full((200, 320), 128, np.uint8)
    out = _run_in_thread(qtbot, lambda: proj.show(pat))
    assert "error" not in out
    assert proj.is_open and np.array_equal(_grey(proj.window.grab().toImage()), pat)


def test_bad_patterns_are_refused(proj: Any) -> None:
    from psfbench.core.devices.protocols import DeviceError

    with pytest.raises(DeviceError, match="320x200"):
        proj.show(np.zeros((100, 100), np.uint8))
    with pytest.raises(DeviceError, match=r"\[0, 1\]"):
        proj.show(np.full((200, 320), 1.5, np.float32))
    with pytest.raises(DeviceError, match="dtype"):
        proj.show(np.zeros((200, 320), np.int32))
    with pytest.raises(DeviceError, match="settle"):
        proj.settle_ms = -1


def test_preview_follows_the_qt_projector(qtbot: Any, proj: Any) -> None:
    from psfbench.app.panels.projector import test_pattern
    from psfbench.app.widgets.projector_preview import ProjectorPreview

    preview = ProjectorPreview(lambda: proj)
    qtbot.addWidget(preview)
    try:
        preview.poll()
        assert not preview.poll()  # nothing new: no redraw
        n = preview.updates
        grid = test_pattern("grid", proj.width, proj.height)
        proj.show(grid, settle=False)
        assert preview.poll() and preview.updates == n + 1
        img = preview.image
        assert (img.width(), img.height()) == (320, 200)  # small enough: shown 1:1
        assert np.array_equal(_grey(img), grid)
        proj.blank()
        assert preview.poll() and preview.image is None
        assert "blank" in preview.caption.text()
    finally:
        preview.shutdown()


def test_preview_block_averages_big_patterns() -> None:
    from psfbench.app.panels.projector import test_pattern
    from psfbench.app.widgets.projector_preview import preview_image

    img = preview_image(test_pattern("grid", 1920, 1080))
    assert (img.width(), img.height()) == (640, 360)  # 3x3 blocks
    a = _grey(img)
    # a 1-px line every 16 px: a 3x3 block holds no line, one (3 lit pixels) or a crossing (5)
    assert set(np.unique(a).tolist()) == {0, 85, 142}
    fl = preview_image(np.full((400, 640), 0.5, np.float32))
    assert (fl.width(), fl.height()) == (640, 400) and set(np.unique(_grey(fl))) == {128}
