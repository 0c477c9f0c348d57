"""Cheap per-frame image statistics for the live view (NumPy / OpenCV, no Qt).

Everything here runs on the GUI thread once per displayed frame at most, so each function is
bounded: percentiles look at a strided subsample (gui-anchors B17: percentile clims, so a few
hot pixels cannot ruin the contrast), ROI statistics and the focus measure look at the ROI only.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

#: at most this many pixels go into a percentile estimate
PERCENTILE_SAMPLES = 65_536

#: focus measures offered to the user: key -> (label, short description)
#: (the plain 3x3 Laplacian is dominated by shot noise: on the virtual bench its variance rose
#: only 24 % from far defocus to focus; with a 1 px Gaussian first it rose 28x, Tenengrad 65x)
FOCUS_MEASURES: dict[str, tuple[str, str]] = {
    "tenengrad": (
        "Tenengrad (Sobel)",
        "mean squared 3x3 Sobel gradient magnitude of the ROI (image scaled to 0..1)",
    ),
    "laplacian": (
        "Variance of Laplacian (σ 1 px)",
        "variance of the Laplacian of the ROI after a Gaussian of sigma 1 px, which keeps "
        "pixel noise from dominating (image scaled to 0..1)",
    ),
}


def subsample(image: np.ndarray, max_samples: int = PERCENTILE_SAMPLES) -> np.ndarray:
    """A strided view of ``image`` with at most ~``max_samples`` pixels (all channels kept)."""
    h, w = image.shape[:2]
    n = h * w
    if n <= max_samples:
        return image
    step = math.ceil(math.sqrt(n / max_samples))
    return image[::step, ::step]


def percentile_levels(
    image: np.ndarray,
    low: float,
    high: float,
    max_samples: int = PERCENTILE_SAMPLES,
) -> tuple[float, float]:
    """Display levels at the ``low`` / ``high`` percentiles of a subsample of ``image``.

    The levels always differ (a flat image gets a range of one count) so the LUT stays valid.
    """
    sample = subsample(image, max_samples)
    lo, hi = np.percentile(sample, (low, high))
    lo, hi = float(lo), float(hi)
    if hi <= lo:
        hi = lo + 1.0
    return lo, hi


@dataclass(frozen=True)
class RoiStats:
    """Statistics of the pixels inside a rectangle (all channels of a colour image)."""

    x: int
    y: int
    width: int
    height: int
    mean: float
    sd: float
    min: float
    max: float
    #: pixels (channel values for colour) at or above the frame's full scale
    saturated: int
    count: int


def clip_rect(
    shape: tuple[int, ...], x: int, y: int, w: int, h: int
) -> tuple[int, int, int, int] | None:
    """The part of rectangle (x, y, w, h) inside an image of ``shape``; None when empty."""
    ih, iw = shape[:2]
    x0, y0 = max(0, int(x)), max(0, int(y))
    x1, y1 = min(iw, int(x) + int(w)), min(ih, int(y) + int(h))
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def roi_stats(
    image: np.ndarray, x: int, y: int, w: int, h: int, full_scale: int
) -> RoiStats | None:
    """Mean, sd, min, max and saturated count of ``image[y:y+h, x:x+w]``; None if empty."""
    rect = clip_rect(image.shape, x, y, w, h)
    if rect is None:
        return None
    x, y, w, h = rect
    crop = image[y : y + h, x : x + w]
    mean, sd = cv2.meanStdDev(np.ascontiguousarray(crop).reshape(-1, 1).astype(np.float32))
    return RoiStats(
        x=x,
        y=y,
        width=w,
        height=h,
        mean=float(mean[0, 0]),
        sd=float(sd[0, 0]),
        min=float(crop.min()),
        max=float(crop.max()),
        saturated=int(np.count_nonzero(crop >= full_scale)),
        count=int(crop.size),
    )


def saturation_mask(image: np.ndarray, full_scale: int) -> np.ndarray:
    """uint8 (H, W): 1 where a pixel (any channel) is at or above full scale."""
    sat = np.asarray(image >= full_scale)
    if sat.ndim == 3:
        sat = np.asarray(sat.any(axis=2))
    return sat.view(np.uint8)


def focus_measure(image: np.ndarray, full_scale: int, kind: str = "tenengrad") -> float:
    """Sharpness of ``image`` (an ROI crop): larger is sharper. The image is scaled by its
    full scale first, so the value does not depend on the pixel format. Colour images use
    the mean of the channels."""
    if kind not in FOCUS_MEASURES:
        raise ValueError(f"unknown focus measure {kind!r}; one of {', '.join(FOCUS_MEASURES)}")
    img = image.astype(np.float32)
    if img.ndim == 3:
        img = img.mean(axis=2)
    if img.shape[0] < 3 or img.shape[1] < 3:
        return 0.0
    img *= np.float32(1.0 / max(1, full_scale))
    if kind == "laplacian":
        if img.shape[0] < 7 or img.shape[1] < 7:
            return 0.0
        smooth = cv2.GaussianBlur(img, (0, 0), 1.0)
        lap = cv2.Laplacian(smooth, cv2.CV_32F, ksize=1)[3:-3, 3:-3]
        return float(lap.var())
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)[1:-1, 1:-1]
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)[1:-1, 1:-1]
    return float(np.mean(gx * gx + gy * gy))


class Budget:
    """Decides when an optional computation may run again, so it uses at most ``fraction``
    of the wall time and runs at most every ``min_interval_s``.

    ``due()`` says whether to run now; wrap the run in ``with budget:`` to measure it.
    """

    def __init__(self, min_interval_s: float, fraction: float = 0.2) -> None:
        self.min_interval_s = float(min_interval_s)
        self.fraction = float(fraction)
        self._next = 0.0
        self._t0 = 0.0
        self.last_cost_s = 0.0

    def due(self, now: float | None = None) -> bool:
        return (time.monotonic() if now is None else now) >= self._next

    def reset(self) -> None:
        self._next = 0.0

    def __enter__(self) -> Budget:
        self._t0 = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        now = time.monotonic()
        self.last_cost_s = now - self._t0
        self._next = now + max(self.min_interval_s, self.last_cost_s / self.fraction)
