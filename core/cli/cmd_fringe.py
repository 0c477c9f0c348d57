"""``psfbench fringe decode CAPTURES --calibration CAL``: fringe captures from any bench to depth.

The captures are the images of one fringe scan in projection order (fringes frequency-major,
then Gray codes and white/black when the scan had them), in a folder, taken in numeric order
(``capture_2`` before ``capture_10``), read by psfbench's one image reader (any bit depth,
mono or colour: colour is decoded on luminance). The scan's parameters come from the
``fringe.json`` that ``psfbench acquire fringe`` writes beside its ``frames/`` folder, or a
``scan.json`` holding ``FringeScan.to_dict()`` (looked for in CAPTURES, then its parent);
flags override them or stand in for them. The projector size
comes from the calibration. Pixels where a fringe image clipped get no depth: the clip level
is found from the captures' type and range unless ``--saturation`` gives it (``none`` turns
the check off); the count is printed and stored. Outputs: ``depth.tif`` (float32 mm, NaN
invalid), ``points.ply`` and ``fringe.json`` (with the refused-pixel counts) in ``--out``
(default ``CAPTURES/decoded``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from psfbench.core.cli.common import saturation_arg

SCAN_FILE = "fringe.json"
SCAN_DESCRIPTION = "scan.json"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fringe", help="fringe-projection tools (decode captures to depth)")
    fsub = p.add_subparsers(dest="fringe_command", metavar="ACTION")
    fsub.required = True
    d = fsub.add_parser(
        "decode",
        help="decode a folder of fringe captures to depth.tif and points.ply",
        description=(__doc__ or "").replace("``", ""),  # plain text, not reST
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("captures", metavar="CAPTURES", help="folder of the scan's images")
    d.add_argument(
        "--calibration",
        required=True,
        metavar="CAL",
        help="ProcamCalibration JSON (psfbench calibrate procam)",
    )
    d.add_argument("--out", metavar="DIR", help="output folder (default CAPTURES/decoded)")
    d.add_argument("--counts", type=float, nargs="+", help="fringe counts (default 70 64.2 59.2)")
    d.add_argument("--phase-steps", type=int, help="phase shifts per frequency (default 4)")
    d.add_argument("--axis", choices=("x", "y"), help="fringe direction (default x)")
    d.add_argument("--gray-step", type=int, help="Gray-code step of the scan (default 0: none)")
    d.add_argument(
        "--references", action="store_true", help="the scan ends with white and black images"
    )
    d.add_argument(
        "--method",
        choices=("heterodyne", "graycode"),
        default="heterodyne",
        help="phase unwrapping (graycode needs --gray-step)",
    )
    d.add_argument(
        "--saturation",
        type=saturation_arg,
        default="auto",
        metavar="LEVEL|auto|none",
        help="sample value at which the camera clips; pixels where a fringe image reaches it "
        "get no depth. auto (default): from the captures' type and range (255 for 8-bit, 4095 "
        "for 12-bit values in 16-bit files, 65520 for 12-bit values in the top bits, 65535 "
        "for 16-bit); none: no check (clipped pixels keep a depth, often a wrong one)",
    )
    d.add_argument("--min-modulation", type=float, help="fringe modulation threshold")
    d.set_defaults(func=run_decode)


def scan_params(
    captures: Path, args: argparse.Namespace, projector_size: tuple[int, int]
) -> tuple[dict[str, Any], str]:
    """The scan parameters: ``fringe.json`` (``{"params": ...}``, what ``psfbench acquire
    fringe`` writes) or ``scan.json`` (a ``FringeScan.to_dict()``) in CAPTURES or its parent,
    then the flags on top."""
    from psfbench.core.cli import UserFacingError

    params: dict[str, Any] = {}
    source = "flags and defaults"
    found = [
        c
        for folder in (captures, captures.parent)
        for c in (folder / SCAN_FILE, folder / SCAN_DESCRIPTION)
        if c.is_file()
    ]
    if found:
        cand = found[0]
        try:
            doc = json.loads(cand.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UserFacingError(f"{cand}: cannot read the scan parameters ({exc})") from None
        given = doc.get("params") if cand.name == SCAN_FILE and isinstance(doc, dict) else doc
        if not isinstance(given, dict):
            raise UserFacingError(f"{cand}: params: expected an object of scan parameters")
        params, source = dict(given), str(cand)
        size = (params.pop("projector_width", None), params.pop("projector_height", None))
        params.pop("kind", None)
        if None not in size and tuple(int(v) for v in size) != projector_size:
            raise UserFacingError(
                f"{cand}: projector_width/height: the scan was made for a {size[0]}x{size[1]} "
                f"projector, the calibration is for {projector_size[0]}x{projector_size[1]}"
            )
    flags = {
        "counts": args.counts,
        "steps": args.phase_steps,
        "axis": args.axis,
        "gray_step": args.gray_step,
        "references": True if args.references else None,
    }
    params.update({k: v for k, v in flags.items() if v is not None})
    return params, source


def run_decode(args: argparse.Namespace) -> int:
    import numpy as np

    from psfbench.core import imageio
    from psfbench.core.acquisition.fringe_scan import (
        decode_frames,
        saturation_line,
        write_scan_outputs,
    )
    from psfbench.core.cli import UserFacingError
    from psfbench.core.cli.common import read_procam_calibration
    from psfbench.core.fringe.patterns import PatternError
    from psfbench.core.fringe.scan import REFUSAL_LABELS
    from psfbench.core.fringe.sources import fringe_scan_from_params

    captures = Path(args.captures)
    try:
        files = imageio.list_images(captures)
    except imageio.ImageFileError as exc:
        raise UserFacingError(str(exc)) from None
    cal = read_procam_calibration(args.calibration)
    proj_w, proj_h = (int(v) for v in cal.projector_size)
    params, source = scan_params(captures, args, (proj_w, proj_h))
    try:
        scan = fringe_scan_from_params(params, proj_w, proj_h)
        n_needed = scan.n_images
    except (PatternError, TypeError, ValueError) as exc:
        raise UserFacingError(f"scan parameters ({source}): {exc}") from None
    if len(files) != n_needed:
        raise UserFacingError(
            f"{captures}: {len(files)} images, but the scan ({source}: counts "
            f"{list(scan.counts)}, {scan.steps} steps, gray_step {scan.gray_step}, references "
            f"{scan.references}) has {n_needed}; pass --counts/--phase-steps/--gray-step/"
            "--references to match the captures"
        )
    frames: dict[int, np.ndarray] = {}
    try:
        for i, f in enumerate(files):
            frames[i] = imageio.read_image(f)
            if frames[i].shape[:2] != frames[0].shape[:2]:
                raise UserFacingError(
                    f"{f}: size {frames[i].shape[:2]} differs from {files[0]} {frames[0].shape[:2]}"
                )
    except imageio.ImageFileError as exc:
        raise UserFacingError(str(exc)) from None
    h, w = frames[0].shape[:2]
    if (w, h) != tuple(int(v) for v in cal.camera_size):
        raise UserFacingError(
            f"{files[0]}: captures are {w}x{h} but the calibration's camera is "
            f"{cal.camera_size[0]}x{cal.camera_size[1]}"
        )
    kw: dict[str, Any] = {"method": args.method, "saturation": args.saturation}
    if args.min_modulation is not None:
        kw["min_modulation"] = args.min_modulation
    try:
        res = decode_frames(frames, params, (proj_w, proj_h), cal, **kw)
        out = Path(args.out) if args.out else captures / "decoded"
        out.mkdir(parents=True, exist_ok=True)
        write_scan_outputs(out, res, params, None, len(files))
    except (PatternError, ValueError, OSError) as exc:
        raise UserFacingError(str(exc)) from None
    print(
        f"decoded {len(files)} captures of {captures} (scan parameters: {source}): "
        f"{100 * float(res.valid.mean()):.1f}% of pixels with depth -> {out / 'depth.tif'}, "
        f"{out / 'points.ply'}"
    )
    print(f"  {saturation_line(res)}")
    counts = res.refused_counts()
    for reason, frac in res.refused_fractions().items():
        if frac > 0 and reason != "saturated":  # the line above
            print(
                f"  refused, {REFUSAL_LABELS.get(reason, reason)}: {100 * frac:.1f}% "
                f"({counts[reason]} pixels)"
            )
    return 0
