"""psfbench: measure the defocus point-spread function of a real camera and lens.

The import package has three parts: this facade (the public API a script needs),
``psfbench.core`` (physics, fitting, devices, acquisition, datasets, CLI; never imports Qt)
and ``psfbench.app`` (the PySide6 desktop application). A script needs only this module::

    import psfbench

    session = psfbench.open_session("sessions/lens50_f2")        # a focus-sweep session
    fitted = psfbench.fit_session("sessions/lens50_f2")          # as `psfbench fit` does
    print(fitted.result.A, fitted.result.e)
    psfbench.write_fit(fitted, "sessions/lens50_f2/results")     # fit.json, landscape, ...
    sim = psfbench.render(aif, depth_mm, 600.0, A=800.0, F_mm=50.0)  # eqs. 5-8
    psfbench.simulate("sessions/sim", psfbench.SimulationSpec(A=800.0, e_mm=23.6))

Everything is imported on first use, so ``import psfbench`` stays fast (no torch, no Qt).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("psfbench")
except PackageNotFoundError:  # a source tree that is not installed
    __version__ = "0+unknown"

#: public name -> (module, attribute)
_API = {
    "Session": ("psfbench.core.dataset.session", "Session"),
    "FitSettings": ("psfbench.core.fit.session_fit", "FitSettings"),
    "fit_session": ("psfbench.core.fit.session_fit", "run_session_fit"),
    "FitProblem": ("psfbench.core.fit.problem", "FitProblem"),
    "fit": ("psfbench.core.fit.engine", "fit"),
    "render": ("psfbench.core.render.api", "render"),
    "SimulationSpec": ("psfbench.core.simulation", "SimulationSpec"),
    "simulate": ("psfbench.core.simulation", "simulate_session"),
    "read_image": ("psfbench.core.imageio", "read_image"),
}

__all__ = [
    "FitProblem",
    "FitSettings",
    "Session",
    "SimulationSpec",
    "__version__",
    "fit",
    "fit_session",
    "open_session",
    "read_image",
    "render",
    "simulate",
    "write_fit",
]

if TYPE_CHECKING:
    from psfbench.core.dataset.session import Session as Session
    from psfbench.core.fit.engine import fit as fit
    from psfbench.core.fit.problem import FitProblem as FitProblem
    from psfbench.core.fit.session_fit import FitSettings as FitSettings
    from psfbench.core.fit.session_fit import run_session_fit as fit_session
    from psfbench.core.imageio import read_image as read_image
    from psfbench.core.render.api import render as render
    from psfbench.core.simulation import SimulationSpec as SimulationSpec
    from psfbench.core.simulation import simulate_session as simulate


def open_session(path: Any, *, strict: bool = True) -> Session:
    """Open a focus-sweep session folder (``docs/dataset.md``); raises
    :class:`psfbench.core.dataset.DatasetError` naming the file and field that is wrong."""
    from psfbench.core.dataset.session import Session

    return Session.open(path, strict=strict)


def write_fit(fitted: Any, out_dir: Any) -> dict[str, str]:
    """Write a :func:`fit_session` result as ``psfbench fit`` does (``fit.json``, the
    landscape, figures) into ``out_dir``; returns name -> path written."""
    from psfbench.core.fit.report import write_outputs

    return write_outputs(fitted.result, out_dir, truth=fitted.truth)


def __getattr__(name: str) -> Any:
    try:
        module, attr = _API[name]
    except KeyError:
        raise AttributeError(f"module 'psfbench' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))
