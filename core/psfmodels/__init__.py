"""PSF models beyond the paper's Gaussian (issue 19): definitions, kernels, blur, rendering.

Qt-free; torch loads only when a renderer is first used. ``PsfModel`` (name + parameters +
uncertainties, JSON), ``kernel`` (the model's discrete PSF for one pixel, second moment = the
paper's sigma), ``blur`` (energy-conserving layered scatter with the model's kernel),
``render`` (a focus sweep through the model), ``from_fit_json`` (the model a ``psfbench fit``
wrote); ``text`` formats parameters. docs/psf-models.md.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from psfbench.core.psfmodels.forward import render, render_t, sigma_maps
    from psfbench.core.psfmodels.kernels import (
        field_factor,
        kernel,
        kernel_variance,
        shape_kernel,
    )
    from psfbench.core.psfmodels.layered import blur, layered_blur, sigma_levels
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

#: Where each public name lives. Loaded on first use (PEP 562), so that the torch-free parts
#: (``spec``, ``text``) can be imported without torch (the GUI's session browser does).
_WHERE = {
    **dict.fromkeys(("blur", "layered_blur", "sigma_levels"), "layered"),
    **dict.fromkeys(("render", "render_t", "sigma_maps"), "forward"),
    **dict.fromkeys(("field_factor", "kernel", "kernel_variance", "shape_kernel"), "kernels"),
    **dict.fromkeys(
        (
            "COMPONENTS",
            "MODEL_NAMES",
            "PsfModel",
            "PsfModelError",
            "canonical_name",
            "components_of",
            "default_params",
            "from_fit_json",
        ),
        "spec",
    ),
}


def __getattr__(name: str) -> Any:
    mod = _WHERE.get(name)
    if mod is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{mod}"), name)


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
