"""``psfbench render``: synthetic defocus at any focus depth from a session's AIF + depth."""

from __future__ import annotations

import argparse

from psfbench.core.cli.common import check_fit_source, device_arg, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "render",
        help="render a focused image from a session's all-in-focus image and depth map",
        description="Uses the session's fitted A and e (results/fit.json) unless --A/--e given.",
    )
    p.add_argument("session", help="session directory")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--focus-depth", type=float, help="focus depth Df, mm")
    where.add_argument("--d", type=float, help="sensor reading d, mm (Df from e)")
    p.add_argument("--A", type=float, default=None)
    p.add_argument("--e", type=float, default=None, help="mm")
    p.add_argument("--method", choices=("layered", "scatter", "refcode"), default="layered")
    p.add_argument(
        "--model",
        nargs="?",
        const="fit",
        default=None,
        metavar="FILE",
        help="render through a fitted PSF model (docs/psf-models.md): a PSF model JSON or a "
        "fit.json; without FILE the session's results/fit.json model (its 'model' entry)",
    )
    p.add_argument("--out", required=True, help="output image (.tif, .png)")
    device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import numpy as np

    from psfbench.core import optics
    from psfbench.core.cli import UserFacingError
    from psfbench.core.dataset import DatasetError, Session
    from psfbench.core.render import render

    try:
        session = Session.open(Path(args.session))
        aif = np.asarray(session.aif(), dtype=np.float32)
        depth = np.asarray(session.depth(), dtype=np.float32)
    except DatasetError as exc:
        raise UserFacingError(str(exc)) from None
    if args.model is not None:
        return _run_model(args, session, aif, depth)
    A, e = args.A, args.e
    fit_json = Path(args.session) / "results" / "fit.json"
    if (A is None or e is None) and fit_json.exists():
        fitted = json.loads(fit_json.read_text(encoding="utf-8"))
        A = fitted["A"] if A is None else A
        e = fitted["e"] if e is None else e
    if A is None or (args.d is not None and e is None):
        raise UserFacingError(f"no fitted parameters in {fit_json}: pass --A (and --e with --d)")
    F = session.meta.lens.focal_length_mm
    try:
        df = args.focus_depth if args.focus_depth is not None else optics.focus_depth(args.d, e, F)
        img = (
            render(
                aif,
                depth,
                float(df),
                float(A),
                F,
                method=args.method,
                device=resolve_device(args.device),
            )
            .cpu()
            .numpy()
        )
    except optics.OpticsError as exc:
        raise UserFacingError(str(exc)) from None
    write_image(args.out, img, session.meta.camera.bit_depth)
    print(f"wrote {args.out} (Df = {df:.2f} mm, A = {A:g}, method {args.method})")
    return 0


def _run_model(args: argparse.Namespace, session: object, aif: object, depth: object) -> int:
    """``--model``: render through a PSF model (core/psfmodels) at the focus asked for."""
    from pathlib import Path

    import numpy as np

    from psfbench.core import optics
    from psfbench.core.cli import UserFacingError
    from psfbench.core.psfmodels import PsfModelError, from_fit_json, render

    src = Path(args.session) / "results" / "fit.json" if args.model == "fit" else Path(args.model)
    check_fit_source(args.session if args.model == "fit" else args.model)
    try:
        model = from_fit_json(src)
        if args.A is not None:
            model = model.with_params(A=float(args.A))
        if args.e is not None:
            model = model.with_params(e_mm=float(args.e))
    except PsfModelError as exc:
        raise UserFacingError(str(exc)) from None
    F = session.meta.lens.focal_length_mm  # type: ignore[attr-defined]
    if args.d is not None:
        d = float(args.d)
    else:  # the reading that focuses at Df with the model's e
        d = float(optics.sensor_distance(float(args.focus_depth), F)) - model.e_mm
    try:
        img = render(
            model, np.asarray(aif), np.asarray(depth), [d], F, device=resolve_device(args.device)
        )[0]
    except (ValueError, optics.OpticsError) as exc:
        raise UserFacingError(str(exc)) from None
    write_image(args.out, img, session.meta.camera.bit_depth)  # type: ignore[attr-defined]
    df = float(optics.focus_depth(d, model.e_mm, F))
    print(f"wrote {args.out} (Df = {df:.2f} mm, model {model.name}, A = {model.A:g})")
    return 0


def write_image(path: str, img: object, bit_depth: int) -> None:
    """Float [0, 1] image, (C, H, W) or (H, W), to ``path`` at the session's bit depth (16-bit
    PNG/TIFF holding 0..2**bits - 1 for a 12-bit session, as ``stack --session`` writes it) by
    ``stack``'s writer: its format and folder checks, its warning where a format holds less."""
    import sys

    import numpy as np

    from psfbench.core.cli import UserFacingError
    from psfbench.core.stacking.io import StackIOError, from_float
    from psfbench.core.stacking.io import write_image as write_native

    arr = np.asarray(img, dtype=np.float32)
    chw = arr[None] if arr.ndim == 2 else arr
    dtype = np.dtype(np.uint16 if bit_depth > 8 else np.uint8)
    top = float(2**bit_depth - 1)
    try:
        warnings = write_native(path, from_float(chw, dtype, top), top)
    except StackIOError as exc:
        raise UserFacingError(str(exc)) from None
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
