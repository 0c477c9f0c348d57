"""One call from a focus sweep to all-in-focus image, depth-from-focus map and confidence.

Order matters: align first (focus breathing would otherwise double edges and shift the focus
curves), then measure focus and fuse, then remove transition-region haze with the fitted PSF
(which needs a depth map: the true one if known, else the depth from focus just computed).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from psfbench.core.stacking.align import Alignment, apply_alignment, estimate_alignment
from psfbench.core.stacking.dff import PeakFit, depth_from_focus
from psfbench.core.stacking.diffusion import SigmaSource, eliminate_diffusion, sigma_from_depth
from psfbench.core.stacking.fusion import FusionParams, fuse, stack_params


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
    prealigned: Alignment | None = None,
) -> StackResult:
    """Fuse an (N, C, H, W) float stack (or (N, H, W) mono) into an all-in-focus image.

    Calibration (all optional): the sweep's sensor readings ``d_mm`` with ``e_mm`` and
    ``F_mm`` (or directly ``focus_depths_mm``) give depth in mm and the near-to-far order of
    the frames. Diffusion elimination runs when a PSF is known: either ``psf_sigma`` (a sigma
    in pixels, or a per-frame sigma-map callback) or ``A`` with a calibrated sweep, in which
    case sigma = sigma_map(depth, Df_n, A, F) over ``depth_for_psf_mm`` (default: the depth
    from focus). ``depth=False`` skips depth from focus when only the image is wanted (the
    index/confidence/depth fields are then empty arrays / None). ``params`` defaults to
    :func:`psfbench.core.stacking.fusion.stack_params`: strongly two-depth pixels are shared among
    the frames unless a PSF is given (which then treats the depth edges). ``prealigned`` is an
    alignment already estimated on these (finite) frames, e.g. while torch was loading.
    """
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    warnings: list[str] = []
    stack = np.asarray(frames, dtype=np.float32)
    if stack.ndim == 3:
        stack = stack[:, None]
    if stack.ndim != 4 or stack.shape[0] < 1 or min(stack.shape[1:]) < 1:
        raise ValueError(f"expected (N, C, H, W) frames, got shape {stack.shape}")
    n = stack.shape[0]
    if focus_depths_mm is None and d_mm is not None and e_mm is not None and F_mm is not None:
        from psfbench.core.optics import focus_depth

        focus_depths_mm = np.asarray(focus_depth(np.asarray(d_mm, float), e_mm, F_mm))
    stack, missing, note = fill_missing(stack)
    if note:
        warnings.append(note)
    alignment = None
    valid = None
    if align and n > 1:
        if prealigned is None:
            alignment = estimate_alignment(stack, reference=reference)
        else:
            alignment = prealigned
        warnings += alignment.warnings
        stack, valid = apply_alignment(stack, alignment)
        if missing is not None:
            moved, _ = apply_alignment(missing[:, None].astype(np.float32), alignment)
            missing = moved[:, 0] > 0.01
        timings["align_s"] = time.perf_counter() - t0
    nodata: np.ndarray | None = None
    if missing is not None:
        nodata = np.asarray(missing.all(axis=0))  # no frame has data: filled, then NaN again below
        has = ~missing | nodata[None]
        valid = has if valid is None else valid & has
    t1 = time.perf_counter()
    if params is None:
        params = stack_params(psf=psf_sigma is not None or A is not None)
    fused = fuse(stack, valid=valid, params=params, device=device)
    timings["fuse_s"] = time.perf_counter() - t1
    if n == 1:
        warnings.append(
            "a single frame: nothing to fuse, the output is that frame; depth from focus needs "
            "a sweep (its index and confidence are 0)"
        )
    elif not bool((fused.focus > 0).any()):
        warnings.append(
            f"the {n} frames have no detail (constant images): focus cannot be measured, the "
            "output is their average and depth from focus is undefined (confidence 0)"
        )
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
    if nodata is not None and nodata.any():
        # isolated holes (dead pixels) keep their interpolated value in the image; wider ones
        # have nothing to interpolate from and become NaN. No depth is claimed for either.
        far = _far_from_data(nodata, MAX_INTERPOLATED_GAP_PX)
        aif[:, far] = np.nan
        if index.shape == nodata.shape:
            index[nodata] = np.nan
            confidence[nodata] = 0.0
        if depth_map is not None:
            depth_map[nodata] = np.nan
        n_far = int(far.sum())
        warnings.append(
            f"{int(nodata.sum())} pixels have no data in any frame: "
            f"{int(nodata.sum()) - n_far} isolated ones (dead pixels) interpolated from their "
            f"neighbours, {n_far} left NaN; no depth at any of them"
        )
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


def fill_missing(stack: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, str]:
    """NaN (or inf) samples of an (N, C, H, W) stack are missing data, not values.

    Returns the stack with each missing sample filled from its own frame's neighbours (a
    normalised box average grown ring by ring, so the focus measure around a hole sees no
    false edge; what is still empty after :data:`FILL_RINGS` rings takes the frame's mean, a
    frame without any data the other frames' mean), the (N, H, W) mask of missing pixels
    (None when nothing is missing) and a warning naming the count. Fusion then gives the
    filled pixels no weight: the output is finite wherever any frame has data.
    """
    bad = ~np.isfinite(stack)
    if not bad.any():
        return stack, None, ""
    missing = bad.any(axis=1)
    out = np.where(bad, np.float32(0), stack).astype(np.float32, copy=False)
    counts = missing.reshape(len(stack), -1).sum(axis=1)
    full = missing[0].size
    for i in np.flatnonzero((counts > 0) & (counts < full)):
        for c in range(stack.shape[1]):
            out[i, c] = _fill_holes(out[i, c], ~missing[i])
    empty = np.flatnonzero(counts == full)
    if len(empty):
        keep = np.flatnonzero(counts < full)
        mean = out[keep].mean(axis=0) if len(keep) else np.zeros(stack.shape[1:], np.float32)
        out[empty] = mean
    note = (
        f"{int(counts.sum())} NaN samples (missing data) in {int((counts > 0).sum())} of "
        f"{len(stack)} frames: each pixel is fused from the frames that have it"
    )
    return out, missing, note


#: Rings of neighbours a hole is filled from before the rest takes the frame's mean.
FILL_RINGS = 32


def _fill_holes(img: np.ndarray, known: np.ndarray) -> np.ndarray:
    """(H, W) float32 with the pixels outside ``known`` filled from their known neighbours."""
    import cv2

    out = np.where(known, img, np.float32(0)).astype(np.float32)
    have = known.astype(np.float32)
    for _ in range(FILL_RINGS):
        todo = have == 0
        if not todo.any():
            return out
        num = cv2.boxFilter(out * have, -1, (3, 3), normalize=False)
        den = cv2.boxFilter(have, -1, (3, 3), normalize=False)
        ring = todo & (den > 0)
        out[ring] = num[ring] / den[ring]
        have[ring] = 1.0
    rest = have == 0
    if rest.any():
        out[rest] = float(img[known].mean())
    return out


#: No-data holes up to this distance (px) from a measured pixel are interpolated in the
#: fused image (dead pixels, as camera software does); wider holes stay NaN.
MAX_INTERPOLATED_GAP_PX = 2.0


def _far_from_data(nodata: np.ndarray, limit: float) -> np.ndarray:
    """Pixels of ``nodata`` farther than ``limit`` px from any pixel with data."""
    import cv2

    if nodata.all():
        return nodata.copy()
    dist = cv2.distanceTransform(nodata.astype(np.uint8), cv2.DIST_L2, 3)
    return nodata & (dist > limit)


class SweepSession(Protocol):
    """What :func:`synthesize_aif_from_session` needs of psfbench.core.dataset.Session."""

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
    on_iteration: Callable[[int, int, float], None] | None = None,
    **kwargs: Any,
) -> StackResult:
    """Synthesise all-in-focus from this sweep: a session's frames, measured d and the fit.

    With the fitted ``e_mm`` the depth map is in mm and frames are ordered near to far. With
    ``A`` too, the fitted PSF cleans the fused image: by inverting the scatter model over the
    whole sweep (:mod:`psfbench.core.stacking.deconvolve`) when the session has a depth map and
    ``deconvolution`` is on, else by transition-region diffusion elimination on the depth from
    focus. Sessions that store Df directly (no d) use those focus depths. ``on_iteration``:
    the deconvolution's progress (:func:`psfbench.core.stacking.deconvolve.deconvolve_sweep`).
    """
    # the image is made for the PSF fit, which needs the sharp frame at depth edges: sharing
    # them (the default without a PSF) reads as a blurrier image and biases A low (virtual
    # bench: -0.46 % -> -1.07 %)
    kwargs.setdefault("params", stack_params(psf=True))
    frames = session.frames_array()
    F = float(session.focal_length_mm)
    d = np.asarray(session.d_mm, dtype=float)
    calib: dict[str, Any] = {"F_mm": F}
    if e_mm is not None and np.isfinite(d).all():
        calib.update(d_mm=d, e_mm=e_mm)
        from psfbench.core.optics import focus_depth

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
    from psfbench.core.optics import sigma_map
    from psfbench.core.stacking.deconvolve import deconvolve_sweep

    t0 = time.perf_counter()
    assert A is not None
    sigma = np.asarray(sigma_map(depth_map, focus[:, None, None], A, F), dtype=np.float32)
    dec = deconvolve_sweep(
        res.aligned,
        sigma,
        res.aif,
        iterations=iterations,
        device=kwargs.get("device"),
        on_iteration=on_iteration,
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
