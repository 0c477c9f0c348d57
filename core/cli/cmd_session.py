"""``psfbench session info DIR``: a technician's check that a session is complete and usable;
``psfbench session import csv|allin3d ...``: a session from images made elsewhere.

``info`` exit status: 0 valid (every record points at a readable frame, shapes agree, metadata
validates), 1 problems found (listed), 2 DIR is not a folder at all. ``import`` exit status: 0
imported (the new session is valid), 2 refused (the error names file, line/field; nothing is
left on disk).
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("session", help="inspect a session folder, or import one")
    ssub = p.add_subparsers(dest="session_command", metavar="ACTION")
    ssub.required = True
    info = ssub.add_parser("info", help="validate a session and summarise it")
    info.add_argument("dir", metavar="DIR", help="session folder")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)
    _register_import(ssub)


def _register_import(ssub: argparse._SubParsersAction) -> None:
    imp = ssub.add_parser(
        "import",
        help="make a session from images made elsewhere (a CSV of distances, All-in-3D)",
        description="Build a new session folder from a folder of images listed in a CSV, or "
        "from one view of the All-in-3D layout (docs/dataset.md). The session appears only "
        "when complete: a refused import leaves nothing on disk.",
    )
    isub = imp.add_subparsers(dest="import_kind", metavar="KIND")
    isub.required = True
    c = isub.add_parser(
        "csv",
        help="images listed in a CSV: file,d_mm[,focus_depth_mm,motor_steps,exposure_us,index]",
        description="CSV as spreadsheets write it (UTF-8 with or without BOM, Windows-1252, "
        "';' with decimal commas, tabs, quoted fields, trailing separators); images PNG, "
        "JPEG, BMP or TIFF (compressed too), 8/12/16-bit or float, mono or colour.",
    )
    c.add_argument("csv", metavar="CSV", help="the table of images and distances")
    c.add_argument("--out", required=True, metavar="DIR", help="new session folder")
    c.add_argument("--focal-length-mm", type=float, required=True, help="lens focal length F")
    c.add_argument("--pixel-size-mm", type=float, required=True, help="sensor pixel pitch")
    c.add_argument("--f-number", type=float, help="f-number N of the sweep")
    c.add_argument("--image-dir", metavar="DIR", help="folder of the images (default: CSV's)")
    c.add_argument("--depth", metavar="FILE", help="depth map (.npy or .tif, mm)")
    c.add_argument("--depth-scale", type=float, default=1.0, help="depth multiplier (1000: m)")
    c.add_argument("--aif", metavar="FILE", help="all-in-focus image on the frames' grid")
    c.add_argument("--bit-depth", type=int, help="significant bits (12 for 12-bit cameras)")
    c.add_argument("--output-scale", type=float, default=1.0, help="downscale factor s")
    c.add_argument("--camera-model", default="unknown", help="camera name for the record")
    c.set_defaults(func=run_import_csv)
    a = isub.add_parser(
        "allin3d",
        help="one view of He et al.'s All-in-3D data (focus[_k]/NNN, depth[_k], AIF[_k])",
    )
    a.add_argument("root", metavar="ROOT", help="the dataset folder")
    a.add_argument("--out", required=True, metavar="DIR", help="new session folder")
    a.add_argument("--factor", type=int, help="downscale suffix k of the _k folders")
    a.add_argument("--view", type=int, default=0, help="view number NNN (default 0)")
    a.add_argument("--e-mm", type=float, default=23.6, help="their e used to imply d")
    a.add_argument("--focal-length-mm", type=float, default=50.0, help="F (default 50)")
    a.add_argument("--f-number", type=float, default=1.4, help="N (default 1.4)")
    a.add_argument("--pixel-size-mm", type=float, default=0.00345, help="(default 0.00345)")
    a.add_argument("--depth-file", help="depth map name inside depth[_k]/")
    a.add_argument("--depth-scale", type=float, default=1.0, help="1000 for metres")
    a.add_argument("--fd-scale", type=float, default=1.0, help="1000 for metres")
    a.set_defaults(func=run_import_allin3d)


def _imported(build: Any, out: str) -> int:
    from psfbench.core.cli import UserFacingError
    from psfbench.core.dataset import DatasetError

    try:
        session = build()
    except DatasetError as exc:
        raise UserFacingError(f"{exc} (nothing was written)") from None
    info = session.summary()
    print(
        f"imported {info['frames']} frames into {out}: shape {info['shape']} {info['dtype']}, "
        f"d {info['d_range_mm']} mm, {'VALID' if info['valid'] else 'INVALID'}"
    )
    for w in info["warnings"]:
        print(f"  warning: {w}")
    return 0 if info["valid"] else 1


#: importer keyword -> the argparse destination of its option
CSV_OPTIONS = ("focal_length_mm", "pixel_size_mm", "f_number", "image_dir", "depth",
               "depth_scale", "aif", "bit_depth", "output_scale", "camera_model")  # fmt: skip
ALLIN3D_OPTIONS = ("factor", "view", "e_mm", "focal_length_mm", "f_number", "pixel_size_mm",
                   "depth_file", "depth_scale", "fd_scale")  # fmt: skip


def run_import_csv(args: argparse.Namespace) -> int:
    from psfbench.core.dataset import import_image_folder

    kw = {k: getattr(args, k) for k in CSV_OPTIONS}
    return _imported(lambda: import_image_folder(args.csv, args.out, **kw), args.out)


def run_import_allin3d(args: argparse.Namespace) -> int:
    from psfbench.core.dataset import import_allin3d

    kw = {k: getattr(args, k) for k in ALLIN3D_OPTIONS}
    return _imported(lambda: import_allin3d(args.root, args.out, **kw), args.out)


def _report(path: str) -> dict[str, Any]:
    from pathlib import Path

    from psfbench.core.cli import UserFacingError
    from psfbench.core.dataset import DatasetError, Session

    root = Path(path)
    if not root.is_dir():
        raise UserFacingError(f"{root}: not a folder")
    try:
        session = Session.open(root, strict=False)
    except DatasetError as exc:  # metadata unreadable: nothing else can be checked
        return {
            "path": str(root),
            "valid": False,
            "frames": 0,
            "missing_steps": [],
            "problems": [str(exc)],
            "warnings": [],
        }
    return {**session.summary(), "path": str(root)}


def run_info(args: argparse.Namespace) -> int:
    info = _report(args.dir)
    if args.json:
        print(json.dumps(info))
    else:
        status = "VALID" if info["valid"] else "INVALID"
        print(f"{info['path']}: {status}")
        for key in (
            "frames",
            "planned_steps",
            "missing_steps",
            "shape",
            "dtype",
            "bit_depth",
            "focal_length_mm",
            "f_number",
            "d_range_mm",
            "focus_depth_range_mm",
            "has_depth",
            "has_aif",
            "duplicate_indices",
            "results",
        ):
            if key in info:
                print(f"  {key:22s} {info[key]}")
        for p in info["problems"]:
            print(f"  problem: {p}")
        for w in info["warnings"]:
            print(f"  warning: {w}")
    return 0 if info["valid"] else 1
