"""All-in-focus fusion: pick each pixel from the frame where it is sharpest, softly.

Decision-based fusion keeps every output pixel a convex combination of *source* pixels at the
same place, so colours and intensities stay faithful (no pyramid reconstruction ringing or
colour shifts). Refinements over a plain argmax:

- a coarse focus term (focus averaged over ~32 px) added to the fine one, so flat patches,
  whose fine focus is pure noise, follow the frame that is sharp around them;
- soft ties: where several frames are about equally sharp (a surface between two focus
  planes) they share the pixel with weights exp(-(FM_max - FM_n) / (tie * FM_max));
- guided filtering (He et al.) of every frame's focus map, with the provisional sharp composite
  as the guide, before the decision: decision borders then follow image edges instead of the
  focus window's blocky support (measured +0.2 dB over box-only on the synthetic stacks, while
  filtering the weights after the decision cost 0.3-1 dB);
- a validity mask from alignment: pixels a frame does not cover get no weight there;
- noise-aware averaging: every frame whose neighbourhood matches the fused image to within
  the sensor noise (estimated from the frames) joins the average, so flat areas and the
  nearly-equally-sharp frames of a dense stack are averaged instead of keeping one frame's
  noise, while frames that differ by more than noise (blur, halos) stay out;
- wider ties at depth edges (``edge_tie``; off in a bare :class:`FusionParams`, on in
  :func:`stack_params`, which the pipeline and ``psfbench stack`` use), found where the coarse
  focus curve has two separate peaks. Under the paper's scatter model (eq. 8) no frame holds
  the true value next to a depth edge: the frame where one side is sharp carries the other
  side's defocused light (too bright), the frame focused on the other side has lost it (too
  dark), so sharing the pixel cancels much of the error. Under occlusion (a sharp foreground
  hides what is behind it) the sharp frame is right there, and the gradient metric on the real
  stacks drops with any sharing. The default therefore shares only where the second peak is
  strong (from 0.6 of the first) and the composite shows the scatter model's excess light
  (:func:`excess_light`), and a few pixels around: 12 % of the transition band of the
  independent scatter stacks (benchmarks/stackgen.py, seed 16) passes the first test, 0.06 %
  and 0.47 % of the real stacks' pixels;
  ``SCATTER_EDGES`` shares wherever a second depth shows.

What each costs and gains on independent stacks (benchmarks/stackgen.py): docs/stacking.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as tF

from psfbench.core.stacking.focus_measures import (
    FocusMeasure,
    as_stack_tensor,
    box_mean,
    focus_volume,
    to_gray,
)
from psfbench.core.stacking.guided import guided_filter


@dataclass
class FusionResult:
    image: torch.Tensor  # (C, H, W) float32 in [0, 1]
    weights: torch.Tensor  # (N, H, W), sum 1 per pixel
    index: torch.Tensor  # (H, W) int64, the sharpest frame per pixel (hard decision)
    focus: torch.Tensor  # (N, H, W) focus volume the decision came from


@dataclass(frozen=True)
class FusionParams:
    """Tuning of :func:`fuse`; defaults measured best on the synthetic benchmark stacks."""

    measure: FocusMeasure = "modified_laplacian"
    window: int = 7
    presmooth: float = 0.0
    tie: float = 0.02
    floor: float = 0.0
    guided_radius: int = 2
    guided_eps: float = 1e-4
    delta: float = 1e-6
    coarse_window: int = 32
    coarse_weight: float = 0.3
    #: frames longer than this (px) get a proportionally wider focus window: detail spans more
    #: pixels there (measured Q^AB/F on the 2048 px real stacks: window 7 -> 15 gave
    #: 0.322 -> 0.337 and 0.445 -> 0.451); 0 disables.
    window_ref_px: int = 1024
    #: tie used where the coarse focus curve is bimodal (a depth edge: see
    #: :func:`depth_edge_map`); the map ramps from ``tie`` to this. 0 (off) here;
    #: :data:`DEPTH_EDGES` / :data:`SCATTER_EDGES` turn it on
    edge_tie: float = 0.0
    #: window (px) of the focus curve that looks for a second depth, on the 4x grid
    edge_window: int = 16
    #: a second peak counts only this many frames or more from the first
    edge_gap: int = 2
    #: second-peak prominence (fraction of the first peak) where the map starts / is full
    edge_onset: float = 0.6
    edge_full: float = 0.8
    #: share only where the decision's composite is brighter than the mean of all frames
    #: (low-passed; full at this excess, a fraction of full scale): the scatter model's
    #: signature at a depth edge (every frame's light is kept, and the sharp frames carry the
    #: other side's on top), not occlusion's, whose sign follows the edge's contrast. 0: off
    edge_excess: float = 0.0
    #: widen the map by this many cells of the 4x grid (a max filter)
    edge_grow: int = 0
    #: strength h of the noise-aware averaging (frames whose local mean squared difference
    #: from the fused image exceeds 2 sigma^2 by k sigma^2 get weight exp(-k / h^2)); 0 off
    denoise: float = 2.0
    #: window (px) of that local difference
    denoise_window: int = 7
    #: noise (std, fraction of full scale) below which there is nothing to average out: half
    #: an 8-bit grey level (the JPEG real stacks measure 0.25-0.42 of a level)
    denoise_min_sigma: float = 0.002

    def window_for(self, shape: tuple[int, int]) -> int:
        longest = max(shape)
        if self.window_ref_px <= 0 or longest <= self.window_ref_px:
            return self.window
        return int(round(self.window * longest / self.window_ref_px)) | 1


#: Depth-edge sharing when no PSF models the depth edges (the default of
#: :func:`psfbench.core.stacking.synthesize_aif` and ``psfbench stack``): only at strongly bimodal
#: focus curves where the composite shows the scatter model's excess light. Measured on the
#: independent scatter stacks: see docs/stacking.md; on the real stacks Q^AB/F moves by
#: 0.00002; psfbench's own occlusion stacks lose 0.3-0.7 dB.
DEPTH_EDGES: dict[str, float] = {
    "edge_tie": 0.6,
    "edge_onset": 0.6,
    "edge_full": 0.8,
    "edge_excess": 0.02,
    "edge_grow": 1,
}
#: For stacks known to follow the scatter model (``psfbench stack --scatter-edges``): shares
#: wherever a second depth shows, another +2.7 and +2.1 dB mean (benchmark seeds 16 and 7), but
#: it costs real photographs sharpness at depth edges (Q^AB/F -0.006 / -0.020 on the real stacks).
SCATTER_EDGES: dict[str, float] = {
    "edge_tie": 0.35,
    "edge_onset": 0.1,
    "edge_full": 0.3,
    "edge_excess": 0.0,
    "edge_grow": 0,
}


def stack_params(
    *, psf: bool = False, scatter_edges: bool = False, **kwargs: object
) -> FusionParams:
    """The fusion psfbench uses on a stack: :data:`DEPTH_EDGES` unless a PSF will model the
    depth edges (diffusion elimination assumes occlusion, where the sharp frame is right),
    :data:`SCATTER_EDGES` when asked for; ``kwargs`` override any field."""
    edges = SCATTER_EDGES if scatter_edges else ({} if psf else DEPTH_EDGES)
    return FusionParams(**{**edges, **kwargs})  # type: ignore[arg-type]


def coarse_focus(fm: torch.Tensor, window: int) -> torch.Tensor:
    """Focus averaged over ~``window`` px, computed on a 4x smaller grid (cheap on big frames).

    Inside a flat patch every fine-window focus value is noise, yet a heavily blurred frame
    carries its neighbours' colours into the patch. The surrounding texture knows which frame
    is sharp there; adding this term lets it decide flat pixels (measured: 38 -> 53 dB on a
    single textured plane at A = 800, where the tie rule alone averaged blurred frames in).
    """
    f = _grid_factor(fm.shape[-2:])
    return _upsample(_coarse_small(_pool(fm, f), window, f), fm.shape[-2:])


def _grid_factor(shape: tuple[int, ...] | torch.Size) -> int:
    """The coarse grid's step: 4 px, or 1 (the full grid) for frames under 64 px."""
    return 4 if min(shape[-2], shape[-1]) >= 64 else 1


