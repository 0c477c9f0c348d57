"""`psfbench session import csv|allin3d` and `psfbench fringe decode` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import tifffile

from psfbench.core.cli import main
from psfbench.core.dataset import Session
from tests.core.test_input_cases import case
from tests.dataset.test_importers import _allin3d, _csv_folder


def test_session_import_csv(tmp_path, capsys) -> None:
    src, imgs = _csv_folder(tmp_path)
    out = tmp_path / "s"
    rc = main(["session", "import", "csv", str(src / "distances.csv"), "--out", str(out),
               "--focal-length-mm", "50", "--pixel-size-mm", "0.00345", "--bit-depth", "12",
               "--depth", str(src / "depth.npy"), "--aif", str(src / "aif.png")])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    assert "imported 3 frames" in capsys.readouterr().out
    s = Session.open(out)
    np.testing.assert_array_equal(s.frame(1), imgs[1])
    assert s.has_depth and s.has_aif and s.meta.camera.bit_depth == 12
    # refused: the error names file and line; exit 2; nothing written
    (src / "bad.csv").write_text("file,d_mm\nshot0.png,30\nshot1.png,x\n")
    rc = main(["session", "import", "csv", str(src / "bad.csv"), "--out", str(tmp_path / "t"),
               "--focal-length-mm", "50", "--pixel-size-mm", "0.00345"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "bad.csv: line 3: d_mm (column 2)" in err and "Traceback" not in err
    assert not (tmp_path / "t").exists()


def test_session_import_allin3d(tmp_path, capsys) -> None:
    root = _allin3d(tmp_path)
    out = tmp_path / "s"
    rc = main(["session", "import", "allin3d", str(root), "--out", str(out), "--factor", "4"])
    assert rc == 0, capsys.readouterr().err
    s = Session.open(out)
    assert len(s.indices) == 4 and s.meta.output_scale == 4.0
    rc = main(["session", "import", "allin3d", str(root), "--out", str(tmp_path / "x"),
               "--factor", "2"])  # fmt: skip
    assert rc == 2 and "focus_2" in capsys.readouterr().err


def test_fringe_decode_a_capture_folder(tmp_path, capsys) -> None:
    """Case 17's captures (numbered capture_00..11, a scan.json, an exact calibration)."""
    c = case("17-fringe-saturated-highlight") / "input"
    src = tmp_path / "caps"
    src.mkdir()
    for k, f in enumerate(sorted(c.glob("capture_*.png"))):
        (src / f"capture_{k}.png").write_bytes(f.read_bytes())  # unpadded: numeric order
    out = tmp_path / "out"
    rc = main(["fringe", "decode", str(src), "--calibration", str(c / "calibration.json"),
               "--out", str(out), "--saturation", "255"])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    text = capsys.readouterr().out
    assert "flags and defaults" in text and "saturated" in text
    depth = tifffile.imread(out / "depth.tif")
    truth = tifffile.imread(c.parent / "truth_depth.tif")
    clipped = cv2.imread(str(c.parent / "highlight_mask.png"), 0) > 0
    ok = np.isfinite(depth) & np.isfinite(truth)
    assert not (ok & clipped).any()  # clipped pixels get no depth
    rms = float(np.sqrt(np.mean((depth[ok] - truth[ok]) ** 2)))
    assert ok.mean() > 0.9 and rms < 0.1, (ok.mean(), rms)
    assert (out / "points.ply").read_bytes().startswith(b"ply")
    # the scan's parameters from scan.json when it lies beside the captures
    (src / "scan.json").write_text((c / "scan.json").read_text())
    assert main(["fringe", "decode", str(src), "--calibration", str(c / "calibration.json"),
                 "--out", str(out)]) == 0  # fmt: skip
    assert "scan.json" in capsys.readouterr().out


def test_fringe_decode_refusals(tmp_path, capsys) -> None:
    c = case("17-fringe-saturated-highlight") / "input"
    cal = str(c / "calibration.json")
    rc = main(["fringe", "decode", str(c), "--calibration", cal, "--phase-steps", "3",
               "--out", str(tmp_path / "o")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "12 images, but the scan" in err and "has 9" in err
    (tmp_path / "empty").mkdir()
    assert main(["fringe", "decode", str(tmp_path / "empty"), "--calibration", cal]) == 2
    assert "no image files" in capsys.readouterr().err
    (tmp_path / "cal.json").write_text("{}")
    assert main(["fringe", "decode", str(c), "--calibration", str(tmp_path / "cal.json")]) == 2
    assert "not a procam calibration" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_acquire_fringe_then_decode_gives_the_same_depth(tmp_path, capsys) -> None:
    """The frames and fringe.json `psfbench acquire fringe` writes decode to its depth map."""
    from psfbench.core.acquisition.fringe_scan import world_calibration
    from psfbench.core.cli.cmd_acquire import _open, _overrides

    small = ["width=160", "height=128", "projector_width=512", "projector_height=384",
             "time_scale=0.001", "scene=planes"]  # fmt: skip
    bench = _open("virtual", _overrides(small))
    try:
        cal = world_calibration(bench)
    finally:
        bench.close()
    cal_path = tmp_path / "cal.json"
    cal_path.write_text(json.dumps(cal.to_dict()))
    scan = tmp_path / "scan"
    args = [a for kv in small for a in ("--virtual", kv)]
    assert main(["acquire", "fringe", "--out", str(scan), "--calibration", str(cal_path),
                 "--yes", "--quiet", *args]) == 0, capsys.readouterr().err  # fmt: skip
    rc = main(["fringe", "decode", str(scan / "frames"), "--calibration", str(cal_path)])
    assert rc == 0, capsys.readouterr().err
    assert "fringe.json" in capsys.readouterr().out
    a = tifffile.imread(scan / "depth.tif")
    b = tifffile.imread(Path(scan / "frames" / "decoded" / "depth.tif"))
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], atol=1e-4)
