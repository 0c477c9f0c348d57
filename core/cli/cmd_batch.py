"""``psfbench batch fit``: many sessions fitted as Dask tasks, one report."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch",
        help="run many fits on a Dask cluster (local processes or a scheduler)",
        description="Batch work on Dask: see docs/scale-out.md.",
    )
    what = p.add_subparsers(dest="batch_command", metavar="WHAT")
    what.required = True
    f = what.add_parser(
        "fit",
        help="fit every session given, one Dask task each, and report them together",
        description="One 'psfbench fit' per session (same options, same results written into "
        "each session's results/), run as Dask tasks on a local cluster (default) or a "
        "scheduler; a table of A, e, their uncertainties and warnings per session at the end.",
    )
    f.add_argument("sessions", nargs="+", metavar="SESSION", help="session directories")
    from psfbench.core.cli.cluster_args import add_cluster_args
    from psfbench.core.cli.cmd_fit import add_fit_options

    add_fit_options(f)
    add_cluster_args(f)
    f.add_argument("--json", default=None, help="write the per-session results as a JSON list")
    f.add_argument("--report", default=None, help="also write the printed table here")
    f.set_defaults(func=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from psfbench.core.batch.cluster import BatchSetupError
    from psfbench.core.batch.fit import batch_fit, format_report
    from psfbench.core.cli import UserFacingError
    from psfbench.core.cli.cluster_args import announce, open_cluster
    from psfbench.core.cli.progress_bar import StageBars
    from psfbench.core.fit.session_fit import FitSettings

    settings = FitSettings.from_args(args)
    bars = StageBars(enabled=not args.quiet, unit="fit")
    try:
        with open_cluster(args) as handle:
            announce(handle, args)
            outcomes = batch_fit(handle, args.sessions, settings, progress=bars)
    except BatchSetupError as exc:
        raise UserFacingError(str(exc)) from None
    finally:
        bars.close()
    table = format_report(outcomes)
    print(table)
    if args.report:
        Path(args.report).write_text(table + "\n", encoding="utf-8")
    if args.json:
        doc = [o.to_json() for o in outcomes]
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0 if all(o.ok for o in outcomes) else 1
