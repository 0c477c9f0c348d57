"""Model selection on held-out frames (core/fit/selection.py) and ``psfbench fit --model``:
on a disc bench the disc model wins and recovers the hidden A; on the plain bench the paper's
two-scalar Gaussian wins (no overfitting)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from psfbench.core.fit.problem import FitProblem
from psfbench.core.fit.selection import ModelRow, choose, select_models, split_frames
from psfbench.core.fit.session_fit import FitSettings, FitSetupError
from psfbench.core.psfmodels import PsfModel, from_fit_json
from psfbench.core.psfmodels.virtual import virtual_sweep


def _problem(variant: str) -> tuple[FitProblem, object]:
    vs = virtual_sweep(variant, frames=8, width=80, height=64, A=200.0)
    p = FitProblem.from_arrays(vs.aif, vs.depth_mm, vs.frames, vs.d_mm, vs.F_mm, gray=True)
    return p.with_observation(1.0, "auto").with_loss_masks(260.0, 23.6), vs


@pytest.mark.slow
@pytest.mark.parametrize("variant,winner", [("disc", "disc"), ("plain", "gaussian")])
def test_matching_model_wins_held_out_selection(variant: str, winner: str) -> None:
    p, vs = _problem(variant)
    sel = select_models(p, 212.0, 23.61, ["gaussian", "disc"], iterations=20, uncertainty=False)
    assert sel.preferred == winner, sel.format_table()
    best = sel.row(winner).model.params
    # tolerances at this size (80 x 64, 8 frames, 20 steps); larger sweeps: docs/psf-models.md
    assert abs(best["A"] - 200.0) / 200.0 < 0.05, sel.format_table()
    assert abs(best["e_mm"] - 23.6) < 0.02
    if variant == "disc":
        # the Gaussian of the same second moment is biased (issue 19's +7.6 % class)
        assert sel.row("gaussian").model.params["A"] > 1.08 * 200.0
        assert best["edge"] < 0.4
    assert set(sel.fit_frames).isdisjoint(sel.heldout_frames)


def test_split_and_tie_rule() -> None:
    fit, held = split_frames(np.array([5.0, 1.0, 3.0, 2.0, 4.0, 6.0]))
    assert sorted(fit + held) == list(range(6)) and 1 not in held and 5 not in held
    g = PsfModel.gaussian(800.0, 23.6)
    d = PsfModel.create("disc", {"A": 800.0, "e_mm": 23.6, "edge": 0.5})
    # disc better by a hair (inside the noise of the per-frame differences): Gaussian wins
    rows = [ModelRow("gaussian", 2, g, 0, 100.0, [100, 104, 96], 0),
            ModelRow("disc", 3, d, 0, 99.9, [99, 103, 97.7], 0)]  # fmt: skip
    assert choose(rows)[0] == "gaussian"
    rows[1] = ModelRow("disc", 3, d, 0, 80.0, [80, 84, 76], 0)
    assert choose(rows)[0] == "disc"


def test_fit_settings_model_option() -> None:
    assert FitSettings().model == "gaussian" and FitSettings().cli_args() == []
    fs = FitSettings(model="disc+breathing")
    assert fs.cli_args() == ["--model", "disc+breathing"]
    assert FitSettings.from_json(json.loads(json.dumps(fs.to_json()))) == fs
    with pytest.raises(FitSetupError, match="--model"):
        FitSettings(model="pillbox").validate()
    with pytest.raises(FitSetupError, match="--rgb"):
        FitSettings(model="chromatic").validate()
    FitSettings(model="auto").validate()


@pytest.mark.slow
def test_cli_fit_with_a_model_writes_model_and_models(small_session, tmp_path: Path) -> None:
    from psfbench.core.cli import main

    src, spec = small_session
    s = tmp_path / "s"
    shutil.copytree(src, s, ignore=shutil.ignore_patterns("results"))
    rc = main(["fit", str(s), "--grid", "6x4", "--frames", "6", "--device", "cpu", "--quiet",
               "--model", "disc"])  # fmt: skip
    assert rc == 0
    doc = json.loads((s / "results" / "fit.json").read_text())
    assert doc["model"]["name"] == "disc" and doc["models"]["table"][0]["name"] == "disc"
    m = from_fit_json(s / "results" / "fit.json")
    assert m.name == "disc" and abs(m.A - spec.A) / spec.A < 0.05
