"""Depth maps (mm from the lens, along the optical axis) for the synthetic scene kinds.

Depth is the ground truth the renderers and the fitter consume, so each builder defines it
exactly rather than estimating it: a tilted plane uses the perspective-correct rule that inverse
depth is affine in image coordinates, and objects are composed with a z-buffer so that the
nearest surface wins at every pixel (occlusion-consistent depth edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _unit_coordinate(height: int, width: int, direction_deg: float) -> np.ndarray:
    """Coordinate along ``direction_deg`` (0 = left to right, 90 = top to bottom), in [0, 1]."""
    theta = np.deg2rad(direction_deg)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    t = x * np.cos(theta) + y * np.sin(theta)
    span = t.max() - t.min()
    return (t - t.min()) / span if span > 0 else np.zeros_like(t)


def tilted_plane_depth(
    height: int, width: int, near_mm: float, far_mm: float, direction_deg: float
) -> np.ndarray:
    """A plane seen in perspective: 1/Z is affine in (x, y), from ``near_mm`` to ``far_mm``."""
    t = _unit_coordinate(height, width, direction_deg)
    return 1.0 / (1.0 / near_mm + t * (1.0 / far_mm - 1.0 / near_mm))


def steps_depth(
    height: int,
    width: int,
    near_mm: float,
    far_mm: float,
    n_steps: int,
    direction_deg: float,
    order: np.ndarray,
) -> np.ndarray:
    """``n_steps`` fronto-parallel bands at depths evenly spaced from near to far.

    ``order`` permutes the levels over the bands, so a scene can have depth edges that go both
    up and down (occluding and occluded sides both appear).
    """
    t = _unit_coordinate(height, width, direction_deg)
    band = np.minimum((t * n_steps).astype(np.int64), n_steps - 1)
    levels = np.linspace(near_mm, far_mm, n_steps)[order]
    return levels[band]


@dataclass(frozen=True)
class SceneObject:
    """One object on the plate; sizes in pixels, depths in mm (its nearest point)."""

    shape: str  # "sphere" | "box" | "cylinder"
    cx: float
    cy: float
    radius_px: float  # sphere/cylinder radius; half-side of a box
    half_length_px: float  # cylinder half-length; box half-height; unused for spheres
    angle_deg: float
    front_mm: float

    def as_dict(self) -> dict[str, float | str]:
        return {
            "shape": self.shape,
            "cx": self.cx,
            "cy": self.cy,
            "radius_px": self.radius_px,
            "half_length_px": self.half_length_px,
            "angle_deg": self.angle_deg,
            "front_mm": self.front_mm,
        }


#: Direction towards the light in camera coordinates (x right, y down, z towards the camera).
_LIGHT = np.array([-0.35, -0.45, 0.82]) / np.linalg.norm([-0.35, -0.45, 0.82])


def _object_patch(
    obj: SceneObject, height: int, width: int, mm_per_px: float
) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray, np.ndarray] | None:
    """(window, inside mask, depth, shading) of one object over its bounding box."""
    extent = max(obj.radius_px, obj.half_length_px) * 1.5 + 2
    y0, y1 = int(max(0, np.floor(obj.cy - extent))), int(min(height, np.ceil(obj.cy + extent)))
    x0, x1 = int(max(0, np.floor(obj.cx - extent))), int(min(width, np.ceil(obj.cx + extent)))
    if y0 >= y1 or x0 >= x1:
        return None
    y, x = np.mgrid[y0:y1, x0:x1].astype(np.float64)
    dx, dy = x - obj.cx, y - obj.cy
    a = np.deg2rad(obj.angle_deg)
    u = dx * np.cos(a) + dy * np.sin(a)  # along the object's axis
    v = -dx * np.sin(a) + dy * np.cos(a)  # across it
    R = obj.radius_px
    if obj.shape == "sphere":
        rho2 = dx * dx + dy * dy
        inside = rho2 < R * R
        h = np.sqrt(np.clip(R * R - rho2, 0.0, None))
        normal = np.stack([dx, dy, h]) / R
        depth = obj.front_mm + mm_per_px * (R - h)
    elif obj.shape == "cylinder":
        inside = (np.abs(v) < R) & (np.abs(u) < obj.half_length_px)
        h = np.sqrt(np.clip(R * R - v * v, 0.0, None))
        # The cylinder's normal lies in the plane across its axis.
        normal = np.stack([-v * np.sin(a), v * np.cos(a), h]) / R
        depth = obj.front_mm + mm_per_px * (R - h)
    elif obj.shape == "box":
        inside = (np.abs(u) < R) & (np.abs(v) < obj.half_length_px)
        normal = np.broadcast_to(np.array([0.0, 0.0, 1.0])[:, None, None], (3, *u.shape))
        depth = np.full_like(u, obj.front_mm)
    else:  # pragma: no cover - shapes come from a fixed list
        raise ValueError(f"unknown object shape {obj.shape!r}")
    shading = 0.35 + 0.65 * np.clip(np.tensordot(_LIGHT, normal, axes=1), 0.0, 1.0)
    return (slice(y0, y1), slice(x0, x1)), inside, depth, shading


def compose_objects(
    plate_mm: float,
    objects: list[SceneObject],
    height: int,
    width: int,
    mm_per_px: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer the objects over a fronto-parallel plate.

    Returns depth (H, W), the index of the visible object (-1 for the plate) and a Lambertian
    shading factor in [0.35, 1] that makes each object's outline visible in the image too.
    """
    depth = np.full((height, width), plate_mm, np.float64)
    owner = np.full((height, width), -1, np.int16)
    shade = np.ones((height, width), np.float64)
    for i, obj in enumerate(objects):
        patch = _object_patch(obj, height, width, mm_per_px)
        if patch is None:
            continue
        win, inside, d, s = patch
        closer = inside & (d < depth[win])
        depth[win][closer] = d[closer]
        owner[win][closer] = i
        shade[win][closer] = s[closer]
    return depth, owner, shade


def ellipse_mask(
    height: int, width: int, cx: float, cy: float, ax: float, ay: float, angle_deg: float
) -> np.ndarray:
    """Pixels inside an ellipse (used for depth holes, like structured-light shadows)."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    a = np.deg2rad(angle_deg)
    u = (x - cx) * np.cos(a) + (y - cy) * np.sin(a)
    v = -(x - cx) * np.sin(a) + (y - cy) * np.cos(a)
    return (u / ax) ** 2 + (v / ay) ** 2 < 1.0
