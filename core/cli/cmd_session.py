"""``psfbench session info DIR``: a technician's check that a session is complete and usable.

Exit status 0 means valid (every record points at a readable frame, shapes agree, metadata
validates), 1 means problems were found (listed), 2 means DIR is not a folder at all.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("session", help="inspect a session folder")
    ssub = p.add_subparsers(dest="session_command", metavar="ACTION")
    ssub.required = True
    info = ssub.add_parser("info", help="validate a session and summarise it")
    info.add_argument("dir", metavar="DIR", help="session folder")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    info.set_defaults(func=run_info)


def _report(path: str) -> dict[str, Any]:
    from pathlib import Path

    from core.cli import UserFacingError
    from core.dataset import DatasetError, Session

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
