"""Argument helpers shared by sub-commands."""

from __future__ import annotations

import argparse


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
