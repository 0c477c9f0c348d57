"""All-in-focus synthesis and depth from focus for focus sweeps (and any focus stack).

Pipeline: align (undo focus breathing) -> focus measure -> guided decision fusion ->
transition-region diffusion elimination with the fitted PSF -> depth from focus.
See docs/stacking.md for methods and measured results.
"""

from core.stacking.align import Alignment, align_stack, apply_alignment, estimate_alignment
from core.stacking.dff import DepthFromFocus, depth_from_focus, index_to_depth, subframe_peak
from core.stacking.diffusion import eliminate_diffusion, sigma_from_depth
from core.stacking.focus_measures import FOCUS_MEASURES, focus_volume, image_sharpness, to_gray
from core.stacking.fusion import FusionParams, FusionResult, fuse
from core.stacking.pipeline import StackResult, synthesize_aif, synthesize_aif_from_session

__all__ = [
    "FOCUS_MEASURES",
    "Alignment",
    "DepthFromFocus",
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
