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
import math
import os
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from psfbench.core import imageio
from psfbench.core.fringe.graycode import decode_graycode
from psfbench.core.fringe.patterns import GrayCodeLayout


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
    #: plain-language notes from calibrating (poses skipped) and from ``check_calibration``
    warnings: list[str] = field(default_factory=list)
    #: the lens-distortion model fitted (a name of ``DISTORTION_MODELS``; "" when unknown)
    distortion_model: str = ""

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
            "warnings": list(self.warnings),
            "distortion_model": self.distortion_model,
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
                warnings=[str(w) for w in d.get("warnings", [])],
                distortion_model=str(d.get("distortion_model", "")),
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
    # A local homography fitted to too few distinct codes can throw a corner far outside the
    # projector; such a correspondence is certainly wrong, so it is not used.
    margin = layout.step / 2.0 + 0.5
    with np.errstate(invalid="ignore"):
        inside = (
            (proj[:, 0] >= -margin)
            & (proj[:, 0] <= layout.width - 1 + margin)
            & (proj[:, 1] >= -margin)
            & (proj[:, 1] <= layout.height - 1 + margin)
        )
    outside = int((ok & ~inside).sum())
    ok &= inside
    obj = chessboard_points(pattern, square)
    if ok.sum() < 6:
        extra = f"; {outside} more mapped outside the projector" if outside else ""
        raise CalibrationError(
            f"{name}: only {int(ok.sum())} chessboard corners had decodable Gray codes "
            f"(black_thr={black_thr}, white_thr={white_thr}{extra})"
        )
    return ViewCorners(name, cam[ok], proj[ok], obj[ok])


def _view_rms(
    obj: NDArray[np.float32], img: NDArray[np.float32], K: Any, dist: Any, rvec: Any, tvec: Any
) -> float:
    proj, _ = cv2.projectPoints(obj, rvec, tvec, K, dist)
    d = proj.reshape(-1, 2) - img.reshape(-1, 2)
    return float(np.sqrt(np.mean(np.sum(d * d, axis=1))))


#: Lens-distortion models, simplest first: name -> (free coefficients per device, OpenCV flags).
#: OpenCV's coefficients are (k1, k2, p1, p2, k3); the fixed ones stay 0.
DISTORTION_MODELS: dict[str, tuple[int, int]] = {
    "none": (
        0,
        cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST,
    ),
    "k1": (1, cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST),
    "k1k2": (2, cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST),
    "k1k2p": (4, cv2.CALIB_FIX_K3),
    "full": (5, 0),
}
#: confidence at which a richer distortion model must beat a simpler one (F-test)
DISTORTION_TEST_LEVEL = 0.99


def calibrate_views(
    views: Sequence[ViewCorners],
    camera_size: tuple[int, int],
    projector_size: tuple[int, int],
    *,
    square: float,
    fix_intrinsics: bool = False,
    distortion: str = "auto",
) -> ProcamCalibration:
    """Zhang for each device, then a stereo refinement of everything (unless
    ``fix_intrinsics``), with per-view reprojection errors.

    ``distortion``: a name of :data:`DISTORTION_MODELS` (the same model for camera and
    projector), or ``"auto"``: the simplest model that the correspondences support. Starting
    from no distortion, a richer model is taken only when it lowers the stereo reprojection
    error by more than fitting noise would (F-test at :data:`DISTORTION_TEST_LEVEL`). Five
    free coefficients fitted to a few poses of a distortion-free lens fit the noise and
    extrapolate wildly outside the board (../shared/cases/10: k3 = 605, depths tens of mm
    off on a plane at the board's distance, at the same RMS as the exact model)."""
    if len(views) < 3:
        raise CalibrationError(f"need at least 3 chessboard poses, got {len(views)}")
    if distortion != "auto" and distortion not in DISTORTION_MODELS:
        raise CalibrationError(
            f"distortion model {distortion!r}: expected auto or one of "
            f"{', '.join(DISTORTION_MODELS)}"
        )

    fits: dict[str, ProcamCalibration] = {}

    def fit(name: str) -> ProcamCalibration:
        if name not in fits:
            fits[name] = _calibrate_model(
                views,
                camera_size,
                projector_size,
                square=square,
                fix_intrinsics=fix_intrinsics,
                model=name,
            )
        return fits[name]

    if distortion != "auto":
        return fit(distortion)
    names = list(DISTORTION_MODELS)
    n_obs = 4 * sum(len(v.object) for v in views)  # x, y in the camera and the projector
    current = 0
    while True:
        better = next(
            (
                j
                for j in range(current + 1, len(names))
                if _richer_model_fits_better(
                    fit(names[current]), fit(names[j]), names[current], names[j], n_obs, views
                )
            ),
            None,
        )
        if better is None:
            return fit(names[current])
        current = better


