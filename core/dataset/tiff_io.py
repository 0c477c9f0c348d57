"""TIFF frames on disk: written atomically at full bit depth, read back with corruption checks.

Frames are plain uncompressed baseline TIFFs (mono ``(H, W)`` or RGB ``(H, W, 3)``) so Fiji,
napari and any image viewer open them; uncompressed strips also let us detect a truncated file
from its header alone (every strip must end inside the file) without reading the pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from psfbench.core import imageio
from psfbench.core.dataset.atomic import atomic_write_with
from psfbench.core.dataset.errors import DatasetError

#: dtypes a frame may have on disk: what cameras deliver, plus float32 for simulations.
FRAME_DTYPES = (np.dtype(np.uint8), np.dtype(np.uint16), np.dtype(np.float32))


@dataclass(frozen=True)
class TiffInfo:
    shape: tuple[int, ...]
    dtype: np.dtype


def check_image_array(image: np.ndarray, file: str, field: str) -> np.ndarray:
    """Accept (H, W) or (H, W, 3) arrays of a frame dtype; anything else is a DatasetError."""
    arr = np.asarray(image)
    if arr.dtype not in FRAME_DTYPES:
        raise DatasetError(
            file, field, f"dtype {arr.dtype} not supported (use uint8, uint16 or float32)"
        )
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise DatasetError(file, field, f"shape {arr.shape} is not (H, W) or (H, W, 3)")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DatasetError(file, field, f"empty image {arr.shape}")
    return np.ascontiguousarray(arr)


def write_tiff(target: Path, image: np.ndarray) -> None:
    """Write one image atomically (temp + fsync + rename), keeping its dtype."""
    photometric = "rgb" if image.ndim == 3 else "minisblack"
    atomic_write_with(
        target,
        lambda fh: tifffile.imwrite(fh, image, photometric=photometric, metadata=None),
    )


def inspect_tiff(path: Path, field: str, rel: str | None = None) -> TiffInfo:
    """Shape and dtype from the header, refusing truncated or unreadable files."""
    name = rel or str(path)
    if not path.is_file():
        raise DatasetError(name, field, "file is missing")
    size = path.stat().st_size
    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages.first
            shape = tuple(int(s) for s in page.shape)
            dtype = np.dtype(page.dtype) if page.dtype is not None else None
            if dtype is None:
                raise DatasetError(name, field, "TIFF has no pixel data type")
            spans = zip(page.dataoffsets, page.databytecounts, strict=True)
            ends = [int(o) + int(c) for o, c in spans]
            if page.compression == 1 and (not ends or max(ends) > size):
                raise DatasetError(
                    name, field, f"truncated TIFF: pixel data ends past the file ({size} bytes)"
                )
    except DatasetError:
        raise
    except Exception as exc:  # tifffile raises assorted types; all mean 'unreadable'
        raise DatasetError(name, field, f"corrupt or truncated TIFF ({exc})") from None
    return TiffInfo(shape=shape, dtype=dtype)


def read_tiff(path: Path, field: str, rel: str | None = None) -> np.ndarray:
    """One image of a TIFF as stored (uint8/uint16/float32, (H, W) or (H, W, 3)), read by
    :func:`psfbench.core.imageio.read_image` after the header checks of :func:`inspect_tiff`."""
    name = rel or str(path)
    inspect_tiff(path, field, rel)
    try:
        return imageio.read_image(path)
    except imageio.ImageFileError as exc:
        raise DatasetError(name, field, exc.message) from None


def to_float01(image: np.ndarray, bit_depth: int, file: str, field: str) -> np.ndarray:
    """float32 in [0, 1]: integers divide by the full scale of their significant bits.

    12-bit data in uint16 divides by 4095, not 65535, so all sessions share one intensity
    scale for the engine. A sample above the full scale means the declared bit depth is wrong
    (or data is MSB-aligned), which would silently skew every fit: refused.
    """
    if image.dtype == np.float32 or image.dtype == np.float64:
        return image.astype(np.float32, copy=False)
    bits = image.dtype.itemsize * 8
    full = float(2 ** min(bit_depth, bits) - 1)
    top = int(image.max()) if image.size else 0
    if top > full:
        raise DatasetError(
            file,
            "camera.bit_depth",
            f"sample value {top} exceeds the {min(bit_depth, bits)}-bit full scale {int(full)} "
            "(wrong bit depth, or MSB-aligned data?)",
        )
    return (image.astype(np.float32) / np.float32(full)).astype(np.float32, copy=False)


def channels_first(image: np.ndarray) -> np.ndarray:
    """(H, W) -> (1, H, W); (H, W, 3) -> (3, H, W): the engine's layout."""
    if image.ndim == 2:
        return image[None]
    return np.ascontiguousarray(np.moveaxis(image, -1, 0))
