"""Reading frames and writing results for ``psfbench stack``: any bit depth, mono or colour.

Frames are read by psfbench's one image reader, :mod:`psfbench.core.imageio` (PNG, JPEG, BMP, TIFF
incl. compressed and multi-page files, EXIF orientation applied). Inside the engine images are
(C, H, W) float32 in [0, 1]; on disk they keep their own type. Integers map their type's full
range to [0, 1]; floats are taken by their real range
(:func:`psfbench.core.imageio.float_full_scale`: a float TIFF of 12-bit camera counts is divided by
4095, not assumed to be [0, 1]), and NaN samples stay NaN (missing; the pipeline fills them from the
other frames). The output is written back in the input's type and scale (8-bit in, 8-bit out; float
counts in, float counts out) so a fused image drops into the same tools as its frames. TIFF goes
through tifffile, everything else through OpenCV (whose BGR order is undone on read and redone on
write).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from psfbench.core import imageio

TIFF_EXT = {".tif", ".tiff"}
CV_EXT = {".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".jp2", ".webp", ".pgm", ".ppm", ".pnm"}


class StackIOError(ValueError):
    """An image that cannot be read/written or does not fit the stack; names the file."""


def read_image(path: str | Path) -> np.ndarray:
    """(H, W) or (H, W, 3) array in the file's own dtype, RGB, as displayed (one frame; see
    :func:`psfbench.core.imageio.read_image`); StackIOError naming the file otherwise."""
    try:
        return imageio.read_image(path)
    except imageio.ImageFileError as exc:
        raise StackIOError(str(exc)) from None


def _scale(dtype: np.dtype) -> float:
    if np.issubdtype(dtype, np.integer):
        return float(np.iinfo(dtype).max)
    return 1.0


def to_float(img: np.ndarray, full_scale: float | None = None) -> np.ndarray:
    """Native (H, W[, C]) -> (C, H, W) float32, ``full_scale`` (default: the integer type's
    maximum, 1 for floats) mapping to 1.0. NaN stays NaN."""
    k = np.float32(1.0 / (_scale(img.dtype) if full_scale is None else full_scale))
    if img.ndim == 2:
        return np.multiply(img, k, dtype=np.float32)[None]
    out = np.empty((img.shape[2], img.shape[0], img.shape[1]), np.float32)
    for c in range(img.shape[2]):  # one strided pass per channel: no float HWC temporary
        np.multiply(img[..., c], k, out=out[c], dtype=np.float32)
    return out


def from_float(chw: np.ndarray, dtype: np.dtype, max_value: float | None = None) -> np.ndarray:
    """(C, H, W) float in [0, 1] -> native (H, W[, C]) of ``dtype`` (rounded, clipped).

    ``max_value`` is the on-disk value of 1.0: less than the type's maximum for 12-bit data
    stored LSB-aligned in uint16 (4095, psfbench sessions), or the full scale of a float stack
    of counts (:attr:`FrameStack.full_scale`). NaN stays NaN in float output.
    """
    x = np.clip(chw, 0.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        top = _scale(dtype) if max_value is None else max_value
        x = np.round(np.nan_to_num(x) * top).astype(dtype)
    else:
        x = (x * np.float32(max_value or 1.0)).astype(dtype)
    return x[0] if x.shape[0] == 1 else np.ascontiguousarray(x.transpose(1, 2, 0))


@dataclass
class FrameStack:
    """Frames of a focus stack as the engine takes them."""

    frames: np.ndarray  # (N, C, H, W) float32 in [0, 1], NaN where a sample is missing
    dtype: np.dtype  # the files' pixel type
    full_scale: float  # the on-disk value of 1.0 (255, 65535, or a float stack's scale)
    sources: list[str]  # per frame: its file, with the page for multi-page files
    missing: int = 0  # NaN / inf samples (missing data)
    notes: list[str] = field(default_factory=list)


def expand_inputs(paths: Sequence[str | Path]) -> list[Path]:
    """Files as given; a folder stands for its image files in natural (numeric) order."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            try:
                out.extend(imageio.list_images(path))
            except imageio.ImageFileError as exc:
                raise StackIOError(str(exc)) from None
        else:
            out.append(path)
    return out


