"""PSF models beyond the paper's Gaussian (issue 19): definitions, kernels, blur, rendering.

Qt-free and light: ``PsfModel`` (name + parameters + uncertainties, JSON), ``kernel`` (the
model's discrete PSF for one pixel, second moment = the paper's sigma), ``blur`` (energy-
conserving layered scatter with the model's kernel), ``render`` (a focus sweep through the
model), ``from_fit_json`` (the model a ``psfbench fit`` wrote). docs/psf-models.md.
"""

from psfbench.core.psfmodels.blur import blur, layered_blur, sigma_levels
from psfbench.core.psfmodels.forward import render, render_t, sigma_maps
from psfbench.core.psfmodels.kernels import field_factor, kernel, kernel_variance, shape_kernel
from psfbench.core.psfmodels.spec import (
    COMPONENTS,
    MODEL_NAMES,
    PsfModel,
    PsfModelError,
    canonical_name,
    components_of,
    default_params,
    from_fit_json,
)

__all__ = [
    "COMPONENTS",
    "MODEL_NAMES",
    "PsfModel",
    "PsfModelError",
    "blur",
    "canonical_name",
    "components_of",
    "default_params",
    "field_factor",
    "from_fit_json",
    "kernel",
    "kernel_variance",
    "layered_blur",
    "render",
    "render_t",
    "shape_kernel",
    "sigma_levels",
    "sigma_maps",
]
