"""Importer (a): a folder of images plus a CSV of distances.

CSV format (header row required; what spreadsheets write is read: UTF-8 with or without BOM,
Windows-1252, ``;`` with decimal commas, tabs, quoted fields, trailing separators; see
:mod:`psfbench.core.dataset.csv_table`)::

    file,d_mm[,focus_depth_mm][,motor_steps][,exposure_us][,index]

``file`` is relative to ``image_dir`` (default: the CSV's folder); ``d_mm`` is the measured
sensor distance d, ``focus_depth_mm`` a known focus depth Df; at least one of the two per row.
Without an ``index`` column, rows are numbered in file order. Other columns (notes) are
ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.dataset.csv_table import read_table
from psfbench.core.dataset.errors import DatasetError
from psfbench.core.dataset.image_files import bit_depth_of, read_depth_file, read_image
from psfbench.core.dataset.schema import (
    Camera,
    Lens,
    PlannedStep,
    Provenance,
    SessionMeta,
    SweepPlan,
)
from psfbench.core.dataset.session import Session
from psfbench.core.dataset.staging import staged_session

_NUMERIC: dict[str, type] = {
    "d_mm": float,
    "focus_depth_mm": float,
    "motor_steps": int,
    "exposure_us": float,
}


def _parse_rows(csv_path: Path) -> list[dict[str, Any]]:
    table = read_table(csv_path, required="file")
    name = str(csv_path)
    if not ({"d_mm", "focus_depth_mm"} & set(table.header)):
        raise DatasetError(
            name,
            "header",
            f"needs columns 'file' and 'd_mm' (or 'focus_depth_mm'), got {table.header}",
        )
    if not table.rows:
        raise DatasetError(name, "rows", "no data rows")
    out: list[dict[str, Any]] = []
    seen: dict[int, int] = {}
    for row in table.rows:
        rec: dict[str, Any] = {"file": row.cells["file"]}
        rec["where"] = {
            c: table.cell_field(row, c) for c in ("file", *_NUMERIC) if c in table.header
        }
        if not rec["file"]:
            raise DatasetError(name, table.cell_field(row, "file"), "empty")
        for col, kind in _NUMERIC.items():
            value = table.number(row, col, kind) if col in table.header else None
            if value is not None:
                rec[col] = value
        if "d_mm" not in rec and "focus_depth_mm" not in rec:
            col = "d_mm" if "d_mm" in table.header else "focus_depth_mm"
            raise DatasetError(name, table.cell_field(row, col), "no d_mm or focus_depth_mm value")
        index = table.number(row, "index", int) if "index" in table.header else None
        rec["index"] = len(out) if index is None else index
        if rec["index"] < 0:
            raise DatasetError(name, table.cell_field(row, "index"), "must be >= 0")
        if rec["index"] in seen:
            raise DatasetError(
                name,
                f"line {row.line}: index",
                f"index {rec['index']} already used on line {seen[rec['index']]}",
            )
        seen[rec["index"]] = row.line
        out.append(rec)
    if len(out) < 2:
        raise DatasetError(
            name,
            "rows",
            "1 image listed; a focus sweep needs at least 2 (the fit needs at least 2 focus "
            "positions)",
        )
    return out


def _check_units(csv_path: Path, rows: list[dict[str, Any]], focal_length_mm: float) -> None:
    """Distances that cannot be millimetres are refused, as the All-in-3D importer does: a
    focus depth not beyond F, or sensor readings d all below F/20 (metres: d ~ 0.03)."""
    for rec in rows:
        df = rec.get("focus_depth_mm")
        if df is not None and df <= focal_length_mm:
            raise DatasetError(
                csv_path,
                rec["where"]["focus_depth_mm"],
                f"focus depth {df:g} mm is not beyond F = {focal_length_mm:g} mm (metres "
                "instead of mm? multiply the column by 1000)",
            )
    d = [abs(float(rec["d_mm"])) for rec in rows if "d_mm" in rec]
    if d and max(d) < 0.05 * focal_length_mm:
        raise DatasetError(
            csv_path,
            "d_mm",
            f"sensor readings d of {min(d):g}..{max(d):g} mm are implausibly small for "
            f"F = {focal_length_mm:g} mm (the sensor sits about F behind the lens, d + e > F; "
            "metres instead of mm? multiply the column by 1000)",
        )


def _at_row(csv_path: Path, rec: dict[str, Any], exc: DatasetError) -> DatasetError:
    """``exc`` (naming the image) prefixed with the CSV line that lists the image."""
    return DatasetError(csv_path, rec["where"]["file"], str(exc))


def _read_listed(csv_path: Path, src: Path, rec: dict[str, Any]) -> np.ndarray:
    try:
        return read_image(src / rec["file"])
    except DatasetError as exc:
        raise _at_row(csv_path, rec, exc) from None


def check_bit_depth(img: np.ndarray, path: Path, bits: int) -> None:
    """DatasetError naming ``path`` when an integer image holds values beyond the declared
    ``bits`` (``bit_depth=`` / ``--bit-depth``), with a hint when they look left-aligned (all
    multiples of 2**(type bits - bits))."""
    type_bits = 8 * img.dtype.itemsize
    if img.dtype.kind != "u" or bits >= type_bits:
        return
    top, full = int(img.max()), 2**bits - 1
    if top <= full:
        return
    msg = f"sample value {top} exceeds the {bits}-bit full scale {full} (--bit-depth {bits})"
    step = 2 ** (type_bits - bits)
    if not np.any(img % img.dtype.type(step)):
        msg += (
            f"; the values look shifted to the top bits (multiples of {step}): {bits}-bit data "
            f"stored left-aligned? Shift them right by {type_bits - bits} bits, or import "
            f"without --bit-depth to keep them as {type_bits}-bit"
        )
    raise DatasetError(path, "bit depth", msg)


def session_image(img: np.ndarray, path: Path, scale: float | None) -> np.ndarray:
    """An imported image as a session stores it: integers as they are; floats divided by the
    set's full scale ``scale`` (counts -> [0, 1], what sessions mean by float32). NaN samples
    are refused: a session frame is complete."""
    if img.dtype.kind != "f":
        return img
    bad = int(np.count_nonzero(~np.isfinite(img)))
    if bad:
        raise DatasetError(
            path,
            "image",
            f"{bad} NaN/inf samples: a session frame must be complete (fill or crop them, or "
            "fuse with psfbench stack, which treats NaN as missing)",
        )
    return (img / np.float32(scale or 1.0)).astype(np.float32)


def float_scale(images: list[tuple[Path, np.ndarray]]) -> float | None:
    """One full scale for a set of float images (None for integer images): their real range,
    :func:`psfbench.core.imageio.float_full_scale`; DatasetError naming the file otherwise."""
    from psfbench.core import imageio

    scale: float | None = None
    for path, img in images:
        if img.dtype.kind != "f":
            continue
        rng = imageio.finite_range([img])
        if rng is None:
            raise DatasetError(path, "image", "no finite sample (all NaN)")
        try:
            full = imageio.float_full_scale(*rng, path)
        except imageio.ImageFileError as exc:
            raise DatasetError(path, exc.field, exc.message) from None
        scale = full if scale is None else max(scale, full)
    return scale


def import_image_folder(
    csv_path: str | Path,
    out_dir: str | Path,
    *,
    focal_length_mm: float,
    pixel_size_mm: float,
    f_number: float | None = None,
    image_dir: str | Path | None = None,
    depth: str | Path | None = None,
    depth_scale: float = 1.0,
    aif: str | Path | None = None,
    bit_depth: int | None = None,
    output_scale: float = 1.0,
    camera_model: str = "unknown",
) -> Session:
    """Build a session in ``out_dir`` from images listed in a CSV; returns it opened.

    The session is built in a hidden folder beside ``out_dir`` and renamed into place only
    when complete, so a failed import leaves nothing behind and changes nothing already on
    disk. ``out_dir`` must not exist or be an empty folder. Float
    images are taken by their real range (counts 0..4095 -> 12-bit full scale) and stored as
    float32 in [0, 1]; NaN samples are refused (DatasetError naming the file).
    """
    csv_path = Path(csv_path)
    src = Path(image_dir) if image_dir is not None else csv_path.parent
    rows = _parse_rows(csv_path)
    _check_units(csv_path, rows, focal_length_mm)
    first = _read_listed(csv_path, src, rows[0])
    aif_path = Path(aif) if aif is not None else None
    aif_img = read_image(aif_path) if aif_path is not None else None
    if aif_img is not None and (aif_img.shape != first.shape or aif_img.dtype != first.dtype):
        raise DatasetError(
            str(aif_path),
            "shape",
            f"{aif_img.shape} {aif_img.dtype} differs from the images' {first.shape} {first.dtype}",
        )
    dmap = read_depth_file(Path(depth), depth_scale) if depth is not None else None
    if dmap is not None and dmap.shape != first.shape[:2]:
        raise DatasetError(str(depth), "shape", f"{dmap.shape} differs from the images'")
    is_float = first.dtype.kind == "f"
    scale = None
    if is_float:  # one scale for the whole set: a first pass over the float images
        found = [(src / r["file"], _read_listed(csv_path, src, r)) for r in rows]
        if aif_path is not None and aif_img is not None:
            found.append((aif_path, aif_img))
        scale = float_scale(found)
        del found
    meta = SessionMeta(
        camera=Camera(
            model=camera_model,
            pixel_size_mm=pixel_size_mm,
            bit_depth=bit_depth or (16 if is_float else bit_depth_of(first)),
            pixel_format="RGB" if first.ndim == 3 else "Mono",
        ),
        lens=Lens(focal_length_mm=focal_length_mm, f_number=f_number),
        output_scale=output_scale,
        plan=SweepPlan(kind="imported", steps=[PlannedStep(index=r["index"]) for r in rows]),
        provenance=Provenance(source=f"import_image_folder({csv_path})"),
        notes=f"float images divided by their full scale {scale:g}" if scale else "",
    )
    if aif_path is not None and aif_img is not None:
        check_bit_depth(aif_img, aif_path, meta.camera.bit_depth)
    with staged_session(out_dir, meta) as w:
        for row in rows:
            path = src / row["file"]
            img = first if row is rows[0] else _read_listed(csv_path, src, row)
            try:
                if img.shape != first.shape or img.dtype != first.dtype:
                    raise DatasetError(
                        path,
                        "shape",
                        f"{img.shape} {img.dtype} differs from the first image's "
                        f"{first.shape} {first.dtype}",
                    )
                stored = session_image(img, path, scale)
                check_bit_depth(stored, path, meta.camera.bit_depth)
            except DatasetError as exc:
                raise _at_row(csv_path, row, exc) from None
            fields = {k: row[k] for k in _NUMERIC if k in row}
            w.write_frame(row["index"], stored, fields)
        if dmap is not None:
            w.write_depth(dmap)
        if aif_path is not None and aif_img is not None:
            w.write_aif(session_image(aif_img, aif_path, scale))
    return Session.open(out_dir)
