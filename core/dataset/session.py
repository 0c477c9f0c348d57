"""Reading a session: everything validated on open, pixels loaded lazily.

``Session.open`` checks the metadata, the sweep table and every file's TIFF header (shape,
dtype, truncation) before anything is fitted, so a bad session fails in seconds with a
:class:`DatasetError` naming the file and field, not an hour into a fit. ``strict=False``
collects the same problems into a :class:`ValidationReport` instead (``psfbench session info``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.dataset import layout, strict_json
from psfbench.core.dataset.atomic import is_temp_file
from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.schema import SessionMeta, SweepRecord, parse_meta
from psfbench.core.dataset.strict_json import read_limited
from psfbench.core.dataset.sweep_log import read_log
from psfbench.core.dataset.tiff_io import (
    TiffInfo,
    channels_first,
    inspect_tiff,
    read_tiff,
    to_float01,
)


@dataclass
class ValidationReport:
    valid: bool
    frames: int
    missing_steps: list[int]
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    duplicate_indices: list[int] = field(default_factory=list)
    shape: list[int] | None = None
    dtype: str | None = None
    focal_length_mm: float | None = None
    d_range_mm: list[float] | None = None
    focus_depth_range_mm: list[float] | None = None
    has_depth: bool = False
    has_aif: bool = False

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


#: Largest session.json or results/<name>.json read (a bigger one is refused, not loaded into
#: memory: no session needs that much).
MAX_META_BYTES = 16 << 20


def load_meta(root: Path) -> SessionMeta:
    path = root / layout.META_NAME
    if not path.exists() and not path.is_symlink():
        raise DatasetError(layout.META_NAME, "(file)", f"missing in {root}")
    inside(root, layout.META_NAME, "(file)")
    data = read_limited(path, layout.META_NAME, MAX_META_BYTES, "session.json")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(layout.META_NAME, "(file)", f"cannot read ({exc})") from None
    return parse_meta(strict_json.loads(text, layout.META_NAME), layout.META_NAME)


def inside(root: Path, rel: str, field: str) -> Path:
    """``root / rel``, refused (DatasetError naming ``rel``) when it resolves outside ``root``:
    a symbolic link out of the session folder (or a path that climbs out of it) would read,
    and on resume overwrite, files that are not the session's."""
    path = root / rel
    try:
        real = path.resolve()
        base = root.resolve()
    except (OSError, RuntimeError) as exc:  # symlink loops
        raise DatasetError(rel, field, f"cannot resolve the path ({exc})") from None
    if real != base and base not in real.parents:
        raise DatasetError(rel, field, f"leads outside the session folder (to {real})")
    return path


