"""Second newcomer trial, dataset generate: a crop larger than the sources is refused before
anything starts or is written, folder sources render without torch's non-writable-array
warning, and a fit whose chosen model is not the Gaussian says which A and e it gives."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from psfbench.core.cli import main
from psfbench.core.datagen import DatagenError, GenerationConfig, load_psf, scan_folder
from psfbench.core.datagen.generate import generate
from psfbench.core.psfmodels.spec import default_params

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fit_json(tmp_path: Path) -> Path:
    p = tmp_path / "fit.json"
    p.write_text(json.dumps({"A": 800.0, "e": 23.6, "A_std": 4.0, "e_std": 0.01}))
    return p


@pytest.fixture
def rgbd(tmp_path: Path) -> Path:
    root = tmp_path / "rgbd"
    root.mkdir()
    rng = np.random.default_rng(0)
    cv2.imwrite(str(root / "s0.png"), (rng.random((24, 32, 3)) * 255).astype(np.uint8))
    np.save(root / "s0_depth.npy", np.full((24, 32), 800.0, np.float32))
    return root


def _argv(fit_json: Path, source: str, out: Path, *extra: str) -> list[str]:
    return [
        "dataset", "generate", "--psf", str(fit_json), "--focal-length-mm", "50",
        "--source", source, "--out", str(out), "--count", "2", "--shard-size", "2",
        "--focus-range", "300", "2000", "--device", "cpu", "--in-process",
        "--dashboard", "none", "--quiet", *extra,
    ]  # fmt: skip


def test_a_crop_larger_than_the_sources_is_refused_before_any_work(
    fit_json: Path, rgbd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ds"
    argv = _argv(fit_json, "synthetic:planes", out, "--size", "24x32", "--crop", "64x64")
    assert main(argv) == 2
    cap = capsys.readouterr()
    assert "error: --crop 64x64: larger than the source (24x32)" in cap.err
    assert "Compute Failed" not in cap.err and "cluster:" not in cap.out  # no cluster started
    assert not out.exists()  # no dataset.json left behind
    assert main(_argv(fit_json, str(rgbd), out, "--crop", "30x16")) == 2
    assert "--crop 30x16: larger than the source s0.png (24x32)" in capsys.readouterr().err
    assert not out.exists()
    # the library call checks too, before OUT is created
    cfg = GenerationConfig(
        psf=load_psf(fit_json, focal_length_mm=50.0),
        sources=scan_folder(rgbd),
        count=2,
        focus_range_mm=(300.0, 2000.0),
        crop=(16, 40),
    )
    with pytest.raises(DatagenError, match=r"--crop 16x40: larger than the source s0.png"):
        generate(None, cfg, out)
    assert not out.exists()
    # a crop that fits still runs
    assert main(_argv(fit_json, str(rgbd), out, "--crop", "24x16")) == 0


def test_folder_sources_render_without_the_non_writable_array_warning(
    fit_json: Path, rgbd: Path
) -> None:
    # its own interpreter: torch gives this warning once per process
    code = (
        "import warnings; warnings.simplefilter('error')\n"
        "from psfbench.core.datagen import GenerationConfig, load_psf, make_sample, scan_folder\n"
        f"cfg = GenerationConfig(psf=load_psf({str(fit_json)!r}, focal_length_mm=50.0), "
        f"sources=scan_folder({str(rgbd)!r}), count=2, focus_range_mm=(300.0, 2000.0))\n"
        "a = make_sample(cfg, 0); b = make_sample(cfg, 1)  # the second from the cached pair\n"
        "assert a.image.shape[:2] == (24, 32)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr
    assert "not writable" not in run.stderr


def test_a_chosen_model_gives_its_a_and_e_and_says_so(tmp_path: Path) -> None:
    p = tmp_path / "fit.json"
    doc = {
        "A": 760.0,
        "e": 23.5,
        "A_std": 4.0,
        "e_std": 0.01,
        "model": {
            "name": "disc",
            "params": default_params("disc", A=700.5, e_mm=23.9),
            "std": {"A": 4.6, "e_mm": None},
        },
    }
    p.write_text(json.dumps(doc))
    notes: list[str] = []
    spec = load_psf(p, focal_length_mm=50.0, note=notes.append)
    assert (spec.A, spec.e_mm, spec.A_std, spec.e_std) == (700.5, 23.9, 4.6, None)
    assert len(notes) == 1
    assert "A = 700.50 px, e = 23.9000 mm" in notes[0]
    assert "disc model" in notes[0] and "Gaussian of the same second moment" in notes[0]
    # the plain fit (fit.json's model is the Gaussian of A and e): as before, and said so
    doc["model"] = {"name": "gaussian", "params": {"A": 760.0, "e_mm": 23.5}, "std": {}}
    p.write_text(json.dumps(doc))
    notes.clear()
    spec = load_psf(p, focal_length_mm=50.0, note=notes.append)
    assert spec.A == 760.0 and "(the paper's Gaussian)" in notes[0]
    del doc["model"]  # a fit document without a model entry
    p.write_text(json.dumps(doc))
    spec = load_psf(p, focal_length_mm=50.0)
    assert (spec.A, spec.e_mm, spec.A_std, spec.e_std) == (760.0, 23.5, 4.0, 0.01)
    doc["model"] = {"name": "nosuchshape", "params": {}}
    p.write_text(json.dumps(doc))
    with pytest.raises(DatagenError, match="'model'"):
        load_psf(p, focal_length_mm=50.0)


def test_generate_prints_which_psf_it_uses(
    fit_json: Path, rgbd: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_argv(fit_json, str(rgbd), tmp_path / "ds")) == 0
    out = capsys.readouterr().out
    assert f"PSF from {fit_json}: A = 800.00 px, e = 23.6000 mm (the paper's Gaussian)" in out
