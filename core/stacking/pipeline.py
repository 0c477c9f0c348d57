"""One call from a focus sweep to all-in-focus image, depth-from-focus map and confidence.

Order matters: align first (focus breathing would otherwise double edges and shift the focus
curves), then measure focus and fuse, then remove transition-region haze with the fitted PSF
(which needs a depth map: the true one if known, else the depth from focus just computed).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from core.stacking.align import Alignment, apply_alignment, estimate_alignment
from core.stacking.dff import PeakFit, depth_from_focus
from core.stacking.diffusion import SigmaSource, eliminate_diffusion, sigma_from_depth
from core.stacking.fusion import FusionParams, fuse


@dataclass
class StackResult:
    aif: np.ndarray  # (C, H, W) float32 [0, 1], on the reference frame's pixel grid
    index: np.ndarray  # (H, W) float32 sub-frame focus peak
    confidence: np.ndarray  # (H, W) float32 [0, 1]
    depth_mm: np.ndarray | None  # (H, W) float32 when the sweep is calibrated
    weights: np.ndarray  # (N, H, W) fusion weights
    alignment: Alignment | None
    aligned: np.ndarray  # (N, C, H, W) the frames on the reference grid (the fusion's input)
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def synthesize_aif(
    frames: np.ndarray,
    *,
    align: bool = True,
    reference: int | None = None,
    params: FusionParams | None = None,
    d_mm: Sequence[float] | np.ndarray | None = None,
    e_mm: float | None = None,
    F_mm: float | None = None,
    focus_depths_mm: Sequence[float] | np.ndarray | None = None,
    A: float | None = None,
    psf_sigma: SigmaSource | None = None,
    depth_for_psf_mm: np.ndarray | None = None,
    peak_fit: PeakFit = "gaussian",
    depth: bool = True,
    device: str | torch.device | None = None,
) -> StackResult:
    """Fuse an (N, C, H, W) float stack (or (N, H, W) mono) into an all-in-focus image.

    Calibration (all optional): the sweep's sensor readings ``d_mm`` with ``e_mm`` and
    ``F_mm`` (or directly ``focus_depths_mm``) give depth in mm and the near-to-far order of
    the frames. Diffusion elimination runs when a PSF is known: either ``psf_sigma`` (a sigma
    in pixels, or a per-frame sigma-map callback) or ``A`` with a calibrated sweep, in which
    case sigma = sigma_map(depth, Df_n, A, F) over ``depth_for_psf_mm`` (default: the depth
    from focus). ``depth=False`` skips depth from focus when only the image is wanted (the
    index/confidence/depth fields are then empty arrays / None).
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    warnings: list[str] = []
    stack = np.asarray(frames, dtype=np.float32)
    if stack.ndim == 3:
        stack = stack[:, None]
    if stack.ndim != 4 or stack.shape[0] < 1:
        raise ValueError(f"expected (N, C, H, W) frames, got shape {stack.shape}")
    n = stack.shape[0]
    if focus_depths_mm is None and d_mm is not None and e_mm is not None and F_mm is not None:
        from core.optics import focus_depth

        focus_depths_mm = np.asarray(focus_depth(np.asarray(d_mm, float), e_mm, F_mm))
    alignment = None
    valid = None
    if align and n > 1:
        alignment = estimate_alignment(stack, reference=reference)
        warnings += alignment.warnings
        stack, valid = apply_alignment(stack, alignment)
        timings["align_s"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    fused = fuse(stack, valid=valid, params=params, device=device)
    timings["fuse_s"] = time.perf_counter() - t1
    t2 = time.perf_counter()
    need_dff = depth or (A is not None and psf_sigma is None and depth_for_psf_mm is None)
    index = confidence = np.zeros((0, 0), np.float32)
    depth_map = None
    if need_dff:
        dff = depth_from_focus(
            fused.focus,
            method=peak_fit,
            d_mm=d_mm if (d_mm is not None and e_mm is not None and F_mm is not None) else None,
            e_mm=e_mm,
            F_mm=F_mm,
            focus_depths_mm=None if d_mm is not None and e_mm is not None else focus_depths_mm,
        )
        index = dff.index.detach().cpu().numpy()
        confidence = dff.confidence.detach().cpu().numpy()
        depth_map = None if dff.depth_mm is None else dff.depth_mm.detach().cpu().numpy()
        timings["dff_s"] = time.perf_counter() - t2
    aif = fused.image.detach().cpu().numpy()
    weights = fused.weights.detach().cpu().numpy()
    sigma = psf_sigma
    if sigma is None and A is not None:
        if focus_depths_mm is None or F_mm is None:
            raise ValueError("A needs a calibrated sweep (d_mm with e_mm and F_mm, or Df and F)")
        psf_depth = depth_for_psf_mm if depth_for_psf_mm is not None else depth_map
        if psf_depth is None:
            raise ValueError("diffusion elimination with A needs a depth map")
        sigma = sigma_from_depth(psf_depth, list(focus_depths_mm), A, F_mm)
    if sigma is not None and n > 1:
        t3 = time.perf_counter()
        aif = eliminate_diffusion(
            aif,
            weights,
            fused.index,
            sigma,
            focus_depths_mm=None if focus_depths_mm is None else list(focus_depths_mm),
        )
        timings["diffusion_s"] = time.perf_counter() - t3
    timings["total_s"] = time.perf_counter() - t0
    return StackResult(
        aif=aif,
        index=index,
        confidence=confidence,
        depth_mm=depth_map,
        weights=weights,
        alignment=alignment,
        aligned=stack,
        timings=timings,
        warnings=warnings,
    )


class SweepSession(Protocol):
    """What :func:`synthesize_aif_from_session` needs of core.dataset.Session."""

    def frames_array(self) -> np.ndarray: ...

    @property
    def d_mm(self) -> np.ndarray: ...

    @property
    def focal_length_mm(self) -> float: ...


def synthesize_aif_from_session(
    session: SweepSession,
    *,
    e_mm: float | None = None,
    A: float | None = None,
    deconvolution: bool = True,
    iterations: int = 20,
    **kwargs: Any,
) -> StackResult:
    """Synthesise all-in-focus from this sweep: a session's frames, measured d and the fit.

    With the fitted ``e_mm`` the depth map is in mm and frames are ordered near to far. With
    ``A`` too, the fitted PSF cleans the fused image: by inverting the scatter model over the
    whole sweep (:mod:`core.stacking.deconvolve`) when the session has a depth map and
    ``deconvolution`` is on, else by transition-region diffusion elimination on the depth from
    focus. Sessions that store Df directly (no d) use those focus depths.
    """
    frames = session.frames_array()
    F = float(session.focal_length_mm)
    d = np.asarray(session.d_mm, dtype=float)
    calib: dict[str, Any] = {"F_mm": F}
    if e_mm is not None and np.isfinite(d).all():
        calib.update(d_mm=d, e_mm=e_mm)
        from core.optics import focus_depth

        focus = np.asarray(focus_depth(d, e_mm, F), dtype=float)
    else:
        given = getattr(session, "focus_depth_mm", None)
        focus = None
        if given is not None and np.isfinite(np.asarray(given, float)).all():
            focus = np.asarray(given, float)
            calib["focus_depths_mm"] = focus
    depth_map = _session_depth(session) if deconvolution and A is not None else None
    if depth_map is None or focus is None or len(frames) < 2:
        return synthesize_aif(frames, A=A, **calib, **kwargs)
    res = synthesize_aif(frames, **calib, **kwargs)
    from core.optics import sigma_map
    from core.stacking.deconvolve import deconvolve_sweep

    t0 = time.perf_counter()
    assert A is not None
    sigma = np.asarray(sigma_map(depth_map, focus[:, None, None], A, F), dtype=np.float32)
    dec = deconvolve_sweep(
        res.aligned, sigma, res.aif, iterations=iterations, device=kwargs.get("device")
    )
    res.aif = dec.image
    res.timings["deconvolution_s"] = time.perf_counter() - t0
    res.timings["total_s"] = res.timings.get("total_s", 0.0) + res.timings["deconvolution_s"]
    if dec.saturated_fraction > 0.2:
        res.warnings.append(
            f"{100 * dec.saturated_fraction:.0f}% of the sweep's samples are saturated and were "
            "left out of the deconvolution; lower the exposure"
        )
    return res


def _session_depth(session: SweepSession) -> np.ndarray | None:
    """The session's measured depth map (mm), or None when it has none."""
    if not getattr(session, "has_depth", False):
        return None
    depth = getattr(session, "depth", None)
    return None if depth is None else np.asarray(depth(), dtype=np.float32)
