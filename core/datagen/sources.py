"""Where a dataset's scenes come from: RGB-D pairs in a folder, or synthetic scenes.

**Folder of RGB-D pairs** (:func:`scan_folder`), either layout:

- ``DIR/NAME.png`` beside ``DIR/NAME_depth.tif`` (or ``_depth.tiff``, ``_depth.npy``,
  ``_depth.png``);
- ``DIR/rgb/NAME.*`` and ``DIR/depth/NAME.*`` (same stem).

Images are anything :mod:`psfbench.core.imageio` reads (mono or RGB, 8/16-bit or float); integers
are scaled by their type's full scale (255, 65535), floats by their real range. Depth maps are
(H, W), the image's size, in millimetres times ``depth_scale`` (1000 for metres); values that
are not finite or not > 0 are holes (NaN: rendered in focus, sigma 0). Every file's SHA-256 is
recorded when the folder is scanned and checked again when a sample is made, so a sample can
only be regenerated from the very files it came from.

**Synthetic scenes** (:class:`SyntheticSources`): :func:`psfbench.core.scenes.make_scene` kinds,
each sample its own seeded scene (bit-identical on regeneration).
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.datagen.psf import DatagenError

DEPTH_SUFFIXES = (".tif", ".tiff", ".npy", ".png")
#: Largest depth ``.npy`` read (a 16k x 16k float32 map).
MAX_NPY_BYTES = 1 << 30


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class SourcePair:
    """One RGB-D pair: file names relative to the folder, and their SHA-256."""

    name: str
    image: str
    depth: str
    image_sha256: str
    depth_sha256: str


@dataclass(frozen=True)
class FolderSources:
    """RGB-D pairs found in ``root`` (sorted by name); depth in mm = stored x ``depth_scale``."""

    root: str
    pairs: tuple[SourcePair, ...]
    depth_scale: float = 1.0
    kind: str = field(default="folder", init=False)

    def __len__(self) -> int:
        return len(self.pairs)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "folder",
            "root": self.root,
            "depth_scale": self.depth_scale,
            "pairs": [p.__dict__ for p in self.pairs],
        }

    def load(self, index: int, scene_seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """(image (C, H, W) float32 [0, 1], depth (H, W) float32 mm with NaN holes, what it
        is) of pair ``index % len``; ``scene_seed`` is unused (the files are the scene).
        Raises DatagenError when a file changed since the folder was scanned."""
        pair = self.pairs[index % len(self.pairs)]
        image, depth = _load_pair(self.root, pair, float(self.depth_scale))
        return image, depth, {"source": pair.name, "image": pair.image, "depth": pair.depth}

    def sizes(self) -> list[tuple[str, tuple[int, int]]]:
        """(image file, (H, W)) of every pair whose size its header tells (the others are
        read, and refused if need be, when a sample is made)."""
        return _header_sizes(self.root, self.pairs)


@dataclass(frozen=True)
class SyntheticSources:
    """Synthetic scenes (:data:`psfbench.core.scenes.SCENE_KINDS`) of ``size`` (H, W) around
    ``working_distance_mm``; sample i uses kind ``kinds[i % len]`` and its own scene seed."""

    kinds: tuple[str, ...]
    size: tuple[int, int]
    working_distance_mm: float = 500.0
    kind: str = field(default="synthetic", init=False)

    def __len__(self) -> int:
        return len(self.kinds)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "synthetic",
            "kinds": list(self.kinds),
            "size": list(self.size),
            "working_distance_mm": self.working_distance_mm,
        }

    def sizes(self) -> list[tuple[str, tuple[int, int]]]:
        """[("", (H, W))]: every scene has ``size``."""
        return [("", (int(self.size[0]), int(self.size[1])))]

    def load(self, index: int, scene_seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        from psfbench.core.scenes import make_scene

        kind = self.kinds[index % len(self.kinds)]
        scene = make_scene(
            kind,
            int(self.size[0]),
            int(self.size[1]),
            working_distance_mm=float(self.working_distance_mm),
            seed=int(scene_seed),
        )
        return (
            np.array(scene.aif, dtype=np.float32),
            np.array(scene.depth_mm, dtype=np.float32),
            {"source": f"synthetic:{kind}", "scene_seed": int(scene_seed)},
        )


Sources = FolderSources | SyntheticSources


def sources_from_json(doc: dict[str, Any]) -> Sources:
    if doc.get("kind") == "synthetic":
        from psfbench.core.scenes import SCENE_KINDS

        kinds = tuple(str(k) for k in doc["kinds"])
        bad = [k for k in kinds if k not in SCENE_KINDS]
        if not kinds or bad:
            raise DatagenError(f"synthetic scenes {bad or '(none)'}: use {', '.join(SCENE_KINDS)}")
        h, w = (int(v) for v in doc["size"])
        return SyntheticSources(kinds, (h, w), float(doc.get("working_distance_mm", 500.0)))
    pairs = tuple(SourcePair(**p) for p in doc["pairs"])
    return FolderSources(str(doc["root"]), pairs, float(doc.get("depth_scale", 1.0)))


def synthetic_sources(
    kinds: str | list[str], size: tuple[int, int], working_distance_mm: float = 500.0
) -> SyntheticSources:
    """From "objects,planes" (or a list); raises DatagenError for unknown kinds."""
    names = kinds.split(",") if isinstance(kinds, str) else list(kinds)
    names = [k.strip() for k in names if k.strip()]
    return sources_from_json(  # type: ignore[return-value]
        {
            "kind": "synthetic",
            "kinds": names,
            "size": list(size),
            "working_distance_mm": working_distance_mm,
        }
    )


def _depth_for(folder: Path, stem: str) -> Path | None:
    for suffix in DEPTH_SUFFIXES:
        for name in (f"{stem}_depth{suffix}", f"{stem}_depth{suffix.upper()}"):
            if (folder / name).is_file():
                return folder / name
    return None


def scan_folder(root: str | Path, *, depth_scale: float = 1.0) -> FolderSources:
    """The RGB-D pairs of ``root`` (either layout of the module docstring), hashed.

    Raises DatagenError when the folder holds no pair, or an image has no depth map."""
    from psfbench.core.imageio import is_image_file, natural_sorted

    base = Path(root)
    if not base.is_dir():
        raise DatagenError(f"--source {base}: not a folder")
    if not (np.isfinite(depth_scale) and depth_scale > 0):
        raise DatagenError(f"--depth-scale: need a finite value > 0, got {depth_scale}")
    found: list[tuple[Path, Path]] = []
    missing: list[str] = []
    if (base / "rgb").is_dir() and (base / "depth").is_dir():
        depth_by_stem = {
            p.stem: p
            for p in (base / "depth").iterdir()
            if p.is_file() and p.suffix.lower() in DEPTH_SUFFIXES
        }
        for img in natural_sorted(p for p in (base / "rgb").iterdir() if is_image_file(p)):
            d = depth_by_stem.get(img.stem)
            if d is None:
                missing.append(f"rgb/{img.name}")
            else:
                found.append((img, d))
    else:
        images = [p for p in base.iterdir() if is_image_file(p) and not p.stem.endswith("_depth")]
        for img in natural_sorted(images):
            d = _depth_for(base, img.stem)
            if d is None:
                missing.append(img.name)
            else:
                found.append((img, d))
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DatagenError(
            f"--source {base}: no depth map for {len(missing)} image(s): {shown} (expected "
            "NAME_depth.tif/.npy/.png beside NAME.png, or rgb/NAME.* with depth/NAME.*)"
        )
    if not found:
        raise DatagenError(
            f"--source {base}: no RGB-D pairs (NAME.png + NAME_depth.tif, or rgb/ + depth/)"
        )
    pairs = tuple(
        SourcePair(
            name=img.stem,
            image=img.relative_to(base).as_posix(),
            depth=d.relative_to(base).as_posix(),
            image_sha256=sha256_file(img),
            depth_sha256=sha256_file(d),
        )
        for img, d in found
    )
    return FolderSources(str(base.resolve()), pairs, float(depth_scale))


def _to_unit(img: np.ndarray, where: str) -> np.ndarray:
    from psfbench.core.imageio import finite_range, float_full_scale

    if img.dtype == np.uint8:
        out = img.astype(np.float32) / 255.0
    elif img.dtype == np.uint16:
        out = img.astype(np.float32) / 65535.0
    else:
        rng = finite_range(img)
        if rng is None:
            raise DatagenError(f"{where}: no finite sample")
        out = img.astype(np.float32) / np.float32(float_full_scale(rng[0], rng[1], where))
        out = np.nan_to_num(out, nan=0.0)
    out = np.clip(out, 0.0, 1.0)
    return out[None] if out.ndim == 2 else np.ascontiguousarray(np.moveaxis(out, -1, 0))


def _read_depth(path: Path) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        if path.stat().st_size > MAX_NPY_BYTES:
            raise DatagenError(f"{path}: larger than a depth map can be")
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise DatagenError(f"{path}: not a readable .npy depth map ({exc})") from None
    else:
        from psfbench.core.imageio import ImageFileError, read_image

        try:
            arr = read_image(path)
        except ImageFileError as exc:
            raise DatagenError(str(exc)) from None
    if arr.ndim != 2 or arr.dtype.kind not in "uif":
        raise DatagenError(f"{path}: a depth map must be (H, W) numbers, got {arr.shape}")
    return arr


def _header_size(path: Path) -> tuple[int, int] | None:
    """(H, W) of the image :func:`psfbench.core.imageio.read_image` reads from ``path``, from
    the header alone (Pillow; EXIF/TIFF orientations 5-8 swap H and W); None when Pillow
    cannot tell."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            width, height = im.size
            orientation = im.getexif().get(0x0112)
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return (width, height) if orientation in (5, 6, 7, 8) else (height, width)


