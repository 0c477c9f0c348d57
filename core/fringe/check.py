"""Before a scan: does the camera see the projector's full range without clipping?

Project white, grab; project black, grab. A pixel **clips** when the white image reaches the
camera's full scale there (the sinusoid's top is cut and the phase is biased); it **lacks
contrast** when white minus black stays below a threshold (the projector hardly changes it:
too short an exposure, a dark or shadowed surface, or outside the projector's field). The hint
says which way to change the exposure (or the projector's brightness).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: a scan is fine with this little clipping (hot pixels, a glint)
MAX_CLIPPED_FRACTION = 0.001
#: ... and with this much low-contrast area (a background outside the projector's field)
MAX_LOW_CONTRAST_FRACTION = 0.2
#: exposure aim: the brightest (99.5th percentile) white pixel at this fraction of full scale
TARGET_WHITE = 0.85


def clip_level(pixel_format: str) -> int:
    """The value a clipped pixel reads in ``pixel_format``: the format's maximum, except
    Mono16, which cameras fill from a 12-bit sensor shifted left by 4 (65520)."""
    from psfbench.core.devices.protocols import PIXEL_FORMAT_MAX

    return 4095 << 4 if pixel_format == "Mono16" else int(PIXEL_FORMAT_MAX[pixel_format])


@dataclass(frozen=True)
class ContrastCheck:
    """Result of :func:`check_contrast`; masks are ``(H, W)`` bool, fractions of all pixels."""

    clipped: NDArray[np.bool_]
    low_contrast: NDArray[np.bool_]
    contrast: NDArray[np.float32]  # white - black, camera units
    full_scale: float
    min_contrast: float  # the threshold used, camera units
    clipped_fraction: float
    low_contrast_fraction: float
    #: factor to apply to the exposure (None when clipping hides how much too bright it is)
    exposure_factor: float | None
    verdict: str  # "ok" | "clipped" | "low_contrast" | "clipped_and_low_contrast"
    hint: str

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def codes(self) -> NDArray[np.uint8]:
        """0 = fine, 1 = clips under white, 2 = lacks contrast (for an overlay)."""
        out = np.zeros(self.clipped.shape, np.uint8)
        out[self.low_contrast] = 2
        out[self.clipped] = 1
        return out


def _luma(img: NDArray[np.generic]) -> NDArray[np.float32]:
    a = np.asarray(img)
    if a.ndim == 3 and a.shape[-1] == 3:
        return np.asarray(a.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))
    if a.ndim != 2:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {a.shape}")
    return a.astype(np.float32)


def check_contrast(
    white: NDArray[np.generic],
    black: NDArray[np.generic],
    full_scale: float,
    *,
    min_contrast: float = 0.05,
    max_clipped: float = MAX_CLIPPED_FRACTION,
    max_low_contrast: float = MAX_LOW_CONTRAST_FRACTION,
) -> ContrastCheck:
    """Clipping and contrast of a white and a black capture (same exposure).

    ``full_scale``: the pixel format's maximum (4095 for Mono12); a colour pixel clips when
    any channel does. ``min_contrast``: white - black threshold as a fraction of full scale.
    """
    w_raw, b_raw = np.asarray(white), np.asarray(black)
    if w_raw.shape != b_raw.shape:
        raise ValueError(f"white {w_raw.shape} and black {b_raw.shape} differ in shape")
    if full_scale <= 0:
        raise ValueError(f"full_scale must be > 0, got {full_scale}")
    clipped: NDArray[np.bool_] = np.asarray(w_raw >= full_scale)
    if clipped.ndim == 3:
        clipped = np.asarray(clipped.any(axis=-1))
    contrast = _luma(w_raw) - _luma(b_raw)
    thr = float(min_contrast) * float(full_scale)
    low = (contrast < thr) & ~clipped
    n = max(1, clipped.size)
    f_clip = float(np.count_nonzero(clipped)) / n
    f_low = float(np.count_nonzero(low)) / n
    lit = _luma(w_raw)[~clipped]
    factor: float | None = None
    if f_clip <= max_clipped and lit.size:
        top = float(np.percentile(lit, 99.5))
        factor = TARGET_WHITE * float(full_scale) / top if top > 0 else None
    too_bright = f_clip > max_clipped
    too_dark = f_low > max_low_contrast
    pc, pl = 100.0 * f_clip, 100.0 * f_low
    if too_bright and too_dark:
        verdict = "clipped_and_low_contrast"
        hint = (
            f"{pc:.1f} % of the pixels clip under white and {pl:.1f} % lack contrast: the "
            "scene is brighter than the camera's range in places and too dark in others. "
            "Lower the exposure until nothing clips (or dim the glints), then raise the "
            "projector's brightness rather than the exposure."
        )
    elif too_bright:
        verdict = "clipped"
        hint = (
            f"{pc:.1f} % of the pixels clip under white: lower the exposure "
            "(or the projector's brightness or the camera gain) and check again."
        )
    elif too_dark:
        verdict = "low_contrast"
        more = (
            f" (about x{factor:.2g} keeps the brightest below clipping)"
            if factor is not None and factor > 1.05
            else ""
        )
        hint = (
            f"{pl:.1f} % of the pixels lack contrast (white - black < {thr:.0f}): raise the "
            f"exposure{more} or the projector's brightness. Ignore areas outside the "
            "projector's field or in its shadow."
        )
    else:
        verdict = "ok"
        hint = f"OK: {pc:.2f} % clip, {pl:.1f} % lack contrast."
        if factor is not None and factor > 1.5:
            hint += f" The exposure could be about x{factor:.2g} longer for less noise."
    return ContrastCheck(
        clipped=np.asarray(clipped, bool),
        low_contrast=np.asarray(low, bool),
        contrast=contrast.astype(np.float32),
        full_scale=float(full_scale),
        min_contrast=thr,
        clipped_fraction=f_clip,
        low_contrast_fraction=f_low,
        exposure_factor=factor,
        verdict=verdict,
        hint=hint,
    )
