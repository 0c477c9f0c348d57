"""Synthetic scenes: reproducible, well-formed, the depth asked for, texture everywhere."""

from __future__ import annotations

import time

import numpy as np
import pytest

from psfbench.core.scenes import PAPER_MASKS_RGB255, SCENE_KINDS, Scene, make_scene, mask_palette

H, W = 96, 128


def _high_freq_energy(img: np.ndarray) -> float:
    """Mean squared 4-neighbour Laplacian of the luminance: zero for a flat image."""
    g = img.mean(axis=0).astype(np.float64)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float((lap**2).mean())


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_same_seed_gives_identical_scene(kind: str) -> None:
    a = make_scene(kind, H, W, seed=3)
    b = make_scene(kind, H, W, seed=3)
    assert np.array_equal(a.aif, b.aif)
    assert np.array_equal(a.depth_mm, b.depth_mm, equal_nan=True)
    assert a.params == b.params


@pytest.mark.parametrize("kind", [k for k in SCENE_KINDS if k != "slanted_edges"])
def test_different_seeds_differ(kind: str) -> None:
    a = make_scene(kind, H, W, seed=0)
    b = make_scene(kind, H, W, seed=1)
    assert not np.array_equal(a.aif, b.aif)


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_shapes_dtypes_ranges(kind: str) -> None:
    s = make_scene(kind, H, W)
    assert isinstance(s, Scene) and s.kind == kind
    assert s.aif.shape == (3, H, W) and s.aif.dtype == np.float32
    assert s.depth_mm.shape == (H, W) and s.depth_mm.dtype == np.float32
    assert s.aif.min() >= 0.0 and s.aif.max() <= 1.0
    assert np.isfinite(s.depth_mm).all() and (s.depth_mm > 0).all()
    assert not s.aif.flags.writeable and not s.depth_mm.flags.writeable
    assert s.params["seed"] == 0 and s.params["working_distance_mm"] == 500.0


@pytest.mark.parametrize("kind", ["tilted", "steps", "slanted_edges"])
def test_depth_spans_requested_range(kind: str) -> None:
    s = make_scene(kind, H, W, working_distance_mm=800.0, depth_range_mm=(700.0, 950.0))
    assert s.depth_mm.min() == pytest.approx(700.0, abs=1e-3)
    assert s.depth_mm.max() == pytest.approx(950.0, abs=1e-3)


def test_default_range_is_ten_percent_around_working_distance() -> None:
    s = make_scene("tilted", H, W, working_distance_mm=500.0)
    assert s.depth_mm.min() == pytest.approx(450.0, abs=1e-3)
    assert s.depth_mm.max() == pytest.approx(550.0, abs=1e-3)


def test_objects_lie_between_near_and_plate() -> None:
    s = make_scene("objects", 128, 160, depth_range_mm=(450.0, 550.0), n_objects=8, seed=5)
    d = s.depth_mm
    assert d.max() == pytest.approx(550.0)  # the plate shows somewhere
    assert d.min() >= 450.0 - 1e-3
    assert (d < 549.0).mean() > 0.05  # objects cover part of the view
    assert len(s.params["objects"]) == 8


def test_objects_are_occlusion_consistent() -> None:
    # Wherever two objects overlap, the depth is the nearer surface (z-buffer), so it never
    # exceeds the depth either object would have alone.
    from psfbench.core.scenes.geometry import SceneObject, compose_objects

    a = SceneObject("sphere", 40, 40, 20, 0, 0, 480.0)
    b = SceneObject("box", 55, 40, 15, 15, 0, 470.0)
    both, owner, _ = compose_objects(550.0, [a, b], 80, 100, 0.5)
    only_a, _, _ = compose_objects(550.0, [a], 80, 100, 0.5)
    only_b, _, _ = compose_objects(550.0, [b], 80, 100, 0.5)
    assert np.array_equal(both, np.minimum(only_a, only_b))
    assert (owner == 1).any() and (owner == 0).any()
    # The sphere's centre is in front of the box face only if nearer: 480 > 470, so the box wins
    # where it covers the centre.
    assert owner[40, 45] == 1 and both[40, 45] == 470.0


