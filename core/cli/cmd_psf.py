"""``psfbench psf export``: a fitted PSF model as parameters (JSON) and a kernel bank (TIFF)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "psf",
        help="export a fitted PSF model (JSON + kernel bank TIFF)",
        description="The PSF model of a fit (the one psfbench fit --model chose, else the "
        "paper's Gaussian) for use outside psfbench: export writes its parameters and a bank "
        "of its kernels. See docs/psf-models.md.",
    )
    psub = p.add_subparsers(dest="psf_command", metavar="ACTION")
    psub.required = True
    e = psub.add_parser(
        "export",
        help="write psf_model.json, kernels.tif (stack over defocus, channel and field) and "
        "kernels.json (what each page is)",
    )
    e.add_argument("source", help="session folder, results/fit.json or a PSF model JSON")
    e.add_argument("--out", required=True, help="output folder")
    e.add_argument(
        "--sigmas",
        type=float,
        nargs="+",
        default=None,
        help="defocus blurs sigma (px, with the model's base A) of the bank's pages",
    )
    e.add_argument("--field-grid", type=int, default=3, help="n x n field positions (field model)")
    e.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from psfbench.core.cli import UserFacingError
    from psfbench.core.cli.common import check_fit_source
    from psfbench.core.psfmodels import PsfModelError, from_fit_json
    from psfbench.core.psfmodels.export import DEFAULT_SIGMAS, export_model
    from psfbench.core.psfmodels.text import format_params

    check_fit_source(args.source)
    try:
        model = from_fit_json(args.source)
        sigmas = tuple(args.sigmas) if args.sigmas else DEFAULT_SIGMAS
        paths = export_model(model, args.out, sigmas=sigmas, field_grid=args.field_grid)
    except (PsfModelError, ValueError, OSError) as exc:
        raise UserFacingError(str(exc)) from None
    print(f"model {model.name}: {format_params(model)}")
    print("wrote " + ", ".join(paths.values()))
    return 0
