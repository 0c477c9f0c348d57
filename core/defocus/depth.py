"""Depth from a defocus map through the fitted optics, with the near/far ambiguity explicit.

Eqs. 5-6 of ``psf-estimation-of-defocus.md`` (:func:`psfbench.core.optics.sigma_map`):
``sigma = A |D - Df| / D * F / (Df - F)``. With ``k = sigma (Df - F) / (A F) = |1 - Df / D|``
a blur size has two depths, one on each side of the focus plane:

- near (D < Df): ``D = Df / (1 + k)``;
- far  (D > Df): ``D = Df / (1 - k)``, only for k < 1 (k >= 1 is blur larger than any
  object behind the focus plane can have: NaN).

One image cannot tell the two apart (a symmetric PSF looks the same on both sides), so both are
returned, or the side the user knows the scene to be on.
"""

from __future__ import annotations

import numpy as np

from psfbench.core.optics import OpticsError

SIDES = ("near", "far")


def depth_candidates(
    sigma_px: np.ndarray, A: float, F_mm: float, focus_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """(near, far) depth maps (mm, float32, same shape as ``sigma_px``) for a sigma map in the
    pixels ``A`` is in. Raises :class:`~psfbench.core.optics.OpticsError` for A <= 0, F <= 0
    or a focus depth not beyond F. NaN sigma gives NaN depth."""
    if not (A > 0 and np.isfinite(A)):
        raise OpticsError(f"A must be > 0 to convert sigma to depth, got {A}")
    if not F_mm > 0:
        raise OpticsError(f"focal length F must be positive, got {F_mm} mm")
    if not focus_mm > F_mm:
        raise OpticsError(f"focus depth {focus_mm:g} mm must exceed F = {F_mm:g} mm")
    s = np.asarray(sigma_px, dtype=np.float64)
    k = np.clip(s, 0.0, None) * (focus_mm - F_mm) / (A * F_mm)
    near = focus_mm / (1.0 + k)
    with np.errstate(divide="ignore", invalid="ignore"):
        far = np.where(k < 1.0, focus_mm / (1.0 - k), np.nan)
    return near.astype(np.float32), far.astype(np.float32)


def depth_map(
    sigma_px: np.ndarray, A: float, F_mm: float, focus_mm: float, side: str
) -> np.ndarray:
    """The ``side`` ("near" or "far") candidate of :func:`depth_candidates`."""
    if side not in SIDES:
        raise ValueError(f"side: one of {SIDES}, got {side!r}")
    near, far = depth_candidates(sigma_px, A, F_mm, focus_mm)
    return near if side == "near" else far
