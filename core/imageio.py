"""The one image reader of psfbench: every command (stack, session import, session reading,
fringe decode) reads image files through here, so a file means the same thing everywhere.

Decoding is left to well-kept libraries (tifffile + imagecodecs for TIFF, OpenCV for PNG, JPEG
and BMP, Pillow only to read a PNG/JPEG/BMP header: size and EXIF orientation); this module
decides the semantics:

- formats: PNG, JPEG, BMP, TIFF (``.png .jpg .jpeg .jpe .bmp .dib .tif .tiff``, extension in any
  case); compressed TIFF (LZW, Deflate, ZSTD, PackBits, JPEG, ...) through imagecodecs;
- samples come back in the file's own type: ``uint8``, ``uint16`` (8-, 12- and 16-bit data;
  12-bit values stay 0..4095), ``float32`` (float16/float64 converted). Other integer types
  are converted to ``uint16`` when every value fits, refused otherwise. Floats are returned as
  they are, NaN included (a NaN is a missing sample, for the caller to handle);
  :func:`float_full_scale` says what 1.0 of a float stack is (its real range, never assumed);
- shape ``(H, W)`` mono or ``(H, W, 3)`` RGB (OpenCV's BGR undone; alpha dropped; a
  grey + alpha image is grey);
- orientation: the EXIF (JPEG, PNG) or TIFF Orientation tag is applied, as every viewer does,
  so frames of a set come back as they are displayed (:data:`ORIENTATION_APPLIED` records it);
- pages: every page (or ImageJ hyperstack plane) of a TIFF is a frame
  (:func:`read_frames`); :func:`read_image` wants exactly one;
- order: :func:`natural_key` / :func:`list_images` sort ``frame_2`` before ``frame_10``.

Every failure is an :class:`ImageFileError` naming the file (and page) and what is wrong.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.errors import FileFieldError

TIFF_SUFFIXES = (".tif", ".tiff")
OTHER_SUFFIXES = (".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".dib")
IMAGE_SUFFIXES = TIFF_SUFFIXES + OTHER_SUFFIXES

#: Largest page psfbench decodes (pixels); a header claiming more is refused before decoding
#: (a 16k x 16k frame is far beyond any camera of this bench; a forged header would otherwise
#: allocate gigabytes).
MAX_PIXELS = 1 << 28
#: Largest number of frames in one file.
MAX_PAGES = 10000

# tifffile logs what it finds wrong in a damaged file before raising; the exception becomes
# our ImageFileError, so without a handler of its own Python's last-resort handler would print
# those log lines to stderr beside the clean error. Applications that configure logging still
# receive them (the logger propagates).
logging.getLogger("tifffile").addHandler(logging.NullHandler())

#: Full scales a float image holding camera counts may have (8 to 16 significant bits).
COUNT_FULL_SCALES = (255.0, 1023.0, 4095.0, 16383.0, 65535.0)


class ImageFileError(FileFieldError):
    """An image file that cannot be used: ``<file>: <field>: <message>``, like DatasetError."""


# ----------------------------------------------------------------------------- names, order
def is_image_file(path: str | Path) -> bool:
    """True for an existing file whose extension (any case) is a supported image format."""
    p = Path(path)
    return p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()


def natural_key(path: str | Path) -> tuple[Any, ...]:
    """Sort key of a file name that orders numbers by value: ``pattern_2`` < ``pattern_10``.

    Digit runs compare as integers, the rest case-insensitively; ties fall back to the plain
    name so the order is total.
    """
    name = Path(path).name
    parts = re.split(r"(\d+)", name.lower())
    key = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts if p)
    return (key, name)


def natural_sorted(paths: Iterable[str | Path]) -> list[Path]:
    """``paths`` as Paths in natural (numeric) order of their file names."""
    return sorted((Path(p) for p in paths), key=natural_key)


def list_images(folder: str | Path, *, required: bool = True) -> list[Path]:
    """The image files directly inside ``folder`` in natural order (hidden files skipped);
    ImageFileError when it is not a folder, or (``required``) holds no image."""
    root = Path(folder)
    if not root.is_dir():
        raise ImageFileError(root, "(folder)", "not a folder")
    found = natural_sorted(
        p for p in root.iterdir() if not p.name.startswith(".") and is_image_file(p)
    )
    if required and not found:
        raise ImageFileError(root, "(folder)", "no image files (PNG, JPEG, BMP, TIFF) in it")
    return found


# ----------------------------------------------------------------------------- reading
def read_image(path: str | Path) -> np.ndarray:
    """The one image in ``path``: ``(H, W)`` or ``(H, W, 3)`` RGB, uint8/uint16/float32.

    Raises :class:`ImageFileError` if the file is missing, unreadable, of an unsupported type
    or shape, or holds more than one frame (pages of a multi-page TIFF: use
    :func:`read_frames`).
    """
    frames = read_frames(path)
    if len(frames) != 1:
        raise ImageFileError(
            path,
            "pages",
            f"holds {len(frames)} frames (a multi-page TIFF); one image is expected here",
        )
    return frames[0]


def read_frames(path: str | Path) -> np.ndarray:
    """Every frame of ``path``: ``(N, H, W)`` or ``(N, H, W, 3)``, uint8/uint16/float32.

    A PNG/JPEG/BMP is one frame. A TIFF's pages are frames (a focus stack saved as one file);
    in an ImageJ hyperstack or an OME/shaped series the frames run along the one axis of size
    > 1 that is not Y, X or colour (Z, T, ...); a file with two such axes is refused.
    """
    p = Path(path)
    if not p.exists():
        raise ImageFileError(p, "image", "file is missing")
    if not p.is_file():
        raise ImageFileError(p, "image", "not a file")
    ext = p.suffix.lower()
    if ext not in IMAGE_SUFFIXES:
        raise ImageFileError(
            p,
            "image",
            f"unsupported extension {p.suffix!r}; use PNG, JPEG, BMP or TIFF "
            f"({', '.join(IMAGE_SUFFIXES)}, any case)",
        )
    if p.stat().st_size == 0:
        raise ImageFileError(p, "image", "file is empty (0 bytes)")
    if ext in TIFF_SUFFIXES or _is_tiff(p):
        pages, orientation = _read_tiff(p)
    else:
        pages, orientation = _read_other(p)
    pages = [_normalise(p, f) for f in pages]
    if orientation is not None and orientation != 1:
        pages = [apply_orientation(f, orientation) for f in pages]
    return np.ascontiguousarray(np.stack(pages))


def _is_tiff(p: Path) -> bool:
    with open(p, "rb") as fh:
        return fh.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _read_other(p: Path) -> tuple[list[np.ndarray], int | None]:
    """PNG/JPEG/BMP: header (size, EXIF orientation) from Pillow, pixels from OpenCV."""
    import cv2
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            width, height = im.size
            orientation = _exif_orientation(im)
    except Image.DecompressionBombError:
        raise ImageFileError(p, "size", "image is too large to decode") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageFileError(p, "image", f"not a readable image ({exc})") from None
    _check_size(p, width, height)
    # imdecode from bytes: works for non-ASCII paths on Windows, unlike cv2.imread
    buf = np.fromfile(p, dtype=np.uint8)
    try:
        decoded = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ImageFileError(p, "image", f"cannot decode ({exc.msg.strip()})") from None
    if decoded is None:
        raise ImageFileError(p, "image", "cannot decode (corrupt or truncated file)")
    img = np.asarray(decoded)
    if img.shape[:2] != (height, width):
        raise ImageFileError(
            p,
            "image",
            f"decoded {img.shape[1]}x{img.shape[0]} but the header says {width}x{height}",
        )
    if img.ndim == 3 and img.shape[2] == 3:
        img = img[..., ::-1]  # BGR -> RGB
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., 2::-1]  # BGRA -> RGB
    return [img], orientation


def _exif_orientation(im: Any) -> int | None:
    try:
        value = im.getexif().get(0x0112)
    except Exception:  # a broken EXIF block is no reason to refuse the pixels
        return None
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else None


def _check_size(p: Path, width: int, height: int, page: str = "") -> None:
    if width <= 0 or height <= 0:
        raise ImageFileError(p, f"{page}size", f"empty image ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise ImageFileError(
            p,
            f"{page}size",
            f"{width}x{height} pixels is beyond the {MAX_PIXELS} pixels psfbench decodes "
            "(corrupt header?)",
        )


def _read_tiff(p: Path) -> tuple[list[np.ndarray], int | None]:
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            series = [s for s in tf.series if not _is_reduced(s)]
            if not series:
                raise ImageFileError(p, "image", "TIFF has no image data")
            orientation = _tiff_orientation(tf)
            frames: list[np.ndarray] = []
            for k, s in enumerate(series):
                where = f"series {k}: " if len(series) > 1 else ""
                frames.extend(_series_frames(p, s, where))
                if len(frames) > MAX_PAGES:
                    raise ImageFileError(p, "pages", f"more than {MAX_PAGES} frames")
    except ImageFileError:
        raise
    except MemoryError:
        raise ImageFileError(p, "size", "not enough memory to decode this TIFF") from None
    except Exception as exc:  # tifffile and the codecs raise many types; all mean 'unreadable'
        raise ImageFileError(p, "image", _tiff_reason(exc)) from None
    shapes = {f.shape for f in frames}
    if len(shapes) > 1:
        raise ImageFileError(
            p, "pages", f"pages differ in size or channels {sorted(shapes)}; cannot be frames"
        )
    dtypes = {f.dtype for f in frames}
    if len(dtypes) > 1:
        raise ImageFileError(p, "pages", f"pages differ in pixel type {sorted(map(str, dtypes))}")
    return frames, orientation


def _is_reduced(series: Any) -> bool:
    """Thumbnails and reduced-resolution subfiles are not frames."""
    try:
        page = series.pages[0]
        return bool(page is not None and getattr(page, "is_reduced", False))
    except Exception:
        return False


def _tiff_orientation(tf: Any) -> int | None:
    try:
        tag = tf.pages.first.tags.get("Orientation")
    except Exception:
        return None
    if tag is None:
        return None
    value = int(tag.value)
    return value if 1 <= value <= 8 else None


def _tiff_reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if "imagecodecs" in text:
        return (
            f"compressed TIFF needs the imagecodecs package, which is missing ({text}); "
            "reinstall psfbench's dependencies"
        )
    return f"corrupt, truncated or unsupported TIFF ({text})"


def _series_frames(p: Path, series: Any, where: str) -> list[np.ndarray]:
    """A tifffile series as frames ``(H, W[, C])``, using its axes (Y, X, S/C colour, one
    frame axis)."""
    axes = str(series.axes)
    shape = tuple(int(n) for n in series.shape)
    if "Y" not in axes or "X" not in axes:
        raise ImageFileError(p, f"{where}axes", f"series {axes} {shape} has no Y and X axes")
    _check_size(p, shape[axes.index("X")], shape[axes.index("Y")], where)
    n_samples = 1
    for a, n in zip(axes, shape, strict=True):
        if a not in "YX":
            n_samples *= n
    if n_samples > 4 * MAX_PAGES:
        raise ImageFileError(p, f"{where}pages", f"series {axes} {shape} has too many planes")
    data = np.asarray(series.asarray())
    if data.shape != shape:  # tifffile may squeeze; fall back on the data's own rank
        raise ImageFileError(p, f"{where}axes", f"decoded {data.shape} for series {axes} {shape}")
    colour = [a for a in axes if a in "SC"]
    frame_axes = [a for a, n in zip(axes, shape, strict=True) if a not in "YXSC" and n > 1]
    if len(frame_axes) > 1:
        raise ImageFileError(
            p,
            f"{where}axes",
            f"hyperstack {axes} {shape} has more than one frame axis ({', '.join(frame_axes)}); "
            "save one focus stack (one Z or T series) per file",
        )
    # order: frame axis, Y, X, colour axes; drop every other axis of size 1
    order = [axes.index(a) for a in frame_axes]
    order += [axes.index("Y"), axes.index("X")]
    order += [axes.index(a) for a in colour]
    rest = [i for i in range(len(axes)) if i not in order]
    data = np.transpose(data, order + rest).reshape(
        [shape[i] for i in order] + ([1] if rest else [])
    )
    if rest:
        data = data[..., 0]
    if not frame_axes:
        data = data[None]
    n_colour = int(np.prod([shape[axes.index(a)] for a in colour])) if colour else 1
    data = data.reshape(*data.shape[:3], n_colour)
    if n_colour == 1:
        data = data[..., 0]
    elif n_colour == 2:
        data = data[..., 0]  # grey + alpha
    elif n_colour in (3, 4):
        data = data[..., :3]
    else:
        raise ImageFileError(
            p,
            f"{where}channels",
            f"{n_colour} channels ({axes} {shape}); psfbench reads mono or RGB",
        )
    return list(data)


def _normalise(p: Path, img: np.ndarray) -> np.ndarray:
    """One frame as (H, W) or (H, W, 3) uint8/uint16/float32 (see the module docstring)."""
    if img.ndim == 3 and img.shape[2] in (1, 2):  # mono, grey + alpha
        img = img[..., 0]
    elif img.ndim == 3 and img.shape[2] == 4:
        img = img[..., :3]
    if not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] == 3)):
        raise ImageFileError(p, "shape", f"{img.shape} is not (H, W) mono or (H, W, 3) colour")
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageFileError(p, "shape", f"empty image {img.shape}")
    dt = img.dtype
    if dt == np.uint8 or dt == np.uint16 or dt == np.float32:
        return img
    if dt == np.bool_:
        return img.astype(np.uint8) * np.uint8(255)
    if dt.kind == "f":
        with np.errstate(over="ignore", invalid="ignore"):
            out = img.astype(np.float32)
        if np.isinf(out).any() and not np.isinf(img).any():
            raise ImageFileError(p, "dtype", f"{dt} values beyond the float32 range")
        return out
    if dt.kind in "iu":
        lo, hi = (int(img.min()), int(img.max())) if img.size else (0, 0)
        if lo >= 0 and hi <= 65535:
            return img.astype(np.uint16)
        raise ImageFileError(
            p,
            "dtype",
            f"{dt} samples span [{lo}, {hi}]: outside 0..65535, the range psfbench reads as "
            "integer counts",
        )
    raise ImageFileError(p, "dtype", f"pixel type {dt} is not supported")


def apply_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn stored pixels (H, W[, C]) into the displayed image for an EXIF/TIFF orientation
    value 1..8 (1: as stored; 6: rotate 90 degrees clockwise; 8: 90 counter-clockwise; ...)."""
    if orientation == 2:
        return img[:, ::-1]
    if orientation == 3:
        return img[::-1, ::-1]
    if orientation == 4:
        return img[::-1]
    if orientation == 5:
        return np.swapaxes(img, 0, 1)
    if orientation == 6:
        return np.swapaxes(img, 0, 1)[:, ::-1]
    if orientation == 7:
        return np.swapaxes(img, 0, 1)[::-1, ::-1]
    if orientation == 8:
        return np.swapaxes(img, 0, 1)[::-1]
    return img