def _pool(x: torch.Tensor, f: int) -> torch.Tensor:
    """(N, H, W) -> (N, ceil(H / f), ceil(W / f)) block means."""
    return tF.avg_pool2d(x[:, None], f, ceil_mode=True)[:, 0] if f > 1 else x


def _coarse_small(pooled: torch.Tensor, window: int, f: int) -> torch.Tensor:
    """Pooled focus averaged over ~``window`` full-grid px."""
    return box_mean(pooled, max(3, (window // f) | 1))


def _upsample(small: torch.Tensor, size: tuple[int, int] | torch.Size) -> torch.Tensor:
    """(..., h, w) -> (..., H, W) bilinear; a no-op when the sizes agree."""
    if tuple(small.shape[-2:]) == tuple(size):
        return small
    x = small.reshape(-1, 1, *small.shape[-2:])
    out = tF.interpolate(x, size=tuple(size), mode="bilinear", align_corners=False)
    return out.reshape(*small.shape[:-2], *size)


def second_peak(curve: torch.Tensor, gap: int) -> torch.Tensor:
    """(N, H, W) focus curves -> (H, W) prominence of a second peak, as a fraction of the
    first: max over frames k at least ``gap`` from the peak i of (c_k - min_{i..k} c) / c_i.

    0 for a curve that falls away from its peak on both sides (one depth in the window), up to
    1 for two equal peaks with nothing between them (two depths: a depth edge). NumPy running
    minima on CPU (3x faster than torch's cummin there), cummin elsewhere; tested equal.
    """
    n = curve.shape[0]
    if curve.device.type == "cpu":
        c = curve.numpy()
        peak = c.argmax(axis=0)
        top = np.take_along_axis(c, peak[None], 0)[0]
        out = np.zeros_like(top)
        for step in (1, -1):  # away from the peak towards the far, then the near end
            valley = top.copy()  # min of the curve from the peak to frame k
            for k in range(n) if step > 0 else range(n - 1, -1, -1):
                away = (k - peak) * step
                np.minimum(valley, c[k], out=valley, where=away > 0)
                np.maximum(out, np.where(away >= gap, c[k] - valley, 0.0), out=out)
        return torch.from_numpy(out / (top + np.float32(1e-12)))
    best, peak = curve.max(dim=0)
    ar = torch.arange(n, device=curve.device)[:, None, None]
    inf = torch.full_like(curve, float("inf"))
    above = ar >= peak[None]
    up = torch.where(above, curve, inf).cummin(dim=0).values
    down = torch.where(ar <= peak[None], curve, inf).flip(0).cummin(dim=0).values.flip(0)
    rise = (curve - torch.where(above, up, down)).masked_fill_((ar - peak[None]).abs() < gap, 0)
    return rise.max(dim=0).values / (best + 1e-12)


def depth_edge_map(
    fm: torch.Tensor,
    p: FusionParams,
    gray: torch.Tensor | None = None,
    pooled: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N, H, W) fine focus -> (H, W) in [0, 1]: how surely a pixel lies next to a depth edge.

    Over a window of ``p.edge_window`` px a pixel inside one surface sees one focus peak; next
    to a depth edge it sees the near side's peak and the far side's peak with a dip between
    them. The map ramps from 0 at a second-peak prominence of ``edge_onset`` to 1 at
    ``edge_full``; with ``p.edge_excess`` and the (N, H, W) ``gray`` frames it is also
    weighted by :func:`excess_light`. Computed on the 4x coarser grid (cheap on large frames;
    ``pooled`` is ``fm`` already averaged onto it).
    """
    f = _grid_factor(fm.shape[-2:])
    small = _coarse_small(_pool(fm, f) if pooled is None else pooled, p.edge_window, f)
    prom = second_peak(small, max(1, p.edge_gap))
    t = ((prom - p.edge_onset) / max(p.edge_full - p.edge_onset, 1e-6)).clamp_(0, 1)
    if gray is not None and p.edge_excess > 0 and bool((t > 0).any()):
        scale = 3.0 * max(fm.shape[-2:]) / 512.0 / f
        t = t.mul_(excess_light(_pool(gray, f), small, p, scale))
    if p.edge_grow > 0:  # the shared band reaches a little past the detected pixels
        k = 2 * p.edge_grow + 1
        t = tF.max_pool2d(t[None, None], k, stride=1, padding=p.edge_grow)[0, 0]
    return _upsample(t, fm.shape[-2:])


def excess_light(
    gray: torch.Tensor, fm: torch.Tensor, p: FusionParams, scale: float
) -> torch.Tensor:
    """(H, W) in [0, 1]: where the sharpest-frame composite of the (N, H, W) ``gray`` frames
    (by the focus ``fm``) is brighter than their mean, low-passed over ``scale`` px (a ramp
    to 1 at an excess of ``p.edge_excess``).

    Blur moves light but keeps it, so the mean of the frames has the scene's local brightness.
    Under the scatter model the sharp frames at a depth edge carry the other side's defocused
    light on top of their own, so their composite is brighter on both sides of the edge; under
    occlusion it is brighter on one side and darker on the other.
    """
    w = soft_weights(fm, p.tie, p.floor)
    w = w.div_(w.sum(dim=0, keepdim=True)).sub_(1.0 / fm.shape[0])
    diff = weighted_sum(gray[:, None], w)[0]  # composite - mean of the frames
    s = max(0.5, scale)
    if diff.device.type == "cpu":
        import cv2

        low = torch.from_numpy(cv2.GaussianBlur(diff.numpy(), (0, 0), s))
    else:
        k = max(3, int(2 * s) | 1)
        low = box_mean(box_mean(diff[None], k), k)[0]
    return low.div_(p.edge_excess).clamp_(0, 1)


def noise_sigma(gray: torch.Tensor) -> float:
    """Sensor noise (std, in image units) of an (N, H, W) stack: the smallest per-frame
    estimate, each the median absolute response to Immerkaer's noise kernel (median, not mean,
    so texture in part of the frame does not count as noise; the most defocused frame has the
    least texture left, hence the minimum over frames). The kernel is evaluated on a regular
    subgrid of ~100k pixels per frame.
    """
    h, w = gray.shape[-2:]
    if min(h, w) < 3:
        return 0.0
    step = max(1, int(np.sqrt((h - 2) * (w - 2) / 100_000)))
    kernel = ((1.0, -2.0, 1.0), (-2.0, 4.0, -2.0), (1.0, -2.0, 1.0))
    sig = []
    cpu = gray.device.type == "cpu"  # NumPy there: torch's strided adds were 3/4 of fuse()
    for g in gray.numpy() if cpu else gray:
        r = g[1 : h - 1 : step, 1 : w - 1 : step] * 0
        for dy in range(3):
            for dx in range(3):
                r += g[dy : h - 2 + dy : step, dx : w - 2 + dx : step] * kernel[dy][dx]
        # white noise of std s gives a response of std 6 s: a median |response| of 0.6745 * 6 s
        if cpu:  # the lower median, as torch's
            a = np.abs(r).ravel()
            med = float(np.partition(a, (a.size - 1) // 2)[(a.size - 1) // 2])
        else:
            med = float(r.abs_().median())
        sig.append(med / (0.6745 * 6.0))
    return min(sig)


def noise_matched(
    gray: torch.Tensor, ref: torch.Tensor, sigma: float, window: int, h: float
) -> torch.Tensor:
    """(N, H, W) weight of each frame where it matches ``ref`` (H, W) to within the noise.

    d2 = local mean of (frame - ref)^2 over ``window``; two noisy copies of one image have
    d2 = 2 sigma^2, so the weight is exp(-max(d2 / sigma^2 - 2, 0) / h^2): 1 for frames that
    differ from the fused image only by noise, falling off for frames that differ by blur.
    """
    s2 = max(sigma * sigma, 1e-12)
    if gray.device.type != "cpu":
        dt = box_mean((gray - ref[None]).square_(), window)
        return dt.div_(s2).sub_(2.0).clamp_min_(0).div_(-h * h).exp_()
    import cv2

    r = ref.numpy()
    out = np.empty(tuple(gray.shape), np.float32)
    for i, g in enumerate(gray.numpy()):  # per frame: no (N, H, W) temporaries
        d = g - r
        d2 = cv2.blur(d * d, (window, window), borderType=cv2.BORDER_REFLECT_101)
        excess = np.maximum(d2 - np.float32(2.0 * s2), np.float32(0.0))
        np.exp(excess * np.float32(-1.0 / (s2 * h * h)), out=out[i])
    return torch.from_numpy(out)


def soft_weights(fm: torch.Tensor, tie: float | torch.Tensor, floor: float) -> torch.Tensor:
    """(N, H, W) weights from a focus volume: 1 for the sharpest frame, near 1 for ties.

    ``tie`` is a number or an (H, W) map. ``floor`` (a fraction of the mean per-pixel best
    focus) keeps textureless pixels, whose focus values are all noise, from being decided by
    that noise: there all frames tie.
    """
    best = fm.max(dim=0, keepdim=True).values
    scale = best * tie + (floor * float(best.mean()) + 1e-12)
    return (fm - best).div_(scale).exp_()  # in place: one (N, H, W) temporary


def weighted_sum(frames: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) frames, (N, H, W) weights -> (C, H, W) (in-place accumulation: no
    (N, C, H, W) temporary)."""
    out = frames[0] * weights[0]
    for n in range(1, frames.shape[0]):
        out.addcmul_(frames[n], weights[n].expand_as(frames[n]))
    return out


def fuse(
    frames: np.ndarray | torch.Tensor,
    *,
    valid: np.ndarray | torch.Tensor | None = None,
    params: FusionParams | None = None,
    device: str | torch.device | None = None,
) -> FusionResult:
    """Fuse an aligned (N, C, H, W) float stack into one all-in-focus (C, H, W) image."""
    p = params or FusionParams()
    stack = as_stack_tensor(frames, device)
    n = stack.shape[0]
    gray = to_gray(stack)
    window = p.window_for((gray.shape[-2], gray.shape[-1]))
    fm = focus_volume(gray, p.measure, window=window, presmooth=p.presmooth)
    sigma = noise_sigma(gray) if n > 1 and p.denoise > 0 else 0.0
    f = _grid_factor(fm.shape[-2:])
    want_edge = n > 2 and p.edge_tie > p.tie
    pooled = _pool(fm, f) if want_edge or p.coarse_weight > 0 else None
    edge = depth_edge_map(fm, p, gray, pooled) if want_edge else None
    if p.coarse_weight > 0 and pooled is not None:
        coarse = _upsample(_coarse_small(pooled, p.coarse_window, f), fm.shape[-2:])
        fm = fm.add_(coarse, alpha=p.coarse_weight)
    vmask = None
    if valid is not None:
        vt = torch.as_tensor(valid, device=stack.device)
        if not bool(vt.all()):  # all-covered stacks skip the masking arithmetic
            vmask = vt.to(torch.float32)
            fm = fm.mul_(vmask)
    if n == 1:
        w = torch.ones_like(fm)
        return FusionResult(stack[0].clone(), w, fm.argmax(dim=0), fm)
    if p.guided_radius > 0:
        guide = torch.gather(gray, 0, fm.max(dim=0).indices[None])[0]
        fm = guided_filter(guide, fm, p.guided_radius, p.guided_eps).to(stack.device)
        fm = fm.clamp_min_(0)
        if vmask is not None:
            fm = fm.mul_(vmask)
    index = fm.max(dim=0).indices
    tie: float | torch.Tensor = p.tie
    if edge is not None and bool((edge > 0).any()):
        tie = edge.to(fm.device).mul_(p.edge_tie - p.tie).add_(p.tie)
    w = soft_weights(fm, tie, p.floor)
    if p.denoise > 0 and sigma >= p.denoise_min_sigma:
        # the decision's grey composite is the reference the frames are matched against
        ref = weighted_sum(gray[:, None], w / w.sum(dim=0, keepdim=True))[0]
        matched = noise_matched(gray, ref, sigma, p.denoise_window, p.denoise)
        w = torch.maximum(w, matched.to(w.device))
    # delta: every covered frame keeps a trace of weight, so no pixel divides by zero
    w = w.mul_(vmask).add_(vmask, alpha=p.delta) if vmask is not None else w.add_(p.delta)
    w = w.div_(w.sum(dim=0, keepdim=True))
    image = weighted_sum(stack, w).clamp_(0, 1)
    return FusionResult(image, w, index, fm)
