"""'Synthesise all-in-focus from this sweep' on a real psfbench session written to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from psfbench.core.dataset import Session
from psfbench.core.stacking.pipeline import synthesize_aif_from_session
from psfbench.core.stacking.quality import psnr
from psfbench.core.stacking.synthetic import make_plane_stack
from tests.stacking.sweep_session import E_MM, F_MM, write_sweep_session


def test_session_sweep_gives_aif_and_depth_in_mm(tmp_path: Path) -> None:
    st = make_plane_stack(64, 80, channels=1, planes=3, frames=5, A=300.0, F_mm=F_MM, seed=5)
    session = Session.open(write_sweep_session(tmp_path / "s", st, bit_depth=16))
    res = synthesize_aif_from_session(session, e_mm=E_MM, A=st.A, align=False)
    assert res.aif.shape == (1, 64, 80)
    assert psnr(res.aif, st.aif) > max(psnr(f, st.aif) for f in st.frames) + 5
    assert res.depth_mm is not None
    sure = res.confidence > 0.3
    err = np.abs(res.depth_mm[sure] - st.depth_mm[sure])
    assert np.median(err) < 10.0  # mm, planes 100 mm apart, frames 50 mm apart


def test_cli_session_writes_aif_at_the_session_bit_depth(tmp_path: Path) -> None:
    import tifffile

    from psfbench.core.cli import main

    st = make_plane_stack(48, 64, channels=1, planes=2, frames=3, A=300.0, F_mm=F_MM, seed=6)
    write_sweep_session(tmp_path / "s", st, bit_depth=12)
    out, depth = tmp_path / "aif.tif", tmp_path / "depth.tif"
    args = ["--session", str(tmp_path / "s"), "--e-mm", str(E_MM), "--no-align"]
    assert main(["stack", *args, "--out", str(out), "--depth", str(depth)]) == 0
    aif = tifffile.imread(out)
    assert aif.dtype == np.uint16 and aif.shape == (48, 64) and aif.max() <= 4095
    assert psnr(aif / 4095.0, st.aif[0]) > max(psnr(f[0], st.aif[0]) for f in st.frames)
    dm = tifffile.imread(depth)
    assert 390 < float(np.median(dm)) < 620  # mm
    assert main(["stack", "x.png", "--session", str(tmp_path / "s"), "--out", str(out)]) == 2
