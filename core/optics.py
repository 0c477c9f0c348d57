"""Thin-lens defocus model of He et al. (eqs. 1-6, 12), with explicit units.

Distances are millimetres, blur sizes are pixels. Every function accepts Python floats, NumPy
arrays or torch tensors and returns the same kind, so the renderers (torch), the dataset code
(NumPy) and the CLI (floats) share one implementation.

Invalid inputs never turn into silent NaNs: a focus depth that is not beyond the focal length,
or a non-positive object depth, raises :class:`OpticsError`; NaN depth pixels (holes in a
structured-light depth map) are masked: their sigma is 0 (rendered as in focus) and
:func:`valid_depth_mask` tells losses to ignore them.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

ArrayLike = TypeVar("ArrayLike", float, np.ndarray, torch.Tensor)

#: omega, the CoC-diameter-to-Gaussian-sigma factor the paper takes from Zhang & Sun [31].
DEFAULT_OMEGA = 0.48


class OpticsError(ValueError):
    """Physically impossible optics input (e.g. focus depth at or inside the focal length)."""


def _min(x: Any) -> float:
    if isinstance(x, torch.Tensor):
        return float(torch.nan_to_num(x.detach(), nan=np.inf).min()) if x.numel() else np.inf
    arr = np.asarray(x, dtype=np.float64)
    return float(np.nanmin(arr)) if arr.size and not np.all(np.isnan(arr)) else np.inf


def _has_nan(x: Any) -> bool:
    if isinstance(x, torch.Tensor):
        return bool(torch.isnan(x).any())
    return bool(np.isnan(np.asarray(x, dtype=np.float64)).any())


def focus_depth(d_mm: ArrayLike, e_mm: float, F_mm: float) -> ArrayLike:
    """Focus depth Df (mm) from the sensor reading d and the mechanical offset e, eq. 12.

    v = d + e is the lens-to-sensor distance; the thin-lens law 1/Df + 1/v = 1/F gives
    Df = F v / (v - F). A real focus depth needs v > F.
    """
    if F_mm <= 0:
        raise OpticsError(f"focal length F must be positive, got {F_mm} mm")
    if _has_nan(d_mm):
        raise OpticsError("measured distance d contains NaN")
    v = d_mm + e_mm
    if _min(v) <= F_mm:
        raise OpticsError(
            f"d + e = {_min(v):.4g} mm is not beyond the focal length F = {F_mm} mm: "
            "no real focus depth (check d, e and F)"
        )
    return F_mm * v / (v - F_mm)


def sensor_distance(Df_mm: ArrayLike, F_mm: float) -> ArrayLike:
    """Lens-to-sensor distance v (mm) that focuses at Df, eq. 1 (inverse of focus_depth)."""
    if _min(Df_mm) <= F_mm:
        raise OpticsError(f"focus depth {_min(Df_mm):.4g} mm is not beyond F = {F_mm} mm")
    return F_mm * Df_mm / (Df_mm - F_mm)


def _check_depth(depth_mm: Any) -> None:
    if _min(depth_mm) <= 0:
        raise OpticsError(
            f"depth map has non-positive values (min {_min(depth_mm):.4g} mm); "
            "depths are distances from the lens in mm, use NaN for invalid pixels"
        )


def _check_focus(Df_mm: Any, F_mm: float) -> None:
    if F_mm <= 0:
        raise OpticsError(f"focal length F must be positive, got {F_mm} mm")
    if _has_nan(Df_mm):
        raise OpticsError("focus depth Df contains NaN")
    if _min(Df_mm) <= F_mm:
        raise OpticsError(
            f"focus depth Df = {_min(Df_mm):.4g} mm must exceed the focal length F = {F_mm} mm"
        )


def _relative_defocus(depth_mm: Any, Df_mm: Any, F_mm: float) -> Any:
    """|Dgt - Df| / Dgt * F / (Df - F), with NaN depths mapped to 0 (in focus)."""
    _check_depth(depth_mm)
    _check_focus(Df_mm, F_mm)
    if isinstance(depth_mm, torch.Tensor) or isinstance(Df_mm, torch.Tensor):
        depth_t = torch.as_tensor(depth_mm)
        Df_t = torch.as_tensor(Df_mm, dtype=depth_t.dtype, device=depth_t.device)
        rel = (depth_t - Df_t).abs() / depth_t * F_mm / (Df_t - F_mm)
        return torch.nan_to_num(rel, nan=0.0)
    rel = np.abs(depth_mm - Df_mm) / depth_mm * F_mm / (Df_mm - F_mm)
    if isinstance(rel, np.ndarray):
        return np.nan_to_num(rel, nan=0.0)
    return 0.0 if np.isnan(rel) else float(rel)


def coc_pixels(
    depth_mm: ArrayLike,
    Df_mm: Any,
    F_mm: float,
    aperture_mm: float,
    pixel_size_mm: float,
    output_scale: float = 1.0,
) -> ArrayLike:
    """Circle-of-confusion diameter in pixels, eq. 3: a/(rho s) |Dgt-Df|/Dgt F/(Df-F).

    ``aperture_mm`` is the aperture diameter a = F/N; ``output_scale`` s is the factor by which
    the image was resized (s > 1 for a downscaled image, so the CoC in pixels shrinks).
    """
    if pixel_size_mm <= 0 or output_scale <= 0:
        raise OpticsError("pixel size and output scale must be positive")
    return aperture_mm / (pixel_size_mm * output_scale) * _relative_defocus(depth_mm, Df_mm, F_mm)


def sigma_map(depth_mm: ArrayLike, Df_mm: Any, A: float, F_mm: float) -> ArrayLike:
    """Gaussian PSF sigma r (pixels) per pixel, eqs. 5-6: r = A |Dgt-Df|/Dgt F/(Df-F).

    ``Df_mm`` may be a scalar or broadcast against ``depth_mm`` (e.g. shape (B, 1, 1) for a
    batch of focus depths over an (H, W) depth map). NaN depth pixels get sigma 0.
    """
    if A < 0:
        raise OpticsError(f"optical parameter A must be non-negative, got {A}")
    return A * _relative_defocus(depth_mm, Df_mm, F_mm)


def valid_depth_mask(depth_mm: ArrayLike) -> ArrayLike:
    """True where the depth map holds a usable (finite, positive) depth."""
    if isinstance(depth_mm, torch.Tensor):
        return torch.isfinite(depth_mm) & (depth_mm > 0)
    arr = np.asarray(depth_mm)
    with np.errstate(invalid="ignore"):
        return np.isfinite(arr) & (arr > 0)


def optical_parameter(
    aperture_mm: float,
    pixel_size_mm: float,
    output_scale: float = 1.0,
    omega: float = DEFAULT_OMEGA,
) -> float:
    """A := a omega / (rho s), eq. 6."""
    if pixel_size_mm <= 0 or output_scale <= 0:
        raise OpticsError("pixel size and output scale must be positive")
    return aperture_mm * omega / (pixel_size_mm * output_scale)


def datasheet_A(
    F_mm: float,
    f_number: float,
    pixel_size_mm: float,
    output_scale: float = 1.0,
    omega: float = DEFAULT_OMEGA,
) -> float:
    """Datasheet value of A from eq. 6 with the aperture diameter a = F/N (eq. 2's definition).

    For the paper's camera (F = 50 mm, N = 1.4, rho = 3.45 um, s = 1, omega = 0.48) this gives
    about 4969. The paper's Table 3 quotes 6959, which is what eq. 6 gives with a = F instead
    of F/N; :func:`paper_datasheet_A` reproduces that arithmetic. See docs/optics.md.
    """
    if f_number <= 0:
        raise OpticsError(f"f-number must be positive, got {f_number}")
    return optical_parameter(F_mm / f_number, pixel_size_mm, output_scale, omega)


def paper_datasheet_A(
    F_mm: float, pixel_size_mm: float, output_scale: float = 1.0, omega: float = DEFAULT_OMEGA
) -> float:
    """The paper's own datasheet arithmetic (a = F, the f-number dropped): 6957 ~ 6959."""
    return optical_parameter(F_mm, pixel_size_mm, output_scale, omega)
