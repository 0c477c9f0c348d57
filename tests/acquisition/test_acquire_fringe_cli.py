"""`psfbench acquire fringe` on the virtual bench: frames on disk, depth close to the truth."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from core.cli import main

SMALL = [
    "--virtual", "width=160", "--virtual", "height=128", "--virtual", "projector_width=512",
    "--virtual", "projector_height=384", "--virtual", "time_scale=0.001",
]  # fmt: skip


def test_fringe_scan_writes_frames_depth_and_ply(tmp_path, capsys) -> None:
    out = tmp_path / "scan"
    rc = main(["acquire", "fringe", "--out", str(out), "--yes", "--quiet", *SMALL,
               "--virtual", "scene=planes"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert len(list((out / "frames").glob("pattern_*.tif"))) == 12
    depth = tifffile.imread(out / "depth.tif")
    assert depth.dtype == np.float32 and depth.shape == (128, 160)
    summary = json.loads((out / "fringe.json").read_text())
    assert summary["valid_fraction"] > 0.5
    assert summary["rmse_vs_truth_mm"] < 0.2
    assert (out / "points.ply").read_bytes().startswith(b"ply")


def test_fringe_scan_rejects_a_bad_calibration_file(tmp_path, capsys) -> None:
    bad = tmp_path / "cal.json"
    bad.write_text('{"camera": {}}')
    rc = main(["acquire", "fringe", "--out", str(tmp_path / "o"), "--calibration", str(bad),
               "--yes", "--quiet", *SMALL])  # fmt: skip
    assert rc == 2
    assert "cal.json" in capsys.readouterr().err
