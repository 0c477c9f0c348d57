"""All-in-focus synthesis and depth from focus for focus sweeps (and any focus stack).

Pipeline: align (undo focus breathing) -> focus measure -> guided decision fusion ->
transition-region diffusion elimination with the fitted PSF -> depth from focus.
See docs/stacking.md for methods and measured results.

Names are resolved lazily (PEP 562) so that ``psfbench.core.stacking.io`` can be imported without
paying for torch: the CLI decodes frames while torch loads in another thread.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "Alignment": "align",
    "align_stack": "align",
    "apply_alignment": "align",
    "estimate_alignment": "align",
    "DepthFromFocus": "dff",
    "depth_from_focus": "dff",
    "index_to_depth": "dff",
    "subframe_peak": "dff",
    "eliminate_diffusion": "diffusion",
    "sigma_from_depth": "diffusion",
    "FOCUS_MEASURES": "focus_measures",
    "focus_volume": "focus_measures",
    "image_sharpness": "focus_measures",
    "to_gray": "focus_measures",
    "FusionParams": "fusion",
    "FusionResult": "fusion",
    "fuse": "fusion",
    "StackResult": "pipeline",
    "synthesize_aif": "pipeline",
    "synthesize_aif_from_session": "pipeline",
}

__all__ = [
    "Alignment",
    "DepthFromFocus",
    "FOCUS_MEASURES",
    "FusionParams",
    "FusionResult",
    "StackResult",
    "align_stack",
    "apply_alignment",
    "depth_from_focus",
    "eliminate_diffusion",
    "estimate_alignment",
    "focus_volume",
    "fuse",
    "image_sharpness",
    "index_to_depth",
    "sigma_from_depth",
    "subframe_peak",
    "synthesize_aif",
    "synthesize_aif_from_session",
    "to_gray",
]

if TYPE_CHECKING:
    from psfbench.core.stacking.align import (
        Alignment,
        align_stack,
        apply_alignment,
        estimate_alignment,
    )
    from psfbench.core.stacking.dff import (
        DepthFromFocus,
        depth_from_focus,
        index_to_depth,
        subframe_peak,
    )
    from psfbench.core.stacking.diffusion import eliminate_diffusion, sigma_from_depth
    from psfbench.core.stacking.focus_measures import (
        FOCUS_MEASURES,
        focus_volume,
        image_sharpness,
        to_gray,
    )
    from psfbench.core.stacking.fusion import FusionParams, FusionResult, fuse
    from psfbench.core.stacking.pipeline import (
        StackResult,
        synthesize_aif,
        synthesize_aif_from_session,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'psfbench.core.stacking' has no attribute {name!r}")
    return getattr(importlib.import_module(f"psfbench.core.stacking.{module}"), name)
