"""One fit of one session, shared by ``psfbench fit`` and the GUI's fitting panel
(core/fit/session_fit.py): the CLI's options and defaults, the same results, results read back
without refitting, and the problem rebuilt for inspecting them."""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from psfbench.core.cli import main
from psfbench.core.cli.cmd_fit import add_fit_args
from psfbench.core.fit.session_fit import (
    FitSettings,
    FitSetupError,
    has_results,
    load_problem_for_results,
    load_session_results,
    run_session_fit,
)

SMALL = FitSettings(grid=(6, 4), frames=6, device="cpu")


def _fresh_copy(src: Path, dst: Path) -> None:
    """The shared session without the results other tests may have written into it."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("results"))


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_fit_args(p)
    return p.parse_args(argv)


def test_defaults_are_the_cli_defaults() -> None:
    assert FitSettings.from_args(_parse(["S"])) == FitSettings()
    assert FitSettings().cli_args() == []


def test_cli_args_reproduce_the_settings() -> None:
    fs = FitSettings(
        A_range=(500.0, 1000.0), e_range=(23.2, 24.0), grid=(9, 5), frames=7, rgb=True,
        preset="refcode", coarse_to_fine=False, noise_sd="0.004", presmooth=1.5,
        aif="synthesised", loss_weights=(1.0, 0.0, 2.0, 3.0), hole_reach_sigmas=1.0,
        exclude_clipped=True, zoom="pattern", datasheet_A=750.0, device="cpu",
    )  # fmt: skip
    back = FitSettings.from_args(_parse(["S", *fs.cli_args()]))
    assert back == fs
    assert FitSettings.from_json(json.loads(json.dumps(fs.to_json()))) == fs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"A_range": (0.0, 100.0)}, "A range"),
        ({"e_range": (24.0, 23.0)}, "e range"),
        ({"grid": (0, 3)}, "grid"),
        ({"noise_sd": "loud"}, "--noise-sd"),
        ({"loss_weights": (0.0, 0.0, 0.0, 0.0)}, "loss weights"),
        ({"hole_reach_sigmas": float("nan")}, "hole reach"),
        ({"preset": "mine"}, "preset"),
    ],
)
def test_bad_settings_are_refused_with_a_message(change: dict, message: str) -> None:
    with pytest.raises(FitSetupError, match=message):
        FitSettings().with_(**change).validate()


def test_the_cli_and_run_session_fit_agree(small_session, tmp_path: Path) -> None:
    path, spec = small_session
    a, b = tmp_path / "a", tmp_path / "b"
    _fresh_copy(path, a)
    _fresh_copy(path, b)
    done = run_session_fit(a, SMALL)
    from psfbench.core.fit.report import write_outputs

    write_outputs(done.result, a / "results", truth=done.truth)
    assert main(["fit", str(b), *SMALL.cli_args(), "--quiet"]) == 0
    ja = json.loads((a / "results" / "fit.json").read_text())
    jb = json.loads((b / "results" / "fit.json").read_text())
    for key in ("A", "e", "A_std", "e_std", "loss", "terms", "grid_optimum", "frame_indices"):
        assert ja[key] == jb[key], key
    assert ja["settings"]["fit_settings"] == jb["settings"]["fit_settings"] == SMALL.to_json()
    assert done.truth == (spec.A, spec.e_mm) and abs(done.result.A / spec.A - 1) < 0.05
    from psfbench.core.fit.grid import Landscape

    la, lb = (
        Landscape.load(a / "results" / "landscape.npz"),
        Landscape.load(b / "results" / "landscape.npz"),
    )
    for t in la.per_image:
        np.testing.assert_array_equal(la.per_image[t], lb.per_image[t])


def test_results_read_back_and_their_problem_reproduces_the_fit(
    small_session, tmp_path: Path
) -> None:
    from psfbench.core.fit.inspect import inspect_point

    path, spec = small_session
    s = tmp_path / "s"
    _fresh_copy(path, s)
    assert not has_results(s)
    with pytest.raises(FitSetupError, match="no fit results"):
        load_session_results(s)
    assert main(["fit", str(s), *SMALL.cli_args(), "--quiet"]) == 0
    assert has_results(s)
    res = load_session_results(s)
    doc = json.loads((s / "results" / "fit.json").read_text())
    assert (res.A, res.e) == (doc["A"], doc["e"]) and res.truth == (spec.A, spec.e_mm)
    assert res.fit_settings() == SMALL
    design = res.zoom
    assert design is not None
    i, j = np.argwhere(np.isfinite(design.total))[0]
    A, e = float(design.A_values[i]), float(design.e_values[j])
    for variant in ("recorded", "before issue 13"):
        if variant != "recorded":  # an older fit.json: no fit_settings, frames inferred
            del doc["settings"]["fit_settings"]
            (s / "results" / "fit.json").write_text(json.dumps(doc))
            res = load_session_results(s)
            assert res.fit_settings() is None
            assert res.inferred_settings(FitSettings()).grid == SMALL.grid
        problem = load_problem_for_results(res)
        assert list(problem.frame_indices) == res.frame_indices
        ins = inspect_point(problem, A, e)
        np.testing.assert_allclose(
            ins.per_image["total"], design.per_image["total"][i, j], rtol=1e-5
        )


def test_a_cancelled_fit_raises_and_writes_nothing(small_session, tmp_path: Path) -> None:
    from psfbench.core.fit.progress import Cancelled, CancelToken

    path, _ = small_session
    s = tmp_path / "s"
    _fresh_copy(path, s)
    token = CancelToken()
    blocks: list[str] = []

    def on_block(b) -> None:  # type: ignore[no-untyped-def]
        blocks.append(b.stage)
        token.cancel()

    with pytest.raises(Cancelled):
        run_session_fit(s, SMALL, cancel=token, on_block=on_block)
    assert blocks == ["landscape"] and not (s / "results" / "fit.json").exists()


def test_a_session_that_cannot_be_fitted_says_why(tmp_path: Path) -> None:
    with pytest.raises(FitSetupError):
        run_session_fit(tmp_path / "missing", SMALL)
