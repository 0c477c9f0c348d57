"""Fixtures for the GUI tests: settings in a temporary file, a connected virtual bench."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

#: virtual-bench overrides for GUI tests: 100x faster than life, small frames
FAST_BENCH = {"time_scale": 0.01}


@pytest.fixture(autouse=True)
def _garbage_collected_on_the_gui_thread() -> Iterator[None]:
    """No automatic garbage collection during GUI tests; collect on this (the GUI) thread
    after each. Python's cyclic GC runs in whichever thread happens to allocate: when a worker
    thread (a session scan, the virtual camera) collected a Qt wrapper left over from an
    earlier test, its C++ destructor took a Qt lock and waited for the GIL while the GUI thread,
    holding the GIL, waited for that lock: a deadlock seen in a full CI run. The application
    does the same with pyqtgraph's GarbageCollector (app/main.py)."""
    import gc

    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.collect()
        gc.enable()


@pytest.fixture(autouse=True)
def _gui_settings_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every GUI test reads and writes its own settings file, never the user's."""
    path = tmp_path / "gui-settings.json"
    monkeypatch.setenv("PSFBENCH_GUI_SETTINGS", str(path))
    return path


@pytest.fixture
def gui_settings():  # type: ignore[no-untyped-def]
    from psfbench.app.settings import GuiSettings

    return GuiSettings()


@pytest.fixture
def bench_model(qtbot) -> Iterator:  # type: ignore[no-untyped-def]
    """A :class:`psfbench.app.bench_model.BenchModel` connected to the virtual bench (fast
    clock)."""
    from psfbench.app.bench_model import BenchModel

    model = BenchModel()
    errors: list[tuple[str, str]] = []
    model.errorOccurred.connect(lambda t, m: errors.append((t, m)))
    model.connect_bench("virtual", dict(FAST_BENCH))
    qtbot.waitUntil(lambda: model.connected, timeout=30_000)
    model.test_errors = errors  # type: ignore[attr-defined]
    yield model
    model.close()
