"""Defocus training data rendered through a fitted PSF (``psfbench dataset generate``).

From RGB-D pairs in a folder (or synthetic scenes) and the A of a fit, every sample is a
defocused image, its per-pixel sigma map, the depth map and its parameters, rendered at a
focus depth drawn over a stated range; optionally the source is made sharp first by the
histogram-invariant spatial shuffle of the seed paper. Samples are written shard by shard as
WebDataset-style tar files with a manifest, on Dask workers, resumably
(docs/dataset-generation.md).

Modules: :mod:`~psfbench.core.datagen.psf` (the fitted PSF), :mod:`~psfbench.core.datagen.sources`
(RGB-D folders, synthetic scenes), :mod:`~psfbench.core.datagen.shuffle` (spatial shuffle),
:mod:`~psfbench.core.datagen.sample` (one sample from the configuration and its index),
:mod:`~psfbench.core.datagen.shards` (tar shards, manifest, reading),
:mod:`~psfbench.core.datagen.generate` (the run on Dask, resume, verification).
"""

from psfbench.core.datagen.psf import DatagenError, PsfSpec, load_psf
from psfbench.core.datagen.sample import FORMAT, GenerationConfig, Sample, make_sample, sample_key
from psfbench.core.datagen.shuffle import spatial_shuffle
from psfbench.core.datagen.sources import SyntheticSources, scan_folder, synthetic_sources

__all__ = [
    "FORMAT",
    "DatagenError",
    "GenerationConfig",
    "PsfSpec",
    "Sample",
    "SyntheticSources",
    "load_psf",
    "make_sample",
    "sample_key",
    "scan_folder",
    "spatial_shuffle",
    "synthetic_sources",
]
