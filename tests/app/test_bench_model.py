"""BenchModel's lifecycle races: closing while a bench is still being opened."""

from __future__ import annotations

from typing import Any

import pytest

from tests.app.conftest import FAST_BENCH


def test_close_while_connecting_takes_over_and_closes_the_new_bench(
    qtbot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading

    import psfbench.core.acquisition.bench_io as bench_io
    from psfbench.app.bench_model import BenchModel

    real_open = bench_io.open_bench_from
    opened: list[Any] = []
    closed: list[Any] = []
    release = threading.Event()

    def slow_open(profile: Any, **overrides: Any) -> Any:
        release.wait(10)  # still opening when the window closes
        bench = real_open(profile, **overrides)
        real_close = bench.close

        def close() -> None:
            closed.append(bench)
            real_close()

        bench.close = close  # type: ignore[method-assign]
        opened.append(bench)
        return bench

    monkeypatch.setattr(bench_io, "open_bench_from", slow_open)
    model = BenchModel()
    errors: list[tuple[str, str]] = []
    model.errorOccurred.connect(lambda t, m: errors.append((t, m)))
    model.connect_bench("virtual", dict(FAST_BENCH))
    threading.Timer(0.2, release.set).start()
    model.close()  # must neither raise nor leak the bench opened meanwhile
    assert opened and closed == opened
    assert model.bench is None and model.state == "disconnected" and not errors
    model.close()  # idempotent
