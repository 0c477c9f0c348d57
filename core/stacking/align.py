"""Undo focus breathing: per-frame scale/shift so every frame lands on the reference grid.

Turning the focus ring changes the lens-to-sensor distance and hence the magnification, so a
feature drifts radially by a fraction of a pixel to several pixels across a sweep. Fusing
unaligned frames doubles edges; the PSF fit and the depth map also need one pixel grid.

We estimate an affine warp per frame with OpenCV's ECC (enhanced correlation coefficient),
which is robust to the brightness/contrast change that defocus causes. ECC runs coarse to fine
on a small image pyramid (most iterations on the coarsest level, where they are cheap) and each
frame starts from its already-aligned neighbour's warp, so large sweeps stay in ECC's capture
range while every frame is still aligned *directly* against the reference (no chained drift).

The output keeps the reference frame's size and channels: nothing is cropped. Pixels that a
warp pulls from outside a frame are filled by edge replication and flagged in a validity mask,
so fusion can ignore them and take those pixels from frames that do cover them (the reference
covers everything).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

AlignModel = Literal["affine", "similarity", "translation"]

#: Shortest frame side (px) that alignment accepts: ECC needs a few pixels of margin and
#: texture on each side of its pyramid; smaller frames must be fused with align=False.
MIN_ALIGN_SIDE = 16


@dataclass
class Alignment:
    """Warps (2x3, reference pixel -> frame pixel) and what happened while estimating them."""

    warps: np.ndarray  # (N, 2, 3) float64
    reference: int
    #: something is wrong (an implausible warp refused, no frame registered at all): shown
    warnings: list[str] = field(default_factory=list)
    #: what is normal in a focus sweep (a frame too blurred to register at a fine level, so
    #: the coarser estimate stands): kept for the curious, never shown as a warning
    notes: list[str] = field(default_factory=list)
    #: per frame, the fraction of the reference mismatch (1 - ECC correlation) the warp removed
    gains: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def max_displacement(self, shape: tuple[int, int]) -> np.ndarray:
        """Largest displacement (pixels) of the image corners per frame."""
        h, w = shape
        corners = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float)
        moved = np.einsum("nij,kj->nki", self.warps, corners)
        return np.abs(moved - corners[None, :, :2]).max(axis=(1, 2))

    def scales(self) -> np.ndarray:
        """Isotropic magnification of each frame relative to the reference (breathing)."""
        return np.sqrt(np.abs(np.linalg.det(self.warps[:, :, :2])))


def _gray_f32(frame: np.ndarray) -> np.ndarray:
    """(C, H, W) or (H, W) float -> (H, W) float32 luminance."""
    if frame.ndim == 2:
        return frame.astype(np.float32, copy=False)
    if frame.shape[0] == 3:
        w = np.array([0.299, 0.587, 0.114], np.float32)
        return np.tensordot(w, frame.astype(np.float32, copy=False), axes=1)
    return frame.astype(np.float32, copy=False).mean(axis=0)


def _project_similarity(warp: np.ndarray) -> np.ndarray:
    """Nearest rotation+uniform-scale matrix to the 2x2 part (keeps the translation)."""
    m = warp[:, :2]
    a = 0.5 * (m[0, 0] + m[1, 1])
    b = 0.5 * (m[1, 0] - m[0, 1])
    out = warp.copy()
    out[:, :2] = [[a, -b], [b, a]]
    return out


def _pyramid(img: np.ndarray, coarsest: int, finest: int) -> list[tuple[float, np.ndarray]]:
    """Levels (scale, image) from coarse to fine, longest side from ``coarsest`` to ``finest``."""
    import cv2

    longest = max(img.shape)
    top = min(finest, longest)
    sizes: list[int] = []
    s = top
    while True:
        sizes.append(s)
        if s <= coarsest:
            break
        s = max(coarsest, s // 2)
        if s == sizes[-1]:
            break
    levels = []
    for side in reversed(sizes):
        f = side / longest
        if f >= 0.999:
            levels.append((1.0, img))
        else:
            size = (max(8, round(img.shape[1] * f)), max(8, round(img.shape[0] * f)))
            levels.append((f, cv2.resize(img, size, interpolation=cv2.INTER_AREA)))
    return levels


def _ecc_gain(tmpl: np.ndarray, img: np.ndarray, warp: np.ndarray, blur: float = 0.0) -> float:
    """(rho_warped - rho_identity) / (1 - rho_identity) on the interior (5% margin), after
    blurring both images alike with a Gaussian of ``blur`` px when it is > 0."""
    import cv2

    if blur > 0:
        tmpl = cv2.GaussianBlur(tmpl, (0, 0), blur)
        img = cv2.GaussianBlur(img, (0, 0), blur)
    h, w = tmpl.shape
    my, mx = max(2, h // 20), max(2, w // 20)
    warped = cv2.warpAffine(
        img,
        warp.astype(np.float32),
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    t = tmpl[my:-my, mx:-mx]
    r0 = float(cv2.computeECC(t, img[my:-my, mx:-mx]))
    r1 = float(cv2.computeECC(t, warped[my:-my, mx:-mx]))
    return (r1 - r0) / max(1.0 - r0, 1e-6)


def estimate_alignment(
    frames: np.ndarray,
    *,
    reference: int | None = None,
    model: AlignModel = "similarity",
    coarsest: int = 256,
    finest: int = 1024,
    iterations: int = 60,
    eps: float = 1e-5,
    min_gain: float = 0.35,
    gain_blur: float = 0.005,
    max_scale_change: float = 0.1,
    max_rotation_deg: float = 3.0,
    max_shift_fraction: float = 0.05,
) -> Alignment:
    """Warp of each frame onto ``reference`` (default: the middle frame).

    ``frames`` is (N, H, W) or (N, C, H, W) float. ``finest`` caps the pyramid's finest level
    (longest side in pixels): ECC's translation is sub-pixel at that level already, so going to
    full resolution costs time for little gain on large frames. ``model="similarity"`` fits an
    affine warp and projects it to scale + rotation + shift, which is what breathing is and
    keeps shear from absorbing noise.

    Defocus differences alone can pull ECC to a spurious zoom (a sharp edge "matches" a blurred
    one slightly better when scaled). A warp is therefore kept only if it removes at least
    ``min_gain`` of the remaining mismatch, 1 - rho, between reference and frame; otherwise
    the frame is taken as already aligned. Measured: real breathing removes 45-95% (pcb and
    depthmap stacks), spurious warps on unmoved synthetic stacks at most 10%.

    A focus sweep moves the image by breathing: a few percent of scale, a small shift, no real
    rotation. A warp beyond ``max_scale_change``, ``max_rotation_deg`` or
    ``max_shift_fraction`` of the image diagonal is refused whatever its gain: ECC on a frame
    blurred to a few blobs can "gain" 24% with a 29% zoom, a 14 degree turn and a 58 px shift
    (measured on a 112x96 virtual objects sweep), which would wreck the fusion and everything
    fitted from it.
    """
    import cv2

    n = len(frames)
    ref = n // 2 if reference is None else reference
    if not 0 <= ref < n:
        raise ValueError(f"reference frame {ref} is outside the stack of {n} frames")
    grays = [_gray_f32(np.asarray(f)) for f in frames]
    h, w = grays[ref].shape
    if min(h, w) < MIN_ALIGN_SIDE:
        raise ValueError(
            f"frames are {w}x{h} px: too small to align (alignment needs at least "
            f"{MIN_ALIGN_SIDE} px a side); pass --no-align (align=False) if they are registered"
        )
    pyr = [_pyramid(g, coarsest, finest) for g in grays]
    warps = np.tile(np.eye(2, 3), (n, 1, 1))
    warnings: list[str] = []
    notes: list[str] = []
    unregistered: set[int] = set()
    gains = np.zeros(n)
    motion = cv2.MOTION_TRANSLATION if model == "translation" else cv2.MOTION_AFFINE
    ecc = cv2.findTransformECC  # its stubs lack the gaussFiltSize overload with a None mask

    def solve(i: int) -> None:
        guess = warps[i - 1] if i > ref else warps[i + 1]
        w = guess.copy()
        scale, tmpl, img = 1.0, grays[ref], grays[i]
        for level, ((scale, tmpl), (_, img)) in enumerate(zip(pyr[ref], pyr[i], strict=True)):
            ws = w.astype(np.float32).copy()
            ws[:, 2] *= scale
            its = iterations if level == 0 else max(5, iterations // (4 * level))
            crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, its, eps)
            blur = 5 if scale < 0.5 else 7
            try:
                _, ws = ecc(tmpl, img, ws, motion, crit, None, blur)  # type: ignore[call-overload]
            except cv2.error:
                # Typical of frames far out of focus: too little texture to register. The
                # coarser level's warp stands, and the gain test below still vets it. Normal
                # in a sweep, so a note, not a warning.
                notes.append(
                    f"frame {i}: alignment did not converge at scale {scale:.3g} (frame too "
                    "blurred to register?); kept the coarser estimate"
                )
                if level == 0:
                    unregistered.add(i)
                break
            w = ws.astype(np.float64)
            w[:, 2] /= scale
            if model == "similarity":
                w = _project_similarity(w)
        scaled = w.copy()
        scaled[:, 2] *= scale
        gains[i] = _ecc_gain(tmpl, img, scaled)
        if gains[i] >= min_gain and gain_blur > 0:
            # the same test with both images blurred alike: a real move survives it, an
            # apparent zoom of defocused blobs mostly does not
            blur = gain_blur * max(tmpl.shape)
            gains[i] = min(gains[i], _ecc_gain(tmpl, img, scaled, blur))
        why = _implausible(
            w, grays[ref].shape, max_scale_change, max_rotation_deg, max_shift_fraction
        )
        if why and gains[i] >= min_gain:
            warnings.append(f"frame {i}: alignment refused ({why}); frame taken as aligned")
        warps[i] = w if gains[i] >= min_gain and not why else np.eye(2, 3)

    def sweep(order: list[int]) -> None:
        for i in order:
            solve(i)

    # the two halves of the sweep are independent chains: solve them side by side
    # (OpenCV releases the GIL)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        done = [
            pool.submit(sweep, list(range(ref + 1, n))),
            pool.submit(sweep, list(range(ref - 1, -1, -1))),
        ]
        for f in done:
            f.result()
    if n > 2 and len(unregistered) == n - 1:
        warnings.append(
            f"no frame could be registered against frame {ref} (too little texture, or frames "
            "too different); the stack was fused unaligned"
        )
    return Alignment(warps=warps, reference=ref, warnings=warnings, notes=notes, gains=gains)


def _implausible(
    warp: np.ndarray, shape: tuple[int, ...], d_scale: float, d_rot_deg: float, d_shift: float
) -> str:
    """Why ``warp`` cannot be focus breathing ('' when it can)."""
    a, b = float(warp[0, 0]), float(warp[1, 0])
    scale = float(np.hypot(a, b))
    rot = float(np.degrees(np.arctan2(b, a)))
    h, w = shape[-2], shape[-1]
    # the shift of the image centre, not of the origin: breathing scales about the centre
    centre = np.array([w / 2.0, h / 2.0])
    moved = warp[:, :2] @ centre + warp[:, 2] - centre
    shift = float(np.hypot(*moved)) / float(np.hypot(h, w))
    if abs(scale - 1.0) > d_scale:
        return f"scale {scale:.3f}"
    if abs(rot) > d_rot_deg:
        return f"rotation {rot:.1f} deg"
    if shift > d_shift:
        return f"shift {100 * shift:.1f}% of the diagonal"
    return ""


def _coverage(warp: np.ndarray, h: int, w: int) -> np.ndarray:
    """Reference pixels x whose W x lands inside the frame: the frame's rectangle mapped back
    by W^-1 is a convex quadrilateral, rasterised directly (no full-size warp of a mask)."""
    import cv2

    inv = cv2.invertAffineTransform(warp)
    rect = np.array([[0, 0, 1], [w - 1, 0, 1], [w - 1, h - 1, 1], [0, h - 1, 1]], float)
    quad = rect @ inv.T
    mask = np.zeros((h, w), np.uint8)
    shift = 4  # sub-pixel vertex precision (1/16 px)
    pts = np.round(quad * (1 << shift)).astype(np.int32)
    cv2.fillConvexPoly(mask, pts, 1, lineType=cv2.LINE_8, shift=shift)
    return mask.astype(bool)


def apply_alignment(
    frames: np.ndarray, alignment: Alignment, *, min_motion_px: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """Warp (N, C, H, W) float frames onto the reference grid; returns (aligned, valid).

    ``valid`` (N, H, W) bool marks pixels that came from inside the frame. Frames that moved
    less than ``min_motion_px`` anywhere are passed through untouched: resampling would only
    cost sharpness (cubic interpolation of a sub-0.05 px shift is a low-pass, not a move).
    """
    import cv2

    if frames.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) frames, got {frames.shape}")
    n, c, h, w = frames.shape
    out = np.empty_like(frames)
    valid = np.ones((n, h, w), bool)
    moved = alignment.max_displacement((h, w))
    flags = cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP

    def one(i: int) -> None:
        if moved[i] < min_motion_px:
            out[i] = frames[i]
            return
        m = alignment.warps[i]
        for ch in range(c):
            out[i, ch] = cv2.warpAffine(
                frames[i, ch], m, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE
            )
        valid[i] = _coverage(m, h, w)
        np.clip(out[i], 0.0, 1.0, out=out[i])  # bicubic overshoot

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(one, range(n)))
    return out, valid


def align_stack(frames: np.ndarray, **kwargs: object) -> tuple[np.ndarray, np.ndarray, Alignment]:
    """Estimate and apply alignment in one call; see :func:`estimate_alignment`."""
    al = estimate_alignment(frames, **kwargs)  # type: ignore[arg-type]
    aligned, valid = apply_alignment(frames, al)
    return aligned, valid, al
