"""The ``psfbench`` command line.

Each sub-command lives in its own module ``core/cli/cmd_<name>.py`` exposing
``register(subparsers)``; modules are discovered at start-up so that features can add
commands without editing a central list (and without import-time cost for the others: a
module imports its heavy dependencies inside its handler).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

from psfbench.core import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="psfbench",
        description="Measure and fit the defocus PSF of a camera + lens (virtual bench default).",
    )
    parser.add_argument("--version", action="version", version=f"psfbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    package = importlib.import_module(__name__)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("cmd_"):
            module = importlib.import_module(f"{__name__}.{info.name}")
            module.register(sub)
    _register_plugins(sub)
    return parser


def _register_plugins(sub: argparse._SubParsersAction) -> None:
    """Commands other packages add through the ``psfbench.cli`` entry-point group (the GUI's
    ``psfbench gui``): each entry point names a module with ``register(subparsers)``. A
    plugin that fails to load is reported on stderr and skipped, never fatal."""
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group="psfbench.cli"), key=lambda e: e.name):
        try:
            ep.load().register(sub)
        except Exception as exc:
            print(f"warning: psfbench command {ep.name!r} unavailable: {exc}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()  # a reader that went away (`| head`) shows here, not at exit
        return rc
    except BrokenPipeError:
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as the shell reports for tools killed by a closed pipe
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except UserFacingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """After a closed pipe: point stdout at devnull so that the interpreter's final flush does
    not raise again (Python docs, "Note on SIGPIPE")."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file behind sys.stdout (tests): nothing to flush
        pass


class UserFacingError(Exception):
    """An error whose message is complete and actionable on its own (no traceback needed)."""
