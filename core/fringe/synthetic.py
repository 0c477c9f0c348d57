"""A small ray-traced projector-camera simulator with exact depth, for checking the
pipeline end to end without hardware (tests, benchmark) and as a fallback when no virtual
bench is available.

Each camera pixel's ray hits the nearest surface (a plane, optionally tilted, and spheres in
front of it); the hit point is projected into the projector, the pattern is sampled there
(bilinear: a mildly blurred pixelated projector), shadowed points get ambient light only,
Lambert shading and a smooth albedo scale the result, then optical blur and Gaussian noise.
The camera has no lens distortion here; the projector may (the triangulator corrects it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from psfbench.core.fringe.calibrate import ProcamCalibration


def look_at_rotation(
    position: NDArray[np.float64], target: NDArray[np.float64]
) -> NDArray[np.float64]:
    """World->device rotation for a device at ``position`` looking at ``target`` (y down)."""
    z = target - position
    z = z / np.linalg.norm(z)
    x = np.cross(np.array([0.0, 1.0, 0.0]), z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def make_calibration(
    *,
    camera_size: tuple[int, int] = (320, 256),
    camera_f: float = 1900.0,
    projector_size: tuple[int, int] = (1024, 768),
    projector_f: float = 2000.0,
    baseline: float = 150.0,
    working_distance: float = 500.0,
    projector_dist: Sequence[float] = (0.0, 0.0, 0.0, 0.0, 0.0),
) -> ProcamCalibration:
    """Camera at the origin looking down +z; projector ``baseline`` mm to the right, aimed at
    the point on the optical axis at ``working_distance``."""
    cw, ch = camera_size
    pw, ph = projector_size
    Kc = np.array([[camera_f, 0, (cw - 1) / 2], [0, camera_f, (ch - 1) / 2], [0, 0, 1.0]])
    Kp = np.array([[projector_f, 0, (pw - 1) / 2], [0, projector_f, (ph - 1) / 2], [0, 0, 1.0]])
    centre = np.array([baseline, 0.0, 0.0])
    R = look_at_rotation(centre, np.array([0.0, 0.0, working_distance]))
    T = -R @ centre
    return ProcamCalibration(
        camera_matrix=Kc,
        camera_dist=np.zeros(5),
        camera_size=camera_size,
        projector_matrix=Kp,
        projector_dist=np.asarray(projector_dist, np.float64),
        projector_size=projector_size,
        R=R,
        T=T,
        rms=0.0,
        camera_rms=0.0,
        projector_rms=0.0,
    )


@dataclass
class Scene:
    """A plane ``n . X = d`` (camera frame, mm) with spheres (centre xyz, radius) in front."""

    plane_normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    plane_d: float = 500.0
    spheres: list[tuple[float, float, float, float]] = field(default_factory=list)

    @classmethod
    def plane(cls, distance: float = 500.0, tilt_deg: float = 0.0) -> Scene:
        t = np.deg2rad(tilt_deg)
        n = (float(np.sin(t)), 0.0, float(np.cos(t)))
        return cls(n, distance * n[2])

    @classmethod
    def objects(cls, distance: float = 500.0) -> Scene:
        return cls(
            (0.0, 0.0, 1.0),
            distance,
            [(-12.0, -6.0, distance - 25.0, 14.0), (14.0, 8.0, distance - 12.0, 9.0)],
        )


def _ray_spheres(
    origin: NDArray[np.float64], dirs: NDArray[np.float64], spheres: Sequence[tuple[float, ...]]
) -> NDArray[np.float64]:
    """Nearest positive ray parameter hitting any sphere (inf if none); ``dirs`` (..., 3)."""
    best = np.full(dirs.shape[:-1], np.inf)
    for cx, cy, cz, r in spheres:
        oc = origin - np.array([cx, cy, cz])
        a = np.sum(dirs * dirs, -1)
        b = 2 * np.sum(dirs * oc, -1)
        c = float(oc @ oc) - r * r
        disc = b * b - 4 * a * c
        hit = disc >= 0
        sq = np.sqrt(np.where(hit, disc, 0))
        t = (-b - sq) / (2 * a)
        t = np.where(hit & (t > 1e-9), t, np.inf)
        best = np.minimum(best, t)
    return best


@dataclass
class Rendered:
    images: NDArray[np.float32]
    depth: NDArray[np.float32]
    shadow: NDArray[np.bool_]


class ProcamSimulator:
    """Renders captures of ``scene`` under projector patterns for ``calib``'s geometry."""

    def __init__(
        self,
        calib: ProcamCalibration,
        scene: Scene,
        *,
        blur_sigma: float = 0.7,
        noise: float = 0.005,
        ambient: float = 0.05,
        gain: float = 0.8,
        albedo_variation: float = 0.3,
        seed: int = 0,
    ) -> None:
        self.calib = calib
        self.blur_sigma = blur_sigma
        self.noise = noise
        self.ambient = ambient
        self.gain = gain
        self.rng = np.random.default_rng(seed)
        w, h = calib.camera_size
        Kc = calib.camera_matrix
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        d = np.stack([(xs - Kc[0, 2]) / Kc[0, 0], (ys - Kc[1, 2]) / Kc[1, 1], np.ones_like(xs)], -1)
        n = np.asarray(scene.plane_normal, np.float64)
        t_plane = scene.plane_d / (d @ n)
        t_sph = _ray_spheres(np.zeros(3), d, scene.spheres)
        t = np.minimum(np.where(t_plane > 0, t_plane, np.inf), t_sph)
        X = d * t[..., None]
        self.depth = X[..., 2].astype(np.float32)
        # Normals: sphere or plane, for Lambert shading.
        normal = np.broadcast_to(n, X.shape).copy()
        for cx, cy, cz, r in scene.spheres:
            on = np.abs(np.linalg.norm(X - np.array([cx, cy, cz]), axis=-1) - r) < 1e-6 * r + 1e-6
            normal[on] = (X[on] - np.array([cx, cy, cz])) / r
        # Orient normals towards the camera: the visible side is the one that can be lit.
        normal = np.where(np.sum(normal * d, -1, keepdims=True) > 0, -normal, normal)
        centre = -calib.R.T @ calib.T
        to_proj = centre - X
        dist = np.linalg.norm(to_proj, axis=-1)
        to_proj_u = to_proj / dist[..., None]
        cos = np.abs(np.sum(normal * to_proj_u, -1))
        facing = np.sum(normal * to_proj_u, -1) > 0
        # Shadow: something between the projector and the point.
        t_block = _ray_spheres(centre, -to_proj, scene.spheres)
        self.shadow = (t_block < 1 - 1e-7) | ~facing
        Xp = X @ calib.R.T + calib.T
        pts, _ = cv2.projectPoints(
            Xp.reshape(-1, 1, 3),
            np.zeros(3),
            np.zeros(3),
            calib.projector_matrix,
            calib.projector_dist,
        )
        uv = pts.reshape(h, w, 2).astype(np.float32)
        self.map_u = np.ascontiguousarray(uv[..., 0])
        self.map_v = np.ascontiguousarray(uv[..., 1])
        yy, xx = np.mgrid[0:h, 0:w]
        albedo = 1.0 - albedo_variation * 0.5 * (
            1 + np.sin(2 * np.pi * xx / (w / 1.7)) * np.cos(2 * np.pi * yy / (h / 1.3))
        )
        self.albedo = albedo.astype(np.float32)
        self.lit = (cos * ~self.shadow).astype(np.float32)

    def render(self, patterns: NDArray[np.generic]) -> Rendered:
        """Captures ``(K, H, W)`` float32 in [0, 1] for patterns ``(K, Hp, Wp)`` (uint8 or
        [0, 1] floats)."""
        pats = np.asarray(patterns)
        scale = 1.0 / 255.0 if pats.dtype == np.uint8 else 1.0
        out = np.empty((len(pats), *self.depth.shape), np.float32)
        for k, p in enumerate(pats):
            proj = cv2.remap(
                p.astype(np.float32) * np.float32(scale),
                self.map_u,
                self.map_v,
                cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0.0,
            )
            img = self.albedo * (self.ambient + self.gain * self.lit * proj)
            if self.blur_sigma > 0:
                img = cv2.GaussianBlur(img, (0, 0), self.blur_sigma)
            img = img + self.rng.normal(0, self.noise, img.shape).astype(np.float32)
            out[k] = np.clip(img, 0, 1)
        return Rendered(out, self.depth, self.shadow)
