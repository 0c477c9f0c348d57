"""Argument helpers shared by sub-commands."""

from __future__ import annotations

import argparse
from typing import Any


def device_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--device",
        default="auto",
        help="torch device: cpu, cuda, cuda:N, or auto (CUDA when present)",
    )


def resolve_device(name: str) -> str:
    import torch

    from psfbench.core.cli import UserFacingError

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserFacingError(f"--device {name}: CUDA is not available on this machine")
    return name


def size_arg(text: str) -> tuple[int, int]:
    """'HxW' -> (H, W)."""
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected HEIGHTxWIDTH, got {text!r}") from None
    if h < 16 or w < 16:
        raise argparse.ArgumentTypeError("image size must be at least 16x16")
    return h, w


def grid_arg(text: str) -> tuple[int, int]:
    """'NAxNE' -> (nA, ne)."""
    try:
        a, e = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected N_AxN_E (e.g. 16x10), got {text!r}") from None
    if a < 1 or e < 1:
        raise argparse.ArgumentTypeError("grid sizes must be positive")
    return a, e


def saturation_arg(text: str) -> float | str | None:
    """``--saturation``: a number, ``auto`` or ``none``."""
    low = text.strip().lower()
    if low == "auto":
        return "auto"
    if low in ("none", "off"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a sample value, 'auto' or 'none', got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"a saturation level must be > 0, got {text!r}")
    return value


def check_fit_source(source: str) -> None:
    """A fit or PSF model JSON named on the command line (a file, a session or its results
    folder) that is not there: UserFacingError saying so, before the reader's OS error."""
    from pathlib import Path

    from psfbench.core.cli import UserFacingError

    p = Path(source)
    if not p.exists():
        raise UserFacingError(f"file not found: {p} (cannot read a fit or PSF model JSON)")
    if p.is_dir() and not (p / "fit.json").is_file() and not (p / "results/fit.json").is_file():
        session = p.parent if p.name == "results" and not (p / "session.json").is_file() else p
        raise UserFacingError(
            f"{session} has no fit yet (results/fit.json): run psfbench fit {session}"
        )


def read_procam_calibration(path: Any) -> Any:
    """The projector-camera calibration JSON at ``path`` (a ProcamCalibration); a missing file
    is ``file not found: PATH``, anything else ``PATH: not a procam calibration (why)``, both
    as UserFacingError."""
    from pathlib import Path

    from psfbench.core.cli import UserFacingError
    from psfbench.core.fringe.calibrate import ProcamCalibration

    p = Path(path)
    if not p.is_file():
        raise UserFacingError(f"file not found: {p} (the --calibration JSON)")
    try:
        return ProcamCalibration.from_json(p.read_text(encoding="utf-8"), str(p))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserFacingError(f"{p}: not a procam calibration ({exc})") from None
