"""Single-image defocus maps from a patch classifier trained on the lens's own PSF (issue 20).

The method of ``single-image-deep-defocus-estimation.md`` (32 x 32 patches classified into 20
blur levels, sigma 0..19 px; sliding window; iterative weighted guided filter refinement),
trained not on an ideal Gaussian but on blur rendered with the dataset generator through the
PSF model a fit measured (:mod:`psfbench.core.psfmodels`). docs/defocus-maps.md.

Modules: :mod:`~psfbench.core.defocus.trainset` (the PSF and the training samples),
:mod:`~psfbench.core.defocus.patches` (patches and labels), :mod:`~psfbench.core.defocus.model`
(the network, safetensors + JSON files), :mod:`~psfbench.core.defocus.train` (training),
:mod:`~psfbench.core.defocus.infer` (sliding window + refinement),
:mod:`~psfbench.core.defocus.guided` (guided / weighted guided filter),
:mod:`~psfbench.core.defocus.depth` (sigma -> the two candidate depths),
:mod:`~psfbench.core.defocus.evaluate` (virtual-bench frames with known sigma maps).
"""

from psfbench.core.defocus.depth import depth_candidates, depth_map
from psfbench.core.defocus.infer import DefocusMap, estimate_defocus
from psfbench.core.defocus.model import (
    DefocusModel,
    DefocusModelError,
    ModelSpec,
    PatchNet,
    load_model,
    save_model,
)
from psfbench.core.defocus.train import TrainError, TrainOptions, TrainResult, train_classifier

__all__ = [
    "DefocusMap",
    "DefocusModel",
    "DefocusModelError",
    "ModelSpec",
    "PatchNet",
    "TrainError",
    "TrainOptions",
    "TrainResult",
    "depth_candidates",
    "depth_map",
    "estimate_defocus",
    "load_model",
    "save_model",
    "train_classifier",
]
