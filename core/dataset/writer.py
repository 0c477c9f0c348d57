"""Writing a session frame by frame, crash-safe at every instant.

Order of a step: validate the record fields, write the frame atomically (temp + fsync +
rename), then append its record to ``sweep.jsonl`` (fsync). A crash between the two leaves an
unreferenced frame file, which readers ignore and a resume overwrites, so a record always
points at a complete file and no step is ever half-recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from psfbench.core.dataset import layout
from psfbench.core.dataset.atomic import (
    atomic_write_json,
    atomic_write_npy,
    fsync_dir,
    is_temp_file,
)
from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.schema import (
    SCHEMA,
    SessionMeta,
    SweepRecord,
    dataset_error_from,
    parse_meta,
)
from psfbench.core.dataset.session import load_meta
from psfbench.core.dataset.sweep_log import SweepLogAppender, read_log, truncate_torn_tail
from psfbench.core.dataset.tiff_io import check_image_array, inspect_tiff, write_tiff

try:  # a second writer on the same session would interleave steps; POSIX only
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


def _as_meta(meta: SessionMeta | Mapping[str, Any]) -> SessionMeta:
    if isinstance(meta, SessionMeta):
        return SessionMeta.model_validate(meta.to_json())
    data = dict(meta)
    data.setdefault("schema", SCHEMA)
    return parse_meta(data, layout.META_NAME)


class SessionWriter:
    """Sole writer of one session folder (an OS lock refuses a second one)."""

    def __init__(self, root: Path, meta: SessionMeta) -> None:
        self.path = root
        self._meta = meta
        self._log = SweepLogAppender(root / layout.LOG_NAME)
        self._lock()
        self._records: dict[int, SweepRecord] = {}
        self._image_shape: tuple[int, ...] | None = None
        self._image_dtype: np.dtype | None = None
        #: What :meth:`open_existing` had to repair (torn line, temp files), for the log.
        self.repairs: list[str] = []

    def _lock(self) -> None:
        if fcntl is None:
            return
        try:
            fcntl.flock(self._log._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._log.close()
            raise DatasetError(
                layout.LOG_NAME, "(lock)", "session is open for writing by another process"
            ) from None

    # ----------------------------------------------------------------- lifecycle
    @classmethod
    def create(cls, path: str | Path, meta: SessionMeta | Mapping[str, Any]) -> SessionWriter:
        """New session in ``path`` (must not exist, or be an empty folder)."""
        root = Path(path)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise DatasetError(
                root, "(folder)", "already exists and is not empty (use open_existing to resume)"
            )
        model = _as_meta(meta)
        (root / layout.FRAMES_DIR).mkdir(parents=True, exist_ok=True)
        (root / layout.RESULTS_DIR).mkdir(exist_ok=True)
        fsync_dir(root)
        if root.parent.exists():
            fsync_dir(root.parent)
        atomic_write_json(root / layout.META_NAME, model.to_json())
        return cls(root, model)

    @classmethod
    def open_existing(cls, path: str | Path) -> SessionWriter:
        """Reopen for resuming: cut a torn last record, delete temp debris, keep the rest."""
        root = Path(path)
        if not root.is_dir():
            raise DatasetError(root, "(folder)", "not a session folder (does not exist)")
        meta = load_meta(root)
        log_path = root / layout.LOG_NAME
        contents = read_log(log_path)
        if contents.bad_lines:
            raise contents.bad_lines[0]
        writer = cls(root, meta)
        if contents.torn_tail:
            truncate_torn_tail(log_path, contents.committed_bytes)
            writer.repairs.append(
                f"{layout.LOG_NAME}: removed an incomplete last line ({len(contents.torn_tail)}"
                " bytes)"
            )
        for folder in (root, root / layout.FRAMES_DIR, root / layout.RESULTS_DIR):
            if folder.is_dir():
                for p in folder.iterdir():
                    if is_temp_file(p):
                        p.unlink()
                        writer.repairs.append(f"removed temporary file {p.relative_to(root)}")
        writer._records, _ = contents.latest_by_index()
        for rec in writer._records.values():
            info = inspect_tiff(root / rec.frame, "frame", rec.frame)
            writer._image_shape, writer._image_dtype = info.shape, info.dtype
            break
        return writer

    def close(self) -> None:
        self._log.close()  # also releases the lock

    def __enter__(self) -> SessionWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- state
    @property
    def meta(self) -> SessionMeta:
        return self._meta

    @property
    def completed_indices(self) -> list[int]:
        return sorted(self._records)

    def missing_steps(self) -> list[int]:
        return sorted({s.index for s in self._meta.plan.steps} - set(self._records))

    # ----------------------------------------------------------------- writes
    def _check_image(self, image: np.ndarray, rel: str, field: str) -> np.ndarray:
        arr = check_image_array(image, rel, field)
        if arr.dtype.kind == "u":
            full = 2**self._meta.camera.bit_depth - 1
            top = int(arr.max())
            if top > full:
                raise DatasetError(
                    rel,
                    "camera.bit_depth",
                    f"sample value {top} exceeds the declared {self._meta.camera.bit_depth}-bit "
                    f"full scale {full}",
                )
        if self._image_shape is not None and arr.shape != self._image_shape:
            raise DatasetError(
                rel, "shape", f"{arr.shape} differs from the session's {self._image_shape}"
            )
        if self._image_dtype is not None and arr.dtype != self._image_dtype:
            raise DatasetError(
                rel, "dtype", f"{arr.dtype} differs from the session's {self._image_dtype}"
            )
        cam = self._meta.camera
        size = (cam.width, cam.height)
        if None not in size and (arr.shape[1], arr.shape[0]) != size:
            raise DatasetError(
                rel,
                "shape",
                f"{arr.shape[1]}x{arr.shape[0]} but camera.width/height is "
                f"{cam.width}x{cam.height}",
            )
        return arr

    def _adopt_shape(self, arr: np.ndarray) -> None:
        if self._image_shape is None:
            self._image_shape, self._image_dtype = arr.shape, arr.dtype
        cam = self._meta.camera
        if cam.width is None or cam.height is None:
            self.update_meta(
                camera={**cam.model_dump(), "width": arr.shape[1], "height": arr.shape[0]}
            )

    def write_frame(
        self,
        index: int,
        image: np.ndarray,
        record_fields: Mapping[str, Any] | None = None,
    ) -> SweepRecord:
        """Store one step: the frame file first, then its record. Returns the record.

        ``record_fields``: d_mm and/or focus_depth_mm, motor_steps, exposure_us,
        frames_averaged, device_state, timestamp (default now, UTC), monotonic_s (default
        ``time.monotonic()``). Rewriting an index (resume) replaces its frame; the newer record
        wins on read.
        """
        rel = layout.frame_name(index)
        fields = dict(record_fields or {})
        fields.setdefault("timestamp", datetime.now(UTC))
        fields.setdefault("monotonic_s", time.monotonic())
        try:
            record = SweepRecord.model_validate({**fields, "index": index, "frame": rel})
        except ValidationError as exc:
            raise dataset_error_from(exc, layout.LOG_NAME, f"index {index}") from None
        arr = self._check_image(image, rel, "frame")
        write_tiff(self.path / rel, arr)
        self._log.append(record)
        self._records[index] = record
        self._adopt_shape(arr)
        return record

    def write_depth(self, depth_mm: np.ndarray) -> Path:
        """Depth map in mm (stored float32); NaN marks invalid pixels."""
        arr = np.asarray(depth_mm)
        if arr.ndim != 2 or arr.dtype.kind not in "fiu":
            raise DatasetError(layout.DEPTH_NAME, "depth", f"{arr.shape} {arr.dtype} is not (H, W)")
        arr = arr.astype(np.float32)
        if not np.isfinite(arr).any():
            raise DatasetError(layout.DEPTH_NAME, "depth", "no valid pixel (all NaN)")
        with np.errstate(invalid="ignore"):
            if np.isinf(arr).any() or (arr <= 0).any():
                raise DatasetError(
                    layout.DEPTH_NAME, "depth", "values must be > 0 mm; use NaN for invalid pixels"
                )
        if self._image_shape is not None and arr.shape != self._image_shape[:2]:
            raise DatasetError(
                layout.DEPTH_NAME,
                "shape",
                f"{arr.shape} differs from the frames' {self._image_shape[:2]}",
            )
        write_tiff(self.path / layout.DEPTH_NAME, arr)
        return self.path / layout.DEPTH_NAME

    def write_aif(self, image: np.ndarray) -> Path:
        """All-in-focus image, same shape and dtype rules as the frames."""
        arr = self._check_image(image, layout.AIF_NAME, "aif")
        depth_path = self.path / layout.DEPTH_NAME
        if depth_path.exists():
            dshape = inspect_tiff(depth_path, "depth", layout.DEPTH_NAME).shape
            if arr.shape[:2] != dshape:
                raise DatasetError(
                    layout.AIF_NAME, "shape", f"{arr.shape} differs from the depth map's {dshape}"
                )
        write_tiff(self.path / layout.AIF_NAME, arr)
        self._adopt_shape(arr)
        return self.path / layout.AIF_NAME

    def write_results(
        self,
        name: str,
        data: Mapping[str, Any],
        arrays: Mapping[str, np.ndarray] | None = None,
    ) -> Path:
        """``results/<name>.json`` plus ``results/<name>/<key>.npy`` (no pickle).

        Arrays go first, the JSON that lists them last, so a listed array always exists.
        """
        if not name or "/" in name or "\\" in name or name.startswith("."):
            raise DatasetError(layout.RESULTS_DIR, "name", f"invalid result name {name!r}")
        rels: dict[str, str] = {}
        for key, arr in (arrays or {}).items():
            if not key or "/" in key or key.startswith("."):
                raise DatasetError(layout.RESULTS_DIR, f"{name}.arrays", f"invalid key {key!r}")
            rel = f"{layout.RESULTS_DIR}/{name}/{key}.npy"
            try:
                atomic_write_npy(self.path / rel, np.asarray(arr))
            except TypeError as exc:
                raise DatasetError(rel, f"arrays.{key}", str(exc)) from None
            rels[key] = rel
        doc = {
            "schema": layout.RESULT_SCHEMA,
            "name": name,
            "created": datetime.now(UTC).isoformat(),
            "data": dict(data),
            "arrays": rels,
        }
        target = self.path / layout.RESULTS_DIR / f"{name}.json"
        try:
            json.dumps(doc, allow_nan=False, default=str)
        except ValueError as exc:
            raise DatasetError(f"{layout.RESULTS_DIR}/{name}.json", "data", str(exc)) from None
        return atomic_write_json(target, doc)

    @property
    def results_dir(self) -> Path:
        """For extra result files (plots); write them with :mod:`psfbench.core.dataset.atomic`."""
        return self.path / layout.RESULTS_DIR

    def update_meta(self, **changes: Any) -> SessionMeta:
        """Replace top-level metadata fields (validated) and rewrite session.json atomically."""
        data = self._meta.to_json()
        for key, value in changes.items():
            key = "schema" if key == "schema_" else key
            if key not in data:
                raise DatasetError(layout.META_NAME, key, "unknown metadata field")
            if hasattr(value, "model_dump"):
                value = value.model_dump(mode="json", by_alias=True)
            data[key] = value
        model = parse_meta(json.loads(json.dumps(data, default=str)), layout.META_NAME)
        atomic_write_json(self.path / layout.META_NAME, model.to_json())
        self._meta = model
        return model
