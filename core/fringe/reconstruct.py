"""Phase to depth: intersect each camera ray with the projector's plane of constant phase.

Everything that depends only on the calibration (undistorted camera rays and their
dot products with the projector's rotation rows) is computed once per ``Triangulator``,
so a scan costs a handful of multiply-adds per pixel. Depth is ``z`` in the camera frame
(the frame of the image the PSF fit uses), in the calibration's units (mm).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from psfbench.core.fringe.calibrate import ProcamCalibration

TWO_PI = 2.0 * np.pi


def phase_to_projector(
    absolute_phase: NDArray[np.floating], count: float, length: int
) -> NDArray[np.float32]:
    """Projector coordinate (pixels) of an absolute phase of a ``count``-period fringe."""
    return (np.asarray(absolute_phase, np.float32) * np.float32(length / (TWO_PI * count))).astype(
        np.float32
    )


def _distort(
    x: NDArray[np.float32], y: NDArray[np.float32], k: NDArray[np.float64]
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """OpenCV's radial-tangential model (k1, k2, p1, p2[, k3]) on normalised coordinates."""
    kk = np.zeros(5)
    kk[: min(5, k.size)] = k.ravel()[:5]
    k1, k2, p1, p2, k3 = (np.float32(v) for v in kk)
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return xd.astype(np.float32), yd.astype(np.float32)


@dataclass
class DepthResult:
    """``depth`` float32 (H, W) in mm, NaN where invalid; ``points`` (H, W, 3) camera frame."""

    depth: NDArray[np.float32]
    points: NDArray[np.float32]


class Triangulator:
    """Camera-ray / projector-plane intersection for one calibration and stripe axis.

    ``axis="x"``: the phase codes projector columns (vertical stripes), the usual choice
    for a horizontal baseline. The projector's lens distortion bends its planes of constant
    column; ``distortion_iterations`` fixed-point passes correct for it."""

    def __init__(
        self,
        calib: ProcamCalibration,
        axis: str = "x",
        *,
        distortion_iterations: int = 2,
    ) -> None:
        if axis not in ("x", "y"):
            raise ValueError(f"axis must be 'x' or 'y', got axis={axis!r}")
        self.calib = calib
        self.axis = axis
        w, h = calib.camera_size
        self.shape = (h, w)
        xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        pts = np.stack([xs.ravel(), ys.ravel()], 1).reshape(-1, 1, 2)
        crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 20, 1e-8)
        und = np.asarray(
            cv2.undistortPoints(
                pts, calib.camera_matrix, calib.camera_dist, R=None, P=None, criteria=crit
            )
        ).reshape(h, w, 2)
        self.rx = np.ascontiguousarray(und[..., 0], np.float32)
        self.ry = np.ascontiguousarray(und[..., 1], np.float32)
        R = calib.R
        i = 0 if axis == "x" else 1
        Kp = calib.projector_matrix
        self.f = float(Kp[i, i])
        self.c = float(Kp[i, 2])
        self.T = calib.T.astype(np.float64)
        self.Ti = float(self.T[i])
        self.T2 = float(self.T[2])
        # Per-pixel dot products of the ray with projector rotation rows i and 2.
        self.a_i = (self.f * (R[i, 0] * self.rx + R[i, 1] * self.ry + R[i, 2])).astype(np.float32)
        self.a_2 = (R[2, 0] * self.rx + R[2, 1] * self.ry + R[2, 2]).astype(np.float32)
        self.R = R
        self.has_distortion = bool(np.any(np.abs(calib.projector_dist) > 0))
        self.iterations = distortion_iterations if self.has_distortion else 0

    def _solve(
        self, u: NDArray[np.float32], a_i: NDArray[np.float32], a_2: NDArray[np.float32]
    ) -> NDArray[np.float32]:
        uc = np.subtract(u, np.float32(self.c), dtype=np.float32)
        num = uc * np.float32(self.T2)
        num -= np.float32(self.f * self.Ti)
        uc *= a_2
        den = np.subtract(a_i, uc, dtype=np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            num /= den
        return num

    def depth(
        self, projector_coord: NDArray[np.floating], valid: NDArray[np.bool_] | None = None
    ) -> DepthResult:
        """Depth from the projector coordinate (pixels along ``axis``) seen at each camera
        pixel; NaN where ``valid`` is False, behind the camera, or ray-parallel to the plane."""
        u = np.asarray(projector_coord, np.float32)
        if u.shape != self.shape:
            raise ValueError(f"projector coordinate map has shape {u.shape}, expected {self.shape}")
        # Full-frame arithmetic (no gather/scatter of the valid pixels): cheaper at 5 MP.
        z = self._solve(u, self.a_i, self.a_2)
        if self.iterations:
            Kp, dist, R, T = self.calib.projector_matrix, self.calib.projector_dist, self.R, self.T
            rx, ry = self.rx, self.ry
            for _ in range(self.iterations):
                X = z * rx
                Y = z * ry
                xp = (R[0, 0] * X + R[0, 1] * Y + R[0, 2] * z + T[0]).astype(np.float32)
                yp = (R[1, 0] * X + R[1, 1] * Y + R[1, 2] * z + T[1]).astype(np.float32)
                zp = (R[2, 0] * X + R[2, 1] * Y + R[2, 2] * z + T[2]).astype(np.float32)
                with np.errstate(divide="ignore", invalid="ignore"):
                    xn, yn = xp / zp, yp / zp
                xd, yd = _distort(xn, yn, dist)
                if self.axis == "x":
                    shift = np.float32(Kp[0, 0]) * (xd - xn)
                else:
                    shift = np.float32(Kp[1, 1]) * (yd - yn)
                z = self._solve(u - shift, self.a_i, self.a_2)
        bad = ~np.isfinite(z)
        with np.errstate(invalid="ignore"):
            bad |= z <= 0
        if valid is not None:
            bad |= ~np.asarray(valid, bool)
        z[bad] = np.nan
        pts = np.empty((*self.shape, 3), np.float32)
        np.multiply(z, self.rx, out=pts[..., 0])
        np.multiply(z, self.ry, out=pts[..., 1])
        pts[..., 2] = z
        return DepthResult(depth=z, points=pts)


def flying_pixels(depth: NDArray[np.float32], *, rel_jump: float = 0.01) -> NDArray[np.bool_]:
    """Pixels at depth edges: their blurred phase mixes two surfaces and lands between them
    (a "flying pixel"). Flags a pixel when the depth range over its valid 3x3 neighbourhood
    exceeds ``rel_jump`` of its depth (1 % = 5 mm at 500 mm) -- both sides of an edge, a
    one-pixel band, traded for the absence of points floating between surfaces."""
    fin = np.isfinite(depth)
    kernel = np.ones((3, 3), np.uint8)
    hi = cv2.dilate(np.where(fin, depth, -1e30).astype(np.float32), kernel)
    lo = cv2.erode(np.where(fin, depth, 1e30).astype(np.float32), kernel)
    # Neighbours that are all invalid hide an edge from the range test: also drop pixels with
    # fewer than 3 valid neighbours (isolated survivors of rejected edge bands).
    neighbours = cv2.filter2D(fin.astype(np.float32), -1, kernel.astype(np.float32)) - fin
    with np.errstate(invalid="ignore"):
        jump = (hi - lo) > rel_jump * np.abs(depth)
    return np.asarray(fin & (jump | (neighbours < 2.5)), bool)
