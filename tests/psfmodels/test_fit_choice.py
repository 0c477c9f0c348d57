"""fit_choice: the A and e a fit result stands for, shared by `stack --fit` and `dataset
generate --psf` (each had its own copy of this choice)."""

from __future__ import annotations

import pytest

from psfbench.core.psfmodels.spec import PsfModelError, fit_choice


def test_the_chosen_model_wins_over_the_grid_fit() -> None:
    doc = {
        "A": 864.0,
        "e": 23.70,
        "A_std": 3.0,
        "model": {
            "name": "disc",
            "params": {"A": 799.45, "e_mm": 23.61, "edge": 0.3},
            "std": {"A": 4.0, "e_mm": None},
        },
    }
    c = fit_choice(doc)
    assert (c.name, c.A, c.e_mm, c.A_std, c.e_std) == ("disc", 799.45, 23.61, 4.0, None)
    assert c.which == "the fitted disc model"


def test_without_a_model_the_grid_gaussian() -> None:
    c = fit_choice({"A": 801.2, "e": 23.6, "A_std": None, "e_std": 0.002})
    assert (c.name, c.A, c.e_mm, c.A_std, c.e_std) == ("gaussian", 801.2, 23.6, None, 0.002)
    assert c.which == "the paper's Gaussian"


def test_errors_name_the_field() -> None:
    with pytest.raises(PsfModelError, match="no finite 'A'"):
        fit_choice({"e": 23.6})
    with pytest.raises(PsfModelError, match="'model'"):
        fit_choice({"A": 800.0, "model": {"name": "nonsense", "params": {}}})
