"""Calibration plausibility checks, skipped poses, live detection helpers, the profile's copy,
and the virtual bench's chessboard scene whose pose the calibration wizard changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from psfbench.core.fringe.calibrate import (
    DEFAULT_MAX_RMS,
    CalibrationError,
    ProcamCalibration,
    ViewResult,
    calibrate_procam,
    check_calibration,
    detect_chessboard_preview,
    find_chessboard,
    load_calibration,
    load_views,
    profile_calibration_path,
    save_calibration,
    to_uint8,
)
from psfbench.core.scenes import make_scene

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"


def _cal(fx_c=3450.0, fx_p=1900.0, rms=0.25, view_rms=(0.2, 0.25, 0.3)) -> ProcamCalibration:
    K = np.array([[fx_c, 0, 640], [0, fx_c, 512], [0, 0, 1.0]])
    Kp = np.array([[fx_p, 0, 512], [0, fx_p, 800], [0, 0, 1.0]])
    views = [ViewResult(f"capture_{i}", 63, r, r, r, r) for i, r in enumerate(view_rms)]
    return ProcamCalibration(
        K, np.zeros(5), (1280, 1024), Kp, np.zeros(5), (1024, 768), np.eye(3),
        np.array([100.0, 0, 0]), rms, rms, rms, views,
    )  # fmt: skip


def test_plausible_calibration_passes() -> None:
    check = check_calibration(_cal())
    assert check.ok and check.warnings == [] and check.outliers == []


def test_absurd_focal_length_is_refused() -> None:
    # the failure of ../shared/cases/14: a projector focal length of 1.8 px
    check = check_calibration(_cal(fx_p=1.8))
    assert not check.ok
    assert "projector focal length fx=1.8 px is implausible" in (check.refusal or "")


def test_rms_above_the_limit_is_refused_with_per_pose_rms() -> None:
    check = check_calibration(_cal(rms=3.5))
    assert not check.ok
    assert f"stereo reprojection RMS 3.500 px exceeds the limit of {DEFAULT_MAX_RMS:g}" in (
        check.refusal or ""
    )
    assert "capture_0 0.20" in (check.refusal or "")
    assert check_calibration(_cal(rms=3.5), max_rms=4.0).ok


def test_outlier_pose_is_named() -> None:
    check = check_calibration(_cal(view_rms=(0.2, 0.25, 0.22, 1.9)))
    assert check.ok
    assert check.outliers == ["capture_3"]
    assert any("capture_3" in w and "drop it" in w for w in check.warnings)


def test_principal_point_far_outside_projector_warns() -> None:
    cal = _cal()
    cal.projector_matrix[1, 2] = 5000.0
    assert any("principal point" in w for w in check_calibration(cal).warnings)
    cal = _cal()
    cal.projector_matrix[1, 2] = 855.0  # lens shift: normal for a projector
    assert check_calibration(cal).warnings == []


@pytest.mark.skipif(not (CASES / "14-procam-coarse-projector-pixels").is_dir(), reason="no cases")
def test_coarse_projector_case_calibrates_right_or_is_refused() -> None:
    # corners that a local homography throws outside the projector are no longer used
    folder = CASES / "14-procam-coarse-projector-pixels" / "input"
    cal = calibrate_procam(folder, projector_size=(128, 96), pattern=(7, 5), square=20.0)
    check = check_calibration(cal)
    assert check.ok, check.refusal
    assert cal.projector_matrix[0, 0] == pytest.approx(190.0, rel=0.03)
    assert cal.camera_matrix[0, 0] == pytest.approx(420.0, rel=0.03)


@pytest.mark.skipif(not (CASES / "14-procam-coarse-projector-pixels").is_dir(), reason="no cases")
def test_pose_without_a_board_is_skipped_with_a_warning(tmp_path: Path) -> None:
    src = CASES / "14-procam-coarse-projector-pixels" / "input"
    for sub in sorted(src.iterdir()):
        shutil.copytree(sub, tmp_path / sub.name)
    # capture_2: the board left the view (a flat grey white image)
    files = sorted((tmp_path / "capture_2").iterdir())
    white = files[-2]
    img = cv2.imread(str(white), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(white), np.full_like(img, 128))
    seen: list[tuple[str, bool]] = []
    loaded = load_views(
        tmp_path,
        projector_size=(128, 96),
        pattern=(7, 5),
        square=20.0,
        on_pose=lambda name, stack, view, why: seen.append((Path(name).name, view is None)),
    )
    assert [v.name for v in loaded.views] == [str(tmp_path / f"capture_{i}") for i in (0, 1, 3, 4)]
    assert seen[2] == ("capture_2", True)
    assert "chessboard 7x5 not found" in loaded.skipped[0][1]
    cal = calibrate_procam(tmp_path, projector_size=(128, 96), pattern=(7, 5), square=20.0)
    assert len(cal.views) == 4
    assert any(w.startswith("pose capture_2 not used: ") for w in cal.warnings)
    # fewer than 3 usable poses: a clear refusal naming why
    for i in (0, 1):
        shutil.rmtree(tmp_path / f"capture_{i}")
    with pytest.raises(CalibrationError, match="need at least 3 usable chessboard poses"):
        load_views(tmp_path, projector_size=(128, 96), pattern=(7, 5), square=20.0)


def test_to_uint8_scales_by_full_scale_and_takes_luminance() -> None:
    a = np.array([[0, 4095, 2048]], np.uint16)
    assert to_uint8(a, 4095).tolist() == [[0, 255, 128]]
    assert to_uint8(np.array([[0, 65535]], np.uint16)).tolist() == [[0, 255]]
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[0, 1] = (255, 255, 255)
    assert to_uint8(rgb).tolist() == [[0, 255]]
    with pytest.raises(CalibrationError):
        to_uint8(np.zeros((2, 2, 2, 2)))


def test_preview_detection_matches_full_resolution_corners() -> None:
    scene = make_scene("chessboard", 257, 307, pose=1)
    small = np.rint(scene.aif[0] * 255).astype(np.uint8)
    # a 4x larger frame (12-bit) is downscaled to 640 px for the preview
    big = cv2.resize(small, (307 * 4, 257 * 4), interpolation=cv2.INTER_CUBIC)
    big12 = big.astype(np.uint16) * 16
    full = find_chessboard(big, (9, 7))
    prev = detect_chessboard_preview(big12, (9, 7), full_scale=4095, max_side=640)
    assert full is not None and prev is not None
    assert np.abs(prev - full).max() < 2.0  # within a preview pixel of the capture's corners
    noise = np.random.default_rng(0).integers(0, 255, (1024, 1280), dtype=np.uint8)
    assert detect_chessboard_preview(noise, (9, 7)) is None


def test_preview_detection_finds_small_boards() -> None:
    # 14 px squares in a 307 px frame: OpenCV's fast check alone misses some of these poses;
    # the preview enlarges small frames first
    for pose in range(8):
        scene = make_scene("chessboard", 257, 307, pose=pose)
        img = np.rint(scene.aif[0] * 255).astype(np.uint8)
        prev = detect_chessboard_preview(img, (9, 7))
        full = find_chessboard(img, (9, 7))
        assert prev is not None and full is not None, pose
        assert np.abs(prev - full).max() < 0.5, pose


def _board_corners_truth(scene) -> np.ndarray:  # type: ignore[no-untyped-def]
    p = scene.params
    cols, rows = p["corners"]
    sq = p["square_mm"]
    R, c = np.array(p["board_R"]), np.array(p["board_centre_mm"])
    u = (np.arange(cols) + 1 - (cols + 1) / 2) * sq
    v = (np.arange(rows) + 1 - (rows + 1) / 2) * sq
    uu, vv = np.meshgrid(u, v)
    P = uu.reshape(-1, 1) * R[:, 0] + vv.reshape(-1, 1) * R[:, 1] + c
    h, w = scene.shape
    f = (w / 2) / np.tan(np.deg2rad(p["fov_deg"]) / 2)
    return np.stack([f * P[:, 0] / P[:, 2] + (w - 1) / 2, f * P[:, 1] / P[:, 2] + (h - 1) / 2], 1)


@pytest.mark.parametrize("pose", range(6))
def test_chessboard_scene_corners_are_where_the_pose_puts_them(pose: int) -> None:
    scene = make_scene("chessboard", 257, 307, pose=pose, seed=3)
    img = np.rint(scene.aif[0] * 255).astype(np.uint8)
    found = find_chessboard(img, (9, 7))
    assert found is not None
    truth = _board_corners_truth(scene)
    # detection order may run either way along the board: match each corner to the nearest
    d = np.linalg.norm(found[:, None] - truth[None], axis=2).min(axis=1)
    # sub-pixel: the detector's own error on 14 px squares (3x3 anti-aliasing, 8-bit)
    assert np.sqrt(np.mean(d**2)) < 0.15 and d.max() < 0.4, d
    # the plane's depth at the board centre
    cx, cy = np.round(truth.mean(axis=0)).astype(int)
    assert abs(scene.depth_mm[cy, cx] - scene.params["board_centre_mm"][2]) < 10.0


def test_chessboard_poses_differ_and_are_seeded() -> None:
    a = make_scene("chessboard", 96, 128, pose=0)
    b = make_scene("chessboard", 96, 128, pose=1)
    assert a.params["board_R"] != b.params["board_R"]
    assert np.array_equal(a.aif, make_scene("chessboard", 96, 128, pose=0).aif)
    with pytest.raises(ValueError, match="corners"):
        make_scene("chessboard", 96, 128, corners=(1, 5))


def test_virtual_bench_board_pose_moves_the_board_the_camera_sees() -> None:
    from psfbench.core.devices.factory import open_bench
    from psfbench.core.devices.protocols import DeviceError

    bench = open_bench("virtual", virtual_overrides={"scene": "chessboard", "noise": False})
    try:
        world = bench.info.world
        world.set_aperture_scale(0.0)
        cam = bench.camera
        cam.trigger_mode = "software"
        cam.start_streaming()
        try:
            cam.trigger()
            first = cam.retrieve(timeout_s=5).image
            world.set_board_pose(2)
            assert world.board_pose == 2
            cam.trigger()
            second = cam.retrieve(timeout_s=5).image
        finally:
            cam.stop_streaming()
        truth = _board_corners_truth(world.scene)
        found = find_chessboard(to_uint8(second, 4095), (9, 7))
        assert found is not None
        d = np.linalg.norm(found[:, None] - truth[None], axis=2).min(axis=1)
        assert d.max() < 0.5
        assert not np.array_equal(first, second)
        with pytest.raises(DeviceError):
            world.set_board_pose(-1)
    finally:
        bench.close()
    other = open_bench("virtual")
    try:
        with pytest.raises(DeviceError, match="chessboard"):
            other.info.world.set_board_pose(1)
    finally:
        other.close()


def test_profile_calibration_path_and_round_trip(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PSFBENCH_CONFIG_DIR", str(tmp_path / "cfg"))
    assert profile_calibration_path("virtual", "built-in") == (
        tmp_path / "cfg" / "virtual.procam.json"
    )
    assert profile_calibration_path("real", str(tmp_path / "lab" / "real.toml")) == (
        tmp_path / "lab" / "real.procam.json"
    )
    cal = _cal()
    cal.warnings = ["a note"]
    path = save_calibration(cal, tmp_path / "cfg" / "virtual.procam.json")
    back = load_calibration(path)
    np.testing.assert_allclose(back.projector_matrix, cal.projector_matrix)
    assert back.warnings == ["a note"] and back.views[0].name == "capture_0"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CalibrationError, match="bad.json"):
        load_calibration(tmp_path / "bad.json")


def test_virtual_bench_poses_captured_to_disk_calibrate_through_the_cli(tmp_path: Path) -> None:
    """The wizard's capture path without the GUI: the calibration plan through the engine into
    CaptureFolderSink, then `psfbench calibrate procam` on the folder."""
    import json

    from psfbench.core.acquisition import AcquisitionEngine
    from psfbench.core.cli import main
    from psfbench.core.devices.factory import open_bench
    from psfbench.core.fringe.calibrate import CaptureFolderSink, calibration_plan

    bench = open_bench("virtual", virtual_overrides={"scene": "chessboard", "time_scale": 0.01})
    world = bench.info.world
    pw, ph = bench.projector.width, bench.projector.height
    try:
        world.set_aperture_scale(0.0)  # stopped down, as for a fringe scan
        for pose in range(4):
            world.set_board_pose(pose)
            plan = calibration_plan((pw, ph), step=2, settle_s=0.01)
            sink = CaptureFolderSink(tmp_path / f"capture_{pose:02d}", plan.total_steps(), 4095)
            assert AcquisitionEngine(bench).run(plan, sink).status == "completed"
            assert sink.written == list(range(plan.total_steps()))
    finally:
        bench.close()
    assert sorted(p.name for p in (tmp_path / "capture_00").iterdir())[:2] == [
        "graycode_00.png",
        "graycode_01.png",
    ]
    out = tmp_path / "cal.json"
    argv = ["calibrate", "procam", str(tmp_path), "--projector", f"{pw}x{ph}"]
    argv += ["--graycode-step", "2", "--square", str(world.scene.params["square_mm"])]
    assert main([*argv, "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    truth = world.projector_matrix()[0, 0]
    assert abs(d["projector"]["matrix"][0][0] - truth) / truth < 0.03
    assert d["rms"] < 1.0
    # a stated limit below what was reached: refused, nothing written
    out.unlink()
    assert main([*argv, "--json", str(out), "--max-rms", "0.01"]) == 2
    assert not out.exists()
