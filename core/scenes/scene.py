"""Synthetic scenes with exact depth: the test inputs now and the virtual bench's world later.

Every scene is a pure function of (kind, size, working distance, seed, options): the same call
gives bit-identical arrays, so a test, a benchmark and a virtual-bench session can each
regenerate the scene instead of storing it. The resolved options go into ``Scene.params`` so
a dataset written from a scene records how to rebuild it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from psfbench.core.scenes.geometry import (
    SceneObject,
    compose_objects,
    ellipse_mask,
    steps_depth,
    tilted_plane_depth,
)
from psfbench.core.scenes.palettes import mask_palette
from psfbench.core.scenes.texture import dead_leaves_rgb

SCENE_KINDS: tuple[str, ...] = (
    "planes",
    "tilted",
    "steps",
    "objects",
    "slanted_edges",
    "chessboard",
)


@dataclass(frozen=True, eq=False)
class Scene:
    """An all-in-focus image and its depth map, in the engine's units.

    ``aif`` is (3, H, W) float32 RGB in [0, 1]; ``depth_mm`` is (H, W) float32, the distance from
    the lens along the optical axis, NaN only in holes requested with the ``holes`` option.
    Both arrays are read-only so a scene shared between a test and a renderer cannot change.
    """

    aif: np.ndarray
    depth_mm: np.ndarray
    kind: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.depth_mm.shape[0]), int(self.depth_mm.shape[1])


_COMMON: dict[str, Any] = {
    "mask": 1,
    "depth_range_mm": None,
    "holes": 0,
    "texture_r_min_px": 1.5,
    "texture_r_max_px": None,
}
_PER_KIND: dict[str, dict[str, Any]] = {
    "planes": {"plane_depth_mm": None},
    "tilted": {"direction_deg": 0.0},
    "steps": {"n_steps": 4, "direction_deg": 0.0, "shuffle": True},
    "objects": {
        "n_objects": 6,
        "mm_per_px": None,
        "shapes": ("sphere", "box", "cylinder"),
    },
    "slanted_edges": {
        "angle_deg": 5.0,
        "n_squares": 4,
        "levels": (0.2, 0.8),
        "tilted": True,
        "direction_deg": 0.0,
    },
    "chessboard": {
        "corners": (9, 7),
        "square_mm": None,
        "pose": 0,
        "fov_deg": 30.0,
        "levels": (0.05, 0.45),
        "wall_level": 0.2,
    },
}


def _resolve(kind: str, working_distance_mm: float, options: dict[str, Any]) -> dict[str, Any]:
    allowed = {**_COMMON, **_PER_KIND[kind]}
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(
            f"make_scene({kind!r}): unknown option(s) {unknown}; known: {sorted(allowed)}"
        )
    p = {**allowed, **options}
    W = working_distance_mm
    if p["depth_range_mm"] is None:
        p["depth_range_mm"] = (0.9 * W, 1.1 * W)
    near, far = (float(v) for v in p["depth_range_mm"])
    if not (0 < near <= far):
        raise ValueError(
            f"make_scene({kind!r}): option 'depth_range_mm' must be 0 < near <= far, "
            f"got {p['depth_range_mm']!r}"
        )
    p["depth_range_mm"] = (near, far)
    if kind == "planes" and p["plane_depth_mm"] is None:
        p["plane_depth_mm"] = float(W)
    if kind == "objects" and p["mm_per_px"] is None:
        # About a 50 mm lens with 12.5 um effective pixels (the paper's 3.45 um sensor at ~1/3.6
        # scale): at 500 mm one pixel spans 0.125 mm, so a 60 px sphere is 7.5 mm deep.
        p["mm_per_px"] = W / 4000.0
    if int(p["holes"]) < 0:
        raise ValueError(f"make_scene({kind!r}): option 'holes' must be >= 0, got {p['holes']}")
    return p


def _texture(h: int, w: int, p: dict[str, Any], rng: np.random.Generator) -> np.ndarray:
    return dead_leaves_rgb(
        h,
        w,
        mask_palette(int(p["mask"])),
        rng,
        r_min=float(p["texture_r_min_px"]),
        r_max=None if p["texture_r_max_px"] is None else float(p["texture_r_max_px"]),
    )


def _planes(h: int, w: int, p: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    d = float(p["plane_depth_mm"])
    if d <= 0:
        raise ValueError(f"make_scene('planes'): option 'plane_depth_mm' must be > 0, got {d}")
    return _texture(h, w, p, rng), np.full((h, w), d)


def _tilted(h: int, w: int, p: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    near, far = p["depth_range_mm"]
    depth = tilted_plane_depth(h, w, near, far, float(p["direction_deg"]))
    return _texture(h, w, p, rng), depth


def _steps(h: int, w: int, p: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    n = int(p["n_steps"])
    if n < 1:
        raise ValueError(f"make_scene('steps'): option 'n_steps' must be >= 1, got {n}")
    aif = _texture(h, w, p, rng)
    order = rng.permutation(n) if p["shuffle"] else np.arange(n)
    near, far = p["depth_range_mm"]
    depth = steps_depth(h, w, near, far, n, float(p["direction_deg"]), order)
    p["order"] = [int(i) for i in order]
    return aif, depth


def _objects(h: int, w: int, p: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    near, far = p["depth_range_mm"]
    plate = _texture(h, w, p, rng)
    skin = _texture(h, w, p, rng)
    shapes = tuple(p["shapes"])
    bad = [s for s in shapes if s not in ("sphere", "box", "cylinder")]
    if bad or not shapes:
        raise ValueError(f"make_scene('objects'): option 'shapes' has unknown entries {bad}")
    s = float(p["mm_per_px"])
    m = min(h, w)
    objs = []
    for _ in range(int(p["n_objects"])):
        r = float(rng.uniform(0.07, 0.16) * m)
        depth_extent = s * r
        front_hi = max(near, far - depth_extent)
        objs.append(
            SceneObject(
                shape=str(shapes[int(rng.integers(len(shapes)))]),
                cx=float(rng.uniform(0.1, 0.9) * w),
                cy=float(rng.uniform(0.1, 0.9) * h),
                radius_px=r,
                half_length_px=float(r * rng.uniform(0.6, 2.0)),
                angle_deg=float(rng.uniform(0.0, 180.0)),
                front_mm=float(rng.uniform(near, front_hi)),
            )
        )
    depth, owner, shade = compose_objects(far, objs, h, w, s)
    on_object = owner >= 0
    aif = np.where(on_object[None], skin * shade[None], plate).astype(np.float32)
    p["objects"] = [o.as_dict() for o in objs]
    return aif, depth


def _slanted_edges(h: int, w: int, p: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    dark, light = (float(v) for v in p["levels"])
    n = max(1, int(p["n_squares"]))
    img = np.full((h, w), light, np.float32)
    pitch = w / n
    side = 0.5 * pitch
    a = np.deg2rad(float(p["angle_deg"]))
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    corners = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * side / 2
    n_rows = max(1, int(round(h / pitch)))
    pitch_y = h / n_rows
    for i in range(n_rows):
        for j in range(n):
            c = np.array([(j + 0.5) * pitch, (i + 0.5) * pitch_y])
            pts = np.round((corners @ rot.T + c) * 16).astype(np.int32)
            cv2.fillPoly(img, [pts], dark, cv2.LINE_8, 4)
    aif = np.repeat(img[None], 3, axis=0)
    near, far = p["depth_range_mm"]
    if p["tilted"]:
        depth = tilted_plane_depth(h, w, near, far, float(p["direction_deg"]))
    else:
        depth = np.full((h, w), 0.5 * (near + far))
    return aif, depth


#: camera-frame rotation and board-centre ranges of the chessboard scene's seeded poses
_BOARD_TILT_DEG = 30.0
_BOARD_SPIN_DEG = 15.0


def _rotation(rx_deg: float, ry_deg: float, rz_deg: float) -> np.ndarray:
    """Rz @ Ry @ Rx (degrees)."""
    ax, ay, az = np.deg2rad([rx_deg, ry_deg, rz_deg])
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return np.asarray(rz @ ry @ rx, np.float64)


def _chessboard(h: int, w: int, p: dict[str, Any], rng: np.random.Generator) -> tuple[Any, Any]:
    """A flat calibration chessboard at a seeded 3-D pose in front of a grey wall.

    The camera is a pinhole with horizontal field of view ``fov_deg`` and the principal point
    at the image centre (the virtual bench's camera). ``corners`` are the inner corners
    (cols, rows) as OpenCV counts them; the board has one more square each way plus a white
    margin of one square. ``pose`` picks one of the seeded poses (tilts up to 30 degrees, a
    spin up to 15 degrees, the whole board and its margin inside the frame). Edges are
    anti-aliased (3x3 samples per pixel), so detected corners are sub-pixel accurate.
    """
    cols, rows = (int(v) for v in p["corners"])
    if cols < 2 or rows < 2:
        raise ValueError(
            f"make_scene('chessboard'): option 'corners' must be >= 2x2, got {p['corners']}"
        )
    fov = float(p["fov_deg"])
    if not 1.0 < fov < 170.0:
        raise ValueError(
            f"make_scene('chessboard'): option 'fov_deg' must lie in (1, 170), got {fov}"
        )
    pose = int(p["pose"])
    if pose < 0:
        raise ValueError(f"make_scene('chessboard'): option 'pose' must be >= 0, got {pose}")
    dark, light = (float(v) for v in p["levels"])
    wall = float(p["wall_level"])
    wd = float(p["working_distance_mm"])
    f = (w / 2.0) / np.tan(np.deg2rad(fov) / 2.0)
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    nx, ny = cols + 1, rows + 1  # squares
    if p["square_mm"] is None:
        # the board with its margin spans about half the frame's width at the working distance
        p["square_mm"] = round(0.5 * (w / f) * wd / (nx + 2), 3)
    sq = float(p["square_mm"])
    if sq <= 0:
        raise ValueError(f"make_scene('chessboard'): option 'square_mm' must be > 0, got {sq}")
    half_u, half_v = (nx / 2.0 + 1.0) * sq, (ny / 2.0 + 1.0) * sq  # board + margin
    outline = np.array(
        [[-half_u, -half_v, 0], [half_u, -half_v, 0], [half_u, half_v, 0], [-half_u, half_v, 0]]
    )
    prng = np.random.default_rng([int(p["seed"]), 0xB0A2D, pose])
    R = np.eye(3)
    centre = np.array([0.0, 0.0, wd])
    for _ in range(200):
        R = _rotation(
            prng.uniform(-_BOARD_TILT_DEG, _BOARD_TILT_DEG),
            prng.uniform(-_BOARD_TILT_DEG, _BOARD_TILT_DEG),
            prng.uniform(-_BOARD_SPIN_DEG, _BOARD_SPIN_DEG),
        )
        z = wd * prng.uniform(0.92, 1.08)
        centre = np.array(
            [prng.uniform(-0.2, 0.2) * w / f * z, prng.uniform(-0.2, 0.2) * h / f * z, z]
        )
        P = outline @ R.T + centre
        u = f * P[:, 0] / P[:, 2] + cx
        v = f * P[:, 1] / P[:, 2] + cy
        if u.min() > 0.03 * w and u.max() < 0.97 * w and v.min() > 0.03 * h and v.max() < 0.97 * h:
            break
    else:  # pragma: no cover - only for absurd sizes; the frontal pose then
        R = np.eye(3)
        centre = np.array([0.0, 0.0, wd])
    ex, ey, n = R[:, 0], R[:, 1], R[:, 2]
    wall_z = 1.5 * wd

    def trace(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rx_, ry_ = (xs - cx) / f, (ys - cy) / f
        denom = n[0] * rx_ + n[1] * ry_ + n[2]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = float(n @ centre) / denom
        X, Y, Z = s * rx_, s * ry_, s
        du, dv, dz = X - centre[0], Y - centre[1], Z - centre[2]
        bu = du * ex[0] + dv * ex[1] + dz * ex[2]
        bv = du * ey[0] + dv * ey[1] + dz * ey[2]
        on = (s > 0) & (np.abs(bu) <= half_u) & (np.abs(bv) <= half_v) & (s < wall_z)
        i = np.floor(bu / sq + nx / 2.0)
        j = np.floor(bv / sq + ny / 2.0)
        in_squares = (i >= 0) & (i < nx) & (j >= 0) & (j < ny)
        black = in_squares & ((i + j) % 2 == 0)
        val = np.where(on, np.where(black, dark, light), wall)
        depth = np.where(on, s, wall_z)
        return val, depth

    ss = 3
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    acc = np.zeros((h, w))
    for a in range(ss):
        for b in range(ss):
            val, _ = trace(xx + (b + 0.5) / ss - 0.5, yy + (a + 0.5) / ss - 0.5)
            acc += val
    img = (acc / (ss * ss)).astype(np.float32)
    _, depth = trace(xx, yy)
    p["board_R"] = R.tolist()
    p["board_centre_mm"] = centre.tolist()
    p["corners"] = [cols, rows]
    return np.repeat(img[None], 3, axis=0), depth


_BUILDERS: dict[str, Callable[..., tuple[Any, Any]]] = {
    "planes": _planes,
    "tilted": _tilted,
    "steps": _steps,
    "objects": _objects,
    "slanted_edges": _slanted_edges,
    "chessboard": _chessboard,
}


def make_scene(
    kind: str,
    height: int,
    width: int,
    *,
    working_distance_mm: float = 500.0,
    seed: int = 0,
    **options: Any,
) -> Scene:
    """Build a seeded synthetic scene.

    Depths span ``depth_range_mm`` (default 0.9..1.1 x the working distance), which at the
    paper's F = 50 mm and A ~ 800 gives blur sigmas of 10-25 px across a focus sweep.

    Options (all kinds): ``mask`` 1..5 (paper Table 2 palette, plus white), ``depth_range_mm``
    (near, far), ``holes`` (number of NaN-depth ellipses, like structured-light shadows),
    ``texture_r_min_px`` / ``texture_r_max_px`` (dead-leaves disk radii).
    Per kind: planes ``plane_depth_mm`` (default the working distance); tilted
    ``direction_deg`` (0: near on the left, far on the right; 90: near at the top); steps
    ``n_steps``, ``direction_deg``, ``shuffle`` (seeded order of the levels); objects
    ``n_objects``, ``mm_per_px`` (lateral scale that turns pixel radii into depth relief),
    ``shapes``; slanted_edges ``angle_deg``, ``n_squares``, ``levels`` (dark, light),
    ``tilted``, ``direction_deg``; chessboard ``corners`` (inner, cols x rows), ``square_mm``
    (default: board and margin span half the frame), ``pose`` (index of a seeded pose),
    ``fov_deg`` (the camera's horizontal field of view), ``levels`` (dark, light squares),
    ``wall_level``; its params record the board pose (``board_R``, ``board_centre_mm``: board
    axes and centre in camera coordinates, mm).
    """
    if kind not in SCENE_KINDS:
        raise ValueError(f"unknown scene kind {kind!r}; choose one of {SCENE_KINDS}")
    if int(height) < 8 or int(width) < 8:
        raise ValueError(f"scene size must be at least 8x8 pixels, got {height}x{width}")
    if not working_distance_mm > 0:
        raise ValueError(f"working_distance_mm must be > 0, got {working_distance_mm}")
    h, w = int(height), int(width)
    p = _resolve(kind, float(working_distance_mm), options)
    if kind == "chessboard":
        p["working_distance_mm"], p["seed"] = float(working_distance_mm), int(seed)
    rng = np.random.default_rng([int(seed), SCENE_KINDS.index(kind)])
    aif, depth = _BUILDERS[kind](h, w, p, rng)
    depth = np.asarray(depth, np.float64)
    for _ in range(int(p["holes"])):
        m = min(h, w)
        hole = ellipse_mask(
            h,
            w,
            float(rng.uniform(0, w)),
            float(rng.uniform(0, h)),
            float(rng.uniform(0.02, 0.08) * m),
            float(rng.uniform(0.02, 0.08) * m),
            float(rng.uniform(0, 180)),
        )
        depth[hole] = np.nan
    aif = np.ascontiguousarray(np.clip(aif, 0.0, 1.0), dtype=np.float32)
    depth32 = np.ascontiguousarray(depth, dtype=np.float32)
    aif.setflags(write=False)
    depth32.setflags(write=False)
    params = {
        **{k: (list(v) if isinstance(v, tuple) else v) for k, v in p.items()},
        "working_distance_mm": float(working_distance_mm),
        "seed": int(seed),
        "height": h,
        "width": w,
    }
    return Scene(aif=aif, depth_mm=depth32, kind=kind, params=params)
