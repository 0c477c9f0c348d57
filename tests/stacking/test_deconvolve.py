"""All-in-focus by inverting the fitted PSF over a virtual-bench sweep (stacking/deconvolve)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from psfbench.core.cli import main
from psfbench.core.dataset import Session
from psfbench.core.stacking.deconvolve import deconvolve_sweep
from psfbench.core.stacking.pipeline import synthesize_aif_from_session
from psfbench.core.stacking.quality import psnr


@pytest.fixture(scope="module")
def objects_sweep(tmp_path_factory) -> Path:
    """Objects scene: foreground objects over a far background, the case fusion gets wrong."""
    out = tmp_path_factory.mktemp("deconv") / "sweep"
    rc = main([
        "acquire", "sweep", "--profile", "virtual", "--steps", "12", "--out", str(out),
        "--yes", "--quiet", "--virtual", "width=112", "--virtual", "height=96",
        "--virtual", "scene=objects", "--virtual", "time_scale=0.001",
    ])  # fmt: skip
    assert rc == 0
    return out


def _truth(path: Path) -> dict:
    return json.loads((path / "session.json").read_text())["provenance"]["simulated_truth"]


def test_inverting_the_fitted_psf_beats_fusion_by_far(objects_sweep: Path) -> None:
    session = Session.open(objects_sweep)
    truth = _truth(objects_sweep)
    captured = session.aif()
    fused = synthesize_aif_from_session(session, e_mm=truth["e_mm"], depth=False)
    refined = synthesize_aif_from_session(session, e_mm=truth["e_mm"], A=truth["A"], depth=False)
    assert "deconvolution_s" in refined.timings
    before, after = psnr(fused.aif, captured), psnr(refined.aif, captured)
    # measured: 16.3 -> 28.7 dB
    assert after > before + 8, (before, after)
    no_deconv = synthesize_aif_from_session(
        session, e_mm=truth["e_mm"], A=truth["A"], depth=False, deconvolution=False
    )
    assert "deconvolution_s" not in no_deconv.timings


def test_a_wrong_psf_does_worse_than_the_fitted_one(objects_sweep: Path) -> None:
    """The gain comes from the PSF model, not from generic sharpening."""
    session = Session.open(objects_sweep)
    truth = _truth(objects_sweep)
    captured = session.aif()
    right = synthesize_aif_from_session(session, e_mm=truth["e_mm"], A=truth["A"], depth=False)
    wrong = synthesize_aif_from_session(
        session, e_mm=truth["e_mm"], A=0.6 * truth["A"], depth=False
    )
    assert psnr(right.aif, captured) > psnr(wrong.aif, captured) + 2


def test_cli_stack_session_with_the_fit_inverts_the_psf(objects_sweep: Path, tmp_path, capsys):
    truth = _truth(objects_sweep)
    out = tmp_path / "aif.tif"
    args = ["stack", "--session", str(objects_sweep), "--e-mm", str(truth["e_mm"])]
    assert main([*args, "--A", str(truth["A"]), "--out", str(out)]) == 0
    assert "fitted PSF inverted over the sweep" in capsys.readouterr().out
    img = tifffile.imread(out)
    assert img.dtype == np.uint16 and img.shape == (96, 112) and img.max() <= 4095


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="sigma"):
        deconvolve_sweep(np.zeros((3, 1, 8, 9)), np.zeros((3, 8, 8)), np.zeros((1, 8, 9)))


def test_cli_stack_session_fit_takes_A_and_e_from_fit_json(objects_sweep: Path, tmp_path, capsys):
    """``--fit`` reads A and e from results/fit.json (a newcomer had to copy them by hand) and
    the slow inversion reports its iterations on stderr."""
    import shutil

    s = tmp_path / "s"
    shutil.copytree(objects_sweep, s)
    (s / "results" / "fit.json").unlink(missing_ok=True)
    out = tmp_path / "aif.tif"
    assert main(["stack", "--session", str(s), "--fit", "--out", str(out)]) == 2
    assert "run psfbench fit first" in capsys.readouterr().err
    truth = _truth(objects_sweep)
    (s / "results").mkdir(exist_ok=True)
    (s / "results" / "fit.json").write_text(json.dumps({"A": truth["A"], "e": None}))
    assert main(["stack", "--session", str(s), "--fit", "--out", str(out)]) == 2
    assert "has no finite 'e'" in capsys.readouterr().err
    (s / "results" / "fit.json").write_text(json.dumps({"A": truth["A"], "e": truth["e_mm"]}))
    assert main(["stack", "--session", str(s), "--fit", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert f"A = {truth['A']:.2f} px" in cap.err and "iteration 20/20" in cap.err
    assert "the paper's Gaussian" in cap.err
    # after fit --model disc: the model's A and e (fitted on all frames), and a note
    model = {"name": "disc", "params": {"A": truth["A"], "e_mm": truth["e_mm"], "edge": 0.1}}
    doc = {"A": 1.5 * truth["A"], "e": truth["e_mm"] + 0.01, "model": model}
    (s / "results" / "fit.json").write_text(json.dumps(doc))
    assert main(["stack", "--session", str(s), "--fit", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    assert f"(the fitted disc model): A = {truth['A']:.2f} px" in cap.err
    assert "same second moment as the disc PSF" in cap.err
    assert "fitted PSF inverted over the sweep" in cap.out and out.exists()
