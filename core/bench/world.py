"""The virtual bench: one shared physical world behind the simulated devices.

The camera, focus controller, distance sensor and projector of the virtual bench are thin
device façades over this object, so they stay consistent the way real devices do: the image the
camera renders depends on where the controller left the lens and what the projector shows,
and the distance sensor reads the same lens position the renderer uses.

Everything the fit must *not* be told (``true_A``, ``true_e_mm``) lives here, in the settings.
Time is simulated (:class:`SimClock`) so tests can run the real timing model 100x faster.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from psfbench.core import optics
from psfbench.core.bench.motion import Trajectory, backlash
from psfbench.core.bench.settings import VirtualBenchSettings
from psfbench.core.devices.protocols import DeviceError, normalise_pattern

#: Rec. 709 luma weights: what a monochrome sensor integrates from an RGB scene.
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


class SimClock:
    """Simulated seconds; ``time_scale`` wall seconds elapse per simulated second."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self.time_scale = float(time_scale)
        self._t0 = time.monotonic()

    def now(self) -> float:
        return (time.monotonic() - self._t0) / self.time_scale

    def sleep(self, sim_s: float) -> None:
        if sim_s > 0:
            time.sleep(sim_s * self.time_scale)

    def sleep_until(self, t_sim: float) -> None:
        # time.sleep may wake a hair early; loop so "after t" really holds for timestamps.
        while (remaining := t_sim - self.now()) > 0:
            time.sleep(max(remaining * self.time_scale, 1e-5))

    def to_wall(self, sim_s: float) -> float:
        return sim_s * self.time_scale


@dataclass
class Faults:
    """Injected failures, for fault-handling tests of drivers and the acquisition engine."""

    sensor_error: bool = False
    controller_disconnected: bool = False
    camera_disconnected: bool = False
    camera_timeout: bool = False
    camera_failed_frames: int = 0  # next N exposures arrive as failed buffers


def camera_matrix(width: int, height: int, fov_deg: float) -> np.ndarray:
    """Pinhole intrinsics with a horizontal field of view and the principal point centred."""
    f = (width / 2.0) / math.tan(math.radians(fov_deg) / 2.0)
    return np.array([[f, 0.0, (width - 1) / 2.0], [0.0, f, (height - 1) / 2.0], [0.0, 0.0, 1.0]])


