"""`psfbench acquire fringe` on the virtual bench: frames on disk, depth close to the truth."""

from __future__ import annotations

import json

import numpy as np
import tifffile

from psfbench.core.cli import main

SMALL = [
    "--virtual", "width=160", "--virtual", "height=128", "--virtual", "projector_width=512",
    "--virtual", "projector_height=384", "--virtual", "time_scale=0.001",
]  # fmt: skip


def test_fringe_scan_writes_frames_depth_and_ply(tmp_path, capsys) -> None:
    out = tmp_path / "scan"
    # an exposure at which nothing clips (the profile's 20 ms clips half the planes)
    rc = main(["acquire", "fringe", "--out", str(out), "--yes", "--quiet", *SMALL,
               "--virtual", "scene=planes", "--exposure", "2000"])  # fmt: skip
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "calibration: the virtual bench's exact geometry" in printed.out
    assert (
        "refused, saturated: 0 pixels (0.0%) clipped at or above 4095 (the Mono12 camera"
        in printed.out
    )
    assert len(list((out / "frames").glob("pattern_*.tif"))) == 12
    depth = tifffile.imread(out / "depth.tif")
    assert depth.dtype == np.float32 and depth.shape == (128, 160)
    summary = json.loads((out / "fringe.json").read_text())
    assert summary["valid_fraction"] > 0.5
    assert summary["rmse_vs_truth_mm"] < 0.2
    assert summary["saturation_level"] == 4095 and summary["saturated_pixels"] == 0
    assert (out / "points.ply").read_bytes().startswith(b"ply")


def test_fringe_scan_refuses_clipped_pixels_by_default_and_counts_them(tmp_path, capsys) -> None:
    """At the profile's exposure the planes clip: those pixels get no depth, the count is
    printed (with a hint) and stored; --saturation none keeps them (the old behaviour)."""
    out, raw = tmp_path / "scan", tmp_path / "unchecked"
    base = ["acquire", "fringe", "--yes", "--quiet", *SMALL, "--virtual", "scene=planes"]
    assert main([*base, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "fringe.json").read_text())
    n = summary["saturated_pixels"]
    assert summary["saturation_level"] == 4095 and n > 1000
    assert summary["refused_pixels"]["saturated"] == n
    assert summary["valid_pixels"] == round(summary["valid_fraction"] * summary["pixels"])
    assert f"refused, saturated: {n} pixels" in printed and "lower the exposure" in printed
    frames = np.stack([tifffile.imread(f) for f in sorted((out / "frames").glob("*.tif"))])
    clipped = (frames[:12] >= 4095).any(axis=0)
    depth = tifffile.imread(out / "depth.tif")
    assert clipped.sum() == n and not np.isfinite(depth[clipped]).any()
    assert summary["rmse_vs_truth_mm"] < 0.2
    assert main([*base, "--out", str(raw), "--saturation", "none"]) == 0
    assert "saturation: not checked" in capsys.readouterr().out
    unchecked = json.loads((raw / "fringe.json").read_text())
    assert unchecked["saturation_level"] is None and unchecked["saturated_pixels"] == 0


def test_fringe_scan_rejects_a_bad_calibration_file(tmp_path, capsys) -> None:
    bad = tmp_path / "cal.json"
    bad.write_text('{"camera": {}}')
    rc = main(["acquire", "fringe", "--out", str(tmp_path / "o"), "--calibration", str(bad),
               "--yes", "--quiet", *SMALL])  # fmt: skip
    assert rc == 2
    assert "cal.json" in capsys.readouterr().err


def test_fringe_scan_on_a_real_profile_uses_the_wizards_calibration(
    tmp_path, capsys, monkeypatch
) -> None:
    """Without --calibration on a bench that is not the virtual one, the calibration the GUI's
    wizard saved beside the profile (<profile>.procam.json) is used and named; without one, a
    clear error says where it looked. (The virtual bench stands in for a real one: its exact
    geometry is hidden from the command.)"""
    from psfbench.core.acquisition import fringe_scan
    from psfbench.core.acquisition.bench_io import open_bench_from
    from psfbench.core.fringe.calibrate import profile_calibration_path, save_calibration

    monkeypatch.setenv("PSFBENCH_CONFIG_DIR", str(tmp_path / "cfg"))
    overrides = {k: json.loads(v) for k, v in (a.split("=") for a in SMALL[1::2])}
    bench = open_bench_from("virtual", **overrides)
    try:
        exact = fringe_scan.world_calibration(bench)
    finally:
        bench.close()
    monkeypatch.setattr(fringe_scan, "world_calibration", lambda bench: None)
    args = ["acquire", "fringe", "--yes", "--quiet", *SMALL, "--virtual", "scene=planes",
            "--exposure", "2000"]  # fmt: skip
    path = profile_calibration_path("virtual", "built-in")
    assert main([*args, "--out", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert "no projector-camera calibration" in err and str(path) in err
    save_calibration(exact, path)
    out = tmp_path / "scan"
    assert main([*args, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"calibration: {path} (the bench profile's" in printed
    assert json.loads((out / "fringe.json").read_text())["rmse_vs_truth_mm"] < 0.2
