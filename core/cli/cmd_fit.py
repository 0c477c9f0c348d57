"""``psfbench fit``: find A and e for a session, with the whole loss landscape."""

from __future__ import annotations

import argparse

from psfbench.core.cli.common import device_arg, grid_arg, resolve_device


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="fit the PSF model (A, e) to a session",
        description="Grid search over (A, e) (paper's Algorithm 1, eq. 20), coarse-to-fine with "
        "refinement below the grid step and a bootstrap uncertainty. Writes results/fit.json, "
        "landscape arrays (.npz) and PNG plots into the session.",
    )
    add_fit_args(p)
    p.add_argument("--json", default=None, help="also write the results JSON here")
    p.set_defaults(func=run)


def add_fit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("session", help="session directory")
    add_fit_options(p)


def add_fit_options(p: argparse.ArgumentParser) -> None:
    """The options of ``psfbench fit`` (everything but the session): shared with
    ``psfbench batch fit``."""
    p.add_argument(
        "--A-range", nargs=2, type=float, default=(400.0, 1150.0), metavar=("MIN", "MAX")
    )
    p.add_argument("--e-range", nargs=2, type=float, default=(23.0, 24.8), metavar=("MIN", "MAX"))
    p.add_argument("--grid", type=grid_arg, default=(16, 10), help="N_AxN_E grid points")
    p.add_argument("--frames", type=int, default=20, help="sweep images used (evenly spaced)")
    p.add_argument("--rgb", action="store_true", help="losses on RGB instead of luminance")
    p.add_argument("--preset", choices=("paper", "refcode"), default="paper", help="loss preset")
    p.add_argument("--no-coarse-to-fine", action="store_true", help="full-resolution grid only")
    p.add_argument(
        "--noise-sd",
        default="auto",
        help="sensor noise sd added to simulations (fraction of full scale), 'auto' to "
        "estimate it from the frames, 0 for the paper's noise-free comparison",
    )
    p.add_argument(
        "--presmooth", type=float, default=2.0, help="Gaussian pre-filter of both sides, px"
    )
    p.add_argument(
        "--aif",
        default="auto",
        metavar="SOURCE",
        help="all-in-focus image: 'captured' (the session's aif.tif), 'synthesised' (fuse the "
        "sweep; stored as results/aif_synthesised.tif), 'auto' (captured if present, else "
        "synthesised; default) or an image file on the frames' pixel grid",
    )
    p.add_argument(
        "--loss-weights",
        nargs=4,
        type=float,
        default=None,
        metavar=("L2", "LAP", "HIST", "SSIM"),
        help="lambda_1..4 of eq. 19 (default: the preset's, the paper's 50000 10000 40000 5000)",
    )
    p.add_argument(
        "--hole-reach-sigmas",
        type=float,
        default=2.0,
        help="around depth-map holes, leave out of each frame's losses the pixels within this "
        "many sigmas of the hole's blur (docs/fitting.md)",
    )
    p.add_argument(
        "--exclude-clipped",
        action="store_true",
        help="also leave the samples the camera clipped out of each frame's losses",
    )
    p.add_argument(
        "--zoom",
        choices=("newton", "pattern"),
        default="newton",
        help="refinement with the scatter model: Newton steps (default) or the former pattern "
        "search",
    )
    p.add_argument("--datasheet-A", type=float, default=None, help="A to compare against")
    p.add_argument(
        "--model",
        default="gaussian",
        metavar="NAME|auto",
        help="PSF model: gaussian (the paper's, default), disc, chromatic (with --rgb), field, "
        "tilt, breathing or parts joined by '+' (gradient fit from the grid optimum), or auto "
        "(fit each on half the focus depths, choose on the others); docs/psf-models.md",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars or progress lines")
    device_arg(p)


def run_fit(args: argparse.Namespace) -> tuple[object, object, tuple[float, float] | None]:
    """The fit of ``args.session`` with the command's options; the GUI's fitting panel runs
    the same :func:`psfbench.core.fit.session_fit.run_session_fit`. Returns (result, session,
    truth)."""
    from psfbench.core.cli import UserFacingError
    from psfbench.core.cli.progress_bar import StageBars
    from psfbench.core.fit.session_fit import FitSettings, FitSetupError, run_session_fit

    check_frames_option(getattr(args, "frames", None))
    device = resolve_device(args.device)
    quiet = bool(getattr(args, "quiet", False))

    def say(line: str) -> None:
        # the all-in-focus source is always told when it is not the captured image; --quiet
        # drops the PSF models' progress lines (their table is printed at the end)
        progress = line.startswith(("all-in-focus image: captured", "model "))
        if not quiet or not progress:
            print(line)

    bars = StageBars(enabled=not quiet)
    try:
        settings = FitSettings.from_args(args).with_(device=device)
        done = run_session_fit(args.session, settings, progress=bars, on_message=say)
    except FitSetupError as exc:
        raise UserFacingError(str(exc)) from None
    finally:
        bars.close()
    return done.result, done.session, done.truth


def check_frames_option(frames: int | None) -> None:
    """UserFacingError for ``--frames`` below 2. The session's own checks (two focus
    positions, a depth map) are :func:`psfbench.core.fit.session_fit.check_fittable`, which
    :func:`run_session_fit` runs for every fit (CLI, batch, GUI)."""
    from psfbench.core.cli import UserFacingError

    if frames is not None and frames < 2:
        raise UserFacingError(
            f"--frames {frames}: must be at least 2 (the fit needs at least 2 focus positions)"
        )


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from psfbench.core.fit.report import format_table, models_table, result_doc, write_outputs

    result, session, truth = run_fit(args)
    out = Path(args.session) / "results"
    paths = write_outputs(result, out, truth=truth)  # type: ignore[arg-type]
    print(format_table(result, truth=truth) + models_table(result))  # type: ignore[arg-type]
    print(f"results: {paths['json']}  plots: {paths['plot_total']}, {paths['plot_terms']}")
    if args.json:
        doc = result_doc(result)  # type: ignore[arg-type]
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0
