"""Reading the image and array files that importers meet (PNG/JPEG/BMP/TIFF, ``.npy``).

Images go through the one reader of psfbench, :mod:`psfbench.core.imageio` (formats, bit depths,
compressed TIFF, EXIF orientation: see docs/dataset.md); here its errors become
:class:`DatasetError` naming the file, so a bad file in a folder of hundreds is found at once.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from psfbench.core import imageio
from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.tiff_io import read_tiff


def read_image(path: Path) -> np.ndarray:
    """(H, W) or (H, W, 3) uint8/uint16/float32, RGB order, as displayed (EXIF orientation
    applied); DatasetError naming the file for anything unreadable (see psfbench.core.imageio)."""
    try:
        return imageio.read_image(path)
    except imageio.ImageFileError as exc:
        raise DatasetError(exc.file, exc.field, exc.message) from None


def read_npy(path: Path, field: str) -> np.ndarray:
    """``np.load`` with pickle disabled: an object array is refused, never executed."""
    if not path.is_file():
        raise DatasetError(path, field, "file is missing")
    try:
        return np.asarray(np.load(path, allow_pickle=False))
    except Exception as exc:  # numpy raises many types (a corrupt header: TokenError)
        raise DatasetError(path, field, f"cannot load .npy ({exc or type(exc).__name__})") from None


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
