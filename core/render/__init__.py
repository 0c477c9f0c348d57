"""Defocus renderers for the Gaussian PSF model (paper eqs. 5-8), one interface.

``render`` maps optics (depth map, focus depth, A, F) to images; the ``blur_*`` functions work
on a sigma (or CoC) map directly; ``GatherStack`` serves grid searches. See docs/rendering.md.
"""

from psfbench.core.render.api import METHODS, render
from psfbench.core.render.gather import GatherStack
from psfbench.core.render.inputs import RenderError
from psfbench.core.render.kernels import DEFAULT_TRUNCATE, gaussian_kernel_1d, window_radius
from psfbench.core.render.layered import blur_layered, blur_uniform
from psfbench.core.render.levels import DEFAULT_ACCURACY_DB, sigma_levels
from psfbench.core.render.refcode import REFCODE_C_MAX, REFCODE_KSIZE, blur_refcode
from psfbench.core.render.scatter import blur_scatter

__all__ = [
    "DEFAULT_ACCURACY_DB",
    "DEFAULT_TRUNCATE",
    "GatherStack",
    "METHODS",
    "REFCODE_C_MAX",
    "REFCODE_KSIZE",
    "RenderError",
    "blur_layered",
    "blur_refcode",
    "blur_scatter",
    "blur_uniform",
    "gaussian_kernel_1d",
    "render",
    "sigma_levels",
    "window_radius",
]