def _richer_model_fits_better(
    simple: ProcamCalibration,
    rich: ProcamCalibration,
    simple_name: str,
    rich_name: str,
    n_obs: int,
    views: Sequence[ViewCorners],
) -> bool:
    """F-test of nested least-squares fits: is the drop in squared reprojection error larger
    than the extra coefficients would take out of pure noise?"""
    from scipy.stats import f as f_dist

    extra = 2 * (DISTORTION_MODELS[rich_name][0] - DISTORTION_MODELS[simple_name][0])
    # intrinsics (fx, fy, cx, cy) and distortion of both devices, a pose per view, the stereo pose
    n_params = 2 * (4 + DISTORTION_MODELS[rich_name][0]) + 6 * len(views) + 6
    dof = n_obs - n_params
    rs, rc = simple.rms**2, rich.rms**2
    if not (np.isfinite(rs) and np.isfinite(rc)) or dof <= 0:
        return False
    if rc <= 0.0:
        return rs > 0.0
    stat = (rs / rc - 1.0) / extra * dof
    return bool(stat > f_dist.ppf(DISTORTION_TEST_LEVEL, extra, dof))


def _calibrate_model(
    views: Sequence[ViewCorners],
    camera_size: tuple[int, int],
    projector_size: tuple[int, int],
    *,
    square: float,
    fix_intrinsics: bool,
    model: str,
) -> ProcamCalibration:
    """One calibration with the distortion model ``model`` for both devices."""
    model_flags = DISTORTION_MODELS[model][1]
    obj = [v.object for v in views]
    cam = [v.camera.reshape(-1, 1, 2) for v in views]
    prj = [v.projector.reshape(-1, 1, 2) for v in views]
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 200, 1e-9)
    c_rms, Kc, dc, c_r, c_t = cv2.calibrateCamera(
        obj, cam, camera_size, None, None, flags=model_flags, criteria=crit
    )
    p_rms, Kp, dp, p_r, p_t = cv2.calibrateCamera(
        obj, prj, projector_size, None, None, flags=model_flags, criteria=crit
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
        flags=flags | model_flags,
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
        distortion_model=model,
    )


