"""The Newton zoom on analytic loss surfaces whose minimum is known by construction.

A newcomer's 96x128, 12-frame sweep had a loss valley in e far narrower than the paper grid's
0.2 mm step: the landscape's minimum sat at the grid edge (A 400 for a true 950), and the zoom,
moving 75 A per design, ran out of designs at A 725 and reported it (-24 %) with an
uncertainty of 0. The zoom now walks (longer steps while its steps hit the trust region,
designs that still lower the loss are free) and, when it stops while still moving, says so
and reports the best point it evaluated, not an extrapolation.
"""

from __future__ import annotations

import numpy as np

from psfbench.core.fit.grid import Landscape
from psfbench.core.fit.zoom import newton_zoom

A_TRUE, E_TRUE = 950.0, 24.25


def _valley(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """A narrow valley tilted in (A, e), like a sweep's: e is fixed ~1000x more sharply than
    A per unit, and the valley's e shifts with A (-0.3 mm over 500 A); minimum 17."""
    along = (a - A_TRUE) / 60.0
    across = (e - E_TRUE + 0.0006 * (a - A_TRUE)) / 0.004
    return 17.0 + 30.0 * along**2 + 400.0 * across**2


def _slope(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """No minimum anywhere near: the loss keeps falling towards large A."""
    return 5000.0 - 2.0 * a + 100.0 * (e - E_TRUE) ** 2


def _evaluator(surface):  # type: ignore[no-untyped-def]
    calls: list[tuple[str, np.ndarray, np.ndarray]] = []

    def evaluate(level, za, ze, stage, skip):  # type: ignore[no-untyped-def]
        calls.append((level, za, ze))
        aa, ee = np.meshgrid(za, ze, indexing="ij")
        tot = surface(aa, ee).astype(np.float64)
        if skip is not None:
            tot = np.where(skip, np.nan, tot)
        per = {t: tot[..., None].copy() for t in ("total", "l2", "laplacian", "histogram", "ssim")}
        return Landscape(np.asarray(za, float), np.asarray(ze, float), per, model="layered")

    return evaluate, calls


def test_zoom_walks_down_a_narrow_valley_from_the_grid_edge() -> None:
    evaluate, calls = _evaluator(_valley)
    res = newton_zoom(evaluate, 400.0, 24.55, 50.0, 0.2, levels=("full",))
    assert res.converged
    assert abs(res.optimum.A - A_TRUE) < 0.005 * A_TRUE, res.optimum
    assert abs(res.optimum.e - E_TRUE) < 0.002, res.optimum
    assert not any("did not settle" in w or "still moving" in w for w in res.warnings)
    assert len(calls) <= 6 + 8  # max_rounds plus the free walking rounds


def test_zoom_that_is_still_moving_says_so_and_does_not_extrapolate() -> None:
    evaluate, calls = _evaluator(_slope)
    res = newton_zoom(evaluate, 400.0, 24.25, 50.0, 0.2, levels=("full",))
    assert not res.converged
    assert any("still moving" in w for w in res.warnings)
    # the reported point is one that was evaluated, with its own loss, no curvature
    evaluated = {(float(a), float(e)) for _, za, ze in calls for a in za for e in ze}
    assert (res.optimum.A, res.optimum.e) in evaluated
    assert res.optimum.loss == _slope(np.array(res.optimum.A), np.array(res.optimum.e))
    assert res.optimum.hessian is None
