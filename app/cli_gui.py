"""``psfbench gui``: the desktop application, registered as a ``psfbench.cli`` entry point.

Core's command line discovers commands that other packages add through the
``psfbench.cli`` entry-point group, so ``core`` never imports ``app`` (nor Qt). Importing this
module imports no Qt either: only the handler does.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    from psfbench.app.main import add_arguments

    p = sub.add_parser("gui", help="open the desktop application (same as psfbench-gui)")
    add_arguments(p)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from psfbench.app.main import run

    return run(args)
