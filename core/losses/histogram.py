"""Defocus-histogram loss (eq. 17): compare how many pixels sit at each sharpness level.

A hard histogram is enough because the fit is a grid search (no gradients needed). To make it
well-defined and comparable across pairs, both images of a pair share one range (min..max of
both over the valid pixels) and counts are divided by the number of valid pixels, so the
result does not depend on image size or mask size.
"""

from __future__ import annotations

import torch


def histogram_distance(
    v_real: torch.Tensor,
    v_sim: torch.Tensor,
    valid: torch.Tensor,
    *,
    bins: int,
    closed_edges: bool,
    squared: bool,
) -> torch.Tensor:
    """Distance between per-pair histograms of (N, P) values over the P-pixel ``valid`` mask.

    Returns (N,). Bin edges are ``lo + k * (hi - lo) / bins`` in float64, the last edge set to
    ``hi`` exactly (numpy.linspace's arithmetic, so the reference preset reproduces its
    counts); a value on an inner edge goes to the upper bin, or to both bins when
    ``closed_edges`` (the reference code's inclusive comparisons).
    """
    n, p = v_sim.shape
    w = valid.to(torch.float64).reshape(1, p)
    n_valid = w.sum().clamp_min(1.0)
    big = torch.finfo(torch.float64).max
    vr = v_real.to(torch.float64)
    vs = v_sim.to(torch.float64)
    vmask = valid.reshape(1, p)
    lo = torch.minimum(
        torch.where(vmask, vr, big).amin(dim=1), torch.where(vmask, vs, big).amin(dim=1)
    )
    hi = torch.maximum(
        torch.where(vmask, vr, -big).amax(dim=1), torch.where(vmask, vs, -big).amax(dim=1)
    )
    hi = torch.maximum(hi, lo)  # no valid pixel: lo = +big, hi = -big
    step = (hi - lo) / bins
    k = torch.arange(bins + 1, dtype=torch.float64, device=vs.device)
    edges = k[None, :] * step[:, None] + lo[:, None]
    edges[:, -1] = hi
    edges = edges.contiguous()

    def counts(v: torch.Tensor) -> torch.Tensor:
        raw = torch.searchsorted(edges, v.contiguous(), right=True) - 1
        idx = raw.clamp(0, bins - 1)
        weight = w.expand(n, p)
        c = torch.zeros(n, bins, dtype=torch.float64, device=v.device)
        c.scatter_add_(1, idx, weight)
        if closed_edges:
            on_edge = (
                (raw >= 1) & (raw <= bins - 1) & (v == torch.gather(edges, 1, raw.clamp(0, bins)))
            )
            c.scatter_add_(1, (idx - 1).clamp_min(0), weight * on_edge)
        return c / n_valid

    d2 = ((counts(vr) - counts(vs)) ** 2).sum(dim=1)
    return d2 if squared else torch.sqrt(d2)


