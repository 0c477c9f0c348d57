"""Importer (a): a folder of images plus a CSV of distances.

CSV format (UTF-8, comma separated, header row required)::

    file,d_mm[,focus_depth_mm][,motor_steps][,exposure_us][,index]

``file`` is relative to ``image_dir`` (default: the CSV's folder); ``d_mm`` is the measured
sensor distance d, ``focus_depth_mm`` a known focus depth Df; at least one of the two per row.
Without an ``index`` column, rows are numbered in file order.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Any

from core.dataset.errors import DatasetError
from core.dataset.image_files import bit_depth_of, read_depth_file, read_image
from core.dataset.schema import Camera, Lens, PlannedStep, Provenance, SessionMeta, SweepPlan
from core.dataset.session import Session
from core.dataset.writer import SessionWriter

_NUMERIC = {"d_mm": float, "focus_depth_mm": float, "motor_steps": int, "exposure_us": float}


def _parse_rows(csv_path: Path) -> list[dict[str, Any]]:
    name = str(csv_path)
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = [h.strip() for h in (reader.fieldnames or [])]
            rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in reader]
    except FileNotFoundError:
        raise DatasetError(name, "(file)", "CSV file is missing") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(name, "(file)", f"cannot read CSV ({exc})") from None
    if "file" not in header or not ({"d_mm", "focus_depth_mm"} & set(header)):
        raise DatasetError(
            name, "header", f"needs columns 'file' and 'd_mm' (or 'focus_depth_mm'), got {header}"
        )
    if not rows:
        raise DatasetError(name, "rows", "no data rows")
    out: list[dict[str, Any]] = []
    for n, row in enumerate(rows, start=2):  # line 1 is the header
        rec: dict[str, Any] = {"file": row["file"]}
        if not rec["file"]:
            raise DatasetError(name, f"line {n}: file", "empty")
        for col, conv in _NUMERIC.items():
            if row.get(col):
                try:
                    rec[col] = conv(row[col])
                except ValueError:
                    raise DatasetError(
                        name, f"line {n}: {col}", f"{row[col]!r} is not a number"
                    ) from None
        if "d_mm" not in rec and "focus_depth_mm" not in rec:
            raise DatasetError(name, f"line {n}: d_mm", "no d_mm or focus_depth_mm value")
        try:
            rec["index"] = int(row["index"]) if row.get("index") else len(out)
        except ValueError:
            raise DatasetError(
                name, f"line {n}: index", f"{row['index']!r} is not an integer"
            ) from None
        out.append(rec)
    return out


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

    On any error the half-built ``out_dir`` is removed, so a failed import leaves nothing.
    """
    csv_path = Path(csv_path)
    src = Path(image_dir) if image_dir is not None else csv_path.parent
    rows = _parse_rows(csv_path)
    first = read_image(src / rows[0]["file"])
    meta = SessionMeta(
        camera=Camera(
            model=camera_model,
            pixel_size_mm=pixel_size_mm,
            bit_depth=bit_depth or bit_depth_of(first),
            pixel_format="RGB" if first.ndim == 3 else "Mono",
        ),
        lens=Lens(focal_length_mm=focal_length_mm, f_number=f_number),
        output_scale=output_scale,
        plan=SweepPlan(kind="imported", steps=[PlannedStep(index=r["index"]) for r in rows]),
        provenance=Provenance(source=f"import_image_folder({csv_path})"),
    )
    out = Path(out_dir)
    created = not out.exists()
    try:
        with SessionWriter.create(out, meta) as w:
            for row in rows:
                path = src / row["file"]
                img = first if row is rows[0] else read_image(path)
                if img.shape != first.shape or img.dtype != first.dtype:
                    raise DatasetError(
                        path,
                        "shape",
                        f"{img.shape} {img.dtype} differs from the first image's "
                        f"{first.shape} {first.dtype}",
                    )
                fields = {k: row[k] for k in _NUMERIC if k in row}
                w.write_frame(row["index"], img, fields)
            if depth is not None:
                dmap = read_depth_file(Path(depth), depth_scale)
                if dmap.shape != first.shape[:2]:
                    raise DatasetError(depth, "shape", f"{dmap.shape} differs from the images'")
                w.write_depth(dmap)
            if aif is not None:
                aif_img = read_image(Path(aif))
                if aif_img.shape != first.shape or aif_img.dtype != first.dtype:
                    raise DatasetError(
                        aif,
                        "shape",
                        f"{aif_img.shape} {aif_img.dtype} differs from the "
                        f"images' {first.shape} {first.dtype}",
                    )
                w.write_aif(aif_img)
    except BaseException:
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    return Session.open(out)
