import math

import numpy as np
import pytest
import torch

from psfbench.core.fit.depth_holes import _RADII, fill_holes, hole_band_masks


def test_occlusion_hole_takes_the_far_side():
    # near box (1000 mm) in front of a far wall (2000 mm); the shadow strip beside its right
    # edge is unmeasured: it belongs to the wall, not to the box nor to a blend of the two
    d = np.full((40, 60), 2000.0, np.float32)
    d[10:30, 10:30] = 1000.0
    d[10:30, 30:36] = np.nan
    f = fill_holes(d)
    assert f.holes.sum() == 20 * 6
    np.testing.assert_array_equal(f.far.numpy()[10:30, 30:36], 2000.0)
    np.testing.assert_array_equal(f.near.numpy()[10:30, 30:36], 1000.0)
    valid = ~f.holes.numpy()
    np.testing.assert_array_equal(f.far.numpy()[valid], d[valid])
    assert f.fraction == pytest.approx(120 / 2400)


def test_far_fill_follows_a_slanted_far_surface_locally():
    # far surface slanted along x (1500..2500 mm): each row of a tall thin hole takes the rim
    # depth next to it (within the hole's own width), not the farthest value of the image
    x = np.linspace(1500.0, 2500.0, 80, dtype=np.float32)
    d = np.tile(x, (60, 1))
    d[:, :20] = 900.0  # near object on the left
    d[5:55, 20:24] = np.nan  # its shadow
    f = fill_holes(d).far.numpy()
    # window radius 2 * 2 + 1 = 5 px reaches x = 24..28 at most: the far rim's local depth
    assert f[5:55, 20:24].max() <= x[28] + 1e-3
    assert f[5:55, 20:24].min() >= x[24] - 1e-3


def test_no_holes_and_all_holes():
    d = np.full((8, 9), 700.0, np.float32)
    f = fill_holes(d)
    assert not f.holes.any() and torch.equal(f.far, torch.as_tensor(d))
    with pytest.raises(ValueError, match="no valid pixel"):
        fill_holes(np.full((4, 4), np.nan, np.float32))


def _brute_band(holes: np.ndarray, reach: np.ndarray) -> np.ndarray:
    h, w = holes.shape
    yy, xx = np.mgrid[0:h, 0:w]
    out = holes.copy()
    for qy, qx in zip(*np.nonzero(holes), strict=True):
        out |= (yy - qy) ** 2 + (xx - qx) ** 2 <= reach[qy, qx] ** 2
    return out


def _ladder_up(r: np.ndarray) -> np.ndarray:
    lad = np.asarray(_RADII)
    return lad[np.searchsorted(lad, np.ceil(r), side="left")]


def test_band_masks_match_a_brute_force_disc_union():
    rng = np.random.default_rng(4)
    holes = np.zeros((45, 57), bool)
    holes[rng.integers(0, 45, 6), rng.integers(0, 57, 6)] = True
    holes[20:24, 30:33] = True
    reach = rng.uniform(0.0, 14.0, (3, 45, 57)).astype(np.float32)
    reach[1] = 0.0  # a frame in focus everywhere: only the holes themselves
    got = hole_band_masks(torch.as_tensor(holes), torch.as_tensor(reach)).numpy()
    for i in range(3):
        lower = _brute_band(holes, reach[i])  # what was asked
        upper = _brute_band(holes, _ladder_up(reach[i]).astype(np.float64))  # rounded up
        assert np.all(got[i] >= lower), "band narrower than asked"
        assert np.all(got[i] <= upper), "band wider than the radius ladder allows"
    np.testing.assert_array_equal(got[1], holes)


def test_band_radius_ladder_beyond_its_table():
    holes = np.zeros((300, 300), bool)
    holes[150, 150] = True
    reach = np.full((1, 300, 300), 130.2, np.float32)
    got = hole_band_masks(torch.as_tensor(holes), torch.as_tensor(reach))[0].numpy()
    r_row = np.flatnonzero(got[150])
    half = (r_row[-1] - r_row[0]) / 2
    assert 131 <= half <= math.ceil(131 * 1.15)


def test_a_hole_is_filled_from_its_own_rim_only():
    # hole A lies inside the 500 mm surface; a seam hole 3 px away touches the 900 mm one:
    # A's window reaches the seam's rim, which must not leak into A (review finding)
    d = np.full((30, 40), 500.0, np.float32)
    d[:, 15:] = 900.0
    d[10:20, 8:12] = np.nan
    d[:, 14] = np.nan
    f = fill_holes(d)
    np.testing.assert_array_equal(f.far.numpy()[10:20, 8:12], 500.0)
    np.testing.assert_array_equal(f.far.numpy()[:, 14], 900.0)
    np.testing.assert_array_equal(f.near.numpy()[:, 14], 500.0)
