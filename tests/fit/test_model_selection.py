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
@pytest.mark.parametrize(
    "variant,winner", [("disc", "disc"), ("plain", "gaussian"), ("tilt", "tilt")]
)
def test_matching_model_wins_held_out_selection(variant: str, winner: str) -> None:
    p, vs = _problem(variant)
    names = ["gaussian", "tilt"] if variant == "tilt" else ["gaussian", "disc"]
    sel = select_models(p, 212.0, 23.61, names, iterations=20, uncertainty=False)
    assert sel.preferred == winner, sel.format_table()
    best = sel.row(winner).model.params
    # tolerances at this size (80 x 64, 8 frames, 20 steps); larger sweeps: docs/psf-models.md
    assert abs(best["A"] - 200.0) / 200.0 < 0.05, sel.format_table()
    assert abs(best["e_mm"] - 23.6) < 0.02
    if variant == "disc":
        # the Gaussian of the same second moment is biased (issue 19's +7.6 % class)
        assert sel.row("gaussian").model.params["A"] > 1.08 * 200.0
        assert best["edge"] < 0.4
    if variant == "tilt":  # truth (0.025, -0.015) mm; measured (0.0223, -0.0100)
        assert np.allclose(best["tilt_mm"], vs.truth["tilt_mm"], atol=0.008), best
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


def test_model_fits_render_large_blur_with_the_scatter_model() -> None:
    """Guards the scatter default of fit_model and the held-out scoring (found by a newcomer
    trial): at large blur on small frames (A 800, sigma up to ~20 px on 64 x 48) the *gather*
    approximation put the loss minimum near A ~650 on Gaussian data and the disc fit collapsed
    to a near-hard disc (measured: edge 0.12, A 729 after 10 steps from A 806). The data are
    the virtual bench's (core/render's layered renderer, not psfmodels')."""
    from psfbench.core.fit.gradient import fit_model, start_params
    from psfbench.core.fit.selection import heldout_losses
    from psfbench.core.losses import LossConfig

    vs = virtual_sweep("plain", frames=6, width=64, height=48, A=800.0)
    p = FitProblem.from_arrays(vs.aif, vs.depth_mm, vs.frames, vs.d_mm, vs.F_mm, gray=True)
    p = p.with_observation(1.0, "auto").with_loss_masks(1000.0, 23.6)
    gf = fit_model(p, "disc", start_params("disc", 806.0, 23.6, p), iterations=10,
                   uncertainty=False)  # fmt: skip
    assert gf.model.params["edge"] > 0.9, gf.model.params  # Gaussian data: a soft edge
    assert abs(gf.model.params["A"] - 800.0) / 800.0 < 0.02, gf.model.params
    cfg = LossConfig.paper()
    for score in ("smooth", "paper"):
        at_truth = np.mean(heldout_losses(p, PsfModel.gaussian(800.0, 23.6), cfg, score=score))
        low = np.mean(heldout_losses(p, PsfModel.gaussian(650.0, 23.6), cfg, score=score))
        assert at_truth < 0.5 * low, (score, at_truth, low)


def test_smooth_held_out_score_tracks_the_paper_loss() -> None:
    """The selection scores with the soft-histogram eq. 19; it must agree with the paper's
    hard-binned loss away from the optimum (same terms and weights) and be smoother near it."""
    from psfbench.core.fit.selection import heldout_losses
    from psfbench.core.losses import LossConfig

    p, _ = _problem("plain")
    cfg = LossConfig.paper()
    a_values = (140.0, 170.0, 200.0, 230.0, 260.0)
    curves = {
        s: [np.mean(heldout_losses(p, PsfModel.gaussian(a, 23.6), cfg, score=s)) for a in a_values]
        for s in ("smooth", "paper")
    }
    for s, c in curves.items():
        assert int(np.argmin(c)) == 2, (s, c)  # both have their minimum at the truth
    far = [(curves["smooth"][i], curves["paper"][i]) for i in (0, 4)]
    for sm, pa in far:  # far from the optimum the histogram's binning is a small part
        assert abs(sm - pa) / pa < 0.25, far
    with pytest.raises(ValueError, match="score"):
        heldout_losses(p, PsfModel.gaussian(200.0, 23.6), cfg, score="hard")
