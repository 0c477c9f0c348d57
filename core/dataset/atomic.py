"""Crash-safe file writes: temporary name in the same folder, fsync, rename, fsync folder.

A reader (or a resumed acquisition) must never see half a file: after a crash at any instant
either the old file or the complete new one is on disk. The temporary name lives in the same
folder so ``os.replace`` is an atomic rename on the same filesystem, and the folder is fsync'd
so the rename itself survives a power loss.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np

#: Marker in temporary names; anything containing it is debris from an interrupted write.
TEMP_MARK = ".tmp-"


def temp_name(target: Path) -> Path:
    """Hidden sibling name, unique per process and call, recognisable as debris."""
    return target.with_name(f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}")


def is_temp_file(path: Path) -> bool:
    return path.name.startswith(".") and TEMP_MARK in path.name


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(target: str | Path) -> Iterator[IO[bytes]]:
    """Binary file handle whose content appears at ``target`` only if the block succeeds."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(target.parent)


def atomic_write_with(target: str | Path, write: Callable[[IO[bytes]], Any]) -> Path:
    """Run ``write(fh)`` into a temporary file and move it to ``target`` atomically."""
    with atomic_open(target) as fh:
        write(fh)
    return Path(target)


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    return atomic_write_with(target, lambda fh: fh.write(data))


def atomic_write_json(target: str | Path, obj: Any) -> Path:
    """Pretty JSON (humans read session files), strict: NaN/inf are refused, not written."""
    text = json.dumps(obj, indent=2, sort_keys=False, allow_nan=False, default=str) + "\n"
    return atomic_write_bytes(target, text.encode("utf-8"))


def atomic_write_npy(target: str | Path, array: np.ndarray) -> Path:
    """``.npy`` without pickle, so it can be loaded back with ``allow_pickle=False``."""
    arr = np.asarray(array)
    if arr.dtype.hasobject:
        raise TypeError(f"{target}: object arrays cannot be stored without pickle")
    return atomic_write_with(target, lambda fh: np.save(fh, arr, allow_pickle=False))