def capture_folders(folder: Path) -> list[Path]:
    """The ``capture_*/`` sub-folders of ``folder`` in natural order (``capture_2`` before
    ``capture_10``); CalibrationError if none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"{folder}: not a folder")
    try:
        subs = [p for p in folder.iterdir() if p.is_dir() and p.name.startswith("capture_")]
    except OSError as exc:
        raise CalibrationError(f"{folder}: cannot list the folder: {exc}") from exc
    if not subs:
        raise CalibrationError(f"{folder}: no capture_* sub-folders")
    return imageio.natural_sorted(subs)


def load_capture_folder(folder: Path) -> list[tuple[str, NDArray[np.uint8]]]:
    """``capture_*/`` sub-folders of grayscale images (the layout of
    kamino410/procam-calibration), each read by :func:`load_capture`."""
    return list(iter_capture_folder(folder))


def iter_capture_folder(folder: Path) -> Iterator[tuple[str, NDArray[np.uint8]]]:
    """:func:`load_capture_folder` one pose at a time (a pose's images are in memory only
    while it is used)."""
    for sub in capture_folders(folder):
        yield sub.name, load_capture(sub)


def _name_pattern(path: Path) -> tuple[str, tuple[int, ...]]:
    """A file name's text parts (lower case, extension dropped) and its numbers by value:
    ``pattern_01.png`` and ``Pattern_1.tif`` give the same key."""
    parts = re.split(r"(\d+)", path.stem.lower())
    return "#".join(parts[0::2]), tuple(int(n) for n in parts[1::2])


def capture_files(sub: Path) -> list[Path]:
    """The image files of one pose's folder (any of ``psfbench.core.imageio.IMAGE_SUFFIXES``, any
    case) in projection order: natural order of their names, so ``pattern_2`` comes before
    ``pattern_10`` with or without zero padding.

    CalibrationError when the order is not certain: two files whose names differ only in
    zero padding, case or extension (``pattern_1.png`` and ``pattern_01.png``: which is
    image 1?), or names of more than one pattern (``graycode_00.png`` ... with ``white.png``:
    projection order cannot be told from the names)."""
    sub = Path(sub)
    try:
        files = imageio.list_images(sub)
    except imageio.ImageFileError as exc:
        raise CalibrationError(str(exc)) from None
    except OSError as exc:
        raise CalibrationError(f"{sub}: cannot list the folder: {exc}") from exc
    seen: dict[tuple[str, tuple[int, ...]], Path] = {}
    for f in files:
        key = _name_pattern(f)
        if key in seen:
            raise CalibrationError(
                f"{sub}: {seen[key].name} and {f.name} have the same number (names differ only "
                "in zero padding, case or extension): the projection order is ambiguous; keep "
                "one file per image"
            )
        seen[key] = f
    patterns: dict[str, list[str]] = {}
    for f in files:
        patterns.setdefault(_name_pattern(f)[0], []).append(f.name)
    if len(patterns) > 1:
        listed = "; ".join(
            f"{len(names)} like {names[0]}" for names in sorted(patterns.values(), key=len)[::-1]
        )
        raise CalibrationError(
            f"{sub}: image names follow {len(patterns)} patterns ({listed}): the projection "
            "order cannot be told from the names; number every image of a pose in one "
            "pattern (Gray codes, then white, then black)"
        )
    return files


def _full_scale(sub: Path, images: Sequence[NDArray[Any]]) -> float:
    """The value that is white (255 after conversion) for one pose's images: 255 for 8-bit;
    for 16-bit integers and float counts the smallest of 255, 1023, 4095, 16383, 65535
    holding the pose's largest sample (12-bit data in a 16-bit file: 4095), so the
    thresholds (8-bit units) mean the same at every bit depth; normalised floats: 1."""
    dtype = images[0].dtype
    if dtype == np.uint8:
        return 255.0
    rng = imageio.finite_range(images)
    if rng is None:
        return 255.0 if dtype.kind == "f" else 65535.0
    if dtype.kind == "f":
        try:  # the range of the whole pose, so the error names the pose's folder
            return imageio.float_full_scale(*rng, sub)
        except imageio.ImageFileError as exc:
            raise CalibrationError(str(exc)) from None
    return next(s for s in imageio.COUNT_FULL_SCALES if rng[1] <= s)


def load_capture(sub: Path) -> NDArray[np.uint8]:
    """The images of one pose's folder, ``(K, H, W)`` uint8 grey, in projection order
    (:func:`capture_files`).

    Read by psfbench's one image reader (:mod:`psfbench.core.imageio`: PNG, JPEG, BMP, TIFF incl.
    compressed, EXIF orientation applied); colour becomes luminance (Rec. 601); 8-bit samples
    are kept; 16-bit ones and float counts are scaled to 8 bits by the pose's full scale
    (:func:`_full_scale`: 12-bit values in a 16-bit file by 4095, 16-bit data by 65535), so
    ``black_thr``/``white_thr`` keep their 8-bit meaning; NaN samples read as black (no
    code). Every failure is a CalibrationError naming the file."""
    files = capture_files(sub)
    raw: list[NDArray[Any]] = []
    for f in files:
        try:
            im = imageio.read_image(f)
        except imageio.ImageFileError as exc:
            raise CalibrationError(str(exc)) from None
        if raw and im.shape[:2] != raw[0].shape[:2]:
            raise CalibrationError(
                f"{f}: size {im.shape[1]}x{im.shape[0]} differs from {files[0].name} "
                f"{raw[0].shape[1]}x{raw[0].shape[0]}"
            )
        if raw and im.dtype != raw[0].dtype:
            raise CalibrationError(
                f"{f}: pixel type {im.dtype} differs from {files[0].name} ({raw[0].dtype})"
            )
        raw.append(im)
    full = _full_scale(Path(sub), raw)
    out = np.empty((len(raw), *raw[0].shape[:2]), np.uint8)
    for i, im in enumerate(raw):
        if im.dtype.kind == "f":
            im = np.nan_to_num(im, nan=0.0)
        out[i] = to_uint8(im, full)
    return out


@dataclass
class CaptureViews:
    """The poses of a capture folder that gave correspondences, and the ones that did not."""

    views: list[ViewCorners]
    camera_size: tuple[int, int]
    #: (pose name, why it was not used)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def load_views(
    folder: Path,
    *,
    projector_size: tuple[int, int] = (1024, 768),
    pattern: tuple[int, int] = (9, 7),
    square: float = 75.0,
    step: int = 1,
    black_thr: float = 40.0,
    white_thr: float = 5.0,
    half_window: int | None = None,
    on_pose: Callable[[str, NDArray[np.uint8], ViewCorners | None, str | None], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> CaptureViews:
    """Chessboard correspondences of every pose in a capture folder.

    A pose whose board is not found or whose Gray codes do not decode is skipped (named in
    ``skipped``), not fatal; CalibrationError when fewer than 3 poses remain, when image sizes
    differ, or when ``cancelled()`` turns True. ``on_pose(name, stack, view, reason)`` is
    called after each pose (``view`` None and ``reason`` set when skipped), e.g. to show it."""
    folder = Path(folder)
    layout = GrayCodeLayout(projector_size[0], projector_size[1], step)
    views: list[ViewCorners] = []
    skipped: list[tuple[str, str]] = []
    cam_size: tuple[int, int] | None = None
    for name, stack in iter_capture_folder(folder):
        if cancelled is not None and cancelled():
            raise CalibrationError(f"{folder}: cancelled")
        size = (stack.shape[2], stack.shape[1])
        if cam_size is not None and size != cam_size:
            raise CalibrationError(f"{folder / name}: image size {size} differs from {cam_size}")
        cam_size = size
        try:
            view = extract_view(
                str(folder / name),
                stack,
                layout,
                pattern,
                square,
                black_thr=black_thr,
                white_thr=white_thr,
                half_window=half_window,
            )
        except CalibrationError as exc:
            skipped.append((str(folder / name), str(exc)))
            if on_pose is not None:
                on_pose(str(folder / name), stack, None, str(exc))
            continue
        views.append(view)
        if on_pose is not None:
            on_pose(str(folder / name), stack, view, None)
    assert cam_size is not None
    if len(views) < 3:
        why = "; ".join(reason for _, reason in skipped)
        raise CalibrationError(
            f"{folder}: need at least 3 usable chessboard poses, got {len(views)}"
            + (f" ({why})" if why else "")
        )
    return CaptureViews(views, cam_size, skipped)


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
    distortion: str = "auto",
) -> ProcamCalibration:
    """Calibrate from a capture folder (see ``load_capture_folder``). Poses that cannot be
    used are skipped with a warning; ``cal.warnings`` also holds the plausibility warnings
    of :func:`check_calibration` (the caller decides whether to refuse). ``distortion``: see
    :func:`calibrate_views`."""
    loaded = load_views(
        folder,
        projector_size=projector_size,
        pattern=pattern,
        square=square,
        step=step,
        black_thr=black_thr,
        white_thr=white_thr,
        half_window=half_window,
    )
    cal = calibrate_views(
        loaded.views,
        loaded.camera_size,
        projector_size,
        square=square,
        fix_intrinsics=fix_intrinsics,
        distortion=distortion,
    )
    cal.warnings = skipped_warnings(loaded.skipped) + check_calibration(cal).warnings
    return cal


def skipped_warnings(skipped: Sequence[tuple[str, str]]) -> list[str]:
    return [f"pose {Path(name).name} not used: {reason}" for name, reason in skipped]


# ---------------------------------------------------------------------- plausibility checks

#: stereo (and per-device) reprojection RMS in pixels above which a calibration is refused:
#: a good chessboard calibration reaches well under 1 px (0.25 px on the real captures in
#: ../shared/data, 0.86 px with the original tool); 2 px means wrong correspondences
DEFAULT_MAX_RMS = 2.0
#: horizontal fields of view (degrees) a camera or projector lens plausibly has
FOV_RANGE_DEG = (1.0, 150.0)
#: a pose whose stereo RMS exceeds this many times the median of the poses is named
OUTLIER_FACTOR = 3.0
#: radial lens distortion (fraction of the distance from the principal point) by which a
#: point of the image may move: beyond the first a warning, beyond the second a refusal
#: (lenses of this field distort by a few per cent; the real captures in ../shared/data by 1 %)
DISTORTION_WARN, DISTORTION_MAX = 0.25, 0.5


def radial_distortion_extent(
    K: NDArray[np.float64], dist: NDArray[np.float64], size: tuple[int, int]
) -> tuple[float, bool]:
    """How far the radial terms (k1, k2, k3) of ``dist`` move points of a ``size`` image:
    the largest ``|r_distorted / r - 1|`` out to the image corner farthest from the
    principal point, and whether ``r -> r_distorted`` stays increasing there (a model that
    is not folds the image: two directions map to one pixel)."""
    k = np.zeros(5)
    d = np.asarray(dist, np.float64).ravel()[:5]
    k[: d.size] = d
    k1, k2, k3 = k[0], k[1], k[4]
    w, h = size
    fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
    if not (fx > 0 and fy > 0):
        return float("nan"), False
    r_max = math.hypot(max(cx, w - cx, 1.0) / fx, max(cy, h - cy, 1.0) / fy)
    r = np.linspace(0.0, r_max, 256)
    r2 = r * r
    factor = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
    mapped = r * factor
    return float(np.max(np.abs(factor - 1.0))), bool(np.all(np.diff(mapped) > 0))


@dataclass
class CalibrationCheck:
    """Plain-language result of :func:`check_calibration`: ``refusal`` (None when usable)
    says why the calibration must not be used; ``warnings`` what looks wrong but may be."""

    warnings: list[str]
    refusal: str | None = None
    #: names of poses whose RMS stands out (candidates to drop)
    outliers: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.refusal is None


def _fov_deg(f: float, size: int) -> float:
    return math.degrees(2.0 * math.atan2(size / 2.0, f)) if f > 0 else float("nan")


def check_calibration(
    cal: ProcamCalibration, *, max_rms: float = DEFAULT_MAX_RMS
) -> CalibrationCheck:
    """Plausibility of a calibration: focal lengths (as fields of view), aspect ratio,
    principal points, lens distortion within the image (:func:`radial_distortion_extent`),
    per-pose RMS outliers, and a refusal when an RMS exceeds ``max_rms`` pixels, a focal
    length is impossible or the distortion folds the image or moves it by more than
    :data:`DISTORTION_MAX`."""
    warnings: list[str] = []
    refusals: list[str] = []
    lo, hi = FOV_RANGE_DEG
    for label, K, (w, h) in (
        ("camera", cal.camera_matrix, cal.camera_size),
        ("projector", cal.projector_matrix, cal.projector_size),
    ):
        fx, fy, cx, cy = float(K[0, 0]), float(K[1, 1]), float(K[0, 2]), float(K[1, 2])
        fov = _fov_deg(fx, w)
        if not (np.isfinite(fov) and lo <= fov <= hi) or not fy > 0:
            refusals.append(
                f"{label} focal length fx={fx:.1f} px is implausible for a {w} px wide "
                f"{label} (field of view {fov:.1f} deg; expected {lo:g}-{hi:g} deg, i.e. "
                f"fx {w / 2 / math.tan(math.radians(hi / 2)):.0f}-"
                f"{w / 2 / math.tan(math.radians(lo / 2)):.0f} px)"
            )
            continue
        if abs(fx / fy - 1.0) > 0.05:
            warnings.append(
                f"{label}: fx={fx:.1f} and fy={fy:.1f} px differ by "
                f"{abs(fx / fy - 1) * 100:.0f} % (square pixels give equal values): poses too "
                "similar or too few"
            )
        dist = cal.camera_dist if label == "camera" else cal.projector_dist
        extent, monotonic = radial_distortion_extent(K, dist, (w, h))
        coeffs = ", ".join(f"{v:.3g}" for v in np.asarray(dist).ravel())
        if not monotonic or not extent <= DISTORTION_MAX:
            refusals.append(
                f"{label} lens distortion ({coeffs}) "
                + ("folds the image" if not monotonic else f"moves points by {extent:.0%}")
                + ": the poses do not constrain the lens model; calibrate with a simpler "
                "distortion model or with more poses covering the whole view"
            )
        elif extent > DISTORTION_WARN:
            warnings.append(
                f"{label} lens distortion moves image points by up to {extent:.0%} of their "
                "distance from the centre: check with more poses near the edges of the view"
            )
        if label == "camera":
            if not (0 <= cx <= w and 0 <= cy <= h):
                warnings.append(
                    f"camera principal point ({cx:.0f}, {cy:.0f}) lies outside the {w}x{h} image"
                )
        elif not (-0.25 * w <= cx <= 1.25 * w and -0.75 * h <= cy <= 1.75 * h):
            # a projector's lens is often shifted: cy at or a little beyond an edge is normal
            warnings.append(
                f"projector principal point ({cx:.0f}, {cy:.0f}) lies far outside the "
                f"{w}x{h} projector (more than a lens shift explains)"
            )
    for name, rms in (
        ("stereo", cal.rms),
        ("camera", cal.camera_rms),
        ("projector", cal.projector_rms),
    ):
        if not np.isfinite(rms) or rms > max_rms:
            refusals.append(
                f"{name} reprojection RMS {rms:.3f} px exceeds the limit of {max_rms:g} px"
            )
    per_view = [
        (v.name, max(v.stereo_camera_rms, v.stereo_projector_rms))
        for v in cal.views
        if np.isfinite(v.stereo_camera_rms)
    ]
    outliers: list[str] = []
    if len(per_view) >= 3:
        med = float(np.median([r for _, r in per_view]))
        for name, r in per_view:
            if r > OUTLIER_FACTOR * med and r > 0.5:
                outliers.append(name)
                warnings.append(
                    f"pose {Path(name).name}: RMS {r:.2f} px, {r / med:.1f}x the median "
                    f"{med:.2f} px: drop it and recalibrate"
                )
    if refusals:
        per = ", ".join(f"{Path(n).name} {r:.2f}" for n, r in per_view)
        refusal = "; ".join(refusals) + (f" (per-pose RMS px: {per})" if per else "")
    else:
        refusal = None
    return CalibrationCheck(warnings, refusal, outliers)


# ---------------------------------------------------------------------- live detection


def to_uint8(image: NDArray[Any], full_scale: float | None = None) -> NDArray[np.uint8]:
    """A camera frame as 8-bit grey (what the chessboard finder and the Gray-code thresholds
    expect): colour to luminance (Rec. 601, as OpenCV), ``full_scale`` (the pixel format's
    maximum; default: 255 for uint8, else 65535) to 255."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] in (3, 4):
        img = img[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    elif img.ndim != 2:
        raise CalibrationError(f"expected a (H, W) or (H, W, 3) image, got shape {img.shape}")
    if full_scale is None:
        full_scale = 255.0 if np.asarray(image).dtype == np.uint8 else 65535.0
    if np.asarray(image).dtype == np.uint8 and full_scale == 255 and img.dtype == np.uint8:
        return img
    out = np.rint(img.astype(np.float32) * np.float32(255.0 / float(full_scale)))
    return np.clip(out, 0, 255).astype(np.uint8)


def detect_chessboard_preview(
    image: NDArray[Any],
    pattern: tuple[int, int],
    *,
    full_scale: float | None = None,
    max_side: int = 640,
) -> NDArray[np.float32] | None:
    """Chessboard corners ``(N, 2)`` in full-resolution pixel coordinates for a live overlay,
    or None: on a frame scaled to ``max_side`` with OpenCV's fast check, so a frame
    without a board returns in milliseconds (the capture itself uses :func:`find_chessboard`
    at full resolution)."""
    grey = to_uint8(image, full_scale)
    h, w = grey.shape
    # Small frames are enlarged (up to 2x): OpenCV's fast check misses boards whose squares
    # are only ~15 px wide.
    scale = min(2.0, float(max_side) / max(h, w))
    small: NDArray[Any] = grey
    if scale != 1.0:
        small = cv2.resize(
            grey,
            (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR,
        )
    ok, corners = cv2.findChessboardCorners(
        small,
        pattern,
        flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK,
    )
    if not ok:
        return None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 30, 1e-3)
    corners = cv2.cornerSubPix(small, corners, (3, 3), (-1, -1), crit)
    pts = np.asarray(corners, np.float32).reshape(-1, 2)
    if scale != 1.0:
        # pixel centres at integer coordinates in both images
        pts = (pts + 0.5) / np.float32(scale) - 0.5
    return pts


# ---------------------------------------------------------------------- the bench profile's copy

#: a profile's calibration lives beside it: ``<profile>.procam.json``
PROFILE_CALIBRATION_SUFFIX = ".procam.json"


def profile_calibration_path(profile: str, source: str | None = None) -> Path:
    """Where the calibration of a bench profile is kept: beside the profile's TOML file
    (``real.toml`` -> ``real.procam.json``), or in the profile directory for a built-in
    profile (``<config dir>/virtual.procam.json``). The hand-edited TOML is never rewritten."""
    if source and source.lower().endswith(".toml"):
        p = Path(source).expanduser()
        return p.with_name(p.name[: -len(".toml")] + PROFILE_CALIBRATION_SUFFIX)
    from psfbench.core.config.profiles import config_dir

    return config_dir() / f"{profile}{PROFILE_CALIBRATION_SUFFIX}"


def save_calibration(cal: ProcamCalibration, path: Path) -> Path:
    """Write the calibration JSON atomically (a temporary file renamed over the old one)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(cal.to_json(indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot write the calibration: {exc}") from exc
    return path


def load_calibration(path: Path) -> ProcamCalibration:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"{path}: cannot read the calibration: {exc}") from exc
    try:
        return ProcamCalibration.from_json(text, str(path))
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{path}: not JSON: {exc}") from exc


# ---------------------------------------------------------------------- capturing poses


def calibration_plan(
    projector_size: tuple[int, int],
    *,
    step: int = 1,
    settle_s: float = 0.1,
    exposure_us: float | None = None,
) -> Any:
    """The engine plan that captures one pose: Gray codes + white + black (pattern source
    ``procam_calibration``) on a projector of ``projector_size``."""
    from psfbench.core.acquisition import PatternScanPlan
    from psfbench.core.fringe.sources import register_sources

    register_sources()
    w, h = (int(v) for v in projector_size)
    return PatternScanPlan(
        "procam_calibration",
        {"step": int(step), "width": w, "height": h},
        settle_s=settle_s,
        exposure_us=exposure_us,
    )


class CaptureFolderSink:
    """Engine sink writing one pose's frames as ``graycode_NN.png`` (8-bit grey, see
    :func:`to_uint8`) into ``folder``, each atomically the moment it arrives: the layout
    ``psfbench calibrate procam`` and :func:`load_capture` read."""

    def __init__(self, folder: Path, count: int, full_scale: float | None = None) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.digits = max(2, len(str(max(0, int(count) - 1))))
        self.full_scale = full_scale
        self.written: list[int] = []

    def path(self, index: int) -> Path:
        return self.folder / f"graycode_{index:0{self.digits}d}.png"

    def write_frame(self, index: int, image: NDArray[Any], fields: Any) -> None:
        grey = to_uint8(image, self.full_scale)
        final = self.path(index)
        tmp = final.with_name(final.name + ".tmp")  # not an image suffix: never read as one
        ok, buf = cv2.imencode(".png", grey)
        if not ok:
            raise CalibrationError(f"{final}: cannot encode the image")
        try:
            tmp.write_bytes(buf.tobytes())
            os.replace(tmp, final)
        except OSError as exc:
            raise CalibrationError(f"{final}: cannot write the image: {exc}") from exc
        self.written.append(index)
