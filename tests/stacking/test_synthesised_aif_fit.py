"""Issue 7's must-show: an all-in-focus image synthesised from a virtual sweep fits as well as the
true one (A within 1%, e within 0.05 mm of the bench's hidden values)."""

from __future__ import annotations

import json

import pytest

from psfbench.core.cli import main


@pytest.mark.slow
def test_sweep_without_aif_shot_fits_with_the_synthesised_one(tmp_path) -> None:
    out = tmp_path / "sweep"
    rc = main([
        "acquire", "sweep", "--profile", "virtual", "--steps", "20", "--out", str(out),
        "--yes", "--quiet", "--aif", "skip", "--virtual", "width=193", "--virtual", "height=161",
        "--virtual", "time_scale=0.001",
    ])  # fmt: skip
    assert rc == 0 and not (out / "aif.tif").exists()
    truth = json.loads((out / "session.json").read_text())["provenance"]["simulated_truth"]
    rc = main(["fit", str(out), "--quiet", "--json", str(tmp_path / "fit.json")])  # --aif auto
    assert rc == 0
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert fit["settings"]["aif"]["source"] == "synthesised"
    assert (out / "results" / "aif_synthesised.tif").is_file()
    assert abs(fit["A"] - truth["A"]) / truth["A"] <= 0.01, (fit["A"], truth["A"])
    assert abs(fit["e"] - truth["e_mm"]) <= 0.05, (fit["e"], truth["e_mm"])
