"""Fit the PSF model (A, e) to a focus sweep: the paper's Algorithm 1 / eq. 20, done better.

The exhaustive grid of the paper is evaluated vectorised over A for each e (a blur stack of the
all-in-focus image is computed once and sampled per sigma map), coarse-to-fine on an image
pyramid, refined below the grid step with a quadratic fit, and given an uncertainty by a
bootstrap over sweep images. See docs/fitting.md.
"""

from psfbench.core.fit.engine import FitResult, fit
from psfbench.core.fit.grid import GridBlock, Landscape, evaluate_grid, frame_losses
from psfbench.core.fit.inspect import Inspection, inspect_point, problem_for_inspection
from psfbench.core.fit.problem import FitProblem
from psfbench.core.fit.progress import Cancelled, CancelToken, Progress

__all__ = [
    "Cancelled",
    "CancelToken",
    "FitProblem",
    "FitResult",
    "GridBlock",
    "Inspection",
    "Landscape",
    "Progress",
    "evaluate_grid",
    "fit",
    "frame_losses",
    "inspect_point",
    "problem_for_inspection",
]