def test_tilted_plane_has_affine_inverse_depth() -> None:
    s = make_scene("tilted", 16, 64, depth_range_mm=(400.0, 600.0))
    inv = 1.0 / s.depth_mm[0].astype(np.float64)
    assert np.allclose(np.diff(inv, 2), 0.0, atol=1e-9)
    assert np.allclose(s.depth_mm, s.depth_mm[0][None, :])


def test_plane_depth_option() -> None:
    s = make_scene("planes", H, W, working_distance_mm=700.0)
    assert np.all(s.depth_mm == 700.0)
    s = make_scene("planes", H, W, plane_depth_mm=612.5)
    assert np.all(s.depth_mm == 612.5)


@pytest.mark.parametrize("kind", SCENE_KINDS)
def test_texture_present_everywhere(kind: str) -> None:
    # Every tile of the image must hold edges, or defocus there would be unmeasurable.
    s = make_scene(kind, 128, 128, seed=2)
    assert _high_freq_energy(s.aif) > 1e-3
    if kind in ("planes", "tilted", "steps"):
        tiles = [
            s.aif[:, i : i + 32, j : j + 32] for i in range(0, 128, 32) for j in range(0, 128, 32)
        ]
        assert min(_high_freq_energy(t) for t in tiles) > 1e-3


def test_planes_use_the_paper_palette() -> None:
    for mask in range(1, 6):
        s = make_scene("planes", 64, 64, mask=mask)
        pal = mask_palette(mask)
        px = s.aif.reshape(3, -1).T
        dist = np.abs(px[:, None, :] - pal[None]).max(axis=2).min(axis=1)
        assert dist.max() < 1e-6  # every pixel is one of the six colours
        used = {tuple(np.round(c * 255).astype(int)) for c in np.unique(px, axis=0)}
        assert len(used) >= 5
    assert PAPER_MASKS_RGB255[1][0] == (255, 255, 0)  # Table 2, mask 1, colour 1 = yellow


def test_holes_are_nan() -> None:
    s = make_scene("tilted", H, W, holes=3, seed=1)
    nan = np.isnan(s.depth_mm)
    assert 0 < nan.mean() < 0.5
    assert (s.depth_mm[~nan] > 0).all()


def test_bad_options_name_the_field() -> None:
    with pytest.raises(ValueError, match="frobnicate"):
        make_scene("planes", H, W, frobnicate=1)
    with pytest.raises(ValueError, match="depth_range_mm"):
        make_scene("tilted", H, W, depth_range_mm=(600.0, 500.0))
    with pytest.raises(ValueError, match="mask"):
        make_scene("planes", H, W, mask=7)
    with pytest.raises(ValueError, match="kind"):
        make_scene("teapot", H, W)


def test_full_size_scene_is_fast() -> None:
    make_scene("objects", 64, 64)  # warm imports
    t0 = time.perf_counter()
    for kind in SCENE_KINDS:
        make_scene(kind, 514, 613)
    per_scene = (time.perf_counter() - t0) / len(SCENE_KINDS)
    assert per_scene < 0.5, f"{per_scene:.3f} s per 613x514 scene"


def test_default_depth_range_gives_paper_scale_blur() -> None:
    # At F = 50 mm and the paper's A = 800, focusing at either end of the default range must
    # blur the other end by 10-25 px: enough defocus to fit, not more than a sweep shows.
    from psfbench.core.optics import sigma_map

    s = make_scene("tilted", 32, 64, working_distance_mm=500.0)
    near, far = s.params["depth_range_mm"]
    worst = max(
        float(sigma_map(s.depth_mm.astype(np.float64), df, 800.0, 50.0).max()) for df in (near, far)
    )
    assert 10.0 <= worst <= 25.0, worst
