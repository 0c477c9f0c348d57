"""Pattern sources for the acquisition engine's generic pattern scan.

``register_sources()`` adds two named sources to ``psfbench.core.acquisition.plans.pattern_scan``:

* ``fringe_scan``: params = ``FringeScan.to_dict()`` minus the projector size (taken from the
  projector at run time), e.g. ``{"counts": [70, 64.2, 59.2], "steps": 4}``;
* ``procam_calibration``: Gray codes + white + black for one chessboard pose, params
  ``{"step": 1}``; the frames decode with ``calibrate.extract_view``.

The session stores ``{"source": ..., "params": ...}``; decode a finished fringe scan with
``decode_scan(stack, calibration, fringe_scan_from_params(params, w, h))``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import NDArray

from psfbench.core.fringe.patterns import GrayCodeLayout, PatternError, graycode_patterns
from psfbench.core.fringe.scan import FringeScan


def fringe_scan_from_params(params: Mapping[str, Any], width: int, height: int) -> FringeScan:
    """The scan a ``fringe_scan`` source with these params shows on a WxH projector."""
    d = dict(params)
    d["projector_width"], d["projector_height"] = int(width), int(height)
    try:
        return FringeScan.from_dict(d)
    except TypeError as exc:
        raise PatternError(f"plan.params: unknown fringe scan parameter ({exc})") from exc


def _cached(build: Any) -> Any:
    cache: dict[tuple[int, int], NDArray[np.uint8]] = {}

    def make(i: int, w: int, h: int) -> NDArray[np.uint8]:
        if (w, h) not in cache:
            cache.clear()
            cache[(w, h)] = build(w, h)
        return cache[(w, h)][i]

    return make


def _fringe_source(params: Mapping[str, Any]) -> Any:
    from psfbench.core.acquisition.plans.base import PlanError
    from psfbench.core.acquisition.plans.pattern_scan import PatternSource

    try:
        probe = fringe_scan_from_params(params, 64, 64)
        probe.patterns()  # validates counts/steps/axis/gamma now, not mid-scan
    except (PatternError, ValueError) as exc:
        raise PlanError(f"plan.params: {exc}") from exc
    per_freq = probe.steps

    def describe(i: int) -> dict[str, Any]:
        nf = len(probe.counts) * per_freq
        if i < nf:
            return {"kind": "fringe", "count": probe.counts[i // per_freq], "step": i % per_freq}
        return {"kind": "graycode_or_reference", "index": i - nf}

    return PatternSource(
        probe.n_images,
        _cached(lambda w, h: fringe_scan_from_params(params, w, h).patterns()),
        describe,
    )


def _calibration_source(params: Mapping[str, Any]) -> Any:
    from psfbench.core.acquisition.plans.base import PlanError
    from psfbench.core.acquisition.plans.pattern_scan import PatternSource

    step = int(params.get("step", 1))
    if step < 1:
        raise PlanError(f"plan.params.step: Gray-code step must be >= 1, got {step}")
    width, height = params.get("width"), params.get("height")
    if width is None or height is None:
        raise PlanError("plan.params.width/height: the projector size fixes the pattern count")
    n = GrayCodeLayout(int(width), int(height), step).n_patterns + 2
    return PatternSource(
        n,
        _cached(lambda w, h: graycode_patterns(w, h, step)),
        lambda i: {"kind": "graycode" if i < n - 2 else ("white" if i == n - 2 else "black")},
    )


def register_sources() -> None:
    """Make ``fringe_scan`` and ``procam_calibration`` available to pattern-scan plans."""
    from psfbench.core.acquisition.plans.pattern_scan import register_pattern_source

    register_pattern_source("fringe_scan", _fringe_source)
    register_pattern_source("procam_calibration", _calibration_source)