def masked_range(v: torch.Tensor, valid_idx: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
    """Per-row (min, max) of (N, P) values over the pixels ``valid_idx`` (None: all)."""
    sel = v if valid_idx is None else v.index_select(1, valid_idx)
    lo, hi = torch.aminmax(sel, dim=1)
    return lo, hi


def _bin_counts(
    v: torch.Tensor,
    thresholds: torch.Tensor,
    lo: torch.Tensor,
    inv_step: torch.Tensor,
    degenerate: torch.Tensor | None,
    exact_edge: torch.Tensor | None,
    valid: torch.Tensor | None,
    bins: int,
) -> torch.Tensor:
    """(N, bins) int64 counts with ``histogram_distance``'s edge rules, without searchsorted.

    ``thresholds`` (N, bins + 2) are the float64 edges rounded *up* to v's dtype, then +inf:
    for v in that dtype, ``v >= edge`` exactly when ``v >= threshold``, so comparisons stay
    in v's dtype and still reproduce float64 binning. The bin is first guessed from
    ``(v - lo) * inv_step`` (off by at most one: its relative error is ~1e-7 on a number
    <= bins), then corrected by one comparison with each neighbouring edge.
    """
    n, p = v.shape
    guess = ((v - lo[:, None]) * inv_step[:, None]).to(torch.int64)
    guess.clamp_(0, bins)  # NaN, and pixels outside the valid set, may land anywhere
    rows = torch.arange(n, device=v.device)[:, None]
    flat_t = thresholds.reshape(-1)
    gi = guess + rows * (bins + 2)
    raw = guess - (v < flat_t[gi]).to(torch.int64)
    raw += (v >= flat_t[gi + 1]).to(torch.int64)
    if degenerate is not None:
        # A zero-width range: every edge equals lo, searchsorted puts every value past the last.
        raw = torch.where(degenerate[:, None], bins, raw)
    idx = raw.clamp(0, bins - 1)
    dump = bins  # one extra bin per row takes the pixels outside the valid set
    if valid is not None:
        idx = torch.where(valid[None, :], idx, dump)
    width = bins + 1
    c = torch.bincount((idx + rows * width).reshape(-1), minlength=n * width)
    c = c.reshape(n, width)[:, :bins]
    if exact_edge is not None:
        # Closed bins: a value exactly on an inner edge also counts in the bin below.
        rc = raw.clamp(0, bins)
        on_edge = (raw >= 1) & (raw <= bins - 1)
        on_edge &= (v == flat_t[rc + rows * (bins + 2)]) & exact_edge.reshape(-1)[rc + rows * width]
        if valid is not None:
            on_edge &= valid[None, :]
        lower = torch.where(on_edge, raw - 1, dump)
        c2 = torch.bincount((lower + rows * width).reshape(-1), minlength=n * width)
        c = c + c2.reshape(n, width)[:, :bins]
    return c


def histogram_distance_fast(
    v_real: torch.Tensor,
    v_sim: torch.Tensor,
    valid: torch.Tensor | None,
    *,
    bins: int,
    closed_edges: bool,
    squared: bool,
    n_valid: float,
    real_range: tuple[torch.Tensor, torch.Tensor],
    valid_idx: torch.Tensor | None,
) -> torch.Tensor:
    """:func:`histogram_distance` with the same counts, via a bin guess and ``bincount``.

    ``valid`` (P,) bool or None when every pixel is valid, ``valid_idx`` its nonzero indices,
    ``n_valid`` its count; ``real_range`` the per-row (min, max) of ``v_real`` over it,
    computed once by the caller because the fitter pairs the same real image with many
    simulations. Values must be float32 or float64 (the bin tests stay in that dtype).
    """
    lo_s, hi_s = masked_range(v_sim, valid_idx)
    lo = torch.minimum(real_range[0], lo_s)
    hi = torch.maximum(real_range[1], hi_s)
    lo64, hi64 = lo.to(torch.float64), hi.to(torch.float64)
    step = (hi64 - lo64) / bins
    k = torch.arange(bins + 1, dtype=torch.float64, device=v_sim.device)
    edges = k[None, :] * step[:, None] + lo64[:, None]
    edges[:, -1] = hi64
    if v_sim.dtype == torch.float64:
        thr = edges
    else:
        thr = edges.to(v_sim.dtype)
        thr = torch.where(thr.to(torch.float64) < edges, torch.nextafter(thr, hi[:, None]), thr)
    exact_edge = None
    if closed_edges:
        exact_edge = thr.to(torch.float64) == edges
    n = v_sim.shape[0]
    inf = torch.full((n, 1), float("inf"), dtype=thr.dtype, device=thr.device)
    thr = torch.cat([thr, inf], dim=1).contiguous()
    wide = hi64 > lo64
    inv_step = torch.where(wide, bins / (hi64 - lo64).clamp_min(1e-300), 0.0).to(v_sim.dtype)
    scale = torch.maximum(lo64.abs(), hi64.abs())
    coarse = wide & (step <= 1e-12 * scale)
    if not bool(torch.isfinite(inv_step).all()) or bool(coarse.any()):
        # A range so narrow that float64 edges are not ordered to within a bin (impossible
        # for float32 values), or bins/width overflows: the one-step correction cannot be
        # trusted, so use the searchsorted formulation.
        p = v_sim.shape[1]
        mask = valid if valid is not None else torch.ones(p, dtype=torch.bool, device=v_sim.device)
        return histogram_distance(
            v_real, v_sim, mask, bins=bins, closed_edges=closed_edges, squared=squared
        )
    degenerate = None if bool(wide.all()) else ~wide
    args = (thr, lo, inv_step, degenerate, exact_edge, valid, bins)
    cr = _bin_counts(v_real, *args).to(torch.float64) / n_valid
    cs = _bin_counts(v_sim, *args).to(torch.float64) / n_valid
    d2 = ((cr - cs) ** 2).sum(dim=1)
    return d2 if squared else torch.sqrt(d2)
