"""Projector-camera calibration from chessboard captures under Gray codes.

The camera is calibrated by Zhang's method (OpenCV). The projector is treated as an inverse
camera: for each chessboard corner seen by the camera, the Gray codes decoded in a small
window around it give camera-to-projector correspondences; a local homography fitted to
them (Moreno & Taubin 2012) carries the sub-pixel camera corner into projector pixels,
which is far more accurate than reading the code at one pixel (codes are integers and the
projector is defocused). Projector intrinsics then follow by Zhang's method, and a stereo
calibration refines both sets of intrinsics together with the camera->projector pose.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from core.fringe.graycode import decode_graycode
from core.fringe.patterns import GrayCodeLayout


class CalibrationError(ValueError):
    """Captures that cannot be calibrated; the message names the folder or view."""


@dataclass
class ViewResult:
    """Per-pose diagnostics (reprojection RMS in pixels of each device)."""

    name: str
    n_corners: int
    camera_rms: float
    projector_rms: float
    stereo_camera_rms: float = float("nan")
    stereo_projector_rms: float = float("nan")


@dataclass
class ProcamCalibration:
    """Camera + projector intrinsics and the camera->projector pose.

    ``R``, ``T`` map camera coordinates to projector coordinates: ``X_p = R @ X_c + T``,
    in the units of ``square_size`` (mm on this bench)."""

    camera_matrix: NDArray[np.float64]
    camera_dist: NDArray[np.float64]
    camera_size: tuple[int, int]
    projector_matrix: NDArray[np.float64]
    projector_dist: NDArray[np.float64]
    projector_size: tuple[int, int]
    R: NDArray[np.float64]
    T: NDArray[np.float64]
    rms: float
    camera_rms: float
    projector_rms: float
    views: list[ViewResult] = field(default_factory=list)
    square_size: float = 1.0
    units: str = "mm"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rms": self.rms,
            "camera_rms": self.camera_rms,
            "projector_rms": self.projector_rms,
            "units": self.units,
            "square_size": self.square_size,
            "camera": {
                "matrix": np.asarray(self.camera_matrix).tolist(),
                "dist": np.asarray(self.camera_dist).ravel().tolist(),
                "size": list(self.camera_size),
            },
            "projector": {
                "matrix": np.asarray(self.projector_matrix).tolist(),
                "dist": np.asarray(self.projector_dist).ravel().tolist(),
                "size": list(self.projector_size),
            },
            "R": np.asarray(self.R).tolist(),
            "T": np.asarray(self.T).ravel().tolist(),
            "views": [vars(v) for v in self.views],
        }

    def to_json(self, **kw: Any) -> str:
        return json.dumps(self.to_dict(), **kw)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "calibration") -> ProcamCalibration:
        try:
            cam, proj = d["camera"], d["projector"]
            return cls(
                camera_matrix=np.asarray(cam["matrix"], np.float64).reshape(3, 3),
                camera_dist=np.asarray(cam["dist"], np.float64).ravel(),
                camera_size=(int(cam["size"][0]), int(cam["size"][1])),
                projector_matrix=np.asarray(proj["matrix"], np.float64).reshape(3, 3),
                projector_dist=np.asarray(proj["dist"], np.float64).ravel(),
                projector_size=(int(proj["size"][0]), int(proj["size"][1])),
                R=np.asarray(d["R"], np.float64).reshape(3, 3),
                T=np.asarray(d["T"], np.float64).reshape(3),
                rms=float(d.get("rms", float("nan"))),
                camera_rms=float(d.get("camera_rms", float("nan"))),
                projector_rms=float(d.get("projector_rms", float("nan"))),
                views=[ViewResult(**v) for v in d.get("views", [])],
                square_size=float(d.get("square_size", 1.0)),
                units=str(d.get("units", "mm")),
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise CalibrationError(f"{source}: invalid procam calibration field: {exc!r}") from exc

    @classmethod
    def from_json(cls, text: str, source: str = "calibration") -> ProcamCalibration:
        return cls.from_dict(json.loads(text), source)


def chessboard_points(pattern: tuple[int, int], square: float) -> NDArray[np.float32]:
    """Board corners on z = 0, row-major in OpenCV's detection order."""
    cols, rows = pattern
    obj = np.zeros((rows * cols, 3), np.float32)
    obj[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * square
    return obj


def find_chessboard(
    image: NDArray[np.uint8], pattern: tuple[int, int]
) -> NDArray[np.float32] | None:
    """Sub-pixel chessboard corners ``(N, 2)`` or None when the board is not found."""
    ok, corners = cv2.findChessboardCorners(
        image, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE
    )
    if not ok:
        return None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 100, 1e-4)
    corners = cv2.cornerSubPix(image, corners, (5, 5), (-1, -1), crit)
    return np.asarray(corners, np.float32).reshape(-1, 2)


