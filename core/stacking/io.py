"""Reading frames and writing results for ``psfbench stack``: any bit depth, mono or colour.

Inside the engine images are (C, H, W) float32 in [0, 1]; on disk they keep their own integer
type. The output is written back in the input's type (8-bit in, 8-bit out; 16-bit TIFF in,
16-bit TIFF out) so a fused image drops into the same tools as its frames. TIFF goes through
tifffile (channels stay RGB, 16-bit and float survive), everything else through OpenCV
(whose BGR order is undone on read and redone on write).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

TIFF_EXT = {".tif", ".tiff"}
CV_EXT = {".png", ".jpg", ".jpeg", ".bmp", ".jp2", ".webp", ".pgm", ".ppm", ".pnm"}


class StackIOError(ValueError):
    """An image that cannot be read/written or does not fit the stack; names the file."""


def read_image(path: str | Path) -> np.ndarray:
    """(H, W) or (H, W, C) array in the file's own dtype, channels in RGB(A) order."""
    p = Path(path)
    if not p.is_file():
        raise StackIOError(f"{p}: no such image file")
    ext = p.suffix.lower()
    img: np.ndarray | None = None
    if ext in TIFF_EXT:
        import tifffile

        try:
            img = tifffile.imread(p)
        except ValueError:
            img = None  # e.g. LZW without imagecodecs: OpenCV's libtiff decodes it below
        except Exception as exc:  # tifffile raises many types for bad files
            raise StackIOError(f"{p}: not a readable TIFF ({exc})") from exc
        planar = img is not None and img.ndim == 3 and img.shape[0] in (1, 3, 4)
        if planar and img is not None and img.shape[-1] not in (1, 3, 4):
            img = np.moveaxis(img, 0, -1)
    if img is None:
        import cv2

        read = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        if read is None:
            raise StackIOError(f"{p}: not a readable image (unknown format or corrupt)")
        img = np.asarray(read)
        if img.ndim == 3 and img.shape[2] == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
        elif img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGBA)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3):
        raise StackIOError(f"{p}: expected a 2-D mono or colour image, got shape {img.shape}")
    return np.ascontiguousarray(img)


def _scale(dtype: np.dtype) -> float:
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0


def to_float(img: np.ndarray) -> np.ndarray:
    """Native (H, W[, C]) -> (C, H, W) float32 in [0, 1]."""
    k = np.float32(1.0 / _scale(img.dtype))
    if img.ndim == 2:
        return np.multiply(img, k, dtype=np.float32)[None]
    out = np.empty((img.shape[2], img.shape[0], img.shape[1]), np.float32)
    for c in range(img.shape[2]):  # one strided pass per channel: no float HWC temporary
        np.multiply(img[..., c], k, out=out[c], dtype=np.float32)
    return out


def from_float(chw: np.ndarray, dtype: np.dtype, max_value: float | None = None) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> native (H, W[, C]) of ``dtype`` (rounded, clipped).

    ``max_value`` maps 1.0 to less than the type's maximum, e.g. 4095 for 12-bit data stored
    LSB-aligned in uint16 (psfbench sessions).
    """
    x = np.clip(chw, 0.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        top = _scale(dtype) if max_value is None else max_value
        x = np.round(x * top).astype(dtype)
    else:
        x = x.astype(dtype)
    return x[0] if x.shape[0] == 1 else np.ascontiguousarray(x.transpose(1, 2, 0))


def load_stack(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.dtype]:
    """(N, C, H, W) float32 frames and the common on-disk dtype; all frames must match."""
    if not paths:
        raise StackIOError("no input images given")
    import os
    from concurrent.futures import ThreadPoolExecutor

    first = read_image(paths[0])
    frames = np.empty((len(paths), *to_float(first).shape), np.float32)
    frames[0] = to_float(first)
    # decoders release the GIL: reading in threads overlaps JPEG/TIFF decoding
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        images = list(pool.map(read_image, paths[1:]))
    for i, (path, img) in enumerate(zip(paths[1:], images, strict=True), start=1):
        images[i - 1] = None  # type: ignore[call-overload]  # free each decoded frame early
        if img.shape != first.shape:
            raise StackIOError(
                f"{path}: size/channels {img.shape} differ from {paths[0]} {first.shape}; "
                "all frames of a stack must have the same size and channels"
            )
        if img.dtype != first.dtype:
            raise StackIOError(f"{path}: pixel type {img.dtype} differs from {first.dtype}")
        frames[i] = to_float(img)
    return frames, first.dtype


def write_image(path: str | Path, img: np.ndarray) -> list[str]:
    """Write a native (H, W[, C]) array in the format the extension names; returns warnings.

    JPEG/BMP/WebP hold only 8 bits: deeper images are reduced (with a warning) rather than
    refused, since that is what a user asking for ``.jpg`` wants.
    """
    p = Path(path)
    ext = p.suffix.lower()
    warnings: list[str] = []
    if ext in TIFF_EXT:
        import tifffile

        photometric = "rgb" if img.ndim == 3 and img.shape[2] in (3, 4) else "minisblack"
        tifffile.imwrite(p, img, photometric=photometric)
        return warnings
    if ext not in CV_EXT:
        raise StackIOError(
            f"{p}: unknown output format {ext!r}; use .tif, .tiff, .png, .jpg or .bmp"
        )
    import cv2

    out = img
    eight_bit_only = ext in {".jpg", ".jpeg", ".bmp", ".webp"}
    if out.dtype != np.uint8 and (eight_bit_only or out.dtype != np.uint16):
        warnings.append(f"{p}: {ext} cannot hold {out.dtype}; written as 8-bit")
        out = np.round(np.clip(out.astype(np.float64) / _scale(out.dtype), 0, 1) * 255)
        out = out.astype(np.uint8)
    if out.ndim == 3 and out.shape[2] == 3:
        out = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
    elif out.ndim == 3 and out.shape[2] == 4:
        out = cv2.cvtColor(out, cv2.COLOR_RGBA2BGRA)
    if not cv2.imwrite(str(p), out):
        raise StackIOError(f"{p}: could not write (check the folder exists and is writable)")
    return warnings


def write_depth(path: str | Path, depth: np.ndarray) -> list[str]:
    """Depth (or frame-index) map: float32 TIFF keeps values; other formats get a min-max
    16-bit (PNG) or 8-bit rendering for viewing, with a warning saying so."""
    p = Path(path)
    d = np.asarray(depth, dtype=np.float32)
    if p.suffix.lower() in TIFF_EXT:
        return write_image(p, d)
    lo, hi = float(np.nanmin(d)), float(np.nanmax(d))
    norm = (d - lo) / (hi - lo) if hi > lo else np.zeros_like(d)
    dtype = np.uint16 if p.suffix.lower() == ".png" else np.uint8
    warns = write_image(p, from_float(norm[None], np.dtype(dtype)))
    warns.append(f"{p}: depth scaled from [{lo:.4g}, {hi:.4g}] to the full range for viewing")
    return warns