class BenchWorld:
    """Scene, lens, focus drive, distance sensor and projector of the virtual bench."""

    def __init__(self, settings: VirtualBenchSettings | None = None) -> None:
        self.settings = s = settings or VirtualBenchSettings()
        self.clock = SimClock(s.time_scale)
        self.faults = Faults()
        self.lock = threading.RLock()
        self.board_pose = 0
        self.scene = self._make_scene()
        self._rng = np.random.default_rng([s.seed, 0x5E45])
        # motor (absolute physical steps from the home switch) and the lens ring it drives
        self.trajectory = Trajectory(self.clock.now(), float(s.power_on_position_steps))
        self._lens_steps = float(s.power_on_position_steps)
        self.trigger_count = 0
        self._trigger_listeners: list[Callable[[int, float], None]] = []
        self.aperture_scale = 1.0
        # projector
        self.pattern: np.ndarray | None = None
        self.pattern_version = 0
        self._proj_maps: tuple[np.ndarray, np.ndarray] | None = None
        self._render_cache: dict[tuple[Any, ...], np.ndarray] = {}

    def _make_scene(self) -> Any:
        from psfbench.core.scenes import make_scene

        s = self.settings
        options: dict[str, Any] = {}
        if s.scene == "chessboard":
            options = {
                "corners": s.board_corners,
                "square_mm": s.board_square_mm,
                "pose": self.board_pose,
                "fov_deg": s.camera_fov_deg,
            }
        return make_scene(
            s.scene,
            s.height,
            s.width,
            working_distance_mm=s.working_distance_mm,
            seed=s.seed,
            **options,
        )

    def set_board_pose(self, pose: int) -> None:
        """Move the ``chessboard`` scene's board to seeded pose ``pose`` (what a technician
        does by hand between calibration captures). Frames exposed from now on see the new
        pose. DeviceError for any other scene."""
        if self.settings.scene != "chessboard":
            raise DeviceError(
                f"virtual bench: the board pose can only change in the 'chessboard' scene, "
                f"not {self.settings.scene!r}"
            )
        if pose < 0:
            raise DeviceError(f"virtual bench: board pose must be >= 0, got {pose}")
        with self.lock:
            self.board_pose = int(pose)
            self.scene = self._make_scene()
            self._proj_maps = None
            self._render_cache.clear()
            self.pattern_version += 1  # renders are cached by pattern version: start afresh

    # ---------------------------------------------------------------- geometry (ground truth)

    @property
    def width(self) -> int:
        return self.settings.width

    @property
    def height(self) -> int:
        return self.settings.height

    def camera_matrix(self) -> np.ndarray:
        s = self.settings
        return camera_matrix(s.width, s.height, s.camera_fov_deg)

    def projector_matrix(self) -> np.ndarray:
        s = self.settings
        return camera_matrix(s.projector_width, s.projector_height, s.projector_fov_deg)

    def projector_pose(self) -> tuple[np.ndarray, np.ndarray]:
        """(R, t) mapping camera coordinates to projector coordinates: X_p = R X_c + t.

        The projector sits ``projector_baseline_mm`` to the camera's right and is turned
        towards the scene centre at the working distance, as on a real fringe bench.
        """
        s = self.settings
        yaw = math.atan2(s.projector_baseline_mm, s.working_distance_mm)
        c, si = math.cos(yaw), math.sin(yaw)
        # rotation about the y axis turning the projector's axis towards -x (the scene)
        R = np.array([[c, 0.0, si], [0.0, 1.0, 0.0], [-si, 0.0, c]])
        centre = np.array([s.projector_baseline_mm, 0.0, 0.0])
        return R, -R @ centre

    def scene_points(self) -> np.ndarray:
        """(H, W, 3) camera-frame 3-D points (mm) of every pixel (NaN where depth is NaN)."""
        K = self.camera_matrix()
        h, w = self.height, self.width
        u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
        z = np.asarray(self.scene.depth_mm, dtype=np.float64)
        x = (u - K[0, 2]) / K[0, 0] * z
        y = (v - K[1, 2]) / K[1, 1] * z
        return np.stack([x, y, z], axis=-1)

    def projector_maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Projector pixel (map_x, map_y) that lights each camera pixel (for cv2.remap)."""
        if self._proj_maps is None:
            R, t = self.projector_pose()
            Kp = self.projector_matrix()
            P = self.scene_points() @ R.T + t
            with np.errstate(invalid="ignore", divide="ignore"):
                mx = Kp[0, 0] * P[..., 0] / P[..., 2] + Kp[0, 2]
                my = Kp[1, 1] * P[..., 1] / P[..., 2] + Kp[1, 2]
            bad = ~np.isfinite(mx) | ~np.isfinite(my) | (P[..., 2] <= 0)
            mx[bad] = -1e6
            my[bad] = -1e6
            self._proj_maps = (mx.astype(np.float32), my.astype(np.float32))
        return self._proj_maps

    def illuminate(self, pattern: np.ndarray | None = None) -> np.ndarray:
        """Scene radiance (3, H, W) lit by ambient light plus ``pattern`` on the projector.

        ``pattern`` is projector-sized (H_p, W_p) or (H_p, W_p, 3), uint8 or float in [0, 1];
        None means the projector is dark. Each camera pixel's 3-D point is projected into
        the projector (a pinhole model, no occlusion or projector defocus).
        """
        import cv2

        s = self.settings
        aif = np.asarray(self.scene.aif, dtype=np.float32)
        light = np.full(aif.shape, s.ambient, dtype=np.float32)
        if pattern is None:
            return aif * light
        pat = normalise_pattern(pattern, s.projector_width, s.projector_height)
        if s.projector_gamma != 1.0:
            pat = np.power(pat, np.float32(s.projector_gamma), dtype=np.float32)
        mx, my = self.projector_maps()
        lit = cv2.remap(pat, mx, my, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        lit = lit[None] if lit.ndim == 2 else np.moveaxis(lit, -1, 0)
        lit = np.float32(s.projector_gain) * lit
        out = aif * (light + lit)
        mask = self.shiny_mask()
        if mask is not None:
            out += np.float32(s.shiny_gain) * lit * mask[None]
        return out

    def shiny_mask(self) -> np.ndarray | None:
        """(H, W) float32 1 inside ``settings.shiny_patch``, else 0; None without a patch."""
        patch = self.settings.shiny_patch
        if patch is None:
            return None
        h, w = self.height, self.width
        x0, y0, x1, y1 = patch
        m = np.zeros((h, w), np.float32)
        m[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)] = 1.0
        return m

    # ---------------------------------------------------------------- focus drive and lens

    def set_trajectory(self, traj: Trajectory) -> None:
        with self.lock:
            self.lens_steps(traj.t0)
            self.trajectory = traj

    def motor_steps(self, t: float | None = None) -> float:
        return self.trajectory.position(self.clock.now() if t is None else t)

    def lens_steps(self, t: float | None = None) -> float:
        """Where the focus ring really is (motor position through the backlash play)."""
        with self.lock:
            m = self.motor_steps(t)
            self._lens_steps = backlash(self._lens_steps, m, self.settings.backlash_steps)
            return self._lens_steps

    def true_d_mm(self, t: float | None = None) -> float:
        s = self.settings
        return s.d_home_mm + self.lens_steps(t) / s.steps_per_mm

    def focus_depth_mm(self, t: float | None = None) -> float:
        s = self.settings
        return float(optics.focus_depth(self.true_d_mm(t), s.true_e_mm, s.F_mm))

    def steps_for_focus_depth(self, Df_mm: float) -> int:
        """Motor position (physical steps from home) that focuses at ``Df_mm``: a bench aid."""
        s = self.settings
        d = float(optics.sensor_distance(Df_mm, s.F_mm)) - s.true_e_mm
        return round((d - s.d_home_mm) * s.steps_per_mm)

    def suggested_sweep_steps(self, margin: float = 0.15) -> tuple[int, int]:
        """Motor range whose focus depths span the scene's depths plus a margin."""
        depth = np.asarray(self.scene.depth_mm, dtype=np.float64)
        lo, hi = float(np.nanmin(depth)), float(np.nanmax(depth))
        span = max(hi - lo, 0.1 * lo)
        a = self.steps_for_focus_depth(hi + margin * span)
        b = self.steps_for_focus_depth(max(lo - margin * span, self.settings.F_mm * 1.5))
        lo_s, hi_s = sorted((a, b))
        return max(lo_s, 0), min(hi_s, self.settings.travel_steps)

    def read_sensor_mm(self) -> float:
        if self.faults.sensor_error:
            raise DeviceError("distance sensor: no echo (sensor_error)")
        with self.lock:
            noise = float(self._rng.normal(0.0, self.settings.sensor_noise_mm))
        return self.true_d_mm() + noise

    def set_aperture_scale(self, scale: float) -> None:
        """Stop the virtual lens down (0 = pinhole: the all-in-focus shot); 1 = working f/#."""
        if not 0.0 <= scale <= 1.0:
            raise DeviceError(f"aperture scale must lie in [0, 1], got {scale}")
        with self.lock:
            self.aperture_scale = float(scale)

    # ---------------------------------------------------------------- projector and triggers

    def set_pattern(self, pattern: np.ndarray | None) -> None:
        with self.lock:
            self.pattern = None if pattern is None else np.array(pattern, copy=True)
            self.pattern_version += 1

    def subscribe_trigger(self, callback: Callable[[int, float], None]) -> None:
        with self.lock:
            self._trigger_listeners.append(callback)

    def unsubscribe_trigger(self, callback: Callable[[int, float], None]) -> None:
        with self.lock:
            if callback in self._trigger_listeners:
                self._trigger_listeners.remove(callback)

    def fire_trigger(self) -> tuple[int, float]:
        """Pulse the camera trigger line; every camera waiting on hardware trigger exposes."""
        with self.lock:
            self.trigger_count += 1
            count, t = self.trigger_count, self.clock.now()
            listeners = list(self._trigger_listeners)
        for cb in listeners:
            cb(count, t)
        return count, t

    # ---------------------------------------------------------------- optics

    def state_at(self, t: float | None = None) -> dict[str, Any]:
        """Everything the optical image depends on, captured at one instant (an exposure)."""
        t = self.clock.now() if t is None else t
        with self.lock:
            return {
                "t": t,
                "lens_steps": self.lens_steps(t),
                "motor_steps": self.motor_steps(t),
                "pattern": self.pattern,
                "pattern_version": self.pattern_version,
                "aperture_scale": self.aperture_scale,
            }

    def optical_image(self, state: dict[str, Any] | None = None) -> np.ndarray:
        """Noise-free irradiance (3, H, W) on the sensor for a captured world state."""
        state = self.state_at() if state is None else state
        key = (
            round(float(state["lens_steps"]), 3),
            state["pattern_version"],
            state["aperture_scale"],
        )
        cached = self._render_cache.get(key)
        if cached is not None:
            return cached
        img = self._render(state)
        img.setflags(write=False)
        if len(self._render_cache) > 32:
            self._render_cache.clear()
        self._render_cache[key] = img
        return img

    def _render(self, state: dict[str, Any]) -> np.ndarray:
        from psfbench.core.bench.psf import disc_blur, scale_about_centre

        s = self.settings
        d = s.d_home_mm + float(state["lens_steps"]) / s.steps_per_mm
        Df = float(optics.focus_depth(d, s.true_e_mm, s.F_mm))
        radiance = self.illuminate(state["pattern"])
        depth = np.asarray(self.scene.depth_mm, dtype=np.float32)
        A = s.true_A * float(state["aperture_scale"])
        out = np.empty_like(radiance)
        factors = s.chromatic_A
        field = self._field_factor() if any(s.field_A) else None
        # a tilted sensor: one focus depth per pixel (psfmodels' "tilt")
        Df_px: Any = Df
        if any(s.sensor_tilt_mm):
            Df_px = np.asarray(
                optics.focus_depth(d + self._tilt_map(), s.true_e_mm, s.F_mm), dtype=np.float32
            )
        per_pixel = field is not None or any(s.sensor_tilt_mm)
        same = len(set(factors)) == 1
        groups = (
            [(slice(0, 3), factors[0])]
            if same
            else [(slice(c, c + 1), factors[c]) for c in range(3)]
        )
        for sl, f in groups:
            a_c = A * f
            if a_c == 0.0:
                out[sl] = radiance[sl]
            elif s.psf_shape == "disc":
                sigma = np.asarray(optics.sigma_map(depth, Df_px, a_c, s.F_mm), dtype=np.float32)
                if field is not None:
                    sigma = sigma * field
                out[sl] = disc_blur(radiance[sl], sigma, radius_per_sigma=s.disc_radius_per_sigma)
            elif per_pixel:
                from psfbench.core.render import blur_layered

                sigma = np.asarray(optics.sigma_map(depth, Df_px, a_c, s.F_mm), dtype=np.float32)
                if field is not None:
                    sigma = sigma * field
                res = blur_layered(radiance[sl], sigma, device=s.render_device)
                out[sl] = _to_numpy(res).reshape(out[sl].shape)
            else:
                res = _renderer()(
                    radiance[sl],
                    depth,
                    Df,
                    a_c,
                    s.F_mm,
                    method=s.render_method,
                    device=s.render_device,
                )
                out[sl] = _to_numpy(res).reshape(out[sl].shape)
        if s.focus_breathing > 0.0:
            v = d + s.true_e_mm
            v_ref = float(optics.sensor_distance(s.working_distance_mm, s.F_mm))
            out = scale_about_centre(out, 1.0 + s.focus_breathing * (v - v_ref) / v_ref)
        if s.vignetting > 0.0:
            out = out * self._vignette()
        return np.ascontiguousarray(out, dtype=np.float32)

    def _field_factor(self) -> np.ndarray:
        """(H, W) factor on A of the field-varying blur (settings.field_A), clipped at 0."""
        cx, cy, cr = self.settings.field_A
        y = np.linspace(-1.0, 1.0, self.height, dtype=np.float32)[:, None]
        x = np.linspace(-1.0, 1.0, self.width, dtype=np.float32)[None, :]
        return np.maximum(1.0 + cx * x + cy * y + cr * (x * x + y * y) / 2.0, 0.0).astype(
            np.float32
        )

    def _tilt_map(self) -> np.ndarray:
        """(H, W) change of the lens-sensor distance (mm) of a tilted sensor
        (settings.sensor_tilt_mm): t_x x + t_y y, x and y in [-1, 1] across the frame."""
        tx, ty = self.settings.sensor_tilt_mm
        y = np.linspace(-1.0, 1.0, self.height, dtype=np.float64)[:, None]
        x = np.linspace(-1.0, 1.0, self.width, dtype=np.float64)[None, :]
        return tx * x + ty * y

    def _vignette(self) -> np.ndarray:
        h, w = self.height, self.width
        y, x = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((x - (w - 1) / 2) ** 2 + (y - (h - 1) / 2) ** 2) / (
            ((w - 1) / 2) ** 2 + ((h - 1) / 2) ** 2
        )
        return (1.0 - np.float32(self.settings.vignetting) * r2)[None]


def _renderer() -> Callable[..., Any]:
    """psfbench.core.render.render, looked up at call time (the renderer package loads torch
    lazily)."""
    import importlib

    fn: Callable[..., Any] = importlib.import_module("psfbench.core.render").render
    return fn


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach"):
        return np.asarray(x.detach().cpu().numpy(), dtype=np.float32)
    return np.asarray(x, dtype=np.float32)
