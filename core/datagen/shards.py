"""Shards on disk: WebDataset-style tar files, written atomically, listed in a manifest.

An output folder holds::

    dataset.json       the configuration and provenance (format psfbench.defocus-dataset/1)
    shards.jsonl       one JSON line per COMPLETE shard (appended + fsync'd by the driver)
    shard-000000.tar   samples 0..S-1: KEY.png, KEY.sigma.npy, KEY.depth.npy, KEY.json
    ...

A shard is written under a hidden temporary name, fsync'd and renamed
(psfbench.core.dataset.atomic), then listed in the manifest; only listed shards whose size matches
count as done. Anything else (a temporary file of a killed writer, a renamed shard the manifest
never heard of, a torn last manifest line) is redone when the run is resumed: a shard's samples are
fixed by its index, and its bytes by the configuration (tar members carry no times or owners), so
the redone shard is the same file and no sample is ever duplicated or skipped.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

from psfbench.core.datagen.psf import DatagenError
from psfbench.core.datagen.sample import GenerationConfig, make_sample, software_versions

CONFIG_FILE = "dataset.json"
MANIFEST_FILE = "shards.jsonl"
LOCK_FILE = ".dataset.lock"
#: Largest dataset.json / manifest read (a folder of ~10^6 source pairs).
MAX_CONFIG_BYTES = 1 << 30


def shard_name(shard: int) -> str:
    return f"shard-{shard:06d}.tar"


def shard_pattern(n_shards: int) -> str:
    """The brace pattern WebDataset readers take: ``shard-{000000..000041}.tar``."""
    return f"shard-{{{0:06d}..{n_shards - 1:06d}}}.tar"


class _HashingWriter:
    """File wrapper that hashes what tarfile writes through it."""

    def __init__(self, fh: IO[bytes]) -> None:
        self.fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self.fh.write(data)

    def tell(self) -> int:
        return self.size


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


# ----------------------------------------------------------------------------- config


_config_cache: dict[tuple[str, int, int], GenerationConfig] = {}


def load_config(out_dir: str | Path) -> GenerationConfig:
    """The configuration in ``OUT/dataset.json`` (cached per file version). Raises
    DatagenError when absent or unreadable."""
    from psfbench.core.dataset import DatasetError
    from psfbench.core.dataset.strict_json import loads, read_limited

    path = Path(out_dir) / CONFIG_FILE
    try:
        st = path.stat()
    except FileNotFoundError:
        raise DatagenError(f"{out_dir}: no {CONFIG_FILE} (not a psfbench dataset)") from None
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    cfg = _config_cache.get(key)
    if cfg is None:
        try:
            doc = loads(read_limited(path, str(path), MAX_CONFIG_BYTES, CONFIG_FILE).decode(), path)
        except DatasetError as exc:
            raise DatagenError(str(exc)) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("config"), dict):
            raise DatagenError(f"{path}: holds no dataset configuration")
        cfg = GenerationConfig.from_json(doc["config"])
        _config_cache.clear()
        _config_cache[key] = cfg
    return cfg


def write_config(out_dir: Path, cfg: GenerationConfig) -> None:
    from datetime import UTC, datetime

    from psfbench.core.dataset.atomic import atomic_write_json

    doc = {
        "format": cfg.to_json()["format"],
        "created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "software": software_versions(),
        "shards": shard_pattern(cfg.n_shards),
        "members": {
            "png": f"defocused image, {cfg.bit_depth}-bit PNG (RGB or mono)",
            "sigma.npy": "Gaussian PSF sigma per pixel, float32 (H, W), pixels",
            "depth.npy": "scene depth, float32 (H, W), mm, NaN = hole"
            if cfg.store_depth
            else "(not stored)",
            "json": "parameters and provenance of the sample",
        },
        "config": cfg.to_json(),
    }
    atomic_write_json(out_dir / CONFIG_FILE, doc)


# ----------------------------------------------------------------------------- writing


def write_shard(out_dir: str | Path, shard: int) -> dict[str, Any]:
    """Render shard ``shard`` of the dataset configured in ``out_dir`` and write it
    atomically; returns its manifest record (name, sample range, size, SHA-256, software,
    seconds). Runs on a Dask worker; the same call always writes the same bytes."""
    from psfbench.core.dataset.atomic import atomic_open

    out = Path(out_dir)
    cfg = load_config(out)
    if not 0 <= shard < cfg.n_shards:
        raise DatagenError(f"shard {shard}: outside 0..{cfg.n_shards - 1}")
    indices = cfg.shard_indices(shard)
    t0 = time.perf_counter()
    with atomic_open(out / shard_name(shard)) as fh:
        writer = _HashingWriter(fh)
        with tarfile.open(fileobj=writer, mode="w", format=tarfile.USTAR_FORMAT) as tar:  # type: ignore[call-overload]
            for index in indices:
                sample = make_sample(cfg, index)
                for ext, data in sample.files.items():
                    _add(tar, f"{sample.key}.{ext}", data)
    return {
        "shard": shard_name(shard),
        "index": shard,
        "first": indices.start,
        "count": len(indices),
        "bytes": writer.size,
        "sha256": writer.sha.hexdigest(),
        "software": software_versions(),
        "seconds": round(time.perf_counter() - t0, 3),
    }


# ----------------------------------------------------------------------------- manifest


def append_manifest(out_dir: Path, record: dict[str, Any]) -> None:
    """Append one shard record (one line, fsync'd): the shard counts as done from here."""
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    with open(out_dir / MANIFEST_FILE, "a", encoding="utf-8") as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def read_manifest(out_dir: str | Path) -> tuple[dict[int, dict[str, Any]], bool]:
    """(shard index -> record, torn): the complete lines of the manifest; a last line
    without its newline (a crash mid-append) or a line that is not a record is skipped and
    ``torn`` is True. The last record of a shard wins."""
    path = Path(out_dir) / MANIFEST_FILE
    if not path.is_file():
        return {}, False
    text = path.read_text(encoding="utf-8", errors="replace")
    lines = text.split("\n")
    torn = bool(lines[-1])  # the text after the last newline: an unfinished line
    records: dict[int, dict[str, Any]] = {}
    for line in lines[:-1]:
        try:
            rec = json.loads(line)
            records[int(rec["index"])] = rec
        except (ValueError, KeyError, TypeError):
            torn = True
    return records, torn


def rewrite_manifest(out_dir: Path, records: dict[int, dict[str, Any]]) -> None:
    from psfbench.core.dataset.atomic import atomic_write_bytes

    text = "".join(
        json.dumps(records[k], sort_keys=True, allow_nan=False) + "\n" for k in sorted(records)
    )
    atomic_write_bytes(out_dir / MANIFEST_FILE, text.encode("utf-8"))


def sha256_of(path: Path) -> str:
    from psfbench.core.datagen.sources import sha256_file

    return sha256_file(path)


def completed_shards(
    out_dir: str | Path, cfg: GenerationConfig, *, verify: bool = False
) -> dict[int, dict[str, Any]]:
    """Shards that are done: listed in the manifest for this configuration's sample range,
    present with the recorded size (and SHA-256 with ``verify``)."""
    out = Path(out_dir)
    records, _ = read_manifest(out)
    done: dict[int, dict[str, Any]] = {}
    for index, rec in records.items():
        if not 0 <= index < cfg.n_shards:
            continue
        rng = cfg.shard_indices(index)
        if rec.get("first") != rng.start or rec.get("count") != len(rng):
            continue
        path = out / shard_name(index)
        try:
            if path.stat().st_size != rec.get("bytes"):
                continue
        except FileNotFoundError:
            continue
        if verify and sha256_of(path) != rec.get("sha256"):
            continue
        done[index] = rec
    return done


def remove_debris(out_dir: Path) -> list[Path]:
    """Delete temporary files of interrupted shard writes; returns what was removed."""
    from psfbench.core.dataset.atomic import is_temp_file

    removed = []
    for p in out_dir.iterdir():
        if p.is_file() and is_temp_file(p):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


# ----------------------------------------------------------------------------- reading


def _decode(ext: str, data: bytes) -> Any:
    if ext == "png":
        import cv2

        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if img is None:
            raise DatagenError("a shard's PNG member cannot be decoded")
        return img if img.ndim == 2 else np.ascontiguousarray(img[..., ::-1])
    if ext.endswith("npy"):
        return np.load(io.BytesIO(data), allow_pickle=False)
    return json.loads(data)


def iter_shard(path: str | Path, *, decode: bool = True) -> Iterator[dict[str, Any]]:
    """Samples of one shard in order: ``{"key", "png", "sigma.npy", "depth.npy", "json"}``,
    decoded (image (H, W[, 3]) uint8/uint16 RGB, arrays float32, JSON dict) or raw bytes."""
    with tarfile.open(path, mode="r:") as tar:
        current: dict[str, Any] = {}
        for member in tar:
            if not member.isfile():
                continue
            key, _, ext = member.name.partition(".")
            if current and current["key"] != key:
                yield current
                current = {}
            fh = tar.extractfile(member)
            assert fh is not None
            data = fh.read()
            current.setdefault("key", key)
            current[ext] = _decode(ext, data) if decode else data
        if current:
            yield current


def iter_samples(out_dir: str | Path, *, decode: bool = True) -> Iterator[dict[str, Any]]:
    """Every sample of a dataset's complete shards, in key order (see :func:`iter_shard`)."""
    out = Path(out_dir)
    records, _ = read_manifest(out)
    for index in sorted(records):
        yield from iter_shard(out / records[index]["shard"], decode=decode)