def projector_corners(
    col: NDArray[np.float32],
    row: NDArray[np.float32],
    valid: NDArray[np.bool_],
    cam_corners: NDArray[np.float32],
    half_window: int,
    *,
    min_points: int | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """Carry camera corners into projector pixels with local homographies.

    Returns ``(N, 2)`` projector points and a mask of corners that had enough decoded
    pixels (``min_points``, default a quarter of the window) for a homography."""
    h, w = valid.shape
    need = min_points if min_points is not None else max(8, (2 * half_window + 1) ** 2 // 4)
    out = np.full((len(cam_corners), 2), np.nan, np.float32)
    ok = np.zeros(len(cam_corners), bool)
    for i, (cx, cy) in enumerate(cam_corners):
        x0, y0 = int(round(cx)) - half_window, int(round(cy)) - half_window
        x1, y1 = x0 + 2 * half_window + 1, y0 + 2 * half_window + 1
        if x0 < 0 or y0 < 0 or x1 > w or y1 > h:
            continue
        v = valid[y0:y1, x0:x1]
        if int(v.sum()) < need:
            continue
        ys, xs = np.nonzero(v)
        src = np.stack([xs + x0, ys + y0], 1).astype(np.float64)
        dst = np.stack([col[y0:y1, x0:x1][v], row[y0:y1, x0:x1][v]], 1).astype(np.float64)
        # Robust first (a few mis-decoded bits at code boundaries), then least squares on
        # the inliers, which is what the sub-pixel accuracy comes from.
        H, inl = cv2.findHomography(src, dst, cv2.RANSAC, 2.0)
        if H is None:
            continue
        keep = inl.ravel().astype(bool)
        if int(keep.sum()) >= need:
            H2, _ = cv2.findHomography(src[keep], dst[keep], 0)
            if H2 is not None:
                H = H2
        p = H @ np.array([cx, cy, 1.0])
        out[i] = p[:2] / p[2]
        ok[i] = True
    return out, ok


@dataclass
class ViewCorners:
    name: str
    camera: NDArray[np.float32]
    projector: NDArray[np.float32]
    object: NDArray[np.float32]


def extract_view(
    name: str,
    images: NDArray[np.uint8],
    layout: GrayCodeLayout,
    pattern: tuple[int, int],
    square: float,
    *,
    black_thr: float = 40.0,
    white_thr: float = 5.0,
    half_window: int | None = None,
) -> ViewCorners:
    """Chessboard corners in the camera (white reference image) and in the projector."""
    if images.shape[0] != layout.n_patterns + 2:
        raise CalibrationError(
            f"{name}: expected {layout.n_patterns + 2} images (Gray codes + white + black for a "
            f"{layout.width}x{layout.height} projector, step {layout.step}), got {images.shape[0]}"
        )
    white = images[layout.n_patterns]
    cam = find_chessboard(white, pattern)
    if cam is None:
        raise CalibrationError(
            f"{name}: chessboard {pattern[0]}x{pattern[1]} not found in the white image"
        )
    hw = half_window if half_window is not None else int(np.ceil(images.shape[2] / 180))
    # Decode only the board's bounding box: the rest of the frame is not needed.
    pad = hw + 2
    x0 = max(0, int(np.floor(cam[:, 0].min())) - pad)
    y0 = max(0, int(np.floor(cam[:, 1].min())) - pad)
    x1 = min(images.shape[2], int(np.ceil(cam[:, 0].max())) + pad + 1)
    y1 = min(images.shape[1], int(np.ceil(cam[:, 1].max())) + pad + 1)
    dec = decode_graycode(images[:, y0:y1, x0:x1], layout, black_thr=black_thr, white_thr=white_thr)
    local = cam - np.array([x0, y0], np.float32)
    proj, ok = projector_corners(dec.col, dec.row, dec.valid, local, hw)
    obj = chessboard_points(pattern, square)
    if ok.sum() < 6:
        raise CalibrationError(
            f"{name}: only {int(ok.sum())} chessboard corners had decodable Gray codes "
            f"(black_thr={black_thr}, white_thr={white_thr})"
        )
    return ViewCorners(name, cam[ok], proj[ok], obj[ok])


def _view_rms(
    obj: NDArray[np.float32], img: NDArray[np.float32], K: Any, dist: Any, rvec: Any, tvec: Any
) -> float:
    proj, _ = cv2.projectPoints(obj, rvec, tvec, K, dist)
    d = proj.reshape(-1, 2) - img.reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum(d * d, axis=1))))


