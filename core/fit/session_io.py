"""Build a FitProblem from a session directory (the fitter's only view of the dataset)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from core.fit.problem import FitProblem


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
) -> tuple[FitProblem, Any]:
    """Returns (problem, session). ``gray``: losses on luminance, as the paper's loss1 names."""
    from core.dataset import Session

    session = Session.open(Path(path))
    records = session.records
    chosen = select_frames(len(records), max_frames)
    recs = [records[i] for i in chosen]
    frames = session.frames_array([r.index for r in recs])  # (M, C, H, W) float [0, 1]
    aif = session.aif()  # (C, H, W) float [0, 1]
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
        aif,
        depth,
        frames,
        d,
        F,
        frame_indices=tuple(r.index for r in recs),
        focus_depths_mm=fd,
        device=device,
        gray=gray,
    )
    return problem, session


def session_truth(session: Any) -> tuple[float, float] | None:
    truth = session.meta.provenance.simulated_truth
    if not truth or "A" not in truth or "e_mm" not in truth:
        return None
    return float(truth["A"]), float(truth["e_mm"])
