"""Reading the image and array files that importers meet (PNG/JPEG/BMP/TIFF, ``.npy``).

Colour images come back RGB (OpenCV decodes BGR) with any alpha channel dropped, as the
All-in-3D loader does; every failure is a DatasetError naming the file, so a bad file in a
folder of hundreds is found at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from core.dataset.errors import DatasetError
from core.dataset.tiff_io import read_tiff

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def read_image(path: Path) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8/uint16/float32, RGB order."""
    if not path.is_file():
        raise DatasetError(path, "image", "file is missing")
    if path.suffix.lower() in (".tif", ".tiff"):
        img = read_tiff(path, "image")
    else:
        import cv2

        # imdecode from bytes: works for non-ASCII paths on Windows, unlike cv2.imread
        buf = np.fromfile(path, dtype=np.uint8)
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if buf.size else None
        if decoded is None:
            raise DatasetError(path, "image", "cannot decode (corrupt or unsupported image)")
        img = np.asarray(decoded)
        if img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB)
        elif img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if img.dtype == np.float64:
        img = img.astype(np.float32)
    if img.dtype not in (np.uint8, np.uint16, np.float32):
        raise DatasetError(path, "image", f"pixel type {img.dtype} not supported")
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise DatasetError(path, "image", f"shape {img.shape} is not (H, W) or (H, W, 3)")
    return np.ascontiguousarray(img)


def read_npy(path: Path, field: str) -> np.ndarray:
    """``np.load`` with pickle disabled: an object array is refused, never executed."""
    if not path.is_file():
        raise DatasetError(path, field, "file is missing")
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except (ValueError, OSError, EOFError) as exc:
        raise DatasetError(path, field, f"cannot load .npy ({exc})") from None


def read_depth_file(path: Path, scale: float = 1.0) -> np.ndarray:
    """Depth map from ``.npy`` or ``.tif`` in mm (times ``scale``); <= 0 / non-finite -> NaN.

    Structured-light and All-in-3D depth maps mark holes with 0, which would otherwise read as
    an object at the lens.
    """
    arr = read_npy(path, "depth") if path.suffix.lower() == ".npy" else read_tiff(path, "depth")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or arr.dtype.kind not in "fiu":
        raise DatasetError(path, "depth", f"{arr.shape} {arr.dtype} is not an (H, W) depth map")
    depth = arr.astype(np.float32) * np.float32(scale)
    with np.errstate(invalid="ignore"):
        depth[~np.isfinite(depth) | (depth <= 0)] = np.nan
    if not np.isfinite(depth).any():
        raise DatasetError(path, "depth", "no valid pixel (all zero, negative or NaN)")
    return depth


def frame_number(path: Path) -> int:
    """The trailing number of a file stem (foc_012.png -> 12), which orders a focus stack."""
    m = re.search(r"(\d+)$", path.stem)
    if m is None:
        raise DatasetError(path, "name", "no frame number at the end of the file name")
    return int(m.group(1))


def bit_depth_of(img: np.ndarray) -> int:
    return 8 if img.dtype == np.uint8 else 16
