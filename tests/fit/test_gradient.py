"""Gradient fit of the PSF models (core/fit/gradient.py) on virtual-bench sweeps rendered by
the bench's own renderers (core/render, core/bench/psf.py), not by the fit's."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from psfbench.core.fit.gradient import fit_model, start_params
from psfbench.core.fit.problem import FitProblem
from psfbench.core.fit.selection import heldout_losses
from psfbench.core.losses import LossConfig
from psfbench.core.psfmodels import PsfModel
from psfbench.core.psfmodels.virtual import virtual_sweep


def _problem(variant: str, **kw) -> tuple[FitProblem, object]:
    vs = virtual_sweep(variant, frames=6, width=80, height=64, A=200.0, **kw)
    p = FitProblem.from_arrays(vs.aif, vs.depth_mm, vs.frames, vs.d_mm, vs.F_mm, gray=True)
    return p.with_observation(1.0, "auto").with_loss_masks(260.0, 23.6), vs


def test_gaussian_gradient_fit_recovers_A_e_from_an_off_start() -> None:
    torch.manual_seed(0)
    p, vs = _problem("plain")
    start = start_params("gaussian", 220.0, 23.64, p)
    gf = fit_model(p, "gaussian", start, iterations=20, bootstrap=100)
    A, e = gf.model.params["A"], gf.model.params["e_mm"]
    assert abs(A - 200.0) / 200.0 < 0.03, A
    assert abs(e - 23.6) < 0.015, e
    assert 0 < gf.model.std["A"] < 15 and 0 < gf.model.std["e_mm"] < 0.02
    assert gf.history[-1] < gf.history[0]
    # the paper's own loss (hard histogram, core/losses) agrees it improved
    cfg = LossConfig.paper()
    before = np.mean(heldout_losses(p, PsfModel.gaussian(220.0, 23.64), cfg))
    after = np.mean(heldout_losses(p, gf.model, cfg))
    assert after < before


def test_models_need_sensor_readings() -> None:
    p, vs = _problem("plain")
    from dataclasses import replace

    given = replace(p, focus_depths_mm=np.full(p.n_images, 500.0))
    with pytest.raises(ValueError, match="sensor readings"):
        fit_model(given, "disc", start_params("disc", 200.0, 23.6, p), iterations=1)
