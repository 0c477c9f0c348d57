"""``psfbench calibrate procam DIR``: projector-camera calibration from Gray-code captures."""

from __future__ import annotations

import argparse
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    try:
        a, b = text.lower().split("x")
        return int(a), int(b)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected WxH such as 1024x768, got {text!r}") from exc


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("calibrate", help="calibrate devices (procam: projector + camera)")
    what = p.add_subparsers(dest="target", metavar="TARGET")
    what.required = True
    q = what.add_parser(
        "procam",
        help="projector-camera calibration from chessboard captures under Gray codes",
        description=(
            "DIR holds capture_*/ folders, each with the Gray-code images of one chessboard "
            "pose in projection order (pattern, inverse per bit; columns then rows), then the "
            "white and the black image (layout of kamino410/procam-calibration)."
        ),
    )
    q.add_argument("dir", type=Path, help="folder with capture_*/ sub-folders")
    q.add_argument("--json", type=Path, default=None, help="write the calibration as JSON here")
    q.add_argument(
        "--chessboard", type=_size, default=(9, 7), help="inner corners, COLSxROWS (default 9x7)"
    )
    q.add_argument(
        "--square", type=float, default=75.0, help="square size, mm (default %(default)g)"
    )
    q.add_argument(
        "--projector",
        type=_size,
        default=(1024, 768),
        help="projector WxH pixels (default 1024x768)",
    )
    q.add_argument(
        "--graycode-step",
        type=int,
        default=1,
        help="Gray-code block size, pixels (default %(default)s)",
    )
    q.add_argument(
        "--black-thr",
        type=float,
        default=40.0,
        help="min white-black difference (default %(default)g)",
    )
    q.add_argument(
        "--white-thr",
        type=float,
        default=5.0,
        help="min pattern-inverse difference (default %(default)g)",
    )
    q.add_argument(
        "--max-rms",
        type=float,
        default=None,
        help="refuse the calibration (exit 2, no JSON) when a reprojection RMS exceeds this "
        "many pixels (default 2.0)",
    )
    q.add_argument(
        "--distortion",
        choices=("auto", "none", "k1", "k1k2", "k1k2p", "full"),
        default="auto",
        help="lens-distortion model of both devices (OpenCV k1, k2, p1, p2, k3); auto "
        "(default): the simplest the poses support (F-test: a richer model only when it lowers "
        "the reprojection error by more than fitting noise would)",
    )
    q.add_argument(
        "--fix-intrinsics",
        action="store_true",
        help="keep each device's Zhang intrinsics in the stereo step (default: refine all)",
    )
    q.set_defaults(func=run_procam)


def run_procam(args: argparse.Namespace) -> int:
    from psfbench.core.cli import UserFacingError
    from psfbench.core.fringe.calibrate import (
        DEFAULT_MAX_RMS,
        CalibrationError,
        calibrate_procam,
        check_calibration,
    )
    from psfbench.core.fringe.patterns import PatternError

    try:
        cal = calibrate_procam(
            args.dir,
            projector_size=args.projector,
            pattern=args.chessboard,
            square=args.square,
            step=args.graycode_step,
            black_thr=args.black_thr,
            white_thr=args.white_thr,
            fix_intrinsics=args.fix_intrinsics,
            distortion=args.distortion,
        )
    except (CalibrationError, PatternError) as exc:
        raise UserFacingError(str(exc)) from exc
    print(
        f"{'view':<24s} {'corners':>7s} {'cam px':>8s} {'proj px':>8s} {'stereo c':>9s} "
        f"{'stereo p':>9s}"
    )
    for v in cal.views:
        print(
            f"{Path(v.name).name:<24s} {v.n_corners:7d} {v.camera_rms:8.3f} "
            f"{v.projector_rms:8.3f} {v.stereo_camera_rms:9.3f} {v.stereo_projector_rms:9.3f}"
        )
    print(f"camera RMS     {cal.camera_rms:.4f} px (Zhang)")
    print(f"projector RMS  {cal.projector_rms:.4f} px (Zhang, local homographies)")
    print(f"stereo RMS     {cal.rms:.4f} px")
    k = cal.camera_matrix
    kp = cal.projector_matrix
    print(f"camera    fx={k[0, 0]:.1f} fy={k[1, 1]:.1f} cx={k[0, 2]:.1f} cy={k[1, 2]:.1f}")
    print(f"projector fx={kp[0, 0]:.1f} fy={kp[1, 1]:.1f} cx={kp[0, 2]:.1f} cy={kp[1, 2]:.1f}")
    how = " (auto: the simplest model the poses support)" if args.distortion == "auto" else ""
    print(f"lens distortion model {cal.distortion_model}{how}")
    if cal.distortion_model != "none":
        dc = ", ".join(f"{v:.4g}" for v in cal.camera_dist)
        dp = ", ".join(f"{v:.4g}" for v in cal.projector_dist)
        print(f"  camera ({dc}); projector ({dp})")
    t = cal.T
    print(f"camera->projector T = ({t[0]:.2f}, {t[1]:.2f}, {t[2]:.2f}) {cal.units}")
    max_rms = DEFAULT_MAX_RMS if args.max_rms is None else args.max_rms
    check = check_calibration(cal, max_rms=max_rms)
    for w in cal.warnings:
        print(f"warning: {w}")
    if not check.ok:
        raise UserFacingError(f"{args.dir}: calibration refused: {check.refusal}")
    if args.json is not None:
        try:
            args.json.write_text(cal.to_json(indent=2) + "\n")
        except OSError as exc:
            raise UserFacingError(f"{args.json}: cannot write calibration JSON: {exc}") from exc
        print(f"wrote {args.json}")
    return 0
