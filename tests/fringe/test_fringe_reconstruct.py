"""Depth accuracy against exact depth from the ray-traced procam simulator (virtual bench
substitute: a plane at the working distance and an objects scene), and PLY export."""

from __future__ import annotations

import numpy as np
import pytest

from psfbench.core.fringe.ply import read_ply, write_ply
from psfbench.core.fringe.reconstruct import Triangulator
from psfbench.core.fringe.scan import FringeScan, decode_scan, fringe_scan_patterns
from psfbench.core.fringe.synthetic import ProcamSimulator, Scene, make_calibration

WD = 500.0


def _scan(scene: Scene, *, gray_step: int = 0, projector_dist=(0, 0, 0, 0, 0), seed=0):
    cal = make_calibration(working_distance=WD, projector_dist=projector_dist)
    sim = ProcamSimulator(cal, scene, seed=seed)
    pats, scan = fringe_scan_patterns(*cal.projector_size, gray_step=gray_step)
    return cal, sim, scan, sim.render(pats)


def test_plane_depth_rmse_and_absolute_phase() -> None:
    cal, sim, scan, r = _scan(Scene.plane(WD, tilt_deg=15.0))
    res = decode_scan(r.images, cal, scan)
    assert res.valid.mean() > 0.99
    err = res.depth[res.valid] - r.depth[res.valid]
    assert np.sqrt(np.mean(err**2)) <= 0.1  # mm
    # Absolute phase: the decoded projector column equals the true one everywhere
    # (a 2-pi error would be ~14.6 projector pixels).
    col_err = res.projector_coord - sim.map_u
    assert np.abs(col_err[res.valid]).max() < 0.5
    assert res.depth.dtype == np.float32


def test_objects_depth_rmse_excluding_shadows() -> None:
    cal, sim, scan, r = _scan(Scene.objects(WD), gray_step=4)
    lit = ~r.shadow
    assert r.shadow.mean() > 0.02  # the scene really casts shadows
    res = decode_scan(r.images, cal, scan)
    keep = res.valid & lit
    assert keep.sum() > 0.95 * lit.sum()
    err = res.depth[keep] - r.depth[keep]
    assert np.sqrt(np.mean(err**2)) <= 0.3
    assert np.isnan(res.depth[~res.valid]).all()
    # Gray-code assisted unwrapping on the same captures: equally good away from the
    # spheres' silhouettes (mixed pixels, where ground truth itself is ambiguous).
    g = decode_scan(r.images, cal, scan, method="graycode")
    from scipy.ndimage import binary_dilation, sobel

    edge = binary_dilation(np.hypot(sobel(r.depth, 0), sobel(r.depth, 1)) > 2.0, iterations=2)
    kg = g.valid & lit & ~edge
    assert kg.sum() > 0.85 * lit.sum()
    eg = g.depth[kg] - r.depth[kg]
    assert np.sqrt(np.mean(eg**2)) <= 0.3


def test_projector_distortion_is_corrected() -> None:
    dist = (-0.15, 0.1, 0.0, 0.0, 0.0)
    cal, sim, scan, r = _scan(Scene.plane(WD), projector_dist=dist)
    res = decode_scan(r.images, Triangulator(cal, distortion_iterations=3), scan)
    err = res.depth[res.valid] - r.depth[res.valid]
    assert np.sqrt(np.mean(err**2)) <= 0.1
    cal.projector_dist = np.zeros(5)  # pretend it was not calibrated
    naive = decode_scan(r.images, cal, scan)
    en = naive.depth[naive.valid] - r.depth[naive.valid]
    assert np.sqrt(np.mean(en**2)) > 1.5 * np.sqrt(np.mean(err**2))


def test_scan_layout_round_trip_and_counts() -> None:
    pats, scan = fringe_scan_patterns(800, 600, gray_step=8, references=True)
    assert pats.shape == (scan.n_images, 600, 800) and pats.dtype == np.uint8
    assert scan.n_images == 12 + 2 * 7 + 2
    assert FringeScan.from_dict(scan.to_dict()) == scan
    with pytest.raises(ValueError, match="expects"):
        decode_scan(np.zeros((3, 4, 4)), make_calibration(), scan)


def test_ply_round_trip(tmp_path) -> None:
    pts = np.random.default_rng(0).normal(size=(4, 5, 3)).astype(np.float32)
    pts[0, 0] = np.nan
    grey = np.linspace(0, 1, 20, dtype=np.float32).reshape(4, 5)
    n = write_ply(tmp_path / "c.ply", pts, grey)
    assert n == 19
    back, cols = read_ply(tmp_path / "c.ply")
    np.testing.assert_array_equal(back, pts.reshape(-1, 3)[1:])
    assert cols is not None and cols.shape == (19, 3)
    assert write_ply(tmp_path / "d.ply", pts) == 19


def test_depth_tiff_keeps_float32_and_nan(tmp_path) -> None:
    import tifffile

    from psfbench.core.fringe.export import write_depth_tiff

    d = np.full((6, 7), 500.25, np.float32)
    d[2, 3] = np.nan
    write_depth_tiff(tmp_path / "depth.tif", d)
    back = tifffile.imread(tmp_path / "depth.tif")
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, d)
    with pytest.raises(ValueError, match="infinite"):
        write_depth_tiff(tmp_path / "bad.tif", np.full((2, 2), np.inf))