# ----------------------------------------------------------------------------- float range
def finite_range(images: Sequence[np.ndarray] | np.ndarray) -> tuple[float, float] | None:
    """(min, max) over the finite samples of ``images``; None when there is none."""
    lo, hi = np.inf, -np.inf
    for img in images:
        a = np.asarray(img)
        if a.dtype.kind == "f":
            a = a[np.isfinite(a)]
        if a.size:
            lo, hi = min(lo, float(a.min())), max(hi, float(a.max()))
    return None if lo > hi else (lo, hi)


def float_full_scale(lo: float, hi: float, file: str | Path) -> float:
    """The value that means full scale (1.0 inside psfbench) for float samples in [lo, hi].

    Floats are taken by their real range, never assumed to be [0, 1]: data within
    [-0.05, 1.05] is normalised already (scale 1); data in 0..65535 holds camera counts and
    its scale is the smallest of 255, 1023, 4095, 16383, 65535 that holds the maximum (a
    12-bit camera's 0..4095 counts -> 4095). Anything else is refused with the range found,
    naming ``file``: a silent guess would turn every result into nonsense.
    """
    if lo >= -0.05 and hi <= 1.05:
        return 1.0
    for full in COUNT_FULL_SCALES:
        if hi <= full:
            if lo >= -0.05 * full:
                return full
            break
    raise ImageFileError(
        file,
        "range",
        f"float samples span [{lo:.6g}, {hi:.6g}]: neither normalised [0, 1] nor camera counts "
        "(0..65535); rescale to one of them or save as 16-bit integers",
    )
