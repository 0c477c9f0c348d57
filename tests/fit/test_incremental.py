"""The incremental API the fitting panel uses: landscape blocks as they finish, one point
examined closely."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.fit import evaluate_grid, fit
from psfbench.core.fit.grid import TERMS, GridBlock, frame_losses
from psfbench.core.fit.inspect import inspect_point
from psfbench.core.fit.session_io import problem_from_session


@pytest.fixture(scope="module")
def observed(small_session):
    path, _ = small_session
    problem, _ = problem_from_session(path, max_frames=6)
    return problem.with_observation(2.0, "auto").with_loss_masks(1000.0, 23.6)


def test_blocks_arrive_as_the_landscape_fills(observed) -> None:
    A = np.array([600.0, 700.0, 800.0, 900.0, 1000.0])
    e = np.array([23.4, 23.6, 23.8])
    blocks: list[GridBlock] = []
    nan_seen: list[int] = []

    def on_block(b: GridBlock) -> None:
        blocks.append(b)
        nan_seen.append(int(np.isnan(b.landscape.total).sum()))

    # a budget that fits two A values per block: several blocks per e
    per_a_mb = observed.n_images * observed.aif.numel() * 4 * 6 / 2**20
    ls = evaluate_grid(
        observed, A, e, model="gather", on_block=on_block, memory_budget_mb=2.5 * per_a_mb
    )
    assert len(blocks) == 3 * 3 and all(b.landscape is ls for b in blocks)
    assert nan_seen[0] == 15 - 2 and nan_seen[-1] == 0 and nan_seen == sorted(nan_seen)[::-1]
    covered = np.zeros((5, 3), int)
    for b in blocks:
        covered[b.A_index, b.e_index] += 1
        np.testing.assert_array_equal(b.A_values, A[b.A_index])
        assert b.e_value == e[b.e_index] and b.stage == "grid"
        for t in TERMS:
            assert b.per_image[t].shape == (len(b.A_values), observed.n_images)
            np.testing.assert_array_equal(b.per_image[t], ls.per_image[t][b.A_index, b.e_index])
    np.testing.assert_array_equal(covered, 1)


def test_inspect_point_matches_the_landscape(observed) -> None:
    losses = frame_losses(observed)
    ls = evaluate_grid(observed, [780.0], [23.61], model="layered", losses=losses)
    ins = inspect_point(observed, 780.0, 23.61, losses=losses)
    m, (c, h, w) = observed.n_images, observed.aif.shape
    assert ins.simulated.shape == ins.observed.shape == ins.residual.shape == (m, c, h, w)
    assert ins.sigma.shape == ins.masks.shape == (m, h, w)
    torch.testing.assert_close(ins.residual, ins.simulated - observed.frames)
    assert float(ins.simulated.min()) >= 0.0 and float(ins.simulated.max()) <= 1.0
    for t in TERMS:
        np.testing.assert_allclose(ins.per_image[t], ls.per_image[t][0, 0], rtol=1e-5)
        assert ins.terms[t] == pytest.approx(float(ls.terms[t][0, 0]), rel=1e-5)
    # sigma is A times the relative defocus of the problem's (filled) depth
    torch.testing.assert_close(ins.sigma, 780.0 * observed.rel_defocus(23.61))


def test_inspect_one_frame_and_bad_input(observed) -> None:
    one = inspect_point(observed, 800.0, 23.6, frames=[2])
    full = inspect_point(observed, 800.0, 23.6)
    assert one.frame_indices == (observed.frame_indices[2],)
    torch.testing.assert_close(one.simulated[0], full.simulated[2])
    for t in TERMS:
        assert one.per_image[t][0] == pytest.approx(full.per_image[t][2], rel=1e-5)
    with pytest.raises(ValueError, match="A must be > 0"):
        inspect_point(observed, 0.0, 23.6)
    with pytest.raises(ValueError, match="frames"):
        inspect_point(observed, 800.0, 23.6, frames=[observed.n_images])


def test_fit_streams_landscape_and_zoom_blocks(small_session) -> None:
    path, spec = small_session
    problem, _ = problem_from_session(path, max_frames=6)
    stages: dict[str, int] = {}

    def on_block(b: GridBlock) -> None:
        stages[b.stage] = stages.get(b.stage, 0) + len(b.A_values)

    result = fit(problem, on_block=on_block, bootstrap_n=20)
    assert stages["landscape"] == 16 * 10
    zoom_points = sum(int(np.isfinite(z.total).sum()) for z in result.zoom_path)
    assert sum(v for k, v in stages.items() if k.startswith("zoom")) == zoom_points
    assert result.zoom is result.zoom_path[-1]
    assert abs(result.A / spec.A - 1) < 0.03


def test_skipped_points_stay_nan_and_the_rest_is_unchanged(observed) -> None:
    A = np.array([780.0, 800.0, 820.0])
    e = np.array([23.58, 23.6, 23.62])
    skip = np.zeros((3, 3), bool)
    skip[0, 0] = skip[2, 2] = True
    losses = frame_losses(observed)
    full = evaluate_grid(observed, A, e, model="layered", losses=losses)
    part = evaluate_grid(observed, A, e, model="layered", losses=losses, skip=skip)
    assert np.isnan(part.total[skip]).all() and np.isfinite(part.total[~skip]).all()
    np.testing.assert_allclose(part.total[~skip], full.total[~skip], rtol=1e-12)
    assert part.argmin() == full.argmin()


def test_inspection_reproduces_a_finished_fit(small_session) -> None:
    from psfbench.core.fit import problem_for_inspection

    path, _ = small_session
    problem, _ = problem_from_session(path, max_frames=6)
    result = fit(problem, bootstrap_n=20)
    design = result.zoom
    assert design is not None
    p = problem_for_inspection(problem, result)
    assert list(p.frame_indices) == result.frame_indices
    A, e = float(design.A_values[1]), float(design.e_values[1])
    ins = inspect_point(p, A, e)
    np.testing.assert_allclose(ins.per_image["total"], design.per_image["total"][1, 1], rtol=1e-5)
