"""A fringe scan end to end: the patterns to project and the decoding of the captures.

This is the seam with the acquisition engine: a generic pattern-scan plan shows
``FringeScan.patterns()`` on the projector one by one, grabs a frame for each, and hands the
stack to ``decode_scan``. ``FringeScan.to_dict()`` goes into the session's metadata so the
captures can be decoded again later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psfbench.core.fringe.calibrate import ProcamCalibration
from psfbench.core.fringe.graycode import decode_graycode
from psfbench.core.fringe.patterns import (
    DEFAULT_FRINGE_COUNTS,
    DEFAULT_STEPS,
    GrayCodeLayout,
    fringe_patterns,
    graycode_patterns,
    to_uint8,
)
from psfbench.core.fringe.phase import (
    PhaseMap,
    auto_modulation_threshold,
    quality_mask,
    wrapped_phase,
)
from psfbench.core.fringe.reconstruct import Triangulator, flying_pixels
from psfbench.core.fringe.unwrap import (
    Unwrapped,
    combined_coordinate,
    graycode_unwrap,
    heterodyne_unwrap,
)


@dataclass
class FringeScan:
    """What a scan projects, in order: fringes (frequency-major), then Gray codes for the
    column axis if ``gray_step`` > 0 (Gray-code assisted unwrapping of ``counts[0]``), then
    white and black if ``references``."""

    projector_width: int
    projector_height: int
    counts: tuple[float, ...] = DEFAULT_FRINGE_COUNTS
    steps: int = DEFAULT_STEPS
    axis: str = "x"
    gamma: float | None = None
    gray_step: int = 0
    references: bool = False

    @property
    def length(self) -> int:
        return self.projector_width if self.axis == "x" else self.projector_height

    def gray_layout(self) -> GrayCodeLayout | None:
        if self.gray_step <= 0:
            return None
        return GrayCodeLayout(
            self.projector_width,
            self.projector_height,
            self.gray_step,
            columns=self.axis == "x",
            rows=self.axis == "y",
        )

    @property
    def n_images(self) -> int:
        lay = self.gray_layout()
        return (
            len(self.counts) * self.steps
            + (lay.n_patterns if lay else 0)
            + (2 if self.references else 0)
        )

    def patterns(self) -> NDArray[np.uint8]:
        """uint8 ``(n_images, H, W)`` frames for an 8-bit projector window."""
        parts = [
            to_uint8(
                fringe_patterns(
                    self.projector_width,
                    self.projector_height,
                    self.counts,
                    self.steps,
                    axis=self.axis,
                    gamma=self.gamma,
                )
            )
        ]
        lay = self.gray_layout()
        if lay is not None:
            parts.append(
                graycode_patterns(
                    lay.width,
                    lay.height,
                    lay.step,
                    columns=lay.columns,
                    rows=lay.rows,
                    with_references=False,
                )
            )
        if self.references:
            parts.append(
                graycode_patterns(2, 2, with_references=True, columns=False, rows=False)
                .repeat(self.projector_height // 2 + 1, axis=1)
                .repeat(self.projector_width // 2 + 1, axis=2)[
                    :, : self.projector_height, : self.projector_width
                ]
            )
        return np.concatenate(parts, axis=0)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["counts"] = list(self.counts)
        d["kind"] = "fringe_scan"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FringeScan:
        args = {k: v for k, v in d.items() if k != "kind"}
        args["counts"] = tuple(float(c) for c in args.get("counts", DEFAULT_FRINGE_COUNTS))
        return cls(**args)


def fringe_scan_patterns(
    projector_width: int,
    projector_height: int,
    *,
    counts: Sequence[float] = DEFAULT_FRINGE_COUNTS,
    steps: int = DEFAULT_STEPS,
    axis: str = "x",
    gamma: float | None = None,
    gray_step: int = 0,
    references: bool = False,
) -> tuple[NDArray[np.uint8], FringeScan]:
    """The frames of a scan and its description (store the latter with the captures)."""
    scan = FringeScan(
        projector_width,
        projector_height,
        tuple(float(c) for c in counts),
        steps,
        axis,
        gamma,
        gray_step,
        references,
    )
    return scan.patterns(), scan


def saturation_level(images: object, pixel_format: str | None = None) -> tuple[float | None, str]:
    """The sample value at which the camera clipped these captures, and how it was found.

    With the camera's ``pixel_format`` known, its clip level
    (:func:`psfbench.core.fringe.check.clip_level`: Mono8 255, Mono12 4095, Mono16 65520). Otherwise
    from the data: 8-bit samples clip at 255; 16-bit (and other integer) samples at the full
    scale of the bits they use: the smallest of 255, 1023, 4095, 16383, 65535 that holds the
    largest sample (12-bit values in a 16-bit file clip at 4095), shifted left when every
    sample is a multiple of 2**k (a 12-bit sensor's values shifted into the top bits clip at
    65520); float samples at their full scale (:func:`psfbench.core.imageio.float_full_scale`: 1.0
    for normalised data, 4095 for float 12-bit counts). None (no level) for float data
    beyond every known range, or above its full scale."""
    from psfbench.core import imageio

    if pixel_format:
        from psfbench.core.fringe.check import clip_level

        try:
            return float(clip_level(pixel_format)), f"the {pixel_format} camera's clip level"
        except KeyError:
            pass
    a = np.asarray(images)
    if a.dtype == np.uint8:
        return 255.0, "8-bit samples"
    if a.dtype.kind in "ui":
        if a.size == 0 or int(a.min()) < 0:
            return None, f"{a.dtype} samples below 0: no known full scale"
        hi = int(a.max())
        dtype_bits = 8 * a.dtype.itemsize
        if hi <= 0:
            return float(np.iinfo(a.dtype).max), f"{a.dtype} samples"

        def full_scale(top: int) -> int:
            return next((int(f) for f in imageio.COUNT_FULL_SCALES if top <= f), top)

        used = int(np.bitwise_or.reduce(a, axis=None))
        shift = (used & -used).bit_length() - 1  # trailing zero bits every sample shares
        full = full_scale(hi >> shift)
        if shift and full.bit_length() + shift == dtype_bits:
            # values in the top bits: a 12-bit sensor in Mono16 reads 0, 16, ... 65520
            bits = full.bit_length()
            return float(full << shift), f"{bits}-bit samples in the top bits of {a.dtype}"
        full = full_scale(hi)
        bits = full.bit_length()
        how = f"{bits}-bit samples" + (f" in {a.dtype}" if bits != dtype_bits else "")
        return float(full), how
    if a.dtype.kind == "f":
        rng = imageio.finite_range(a.reshape(-1, *a.shape[-2:]) if a.ndim > 2 else [a])
        if rng is None:
            return None, "no finite samples"
        try:
            full_f = imageio.float_full_scale(rng[0], rng[1], "captures")
        except imageio.ImageFileError:
            return None, f"float samples span [{rng[0]:.6g}, {rng[1]:.6g}]: no known full scale"
        if rng[1] > full_f:
            return None, f"float samples exceed their full scale {full_f:g}: not clipped there"
        return float(full_f), f"float samples of full scale {full_f:g}"
    return None, f"{a.dtype} samples"


#: Why a pixel has no depth, in the order they are decided (a pixel counts under the first):
#: ``saturated``: a fringe image clipped at the pixel (any step at or above ``saturation``,
#: by default the level :func:`saturation_level` finds in the data);
#: ``low_modulation``: fringe modulation below the threshold, or below ``min_contrast`` of the
#: bias (shadows, dark or out-of-field surfaces); ``unwrapping``: the fringe order is
#: inconsistent between frequencies or with the neighbours (``Unwrapped.suspect``);
#: ``triangulation``: the camera ray misses the projector plane (behind the camera, parallel);
#: ``flying``: a depth edge mixes two surfaces (``flying_pixels``).
REFUSAL_REASONS: tuple[str, ...] = (
    "saturated",
    "low_modulation",
    "unwrapping",
    "triangulation",
    "flying",
)
REFUSAL_LABELS: dict[str, str] = {
    "saturated": "saturated",
    "low_modulation": "low modulation",
    "unwrapping": "unwrapping inconsistency",
    "triangulation": "no ray-plane intersection",
    "flying": "flying pixel (depth edge)",
}


@dataclass
class ScanResult:
    """Decoded scan. ``depth`` float32 mm in the camera frame, NaN where ``valid`` is False."""

    depth: NDArray[np.float32]
    points: NDArray[np.float32]
    valid: NDArray[np.bool_]
    projector_coord: NDArray[np.float32]
    unwrapped: Unwrapped
    phases: list[PhaseMap] = field(default_factory=list)
    quality: NDArray[np.bool_] | None = None
    #: why each refused pixel was refused: one boolean mask per reason of
    #: ``REFUSAL_REASONS``, mutually exclusive (the first reason that applies wins), whose
    #: union with ``valid`` covers every pixel
    refused: dict[str, NDArray[np.bool_]] = field(default_factory=dict)
    #: the modulation threshold used (input units)
    min_modulation: float | None = None
    #: the sample value at or above which a fringe image counted as clipped (None: not
    #: checked), and how it was chosen
    saturation: float | None = None
    saturation_source: str = ""

    def refused_counts(self) -> dict[str, int]:
        """Pixels refused for each reason of ``REFUSAL_REASONS`` (0 where absent)."""
        return {k: int(np.count_nonzero(self.refused.get(k, False))) for k in REFUSAL_REASONS}

    def refused_fractions(self) -> dict[str, float]:
        """Fraction of all pixels refused for each reason (0 where a reason is absent)."""
        n = max(1, int(self.valid.size))
        return {k: float(np.count_nonzero(self.refused.get(k, False))) / n for k in REFUSAL_REASONS}

    def refusal_codes(self) -> NDArray[np.uint8]:
        """One uint8 map: 0 = valid, ``i + 1`` = refused for ``REFUSAL_REASONS[i]``."""
        codes = np.zeros(self.valid.shape, np.uint8)
        for i, k in enumerate(REFUSAL_REASONS):
            m = self.refused.get(k)
            if m is not None:
                codes[m] = i + 1
        return codes


def decode_scan(
    images: object,
    calibration: ProcamCalibration | Triangulator,
    scan: FringeScan,
    *,
    min_modulation: float | None = None,
    saturation: float | str | None = "auto",
    min_contrast: float = 0.1,
    method: str = "heterodyne",
    reject_flying: bool = True,
) -> ScanResult:
    """Captures (in ``scan`` order, any real dtype) to a depth map.

    ``min_modulation`` defaults to ``auto_modulation_threshold`` of the finest fringe.
    ``saturation``: the sample value at which the camera clips; a pixel where any fringe image
    reaches it gets no depth (its phase is meaningless: depth errors of hundreds of mm on a
    glint, ../shared/cases/17). ``"auto"`` (default): :func:`saturation_level` of the
    captures' own type and range; None: no check.
    ``method``: ``"heterodyne"`` (all counts) or ``"graycode"`` (``counts[0]`` + the Gray
    codes). Pass a prepared ``Triangulator`` to reuse its per-pixel rays across scans."""
    stack = np.asarray(images)
    if stack.ndim != 3 or stack.shape[0] != scan.n_images:
        raise ValueError(
            f"scan expects {scan.n_images} images (H, W each), got array of shape {stack.shape}"
        )
    tri = (
        calibration
        if isinstance(calibration, Triangulator)
        else Triangulator(calibration, scan.axis)
    )
    n = scan.steps
    source = "given"
    if isinstance(saturation, str):
        if saturation != "auto":
            raise ValueError(f"saturation must be a number, 'auto' or None, got {saturation!r}")
        saturation, source = saturation_level(stack)
    elif saturation is None:
        source = "not checked"
    phases = [wrapped_phase(stack[i * n : (i + 1) * n]) for i in range(len(scan.counts))]
    saturated = np.zeros(phases[0].phase.shape, bool)
    if saturation is not None:
        for pm in phases:
            saturated |= pm.peak >= saturation
    if min_modulation is not None:
        thr = min_modulation
    elif saturated.any() and not saturated.all():
        # clipped glints have a huge (and meaningless) modulation that would lift the
        # histogram-based threshold and refuse good pixels: leave them out of it
        thr = auto_modulation_threshold(phases[0].modulation[~saturated])
    else:
        thr = auto_modulation_threshold(phases[0].modulation)
    # quality without the saturation test first, so that the reasons can be told apart
    good = quality_mask(phases[0], min_modulation=thr, min_contrast=min_contrast)
    for pm in phases[1:]:
        good &= quality_mask(pm, min_modulation=thr, min_contrast=min_contrast)
    low_modulation = ~good & ~saturated
    good &= ~saturated
    if method == "heterodyne":
        un = heterodyne_unwrap([p.phase for p in phases], scan.counts)
        coord = combined_coordinate(un.per_count, scan.counts, scan.length)
    elif method == "graycode":
        lay = scan.gray_layout()
        if lay is None:
            raise ValueError("method='graycode' needs a scan with gray_step > 0")
        start = len(scan.counts) * n
        codes = stack[start : start + lay.n_patterns]
        dec = decode_graycode(
            codes,
            lay,
            white=np.full(codes.shape[1:], 255, np.float32),
            black=np.zeros(codes.shape[1:], np.float32),
            black_thr=-1.0,
            white_thr=0.0,
        )
        code_coord = dec.col if scan.axis == "x" else dec.row
        un = graycode_unwrap(phases[0].phase, code_coord, scan.counts[0], scan.length)
        coord = (un.phase * np.float32(scan.length / (2 * np.pi * scan.counts[0]))).astype(
            np.float32
        )
    else:
        raise ValueError(f"method must be 'heterodyne' or 'graycode', got {method!r}")
    unwrapping = good & un.suspect
    valid = good & ~un.suspect
    res = tri.depth(coord, valid)
    depth = res.depth
    triangulation = valid & ~np.isfinite(depth)
    fly = np.zeros(good.shape, bool)
    if reject_flying:
        fly = flying_pixels(depth)
        depth[fly] = np.nan
        res.points[fly] = np.nan
    valid = np.isfinite(depth)
    refused = {
        "saturated": saturated,
        "low_modulation": low_modulation,
        "unwrapping": unwrapping,
        "triangulation": triangulation,
        "flying": fly,
    }
    return ScanResult(
        depth,
        res.points,
        valid,
        coord,
        un,
        phases,
        good,
        refused,
        float(thr),
        None if saturation is None else float(saturation),
        source,
    )
