"""The calibration and fringe input cases of ../shared/cases (issue 15), each asserting the
right value its README gives.

10 calibration captures numbered without zero padding, 14 a coarse (128x96) projector, 17 a
fringe scan with a clipped highlight. The cases are read where they lie; a test is skipped,
saying so, when the folder is absent (a checkout without ../shared).

Tolerances against ``truth.json`` (intrinsics in pixels, pose in mm, no lens distortion):
focal lengths within 1 %, principal points within 3 px, rotation within 0.5 degrees,
translation within 3 % of the 120 mm baseline, and depth of a fronto-parallel plane at the
board's distance (350 mm) within 1 mm RMS when triangulated with the estimate. Measured:
case 10 fx 419.7 / 380.7 (true 420 / 380), principal points <= 2.1 px off, R 0.1 deg,
|dT| 1.0 mm, plane 0.37 mm RMS; case 14 fx 420.2 / 191.0 (420 / 190), <= 2.0 px, 0.34 deg,
2.8 mm, 0.43 mm RMS (a projector pixel spans ~5 mm of depth there).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from psfbench.core.cli import main
from psfbench.core.fringe.calibrate import (
    CalibrationError,
    ProcamCalibration,
    calibrate_procam,
    capture_files,
    check_calibration,
    load_capture,
)
from psfbench.core.fringe.reconstruct import Triangulator
from tests.core.test_input_cases import CASES, case  # where the cases lie; skip when absent


def _truth(folder: Path) -> ProcamCalibration:
    t = json.loads((folder / "truth.json").read_text())
    assert t["distortion"] == "none"
    return ProcamCalibration(
        np.asarray(t["camera_matrix"], float),
        np.zeros(5),
        tuple(t["camera_size"]),
        np.asarray(t["projector_matrix"], float),
        np.zeros(5),
        tuple(t["projector_size"]),
        np.asarray(t["R"], float),
        np.asarray(t["T"], float),
        0.0,
        0.0,
        0.0,
    )


def _plane_depth_rms(cal: ProcamCalibration, truth: ProcamCalibration, z: float) -> float:
    """Triangulate, with ``cal``, the projector columns that ``truth`` gives a plane at depth
    ``z`` (mm): RMS depth error over the pixels the projector lights."""
    w, h = truth.camera_size
    xs, ys = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    K, Kp = truth.camera_matrix, truth.projector_matrix
    pts = np.stack(
        [(xs - K[0, 2]) / K[0, 0] * z, (ys - K[1, 2]) / K[1, 1] * z, np.full_like(xs, z)], -1
    )
    p = pts @ truth.R.T + truth.T
    col = (Kp[0, 0] * p[..., 0] / p[..., 2] + Kp[0, 2]).astype(np.float32)
    lit = (col >= 0) & (col <= truth.projector_size[0] - 1)
    depth = Triangulator(cal, "x").depth(col, lit).depth
    err = depth[lit] - z
    assert np.isfinite(err).all()
    return float(np.sqrt(np.mean(err**2)))


def _assert_matches_truth(cal: ProcamCalibration, truth: ProcamCalibration) -> None:
    for K, Kt in (
        (cal.camera_matrix, truth.camera_matrix),
        (cal.projector_matrix, truth.projector_matrix),
    ):
        assert K[0, 0] == pytest.approx(Kt[0, 0], rel=0.01)
        assert K[1, 1] == pytest.approx(Kt[1, 1], rel=0.01)
        assert np.hypot(K[0, 2] - Kt[0, 2], K[1, 2] - Kt[1, 2]) < 3.0
    rot = np.degrees(np.linalg.norm(cv2.Rodrigues(cal.R @ truth.R.T)[0]))
    assert rot < 0.5
    assert np.linalg.norm(cal.T - truth.T) < 0.03 * np.linalg.norm(truth.T)
    assert cal.distortion_model == "none"  # what the poses support: the truth has none
    assert _plane_depth_rms(cal, truth, 350.0) < 1.0


# ------------------------------------------------------------------ 10: unpadded numbers


def test_10_unpadded_pattern_numbers_are_taken_in_numeric_order(tmp_path, capsys) -> None:
    c = case("10-procam-unpadded-names")
    files = capture_files(c / "input" / "capture_0")
    assert [f.name for f in files[:3]] == ["pattern_0.png", "pattern_1.png", "pattern_2.png"]
    assert files[10].name == "pattern_10.png" and len(files) == 34
    out = tmp_path / "cal.json"
    rc = main(["calibrate", "procam", str(c / "input"), "--projector", "256x192",
               "--chessboard", "7x5", "--square", "20", "--json", str(out)])  # fmt: skip
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "lens distortion model none" in printed.out and "warning" not in printed.out
    cal = ProcamCalibration.from_json(out.read_text())
    assert [Path(v.name).name for v in cal.views] == [f"capture_{i}" for i in range(5)]
    assert all(v.n_corners == 35 for v in cal.views)  # every corner of every pose
    assert cal.rms < 0.3
    _assert_matches_truth(cal, _truth(c))


def _copy_pose(c: Path, dst: Path) -> Path:
    pose = dst / "capture_0"
    shutil.copytree(c / "input" / "capture_0", pose)
    for p in pose.iterdir():
        p.chmod(0o644)
    return pose


def test_10_ambiguous_pose_file_names_are_refused_naming_the_problem(tmp_path) -> None:
    c = case("10-procam-unpadded-names")
    pose = _copy_pose(c, tmp_path)
    # padded and unpadded names of the same number: which one is image 1?
    shutil.copy(pose / "pattern_1.png", pose / "pattern_01.png")
    with pytest.raises(
        CalibrationError, match=r"pattern_0?1\.png and pattern_0?1\.png have the same number"
    ):
        capture_files(pose)
    (pose / "pattern_01.png").unlink()
    # the same number in another format
    shutil.copy(pose / "pattern_3.png", pose / "pattern_3.TIF")
    with pytest.raises(CalibrationError, match="zero padding, case or extension"):
        load_capture(pose)
    (pose / "pattern_3.TIF").unlink()
    # white and black named apart: the projection order cannot be told from the names
    (pose / "pattern_32.png").rename(pose / "white.png")
    with pytest.raises(
        CalibrationError,
        match=r"capture_0: image names follow 2 patterns "
        r"\(33 like pattern_0\.png; 1 like white\.png\)",
    ):
        capture_files(pose)


def test_10_captures_of_any_bit_depth_and_colour_read_alike(tmp_path) -> None:
    """16-bit captures are scaled by the bit depth their values use (12-bit values in a 16-bit
    file by 4095), colour becomes luminance: the same 8-bit images as the original PNGs."""
    c = case("10-procam-unpadded-names")
    src = c / "input" / "capture_0"
    ref = load_capture(src)
    for kind in ("12-bit tiff", "16-bit png", "colour png"):
        pose = tmp_path / kind.replace(" ", "_") / "capture_0"
        pose.mkdir(parents=True)
        for f in capture_files(src):
            g = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if kind == "12-bit tiff":
                tifffile.imwrite(
                    pose / (f.stem + ".tif"), np.round(g * (4095 / 255)).astype(np.uint16)
                )
            elif kind == "16-bit png":
                cv2.imwrite(str(pose / f.name), g.astype(np.uint16) * 257)
            else:
                cv2.imwrite(str(pose / f.name), np.repeat(g[..., None], 3, axis=2))
        np.testing.assert_array_equal(load_capture(pose), ref, err_msg=kind)
    bad = tmp_path / "bad" / "capture_0"
    shutil.copytree(tmp_path / "16-bit_png" / "capture_0", bad)
    (bad / "pattern_5.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(CalibrationError, match=r"pattern_5\.png"):
        load_capture(bad)


# ------------------------------------------------------------------ 14: coarse projector


def test_14_coarse_projector_calibrates_to_the_truth(tmp_path, capsys) -> None:
    c = case("14-procam-coarse-projector-pixels")
    out = tmp_path / "cal.json"
    rc = main(["calibrate", "procam", str(c / "input"), "--projector", "128x96",
               "--chessboard", "7x5", "--square", "20", "--json", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    cal = ProcamCalibration.from_json(out.read_text())
    assert check_calibration(cal).ok and cal.warnings == []
    _assert_matches_truth(cal, _truth(c))
    # every projector corner used lies inside the projector (the 1.8 px focal length came
    # from corners thrown to (-3883, -3899))
    assert sum(v.n_corners for v in cal.views) >= 140


def test_14_unconstrained_lens_model_is_refused_not_reported(tmp_path, capsys) -> None:
    """All five distortion coefficients fitted to these five poses reach the same RMS but bend
    the image by more than 100 % at its corners (plane depths tens of mm off): refused, exit 2,
    no JSON."""
    c = case("14-procam-coarse-projector-pixels")
    out = tmp_path / "cal.json"
    rc = main(["calibrate", "procam", str(c / "input"), "--projector", "128x96",
               "--chessboard", "7x5", "--square", "20", "--json", str(out),
               "--distortion", "full"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and not out.exists()
    assert "calibration refused" in err and "lens distortion" in err
    cal = calibrate_procam(
        c / "input", projector_size=(128, 96), pattern=(7, 5), square=20.0, distortion="full"
    )
    assert _plane_depth_rms(cal, _truth(c), 350.0) > 5.0  # what the refusal prevents


# ------------------------------------------------------------------ 17: clipped highlight


def _decode(captures: Path, out: Path, *extra: str) -> int:
    cal = CASES / "17-fringe-saturated-highlight" / "input" / "calibration.json"
    return main(["fringe", "decode", str(captures), "--calibration", str(cal), "--out", str(out),
                 *extra])  # fmt: skip


def test_17_clipped_samples_never_give_a_depth(tmp_path, capsys) -> None:
    c = case("17-fringe-saturated-highlight")
    truth = tifffile.imread(c / "truth_depth.tif")
    frames = np.stack(
        [cv2.imread(str(c / "input" / f"capture_{i:02d}.png"), -1) for i in range(12)]
    )
    clipped = (frames >= 255).any(axis=0)
    highlight = cv2.imread(str(c / "highlight_mask.png"), -1) > 0
    assert clipped.sum() == 4105 and (clipped == highlight).all()

    out = tmp_path / "default"
    assert _decode(c / "input", out) == 0
    printed = capsys.readouterr().out
    assert (
        "refused, saturated: 4105 pixels (5.0%) clipped at or above 255 (8-bit samples)" in printed
    )
    depth = tifffile.imread(out / "depth.tif")
    valid = np.isfinite(depth)
    assert not valid[clipped].any()
    rms = float(np.sqrt(np.mean((depth[valid] - truth[valid]) ** 2)))
    assert rms < 0.05 and valid.mean() > 0.94  # measured 0.034 mm, 95.0 %
    summary = json.loads((out / "fringe.json").read_text())
    assert summary["saturation_level"] == 255 and summary["saturated_pixels"] == 4105
    assert summary["saturation_source"] == "8-bit samples"
    assert summary["valid_pixels"] == int(valid.sum())

    # --saturation none: the old behaviour (clipped pixels kept, hundreds of mm off);
    # every other pixel's depth is unchanged
    off = tmp_path / "off"
    assert _decode(c / "input", off, "--saturation", "none") == 0
    assert "saturation: not checked" in capsys.readouterr().out
    kept = tifffile.imread(off / "depth.tif")
    kept_clipped = np.isfinite(kept) & clipped
    assert kept_clipped.sum() > 2000
    assert np.abs(kept[kept_clipped] - truth[kept_clipped]).max() > 100
    assert np.isfinite(kept[valid]).all()
    np.testing.assert_array_equal(kept[valid], depth[valid])


@pytest.mark.parametrize(("shift", "level"), [(0, 4095), (4, 65520)])
def test_17_sixteen_bit_containers_clip_at_the_bits_they_use(
    tmp_path, capsys, shift, level
) -> None:
    """The same scan as 12-bit values in 16-bit TIFFs, low bits (clip at 4095) or shifted into
    the top bits as Mono16 cameras deliver them (clip at 65520): found from the data."""
    c = case("17-fringe-saturated-highlight")
    src = tmp_path / "captures"
    src.mkdir()
    shutil.copy(c / "input" / "scan.json", src / "scan.json")
    for i in range(12):
        img = cv2.imread(str(c / "input" / f"capture_{i:02d}.png"), -1).astype(np.float64)
        arr = np.round(img * (4095 / 255)).astype(np.uint16) << np.uint16(shift)
        tifffile.imwrite(src / f"capture_{i:02d}.tif", arr)
    out = tmp_path / "out"
    assert _decode(src, out) == 0
    printed = capsys.readouterr().out
    assert f"clipped at or above {level} " in printed, printed
    summary = json.loads((out / "fringe.json").read_text())
    assert summary["saturation_level"] == level and summary["saturated_pixels"] == 4105
    truth = tifffile.imread(c / "truth_depth.tif")
    depth = tifffile.imread(out / "depth.tif")
    valid = np.isfinite(depth)
    assert float(np.sqrt(np.mean((depth[valid] - truth[valid]) ** 2))) < 0.05
