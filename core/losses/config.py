"""Loss settings: one dataclass, two documented presets (paper text vs the authors' code).

Every place where the paper's text and its public reference code disagree is one field here,
so a landscape computed with either can be reproduced and the two compared term by term.
docs/losses.md gives each field's meaning and the source of each preset value.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

#: Default lambda_1..lambda_4 of eq. 19 (paper Section V), in the order l2, laplacian,
#: histogram, ssim.
PAPER_WEIGHTS = (50000.0, 10000.0, 40000.0, 5000.0)


@dataclass(frozen=True)
class LossConfig:
    """How the four terms of eqs. 15-18 and their weighted sum (eq. 19) are computed."""

    #: lambda_1..lambda_4 for (l2, laplacian, histogram, ssim).
    weights: tuple[float, float, float, float] = PAPER_WEIGHTS
    #: Factor on the weighted sum. The reference code divides the sum by 4 (and by M, which
    #: the fitter's mean over images does); Table 3's "Loss" column matches that.
    total_scale: float = 1.0
    #: "luma": terms on BT.601 luminance (the paper names loss1 the luminance loss);
    #: "channels": each term per colour channel, then averaged over channels.
    color: Literal["luma", "channels"] = "luma"
    #: Round to 8 bits (0..255 scale) before anything else, as the reference code does by
    #: writing and re-reading BMP files; luminance then uses OpenCV's fixed-point BT.601.
    quantize_u8: bool = False
    #: "mean_square": ||d||^2 / N (eqs. 15-16 normalised by the pixel count);
    #: "norm_over_n": ||d||_2 / N, the reference code's L2 and defocus losses.
    reduction: Literal["mean_square", "norm_over_n"] = "mean_square"
    #: "opencv5": cv2.Laplacian(ksize=5), a band-pass (the paper gives no size; the authors'
    #: code uses this one, and it is far less sensitive to pixel noise and resampling error
    #: than the 3x3 kernel: docs/losses.md); "cross3": the 3x3 4-neighbour Laplacian.
    laplacian_kernel: Literal["cross3", "opencv5"] = "opencv5"
    #: Take |Laplacian| saturated to 255 (cv2.convertScaleAbs) before the defocus loss.
    laplacian_abs_u8: bool = False
    #: Histogram of |Laplacian| ("abs", a sharpness) or of the signed Laplacian ("signed").
    hist_source: Literal["abs", "signed"] = "abs"
    hist_bins: int = 256
    #: Bins closed on both sides (a value on an inner edge counts in two bins), as in the
    #: reference code's ``(x >= e_i) & (x <= e_i+1)``; otherwise half-open, last bin closed.
    hist_closed_edges: bool = False
    #: "squared": sum of squared differences of normalised histograms (eq. 17);
    #: "norm": its square root (the reference code's np.linalg.norm).
    hist_reduction: Literal["squared", "norm"] = "squared"
    ssim_window: int = 11
    ssim_sigma: float = 1.5
    #: SSIM stabilisers, absolute (in the units of the images after ``quantize_u8``).
    ssim_c1: float = 0.01**2
    ssim_c2: float = 0.03**2
    #: How windows see beyond the border: "reflect" or "zeros" (scipy convolve2d 'same').
    ssim_padding: Literal["reflect", "zeros"] = "reflect"
    #: Compute in float64 (needed when SSIM runs on a 0..255 scale with tiny constants).
    float64: bool = False
    #: Upper bound on pixels (images x channels x H x W) processed at once; bounds memory.
    chunk_pixels: int = 1 << 21

    def __post_init__(self) -> None:
        if len(self.weights) != 4:
            raise ValueError(f"LossConfig.weights needs 4 values, got {self.weights!r}")
        if self.hist_bins < 2:
            raise ValueError(f"LossConfig.hist_bins must be >= 2, got {self.hist_bins}")
        if self.ssim_window < 3 or self.ssim_window % 2 == 0:
            raise ValueError(f"LossConfig.ssim_window must be odd and >= 3, got {self.ssim_window}")
        if self.ssim_sigma <= 0:
            raise ValueError(f"LossConfig.ssim_sigma must be > 0, got {self.ssim_sigma}")
        if self.chunk_pixels < 1:
            raise ValueError(f"LossConfig.chunk_pixels must be >= 1, got {self.chunk_pixels}")
        for name, allowed in (
            ("color", ("luma", "channels")),
            ("reduction", ("mean_square", "norm_over_n")),
            ("laplacian_kernel", ("cross3", "opencv5")),
            ("hist_source", ("abs", "signed")),
            ("hist_reduction", ("squared", "norm")),
            ("ssim_padding", ("reflect", "zeros")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"LossConfig.{name} must be one of {allowed}, got {getattr(self, name)!r}"
                )

    @staticmethod
    def paper() -> LossConfig:
        """The paper's text, eqs. 15-19, made well-defined (docs/losses.md, "paper")."""
        return LossConfig()

    @staticmethod
    def refcode() -> LossConfig:
        """The authors' public code (PSFgit.py, loss_all and helpers), docs/losses.md."""
        return LossConfig(
            total_scale=0.25,
            color="luma",
            quantize_u8=True,
            reduction="norm_over_n",
            laplacian_abs_u8=True,
            hist_source="signed",
            hist_bins=1000,
            hist_closed_edges=True,
            hist_reduction="norm",
            ssim_padding="zeros",
            float64=True,
        )

    def with_(self, **changes: object) -> LossConfig:
        """A copy with some fields changed (e.g. ``LossConfig.paper().with_(color="channels")``)."""
        return replace(self, **changes)  # type: ignore[arg-type]
