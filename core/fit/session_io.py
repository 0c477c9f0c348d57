"""Build a FitProblem from a session directory (the fitter's only view of the dataset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.fit.problem import FitProblem


def select_frames(n_total: int, n: int | None) -> list[int]:
    """Evenly spaced subset (the paper fits 20 of its 200 sweep images)."""
    if n is None or n >= n_total:
        return list(range(n_total))
    return sorted({int(round(x)) for x in np.linspace(0, n_total - 1, n)})


def problem_from_session(
    path: str | Path,
    *,
    max_frames: int | None = None,
    device: str = "cpu",
    gray: bool = True,
    aif: str = "captured",
) -> tuple[FitProblem, Any]:
    """Returns (problem, session); see :func:`load_fit_inputs`."""
    problem, session, _ = load_fit_inputs(
        path, max_frames=max_frames, device=device, gray=gray, aif=aif
    )
    return problem, session


def load_fit_inputs(
    path: str | Path,
    *,
    max_frames: int | None = None,
    device: str = "cpu",
    gray: bool = True,
    aif: str = "captured",
) -> tuple[FitProblem, Any, Any]:
    """Returns (problem, session, AifSource). ``gray``: losses on luminance (the paper's loss1).

    ``aif``: ``captured`` (the session's aif.tif), ``synthesised`` (fused from the whole sweep
    and stored in results/), ``auto`` (captured when present) or an image path.
    """
    from psfbench.core.dataset import Session
    from psfbench.core.stacking.session_aif import resolve_aif

    session = Session.open(Path(path))
    records = session.records
    chosen = select_frames(len(records), max_frames)
    recs = [records[i] for i in chosen]
    frames = session.frames_array([r.index for r in recs])  # (M, C, H, W) float [0, 1]
    source = resolve_aif(session, aif, device=device)
    depth = np.asarray(session.depth(), dtype=np.float32)
    F = float(session.meta.lens.focal_length_mm)
    d = np.array([np.nan if r.d_mm is None else r.d_mm for r in recs], dtype=np.float64)
    fd = None
    if session.meta.implied_d is not None or np.isnan(d).any():
        # Focus depths were given (All-in-3D): d was derived from them with an assumed e, so
        # e is not identifiable; the fitter fits A alone on the given Df.
        if any(r.focus_depth_mm is None for r in recs):
            raise ValueError(f"{path}: some sweep records have neither d_mm nor focus_depth_mm")
        fd = np.array([r.focus_depth_mm for r in recs], dtype=np.float64)
        d = np.zeros_like(fd)
    problem = FitProblem.from_arrays(
        source.image,
        depth,
        frames,
        d,
        F,
        frame_indices=tuple(r.index for r in recs),
        focus_depths_mm=fd,
        device=device,
        gray=gray,
    )
    return problem, session, source


def session_truth(session: Any) -> tuple[float, float] | None:
    truth = session.meta.provenance.simulated_truth
    if not truth or "A" not in truth or "e_mm" not in truth:
        return None
    return float(truth["A"]), float(truth["e_mm"])