class Session:
    """A session folder opened for reading. Build with :meth:`open`."""

    def __init__(self, root: Path, meta: SessionMeta) -> None:
        self.path = root
        self.meta = meta
        self.records: list[SweepRecord] = []
        self._by_index: dict[int, SweepRecord] = {}
        self._errors: list[DatasetError] = []
        self._warnings: list[str] = []
        self._duplicates: list[int] = []
        self._frame_info: TiffInfo | None = None
        self._depth_info: TiffInfo | None = None
        self._aif_info: TiffInfo | None = None

    # ----------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, *, strict: bool = True) -> Session:
        """Open and validate; ``strict`` raises the first problem as a DatasetError."""
        root = Path(path)
        if not root.is_dir():
            raise DatasetError(root, "(folder)", "not a session folder (does not exist)")
        session = cls(root, load_meta(root))
        session._scan()
        if strict and session._errors:
            raise session._errors[0]
        return session

    def _problem(self, file: str, fld: str, message: str) -> None:
        self._errors.append(DatasetError(file, fld, message))

    def _scan(self) -> None:
        try:
            log = read_log(self.path / layout.LOG_NAME)
        except DatasetError as exc:
            self._errors.append(exc)
            return
        if log.torn_tail:
            self._warnings.append(
                f"{layout.LOG_NAME}: ignored an incomplete last line ({len(log.torn_tail)} bytes,"
                " interrupted write); resuming will repair it"
            )
        self._errors.extend(log.bad_lines)
        self._by_index, self._duplicates = log.latest_by_index()
        if self._duplicates:
            self._warnings.append(
                f"{layout.LOG_NAME}: indices recorded more than once (last record kept): "
                f"{self._duplicates}"
            )
        self.records = [self._by_index[i] for i in sorted(self._by_index)]
        self._check_frames()
        self._check_extras()
        self._check_distances()
        self._check_debris()

    def _check_frames(self) -> None:
        for rec in self.records:
            try:
                info = inspect_tiff(inside(self.path, rec.frame, "frame"), "frame", rec.frame)
            except DatasetError as exc:
                self._errors.append(exc)
                continue
            if self._frame_info is None:
                self._frame_info = info
            elif info.shape != self._frame_info.shape:
                self._problem(
                    rec.frame,
                    "shape",
                    f"{info.shape} differs from the first frame's {self._frame_info.shape}",
                )
            elif info.dtype != self._frame_info.dtype:
                self._problem(
                    rec.frame,
                    "dtype",
                    f"{info.dtype} differs from the first frame's {self._frame_info.dtype}",
                )
        cam = self.meta.camera
        if self._frame_info is not None and cam.width is not None and cam.height is not None:
            h, w = self._frame_info.shape[:2]
            if (w, h) != (cam.width, cam.height):
                self._problem(
                    layout.META_NAME,
                    "camera.width/height",
                    f"{cam.width}x{cam.height} but frames are {w}x{h}",
                )

    def _check_extras(self) -> None:
        ref = self._frame_info.shape if self._frame_info else None
        depth_path = self.path / layout.DEPTH_NAME
        if depth_path.exists() or depth_path.is_symlink():
            try:
                inside(self.path, layout.DEPTH_NAME, "depth")
                self._depth_info = inspect_tiff(depth_path, "depth", layout.DEPTH_NAME)
                d = self._depth_info
                if len(d.shape) != 2:
                    self._problem(layout.DEPTH_NAME, "shape", f"{d.shape} is not (H, W)")
                elif ref is not None and d.shape != ref[:2]:
                    self._problem(
                        layout.DEPTH_NAME, "shape", f"{d.shape} differs from the frames' {ref[:2]}"
                    )
                if d.dtype.kind != "f":
                    self._problem(layout.DEPTH_NAME, "dtype", f"{d.dtype}; expected float32 mm")
                else:
                    self._check_depth_values(self.depth())
            except DatasetError as exc:
                self._errors.append(exc)
        aif_path = self.path / layout.AIF_NAME
        if aif_path.exists() or aif_path.is_symlink():
            try:
                inside(self.path, layout.AIF_NAME, "aif")
                self._aif_info = inspect_tiff(aif_path, "aif", layout.AIF_NAME)
                a = self._aif_info
                dref = self._depth_info.shape if self._depth_info else None
                if ref is not None and a.shape != ref:
                    self._problem(
                        layout.AIF_NAME, "shape", f"{a.shape} differs from the frames' {ref}"
                    )
                elif dref is not None and a.shape[:2] != dref[:2]:
                    self._problem(
                        layout.AIF_NAME, "shape", f"{a.shape} differs from the depth map's {dref}"
                    )
            except DatasetError as exc:
                self._errors.append(exc)

    def _check_depth_values(self, depth: np.ndarray) -> None:
        finite = np.isfinite(depth)
        if not finite.any():
            self._problem(layout.DEPTH_NAME, "depth", "no valid pixel (all NaN)")
            return
        if np.isinf(depth).any():
            self._problem(layout.DEPTH_NAME, "depth", "contains inf; use NaN for invalid pixels")
        with np.errstate(invalid="ignore"):
            bad = finite & (depth <= 0)
        if bad.any():
            self._problem(
                layout.DEPTH_NAME,
                "depth",
                f"{int(bad.sum())} pixels are <= 0 mm; use NaN for invalid pixels",
            )

    def _check_distances(self) -> None:
        F = self.meta.lens.focal_length_mm
        for rec in self.records:
            if rec.focus_depth_mm is not None and rec.focus_depth_mm <= F:
                self._problem(
                    layout.LOG_NAME,
                    f"index {rec.index}: focus_depth_mm",
                    f"Df = {rec.focus_depth_mm} mm is not beyond the focal length F = {F} mm",
                )
        e = self.meta.lens.nominal_e_mm
        if e is not None:
            try:
                self.check_focus_depths(e)
            except DatasetError as exc:
                self._errors.append(exc)
        plan = {s.index for s in self.meta.plan.steps}
        extra = sorted(set(self._by_index) - plan) if plan else []
        if extra:
            self._warnings.append(f"{layout.LOG_NAME}: indices not in the plan: {extra}")

    def _check_debris(self) -> None:
        referenced = {rec.frame for rec in self.records}
        frames_dir = self.path / layout.FRAMES_DIR
        if frames_dir.is_dir():
            orphans = sorted(
                f"{layout.FRAMES_DIR}/{p.name}"
                for p in frames_dir.iterdir()
                if p.suffix == ".tif"
                and not is_temp_file(p)
                and f"{layout.FRAMES_DIR}/{p.name}" not in referenced
            )
            if orphans:
                self._warnings.append(
                    f"frame files without a sweep record (interrupted step, ignored): {orphans}"
                )
        debris = [
            str(p.relative_to(self.path))
            for d in (self.path, frames_dir, self.path / layout.RESULTS_DIR)
            if d.is_dir()
            for p in d.iterdir()
            if is_temp_file(p)
        ]
        if debris:
            self._warnings.append(f"temporary files from interrupted writes: {sorted(debris)}")

    # ----------------------------------------------------------------- queries
    @property
    def indices(self) -> list[int]:
        return [r.index for r in self.records]

    @property
    def focal_length_mm(self) -> float:
        return self.meta.lens.focal_length_mm

    @property
    def d_mm(self) -> np.ndarray:
        """Measured (or implied, see ``meta.implied_d``) d per record; NaN where absent."""
        return np.array([np.nan if r.d_mm is None else r.d_mm for r in self.records], float)

    @property
    def focus_depth_mm(self) -> np.ndarray | None:
        """Given focus depths Df per record, or None when the session only has measured d."""
        if not any(r.focus_depth_mm is not None for r in self.records):
            return None
        return np.array(
            [np.nan if r.focus_depth_mm is None else r.focus_depth_mm for r in self.records],
            float,
        )

    def check_focus_depths(self, e_mm: float) -> np.ndarray:
        """Df per record for mechanical offset ``e_mm``; given Df wins over d + e.

        Raises a DatasetError naming the record whose d + e does not exceed F (no real focus
        depth), so a fitter can reject an e range up front instead of producing NaNs.
        """
        from psfbench.core.optics import focus_depth

        F = self.focal_length_mm
        out = np.empty(len(self.records), dtype=float)
        for k, rec in enumerate(self.records):
            if rec.focus_depth_mm is not None:
                if rec.focus_depth_mm <= F:
                    raise DatasetError(
                        layout.LOG_NAME,
                        f"index {rec.index}: focus_depth_mm",
                        f"Df = {rec.focus_depth_mm} mm is not beyond F = {F} mm",
                    )
                out[k] = rec.focus_depth_mm
                continue
            assert rec.d_mm is not None  # schema guarantees one of the two
            if rec.d_mm + e_mm <= F:
                raise DatasetError(
                    layout.LOG_NAME,
                    f"index {rec.index}: d_mm",
                    f"d = {rec.d_mm} mm with e = {e_mm} mm gives v = d + e <= F = {F} mm: "
                    "Df would not be beyond the focal length",
                )
            out[k] = float(focus_depth(rec.d_mm, e_mm, F))
        return out

    def missing_steps(self) -> list[int]:
        """Planned step indices without a valid record (what a resume must acquire)."""
        return sorted({s.index for s in self.meta.plan.steps} - set(self._by_index))

    def record(self, index: int) -> SweepRecord:
        try:
            return self._by_index[index]
        except KeyError:
            raise DatasetError(layout.LOG_NAME, "index", f"no record with index {index}") from None

    # ----------------------------------------------------------------- pixels
    def frame(self, index: int) -> np.ndarray:
        """The frame of sweep index ``index`` exactly as stored ((H, W) or (H, W, 3))."""
        rec = self.record(index)
        return read_tiff(inside(self.path, rec.frame, "frame"), "frame", rec.frame)

    def frame_float(self, index: int) -> np.ndarray:
        """(C, H, W) float32 in [0, 1] for the engine."""
        rec = self.record(index)
        img = to_float01(self.frame(index), self.meta.camera.bit_depth, rec.frame, "frame")
        return channels_first(img)

    def frames_array(
        self, indices: list[int] | None = None, as_float: bool = True, channels_first: bool = True
    ) -> np.ndarray:
        """Stack of frames by sweep index: (B, C, H, W) float32 [0, 1] by default.

        ``as_float=False`` keeps the stored dtype; ``channels_first=False`` keeps the stored
        (B, H, W[, 3]) layout.
        """
        idx = self.indices if indices is None else list(indices)
        out: np.ndarray | None = None
        for k, i in enumerate(idx):
            img = self.frame(i)
            if as_float:
                img = to_float01(img, self.meta.camera.bit_depth, self.record(i).frame, "frame")
            if channels_first:
                img = img[None] if img.ndim == 2 else np.moveaxis(img, -1, 0)
            if out is None:
                out = np.empty((len(idx), *img.shape), dtype=img.dtype)
            out[k] = img
        if out is None:
            raise DatasetError(self.path / layout.LOG_NAME, "records", "no frames to load")
        return out

    @property
    def has_depth(self) -> bool:
        return (self.path / layout.DEPTH_NAME).is_file()

    @property
    def has_aif(self) -> bool:
        return (self.path / layout.AIF_NAME).is_file()

    def depth(self) -> np.ndarray:
        """(H, W) float32 mm, NaN where invalid."""
        path = inside(self.path, layout.DEPTH_NAME, "depth")
        arr = read_tiff(path, "depth", layout.DEPTH_NAME)
        if arr.ndim != 2 or arr.dtype.kind != "f":
            raise DatasetError(
                layout.DEPTH_NAME, "depth", f"{arr.shape} {arr.dtype} is not (H, W) float mm"
            )
        arr = arr.astype(np.float32, copy=False)
        if not np.isfinite(arr).any():
            raise DatasetError(layout.DEPTH_NAME, "depth", "no valid pixel (all NaN)")
        return arr

    def aif(self, as_float: bool = True, channels_first: bool = True) -> np.ndarray:
        """All-in-focus image: (C, H, W) float32 [0, 1] by default, else as stored."""
        img = read_tiff(inside(self.path, layout.AIF_NAME, "aif"), "aif", layout.AIF_NAME)
        if as_float:
            img = to_float01(img, self.meta.camera.bit_depth, layout.AIF_NAME, "aif")
        if channels_first:
            img = img[None] if img.ndim == 2 else np.ascontiguousarray(np.moveaxis(img, -1, 0))
        return img

    # ----------------------------------------------------------------- results
    def result_names(self) -> list[str]:
        d = self.path / layout.RESULTS_DIR
        if not d.is_dir():
            return []
        return sorted(p.stem for p in d.glob("*.json") if not is_temp_file(p))

    def result(self, name: str) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """A result written by ``SessionWriter.write_results``: (data, arrays)."""
        rel = f"{layout.RESULTS_DIR}/{name}.json"
        path = inside(self.path, rel, "(file)")
        if not path.exists():
            raise DatasetError(rel, "(file)", "result is missing")
        raw = read_limited(path, rel, MAX_META_BYTES, "result")
        try:
            doc = strict_json.loads(raw.decode("utf-8"), rel)
        except UnicodeDecodeError as exc:
            raise DatasetError(rel, "(json)", f"cannot read ({exc})") from None
        if not isinstance(doc, dict) or doc.get("schema") != layout.RESULT_SCHEMA:
            raise DatasetError(rel, "schema", f"expected {layout.RESULT_SCHEMA!r}")
        listed = doc.get("arrays") or {}
        if not isinstance(listed, dict) or not isinstance(doc.get("data") or {}, dict):
            raise DatasetError(rel, "arrays", "expected objects for 'data' and 'arrays'")
        arrays: dict[str, np.ndarray] = {}
        for key, arel in listed.items():
            if not isinstance(arel, str) or not arel or arel.startswith(("/", "\\")):
                raise DatasetError(rel, f"arrays.{key}", f"{arel!r} is not a relative path")
            apath = inside(self.path, arel, f"arrays.{key}")
            try:
                arrays[key] = np.load(apath, allow_pickle=False)
            except Exception as exc:  # numpy raises many types (a corrupt header: TokenError)
                raise DatasetError(arel, f"arrays.{key}", f"cannot load ({exc})") from None
        return dict(doc.get("data") or {}), arrays

    # ----------------------------------------------------------------- report
    def summary(self, report: ValidationReport | None = None) -> dict[str, Any]:
        """The validation report (``report``, else :meth:`validate`) as JSON plus what a
        reader needs to judge the session: planned steps, camera, bit depth, pixel size,
        f-number, output scale, whether d was implied, the result files (``psfbench session
        info --json`` prints this; the GUI's session browser shows it)."""
        rep = self.validate() if report is None else report
        meta = self.meta
        return {
            "path": str(self.path),
            **rep.to_json(),
            "planned_steps": len(meta.plan.steps),
            "camera": f"{meta.camera.model} {meta.camera.serial}".strip(),
            "bit_depth": meta.camera.bit_depth,
            "pixel_size_mm": meta.camera.pixel_size_mm,
            "f_number": meta.lens.f_number,
            "output_scale": meta.output_scale,
            "d_implied": meta.implied_d is not None,
            "results": self.result_names(),
        }

    def validate(self) -> ValidationReport:
        """Everything found on open, as a report (``valid`` is False if any problem)."""
        problems = [str(e) for e in self._errors]
        shape = list(self._frame_info.shape) if self._frame_info else None
        d = self.d_mm
        fd = self.focus_depth_mm
        finite_d = d[np.isfinite(d)]
        return ValidationReport(
            valid=not problems,
            frames=len(self.records),
            missing_steps=self.missing_steps(),
            problems=problems,
            warnings=list(self._warnings),
            duplicate_indices=list(self._duplicates),
            shape=shape,
            dtype=str(self._frame_info.dtype) if self._frame_info else None,
            focal_length_mm=self.focal_length_mm,
            d_range_mm=[float(finite_d.min()), float(finite_d.max())] if finite_d.size else None,
            focus_depth_range_mm=(
                [float(np.nanmin(fd)), float(np.nanmax(fd))] if fd is not None else None
            ),
            has_depth=self.has_depth,
            has_aif=self.has_aif,
        )