@functools.lru_cache(maxsize=2)
def _header_sizes(root: str, pairs: tuple[SourcePair, ...]) -> list[tuple[str, tuple[int, int]]]:
    out = []
    for pair in pairs:
        hw = _header_size(Path(root) / pair.image)
        if hw is not None:
            out.append((pair.image, hw))
    return out


@functools.lru_cache(maxsize=8)
def _load_pair(root: str, pair: SourcePair, depth_scale: float) -> tuple[np.ndarray, np.ndarray]:
    from psfbench.core.imageio import ImageFileError, read_image

    base = Path(root)
    img_path, depth_path = base / pair.image, base / pair.depth
    for p, digest in ((img_path, pair.image_sha256), (depth_path, pair.depth_sha256)):
        if not p.is_file():
            raise DatagenError(f"{p}: source file is missing")
        if sha256_file(p) != digest:
            raise DatagenError(f"{p}: changed since the dataset was configured (SHA-256 differs)")
    try:
        image = _to_unit(read_image(img_path), str(img_path))
    except ImageFileError as exc:
        raise DatagenError(str(exc)) from None
    raw = _read_depth(depth_path).astype(np.float64) * depth_scale
    with np.errstate(invalid="ignore"):
        depth = np.where(np.isfinite(raw) & (raw > 0), raw, np.nan).astype(np.float32)
    if depth.shape != image.shape[1:]:
        raise DatagenError(
            f"{depth_path}: depth map {depth.shape} does not match the image {image.shape[1:]}"
        )
    if not np.isfinite(depth).any():
        raise DatagenError(f"{depth_path}: no valid depth (all holes)")
    image.setflags(write=False)
    depth.setflags(write=False)
    return image, depth
