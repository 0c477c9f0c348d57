"""Issue 4's must-show: a virtual-bench sweep, fitted, gives back the bench's hidden A and e."""

from __future__ import annotations

import json

import pytest

from psfbench.core.cli import main


@pytest.mark.slow
def test_virtual_sweep_fits_to_the_hidden_parameters(tmp_path) -> None:
    out = tmp_path / "sweep"
    rc = main([
        "acquire", "sweep", "--profile", "virtual", "--steps", "20", "--out", str(out),
        "--yes", "--quiet", "--virtual", "width=193", "--virtual", "height=161",
        "--virtual", "time_scale=0.001",
    ])  # fmt: skip
    assert rc == 0
    truth = json.loads((out / "session.json").read_text())["provenance"]["simulated_truth"]
    rc = main(["fit", str(out), "--quiet", "--json", str(tmp_path / "fit.json")])
    assert rc == 0
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert abs(fit["A"] - truth["A"]) / truth["A"] <= 0.01, (fit["A"], truth["A"])
    assert abs(fit["e"] - truth["e_mm"]) <= 0.05, (fit["e"], truth["e_mm"])
