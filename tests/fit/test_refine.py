"""Refinement below the grid step and the bootstrap, on surfaces with known optima."""

from __future__ import annotations

import numpy as np
import pytest

from psfbench.core.fit.grid import Landscape
from psfbench.core.fit.refine import bootstrap, quadratic_optimum, refine


def _quadratic(A: np.ndarray, e: np.ndarray, A0: float, e0: float) -> np.ndarray:
    AA, EE = np.meshgrid(A, e, indexing="ij")
    x, y = (AA - A0) / 100.0, (EE - e0) / 0.3
    return 1.0 + x**2 + 0.5 * x * y + y**2


def test_quadratic_optimum_finds_minimum_between_grid_points() -> None:
    A = np.arange(400.0, 1151.0, 50.0)
    e = np.round(np.arange(23.0, 24.81, 0.2), 6)
    surf = _quadratic(A, e, 812.3, 23.671)
    opt = quadratic_optimum(A, e, surf)
    assert opt.A == pytest.approx(812.3, abs=0.05)
    assert opt.e == pytest.approx(23.671, abs=1e-4)
    assert not opt.at_boundary
    assert opt.hessian is not None and np.all(np.linalg.eigvalsh(opt.hessian) > 0)


def test_minimum_on_grid_edge_is_flagged() -> None:
    A = np.linspace(400, 1150, 16)
    e = np.linspace(23.0, 24.8, 10)
    opt = quadratic_optimum(A, e, _quadratic(A, e, 300.0, 23.9))
    assert opt.at_boundary
    assert opt.A == pytest.approx(400.0, abs=50.0)


def test_bootstrap_spread_reflects_disagreement_between_images() -> None:
    A = np.linspace(700, 900, 9)
    e = np.linspace(23.2, 24.0, 9)
    rng = np.random.default_rng(0)
    agree = np.stack([_quadratic(A, e, 800, 23.6) for _ in range(12)], axis=-1)
    spread = np.stack(
        [_quadratic(A, e, 800 + rng.normal(0, 15), 23.6 + rng.normal(0, 0.05)) for _ in range(12)],
        axis=-1,
    )
    ls_agree = Landscape(A, e, {"total": agree})
    ls_spread = Landscape(A, e, {"total": spread})
    a0, e0, _ = bootstrap(ls_agree, n=50)
    a1, e1, samples = bootstrap(ls_spread, n=200)
    assert a0 == pytest.approx(0, abs=1e-9) and e0 == pytest.approx(0, abs=1e-9)
    # mean of 12 images with sd 15 / 0.05 -> sd of the optimum ~ 15/sqrt(12), 0.05/sqrt(12)
    assert 2.0 < a1 < 9.0
    assert 0.006 < e1 < 0.03
    assert samples.shape == (200, 2)
    assert refine(ls_spread).A == pytest.approx(800, abs=15)


def test_landscape_round_trip_without_pickle(tmp_path) -> None:
    A = np.linspace(400, 1150, 4)
    e = np.linspace(23, 24, 3)
    per = {t: np.random.default_rng(1).random((4, 3, 5)) for t in ("total", "l2")}
    ls = Landscape(A, e, per, model="gather", pixel_scale=2.0, frame_indices=(0, 2, 4, 6, 8))
    ls.save(tmp_path / "l.npz")
    back = Landscape.load(tmp_path / "l.npz")
    np.testing.assert_array_equal(back.A_values, A)
    np.testing.assert_array_equal(back.per_image["l2"], per["l2"])
    assert back.pixel_scale == 2.0 and back.frame_indices == (0, 2, 4, 6, 8)
    assert back.argmin() == ls.argmin()
