"""The landscape point inspector (issue 13): what it shows equals the core's inspect_point.

A small simulated session (96 x 128 px, 8 sweep images, objects scene, true A = 800,
e = 23.6 mm) prepared as a fit prepares it (pre-filter, noise model, loss masks). Every test
drives the widget as the fitting panel does (inspect, slider, Pin / Clear buttons) and checks
what is on screen against ``inspect_point`` computed directly with the core.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PySide6.QtCore import QElapsedTimer, Qt, QTimer

from psfbench.app.widgets.inspector import TERMS, InspectorWidget
from psfbench.core.fit.grid import frame_losses
from psfbench.core.fit.inspect import inspect_point
from psfbench.core.fit.session_io import problem_from_session
from psfbench.core.simulation import SimulationSpec, simulate_session

TRUTH = (800.0, 23.6)
OTHER = (650.0, 23.3)
M = 8


@pytest.fixture(scope="module")
def problem(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    spec = SimulationSpec(
        A=TRUTH[0], e_mm=TRUTH[1], scene="objects", frames=M, height=96, width=128, seed=4
    )
    path: Path = tmp_path_factory.mktemp("inspector") / "session"
    simulate_session(path, spec)
    p, _ = problem_from_session(path)
    return p.with_observation(2.0, "auto").with_loss_masks(1000.0, TRUTH[1])


@pytest.fixture(scope="module")
def core_at(problem):  # type: ignore[no-untyped-def]
    """(A, e) -> inspect_point(problem, A, e), computed once per point."""
    cache: dict = {}
    losses = frame_losses(problem)

    def get(A: float, e: float):  # type: ignore[no-untyped-def]
        if (A, e) not in cache:
            cache[(A, e)] = inspect_point(problem, A, e, losses=losses)
        return cache[(A, e)]

    return get


@pytest.fixture
def widget(qtbot, problem):  # type: ignore[no-untyped-def]
    w = InspectorWidget()
    qtbot.addWidget(w)
    w.resize(1000, 700)
    w.show()
    w.set_problem(problem, truth=TRUTH)
    yield w
    w.shutdown()


def _inspect_and_wait(qtbot, w: InspectorWidget, A: float, e: float) -> None:  # type: ignore[no-untyped-def]
    w.inspect(A, e)
    qtbot.waitUntil(lambda: w.current_point == (A, e) and w.complete, timeout=30_000)


def _check_terms(actual: dict[str, float], expected: dict[str, float]) -> None:
    assert set(actual) == set(TERMS)
    for t in TERMS:
        assert actual[t] == pytest.approx(expected[t], rel=1e-6, abs=1e-12), t


def _cell(table, row: int, col: int) -> str:  # type: ignore[no-untyped-def]
    return table.item(row, col).text()


def test_without_a_problem_a_message_and_no_work(qtbot) -> None:  # type: ignore[no-untyped-def]
    w = InspectorWidget()
    qtbot.addWidget(w)
    w.show()
    assert w._stack.currentIndex() == 0
    assert "Open a session" in w._message.text()
    w.inspect(800.0, 23.6)
    w.pin()
    w.set_frame(3)
    assert w.current is None and w.current_point is None and not w.computed
    assert w.loss_table() == {} and w.pins == []
    assert not w._pin_button.isEnabled()
    w.shutdown()
    w.shutdown()  # idempotent


def test_loss_table_equals_core_at_the_truth_and_another_point(
    qtbot, widget: InspectorWidget, core_at
) -> None:  # type: ignore[no-untyped-def]
    widget._slider.setValue(3)  # the user picks sweep image 4
    for A, e in (TRUTH, OTHER):
        _inspect_and_wait(qtbot, widget, A, e)
        ref = core_at(A, e)
        assert widget.shown_frame == 3
        _check_terms(widget.loss_table(), {t: ref.per_image[t][3] for t in TERMS})
        _check_terms(widget.mean_table(), ref.terms)
        # the table on screen shows the same numbers
        for r, t in enumerate(TERMS):
            assert float(_cell(widget._terms, r, 1)) == pytest.approx(ref.per_image[t][3], rel=1e-3)
            assert float(_cell(widget._terms, r, 2)) == pytest.approx(ref.terms[t], rel=1e-3)
        assert widget._point_label.text() == f"A = {A:.1f}, e = {e:.3f} mm"
        np.testing.assert_array_equal(widget.current.simulated.numpy(), ref.simulated.numpy())
    assert "truth: A = 800.0, e = 23.600 mm" in widget._truth_label.text()
    # the truth scores far better than the other point
    assert core_at(*TRUTH).terms["total"] < 0.1 * core_at(*OTHER).terms["total"]


def test_switching_sweep_images_shows_that_image_at_once(
    qtbot, widget: InspectorWidget, core_at
) -> None:  # type: ignore[no-untyped-def]
    _inspect_and_wait(qtbot, widget, *OTHER)
    ref = core_at(*OTHER)
    n = len(widget.computed)
    for f in (0, 5, 7, 2):
        widget._slider.setValue(f)  # no waiting: the whole sweep is already computed
        assert widget.shown_frame == f
        shown = widget.shown_images()
        real = ref.observed[f, 0].numpy()
        sim = ref.simulated[f, 0].numpy()
        np.testing.assert_array_equal(shown["real"], real)
        np.testing.assert_array_equal(shown["simulated"], sim)
        # the residual on screen is simulated - real, pixel for pixel
        np.testing.assert_allclose(shown["residual"], sim - real, rtol=0, atol=1e-7)
        np.testing.assert_allclose(widget.residual_image(), sim - real, rtol=0, atol=1e-7)
        for y, x in ((10, 20), (50, 64), (90, 120)):  # probes
            assert shown["residual"][y, x] == pytest.approx(sim[y, x] - real[y, x], abs=1e-7)
        _check_terms(widget.loss_table(), {t: ref.per_image[t][f] for t in TERMS})
        # a symmetric diverging scale around 0
        low, high = widget.residual_limits()
        assert low == -high and high > 0
        assert f"{f + 1} of {M}" in widget._frame_label.text()
    assert len(widget.computed) == n  # no new computation for a frame switch


def test_chunked_inspection_equals_the_whole_sweep(qtbot, problem, core_at) -> None:  # type: ignore[no-untyped-def]
    """With 2 images per job (as at 512 px), the shown image comes first and the assembled
    sweep equals inspect_point on all images."""
    w = InspectorWidget(chunk_pixels=2 * 96 * 128)
    qtbot.addWidget(w)
    w.show()
    w.set_problem(problem)
    assert len(w._ctx.chunks) == M // 2
    w.set_frame(5)
    shown: list[tuple[float, float]] = []
    w.imagesShown.connect(lambda A, e: shown.append((A, e)))
    _inspect_and_wait(qtbot, w, *TRUTH)
    ref = core_at(*TRUTH)
    assert shown[0] == TRUTH
    full = w.current
    assert full.frame_indices == ref.frame_indices
    for name in ("simulated", "observed", "residual", "sigma", "masks"):
        assert torch.equal(getattr(full, name), getattr(ref, name)), name
    for t in TERMS:
        np.testing.assert_array_equal(full.per_image[t], ref.per_image[t])
    assert full.terms == ref.terms
    _check_terms(w.loss_table(), {t: ref.per_image[t][5] for t in TERMS})
    w.shutdown()


def test_latest_request_wins(qtbot, widget: InspectorWidget, core_at) -> None:  # type: ignore[no-untyped-def]
    points = [(600.0 + 15.0 * i, 23.0 + 0.05 * i) for i in range(20)]
    shown: list[tuple[float, float]] = []
    widget.imagesShown.connect(lambda A, e: shown.append((A, e)))
    for A, e in points:  # a fast drag: 20 requests before the event loop runs
        widget.inspect(A, e)
    last = points[-1]
    qtbot.waitUntil(
        lambda: widget.current_point == last and widget.complete and not widget.busy,
        timeout=30_000,
    )
    assert len(widget.computed) < 20
    assert widget.computed[-1] == last
    assert set(shown) <= {points[0], last}  # nothing in between was ever computed or shown
    _check_terms(widget.loss_table(), {t: core_at(*last).per_image[t][0] for t in TERMS})
    _check_terms(widget.mean_table(), core_at(*last).terms)


def test_two_pinned_points_side_by_side(qtbot, widget: InspectorWidget, core_at) -> None:  # type: ignore[no-untyped-def]
    assert not widget._pin_button.isEnabled()
    widget.set_frame(4)
    _inspect_and_wait(qtbot, widget, *TRUTH)
    qtbot.mouseClick(widget._pin_button, Qt.MouseButton.LeftButton)
    _inspect_and_wait(qtbot, widget, *OTHER)
    widget.pin("datasheet")
    assert [(lab, A, e) for lab, A, e, _ in widget.pins] == [
        ("A = 800.0, e = 23.600 mm", *TRUTH),
        ("datasheet", *OTHER),
    ]
    ref_a, ref_b = core_at(*TRUTH), core_at(*OTHER)
    assert widget._cols[1].isVisible() and widget._cols[2].isVisible()
    assert widget._compare.isVisible()
    for col, ref in ((1, ref_a), (2, ref_b)):
        shown = widget.shown_images(col)
        np.testing.assert_array_equal(shown["simulated"], ref.simulated[4, 0].numpy())
        np.testing.assert_allclose(shown["residual"], ref.residual[4, 0].numpy(), rtol=0, atol=1e-7)
    table = widget.comparison_table()
    _check_terms(table["A"]["image"], {t: ref_a.per_image[t][4] for t in TERMS})
    _check_terms(table["B"]["image"], {t: ref_b.per_image[t][4] for t in TERMS})
    _check_terms(table["A"]["mean"], ref_a.terms)
    _check_terms(table["B"]["mean"], ref_b.terms)
    # on screen: row 5 = total of image 5, row 11 = total of the mean, with B - A
    assert _cell(widget._compare, 0, 0) == "image 5"
    assert _cell(widget._compare, 5, 1) == f"{ref_a.per_image['total'][4]:.3g}"
    assert _cell(widget._compare, 11, 2) == f"{ref_b.terms['total']:.3g}"
    diff = ref_b.terms["total"] - ref_a.terms["total"]
    assert _cell(widget._compare, 11, 3) == f"{diff:+.3g}"
    assert _cell(widget._compare, 11, 4) == f"{ref_b.terms['total'] / ref_a.terms['total']:.3g}"
    # the residuals of all shown points share one symmetric scale
    limit = widget.residual_limits()[1]
    assert all(c.res.levels[1] == pytest.approx(limit) for c in widget._cols[:3])
    # both pins follow the sweep-image slider
    widget._slider.setValue(6)
    np.testing.assert_array_equal(
        widget.shown_images(2)["simulated"], ref_b.simulated[6, 0].numpy()
    )
    # a third pin replaces the oldest; Clear removes them
    _inspect_and_wait(qtbot, widget, 700.0, 23.5)
    widget.pin("third")
    assert [lab for lab, *_ in widget.pins] == ["datasheet", "third"]
    qtbot.mouseClick(widget._clear_button, Qt.MouseButton.LeftButton)
    assert widget.pins == [] and not widget._cols[1].isVisible()
    assert not widget._compare.isVisible()


def test_errors_are_reported_and_the_view_recovers(qtbot, widget: InspectorWidget) -> None:  # type: ignore[no-untyped-def]
    widget.inspect(-5.0, 23.6)
    qtbot.waitUntil(lambda: "A must be > 0" in widget._status.text(), timeout=30_000)
    assert widget.current_point is None
    _inspect_and_wait(qtbot, widget, *TRUTH)
    assert widget._status.text() == ""
    widget.set_problem(None)
    assert widget._stack.currentIndex() == 0 and widget.current is None and widget.pins == []


def test_a_new_problem_mid_computation_drops_the_old_result(
    qtbot, widget: InspectorWidget, problem, core_at
) -> None:  # type: ignore[no-untyped-def]
    widget.inspect(*OTHER)  # still running when the problem is replaced
    widget.set_problem(problem.subset([1, 2, 3]), truth=None)
    assert widget.current_point is None and widget._slider.maximum() == 2
    assert widget._truth_label.text() == ""
    widget.set_frame(2)
    _inspect_and_wait(qtbot, widget, *TRUTH)
    qtbot.wait(100)  # the old job's result, if it came late, must not show
    assert widget.current_point == TRUTH and widget.current.frame_indices == (1, 2, 3)
    _check_terms(widget.loss_table(), {t: core_at(*TRUTH).per_image[t][3] for t in TERMS})
    widget.inspect(*OTHER)
    widget.shutdown()  # while computing: nothing is called back afterwards
    qtbot.wait(300)
    assert widget.current_point == TRUTH


class _Heartbeat:
    def __init__(self) -> None:
        self.gaps: list[int] = []
        self._clock = QElapsedTimer()
        self._timer = QTimer()
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(10)
        self._timer.timeout.connect(self._beat)
        self._last = 0

    def start(self) -> None:
        self._clock.start()
        self._timer.start()

    def _beat(self) -> None:
        now = self._clock.elapsed()
        self.gaps.append(now - self._last)
        self._last = now

    def stop(self) -> None:
        self._timer.stop()


def test_gui_stays_responsive_during_a_burst_of_requests(qtbot, widget: InspectorWidget) -> None:  # type: ignore[no-untyped-def]
    widget.set_frame(1)
    _inspect_and_wait(qtbot, widget, *TRUTH)
    widget.pin("truth")  # its column stays on screen, refreshed with every image switch
    qtbot.wait(100)  # the pinned column's first layout and paint are not part of the burst
    beat = _Heartbeat()
    beat.start()
    for i in range(60):  # a drag: a request every ~15 ms, frames switched on the way
        widget.inspect(620.0 + 5.0 * i, 23.2 + 0.01 * i)
        if i % 10 == 5:
            widget.set_frame(i % M)
        qtbot.wait(15)
    last = (620.0 + 5.0 * 59, 23.2 + 0.01 * 59)
    qtbot.waitUntil(lambda: widget.current_point == last and not widget.busy, timeout=30_000)
    beat.stop()
    assert len(beat.gaps) > 50
    assert max(beat.gaps) < 200, max(beat.gaps)
    assert len(widget.computed) < 60