def calibrate_views(
    views: Sequence[ViewCorners],
    camera_size: tuple[int, int],
    projector_size: tuple[int, int],
    *,
    square: float,
    fix_intrinsics: bool = False,
) -> ProcamCalibration:
    """Zhang for each device, then a stereo refinement of everything (unless
    ``fix_intrinsics``), with per-view reprojection errors."""
    if len(views) < 3:
        raise CalibrationError(f"need at least 3 chessboard poses, got {len(views)}")
    obj = [v.object for v in views]
    cam = [v.camera.reshape(-1, 1, 2) for v in views]
    prj = [v.projector.reshape(-1, 1, 2) for v in views]
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 200, 1e-9)
    c_rms, Kc, dc, c_r, c_t = cv2.calibrateCamera(obj, cam, camera_size, None, None, criteria=crit)
    p_rms, Kp, dp, p_r, p_t = cv2.calibrateCamera(
        obj, prj, projector_size, None, None, criteria=crit
    )
    flags = cv2.CALIB_FIX_INTRINSIC if fix_intrinsics else cv2.CALIB_USE_INTRINSIC_GUESS
    # Copies: OpenCV refines the intrinsic guesses in place.
    s_rms, Kc2, dc2, Kp2, dp2, R, T, _E, _F, _r, _t, per_view = cv2.stereoCalibrateExtended(
        obj,
        cam,
        prj,
        Kc.copy(),
        dc.copy(),
        Kp.copy(),
        dp.copy(),
        camera_size,
        np.zeros((3, 3)),
        np.zeros((3, 1)),
        flags=flags,
        criteria=crit,
    )
    results = []
    for i, v in enumerate(views):
        results.append(
            ViewResult(
                name=v.name,
                n_corners=len(v.object),
                camera_rms=_view_rms(v.object, v.camera, Kc, dc, c_r[i], c_t[i]),
                projector_rms=_view_rms(v.object, v.projector, Kp, dp, p_r[i], p_t[i]),
                stereo_camera_rms=float(per_view[i][0]),
                stereo_projector_rms=float(per_view[i][1]),
            )
        )
    return ProcamCalibration(
        camera_matrix=np.asarray(Kc2, np.float64),
        camera_dist=np.asarray(dc2, np.float64).ravel(),
        camera_size=camera_size,
        projector_matrix=np.asarray(Kp2, np.float64),
        projector_dist=np.asarray(dp2, np.float64).ravel(),
        projector_size=projector_size,
        R=np.asarray(R, np.float64),
        T=np.asarray(T, np.float64).ravel(),
        rms=float(s_rms),
        camera_rms=float(c_rms),
        projector_rms=float(p_rms),
        views=results,
        square_size=square,
    )


_IMAGE_SUFFIXES = (".png", ".bmp", ".tif", ".tiff", ".jpg", ".jpeg")


def load_capture_folder(folder: Path) -> list[tuple[str, NDArray[np.uint8]]]:
    """``capture_*/`` sub-folders of grayscale images in name order (the layout of
    kamino410/procam-calibration)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"{folder}: not a folder")
    subs = sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith("capture_"))
    if not subs:
        raise CalibrationError(f"{folder}: no capture_* sub-folders")
    out = []
    for sub in subs:
        files = sorted(
            p
            for p in sub.iterdir()
            if p.suffix.lower() in (".png", ".bmp", ".tif", ".tiff", ".jpg")
        )
        if not files:
            raise CalibrationError(f"{sub}: no images")
        imgs: list[NDArray[np.uint8]] = []
        for f in files:
            im = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
            if im is None:
                raise CalibrationError(f"{f}: cannot read image")
            if imgs and im.shape != imgs[0].shape:
                raise CalibrationError(f"{f}: size {im.shape} differs from {imgs[0].shape}")
            imgs.append(np.asarray(im, np.uint8))
        out.append((sub.name, np.stack(imgs).astype(np.uint8)))
    return out


def calibrate_procam(
    folder: Path,
    *,
    projector_size: tuple[int, int] = (1024, 768),
    pattern: tuple[int, int] = (9, 7),
    square: float = 75.0,
    step: int = 1,
    black_thr: float = 40.0,
    white_thr: float = 5.0,
    half_window: int | None = None,
    fix_intrinsics: bool = False,
) -> ProcamCalibration:
    """Calibrate from a capture folder (see ``load_capture_folder``)."""
    layout = GrayCodeLayout(projector_size[0], projector_size[1], step)
    views = []
    cam_size: tuple[int, int] | None = None
    for name, stack in load_capture_folder(folder):
        size = (stack.shape[2], stack.shape[1])
        if cam_size is not None and size != cam_size:
            raise CalibrationError(f"{folder / name}: image size {size} differs from {cam_size}")
        cam_size = size
        views.append(
            extract_view(
                str(folder / name),
                stack,
                layout,
                pattern,
                square,
                black_thr=black_thr,
                white_thr=white_thr,
                half_window=half_window,
            )
        )
    assert cam_size is not None
    return calibrate_views(
        views, cam_size, projector_size, square=square, fix_intrinsics=fix_intrinsics
    )
