"""Below-the-grid-step refinement and uncertainty of the optimum.

The loss surface near its minimum is close to a quadratic in (A, e); fitting one to the
neighbourhood of the best grid point locates the optimum to a fraction of the grid step and
gives the local curvature. Uncertainty comes from a bootstrap over sweep images: the landscape
keeps one surface per image, so resampling images and re-locating the optimum costs no render.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from psfbench.core.fit.grid import Landscape


@dataclass(frozen=True)
class Optimum:
    A: float
    e: float
    loss: float
    at_boundary: bool  # the grid minimum lies on the grid's edge: widen the range
    hessian: np.ndarray | None  # d2 loss / d(A, e)^2 in physical units, None if not PD


def quadratic_optimum(
    A_values: np.ndarray, e_values: np.ndarray, surface: np.ndarray, radius: int = 1
) -> Optimum:
    """Quadratic least squares around the grid minimum (within ``radius`` points); NaN points
    (not evaluated, e.g. a design's skipped corners) are left out."""
    i, j = (int(v) for v in np.unravel_index(int(np.nanargmin(surface)), surface.shape))
    nA, ne = surface.shape
    at_boundary = (nA > 1 and i in (0, nA - 1)) or (ne > 1 and j in (0, ne - 1))
    dA = float(A_values[1] - A_values[0]) if nA > 1 else 1.0
    de = float(e_values[1] - e_values[0]) if ne > 1 else 1.0
    i0, i1 = max(0, i - radius), min(nA, i + radius + 1)
    j0, j1 = max(0, j - radius), min(ne, j + radius + 1)
    ii, jj = np.meshgrid(np.arange(i0, i1), np.arange(j0, j1), indexing="ij")
    x = ((A_values[ii] - A_values[i]) / dA).ravel()
    y = ((e_values[jj] - e_values[j]) / de).ravel()
    f = surface[ii, jj].ravel()
    finite = np.isfinite(f)
    x, y, f = x[finite], y[finite], f[finite]
    best = Optimum(float(A_values[i]), float(e_values[j]), float(surface[i, j]), at_boundary, None)
    cols = [np.ones_like(x)]
    use_x, use_y = i1 - i0 >= 3, j1 - j0 >= 3
    if use_x:
        cols += [x, x * x]
    if use_y:
        cols += [y, y * y]
    if use_x and use_y:
        cols += [x * y]
    design = np.stack(cols, axis=1)
    if design.shape[0] < design.shape[1]:
        return best
    coef, *_ = np.linalg.lstsq(design, f, rcond=None)
    k = 1
    gx = gy = hxx = hyy = hxy = 0.0
    if use_x:
        gx, hxx = coef[k], 2 * coef[k + 1]
        k += 2
    if use_y:
        gy, hyy = coef[k], 2 * coef[k + 1]
        k += 2
    if use_x and use_y:
        hxy = coef[k]
    H = np.array([[hxx, hxy], [hxy, hyy]])
    g = np.array([gx, gy])
    active = [use_x, use_y]
    Ha = H[np.ix_(active, active)]
    if Ha.size == 0 or np.any(np.linalg.eigvalsh(Ha) <= 0):
        return best
    step = np.zeros(2)
    step[active] = -np.linalg.solve(Ha, g[active])
    step = np.clip(step, -radius, radius)
    loss = float(coef[0] + g @ step + 0.5 * step @ H @ step)
    scale = np.array([dA, de])
    H_phys = H / np.outer(scale, scale)
    return Optimum(
        float(A_values[i] + step[0] * dA),
        float(e_values[j] + step[1] * de),
        loss,
        at_boundary,
        H_phys,
    )


def quadratic_value(
    A_values: np.ndarray, e_values: np.ndarray, surface: np.ndarray, A: float, e: float
) -> float:
    """Least-squares quadratic in (A, e) through every point of a small design, evaluated at
    (A, e): the loss between design points without another render. 1-D when one axis has a
    single value; linear along an axis with two."""
    aa, ee = np.meshgrid(A_values, e_values, indexing="ij")
    cols, at = [np.ones(aa.size)], [1.0]
    for values, grid, point in ((A_values, aa, A), (e_values, ee, e)):
        scale = max(float(np.ptp(values)), 1e-12)
        u, u0 = (grid - values.mean()).ravel() / scale, (point - values.mean()) / scale
        if len(values) > 1:
            cols.append(u)
            at.append(u0)
        if len(values) > 2:
            cols.append(u * u)
            at.append(u0 * u0)
    if len(A_values) > 1 and len(e_values) > 1:
        x, y = cols[1], cols[3 if len(A_values) > 2 else 2]
        x0, y0 = at[1], at[3 if len(A_values) > 2 else 2]
        cols.append(x * y)
        at.append(x0 * y0)
    design = np.stack(cols, axis=1)
    f = surface.ravel()
    ok = np.isfinite(f)
    coef, *_ = np.linalg.lstsq(design[ok], f[ok], rcond=None)
    return float(np.dot(coef, at))


def refine(landscape: Landscape, radius: int = 1) -> Optimum:
    return quadratic_optimum(landscape.A_values, landscape.e_values, landscape.total, radius)


def bootstrap(
    landscape: Landscape, n: int = 200, seed: int = 0, radius: int = 1
) -> tuple[float, float, np.ndarray]:
    """Std of (A, e) over image-resampled landscapes; returns (A_std, e_std, samples (n, 2))."""
    per = landscape.per_image["total"]
    m = per.shape[-1]
    if m < 2:
        return float("nan"), float("nan"), np.zeros((0, 2))
    rng = np.random.default_rng(seed)
    samples = np.empty((n, 2))
    for b in range(n):
        idx = rng.integers(0, m, size=m)
        opt = quadratic_optimum(
            landscape.A_values, landscape.e_values, per[..., idx].mean(-1), radius
        )
        samples[b] = opt.A, opt.e
    return float(samples[:, 0].std(ddof=1)), float(samples[:, 1].std(ddof=1)), samples
