"""Exports: the kernel bank TIFF + JSON that other tools load, ``psfbench psf export`` and
``psfbench render --model``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import tifffile

from psfbench.core.cli import main
from psfbench.core.psfmodels import PsfModel, kernel
from psfbench.core.psfmodels.export import export_model


def test_kernel_bank_pages_and_metadata(tmp_path: Path) -> None:
    m = PsfModel.create(
        "disc+chromatic+field",
        {"A": 500.0, "e_mm": 23.6, "edge": 0.3, "chroma": [1.1, 1.0, 0.9],
         "field": [0.1, 0.0, 0.2]},
    )  # fmt: skip
    paths = export_model(m, tmp_path, sigmas=[0.0, 1.0, 4.0], field_grid=2)
    stack = tifffile.imread(paths["kernels.tif"])
    meta = json.loads(Path(paths["kernels.json"]).read_text())
    assert stack.shape[0] == 2 * 2 * 3 * 3 == len(meta["pages"])  # fields x channels x sigmas
    assert stack.dtype == np.float32 and stack.shape[1] == stack.shape[2]
    np.testing.assert_allclose(stack.sum(axis=(1, 2)), 1.0, atol=1e-5)
    page = meta["pages"][-1]  # last field (1, 1), blue channel, sigma 4
    assert page["channel"] == 2 and page["field_xy"] == [1.0, 1.0] and page["sigma_px"] == 4.0
    k = kernel(m, 4.0, channel=2, field_xy=(1.0, 1.0), size=stack.shape[1])
    np.testing.assert_allclose(stack[-1], k, atol=1e-6)
    assert PsfModel.from_json(json.loads(Path(paths["psf_model.json"]).read_text())) == m
    assert json.loads(tifffile.TiffFile(paths["kernels.tif"]).pages[0].description)["pages"]


def test_cli_export_from_fit_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fit = tmp_path / "fit.json"
    fit.write_text(json.dumps({"A": 700.0, "e": 23.5, "A_std": 3.0, "e_std": 0.01}))
    out = str(tmp_path / "x")
    assert main(["psf", "export", str(fit), "--out", out, "--sigmas", "1", "2"]) == 0
    stack = tifffile.imread(tmp_path / "x" / "kernels.tif")
    assert stack.shape[0] == 2
    assert "gaussian" in capsys.readouterr().out
    rc = main(["psf", "export", str(tmp_path / "missing.json"), "--out", str(tmp_path / "y")])
    assert rc != 0
    assert "cannot read" in capsys.readouterr().err


def test_cli_render_with_a_model(tmp_path: Path) -> None:
    from psfbench.core.simulation import SimulationSpec, simulate_session

    spec = SimulationSpec(A=600.0, e_mm=23.6, scene="planes", frames=3, height=48, width=64)
    s = tmp_path / "s"
    simulate_session(s, spec)
    mf = tmp_path / "disc.json"
    m = PsfModel.create("disc", {"A": 600.0, "e_mm": 23.6, "edge": 0.2})
    mf.write_text(json.dumps(m.to_json()))
    out_d, out_g = tmp_path / "d.tif", tmp_path / "g.tif"
    assert main(["render", str(s), "--focus-depth", "450", "--model", str(mf),
                 "--out", str(out_d), "--device", "cpu"]) == 0  # fmt: skip
    gj = tmp_path / "g.json"
    gj.write_text(json.dumps(PsfModel.gaussian(600.0, 23.6).to_json()))
    assert main(["render", str(s), "--focus-depth", "450", "--model", str(gj),
                 "--out", str(out_g), "--device", "cpu"]) == 0  # fmt: skip
    a, b = tifffile.imread(out_d).astype(float), tifffile.imread(out_g).astype(float)
    assert a.shape == b.shape and a.shape[:2] == (48, 64)
    assert np.abs(a - b).mean() > 0.0  # the shapes differ
    assert abs(a.mean() - b.mean()) < 0.01 * max(b.mean(), 1.0)  # energy conserved