def read_stack(paths: Sequence[str | Path]) -> FrameStack:
    """Every frame of ``paths`` (folders expanded; each page of a multi-page TIFF a frame).

    All frames must share size, channels and pixel type. Float files are scaled by their real
    range, one scale for the whole stack. StackIOError names the offending file.
    """
    files = expand_inputs(paths)
    if not files:
        raise StackIOError("no input images given")
    import os
    from concurrent.futures import ThreadPoolExecutor

    def load(p: Path) -> np.ndarray:
        try:
            return imageio.read_frames(p)
        except imageio.ImageFileError as exc:
            raise StackIOError(str(exc)) from None

    # decoders release the GIL: reading in threads overlaps JPEG/TIFF decoding
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        decoded = list(pool.map(load, files))
    first_file, first = files[0], decoded[0][0]
    pages_released = np.empty((0,), first.dtype)  # each file's pages are freed once copied
    n = sum(len(d) for d in decoded)
    chw = (1, *first.shape) if first.ndim == 2 else (first.shape[2], *first.shape[:2])
    frames = np.empty((n, *chw), np.float32)
    sources: list[str] = []
    scales: dict[float, Path] = {}
    for i, path in enumerate(files):
        pages, decoded[i] = decoded[i], pages_released
        img = pages[0]
        if img.shape != first.shape:
            raise StackIOError(
                f"{path}: size/channels {img.shape} differ from {first_file} {first.shape}; "
                "all frames of a stack must have the same size and channels (EXIF orientation "
                "is applied as viewers show it: a rotated frame has swapped sides)"
            )
        if img.dtype != first.dtype:
            raise StackIOError(f"{path}: pixel type {img.dtype} differs from {first.dtype}")
        if img.dtype.kind == "f":
            rng = imageio.finite_range(pages)
            if rng is not None:
                try:
                    scales.setdefault(imageio.float_full_scale(*rng, path), path)
                except imageio.ImageFileError as exc:
                    raise StackIOError(str(exc)) from None
        for k, page in enumerate(pages):
            # floats go in raw and are scaled once the whole stack's range is known
            frames[len(sources)] = to_float(page, 1.0 if img.dtype.kind == "f" else None)
            sources.append(f"{path} [page {k}]" if len(pages) > 1 else str(path))
    full = _scale(first.dtype)
    notes: list[str] = []
    if first.dtype.kind == "f":
        if 1.0 in scales and len(scales) > 1:
            other = max(scales)
            raise StackIOError(
                f"{scales[1.0]}: float samples are normalised [0, 1] but {scales[other]} holds "
                f"counts (0..{other:g}); a stack must use one scale"
            )
        full = max(scales) if scales else 1.0
        if full != 1.0:
            frames *= np.float32(1.0 / full)
            notes.append(f"float samples read as counts with full scale {full:g}")
    missing = int(np.count_nonzero(~np.isfinite(frames)))
    if missing and first.dtype.kind == "f":
        np.copyto(frames, np.nan, where=np.isinf(frames))
    if missing == frames.size:
        raise StackIOError(f"{first_file}: no finite sample in any frame (all NaN)")
    return FrameStack(frames, first.dtype, full, sources, missing, notes)


def load_stack(paths: Sequence[str | Path]) -> tuple[np.ndarray, np.dtype]:
    """(N, C, H, W) float32 frames and the common on-disk dtype (see :func:`read_stack`,
    which also gives the full scale that writes a float stack back in its own units)."""
    st = read_stack(paths)
    return st.frames, st.dtype


def write_image(path: str | Path, img: np.ndarray, full_scale: float | None = None) -> list[str]:
    """Write a native (H, W[, C]) array in the format the extension names; returns warnings.

    JPEG/BMP/WebP hold only 8 bits: deeper images are reduced (with a warning) rather than
    refused, since that is what a user asking for ``.jpg`` wants; ``full_scale`` is the
    value that becomes 255 (default: the type's maximum, 1.0 for floats).
    """
    p = Path(path)
    ext = p.suffix.lower()
    warnings: list[str] = []
    if not p.parent.is_dir():
        raise StackIOError(f"{p}: the folder {p.parent} does not exist")
    if ext in TIFF_EXT:
        import tifffile

        photometric = "rgb" if img.ndim == 3 and img.shape[2] in (3, 4) else "minisblack"
        try:
            tifffile.imwrite(p, img, photometric=photometric)
        except OSError as exc:
            raise StackIOError(f"{p}: could not write ({exc.strerror or exc})") from None
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
        top = _scale(out.dtype) if full_scale is None else full_scale
        out = np.round(np.nan_to_num(np.clip(out.astype(np.float64) / top, 0, 1)) * 255)
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
