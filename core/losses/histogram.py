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
