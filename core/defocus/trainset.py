"""The training set of a defocus model: the dataset generator, through the lens's PSF model.

:func:`load_training_psf` reads the PSF a model is trained for from a fit (``psfbench fit``'s
``results/fit.json``, with its ``model`` entry when the fit used ``--model``; else the paper's
Gaussian with the fitted A) or from a PSF model JSON, with the fit file's SHA-256 and the
focal length of its session. :func:`generation_config` describes the samples
(:class:`psfbench.core.datagen.GenerationConfig`, rendered through the model's kernel) and
:func:`render_patches` renders them in memory and cuts the patches;
:func:`patches_from_dataset` reads an existing ``psfbench dataset generate`` folder instead.

Focus depths: for synthetic scenes at working distance W the default range puts the sigma of
a plane at W between 0 and the top level on both sides of focus (uniform in 1/Df, so the
levels are about equally frequent): near ``Df = W F (A + s) / (A F + s W)``, far ``Df = W F
(A - s) / (A F - s W)`` (eqs. 5-6 solved for Df at sigma = s).
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.datagen import DatagenError, GenerationConfig, PsfSpec
from psfbench.core.defocus.patches import PatchSet, collect_patches


@dataclass(frozen=True)
class TrainingPsf:
    """The PSF a model is trained with: ``spec`` (A in the sources' pixels, F, the fit file's
    SHA-256) and ``model`` (:meth:`psfbench.core.psfmodels.PsfModel.to_json`: name + params,
    whose A equals ``spec.A``); ``label`` says where it came from ("fitted", "datasheet",
    "true, not fitted", ...)."""

    spec: PsfSpec
    model: dict[str, Any]
    label: str = "fitted"

    @property
    def name(self) -> str:
        return str(self.model["name"])

    def provenance(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "label": self.label,
            "A_px": self.spec.A_effective,
            "F_mm": self.spec.F_mm,
            "scale": self.spec.scale,
            "fit_file": self.spec.source,
            "fit_sha256": self.spec.sha256,
            "sigma": "second moment of the PSF, px: A |D - Df| / D * F / (Df - F) (eqs. 5-6)",
        }


def load_training_psf(
    path: str | Path,
    *,
    focal_length_mm: float | None = None,
    scale: float = 1.0,
    model: str | None = None,
) -> TrainingPsf:
    """The PSF of a fit JSON / fitted session / PSF model JSON at ``path``.

    ``model``: None = what the file says (its ``model`` entry, else the paper's Gaussian);
    "gaussian" = the fit's Gaussian (its top-level A and e, which ``psfbench fit`` always
    writes); another name = that model from the fit's ``models`` table if it is there, else
    the file's A and e with that model's default shape parameters (a disc with edge 1 is the
    Gaussian: name ``disc`` only with a fitted disc). F from ``focal_length_mm`` or the fit's
    session. Raises DatagenError."""
    import json

    from psfbench.core.datagen import load_psf
    from psfbench.core.psfmodels import PsfModelError, from_fit_json

    p = Path(path)
    try:
        pm = from_fit_json(p)
        if model is not None and model != pm.name:
            pm = _named_model(p, pm, model)
    except PsfModelError as exc:
        raise DatagenError(f"--psf/--model: {exc}") from None
    fit_file = p / "results" / "fit.json" if p.is_dir() else p
    try:
        spec = load_psf(p, focal_length_mm=focal_length_mm, scale=scale)
    except DatagenError:
        # a PSF model JSON (no top-level A): F must be given
        if focal_length_mm is None:
            raise
        raw = fit_file.read_bytes()
        spec = PsfSpec(
            pm.A,
            float(focal_length_mm),
            scale,
            pm.e_mm,
            source=str(fit_file),
            sha256=hashlib.sha256(raw).hexdigest(),
        )
    spec = dataclasses.replace(spec, A=pm.A, e_mm=pm.e_mm)
    spec.validate()
    json.dumps(pm.to_json())  # JSON-clean
    return TrainingPsf(spec, pm.to_json(), "fitted")


def _named_model(path: Path, fallback: Any, name: str) -> Any:
    """Model ``name`` of the fit at ``path`` (module docstring of load_training_psf)."""
    import json

    from psfbench.core.psfmodels import PsfModel, canonical_name

    name = canonical_name(name)
    fit_file = path / "results" / "fit.json" if path.is_dir() else path
    try:
        doc = json.loads(fit_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        doc = {}
    doc = doc if isinstance(doc, dict) else {}
    if name == "gaussian" and isinstance(doc.get("A"), int | float):
        e = doc.get("e", fallback.e_mm)
        std = {
            k: float(doc[sk])
            for k, sk in (("A", "A_std"), ("e_mm", "e_std"))
            if isinstance(doc.get(sk), int | float)
        }
        return PsfModel.create("gaussian", {"A": float(doc["A"]), "e_mm": float(e)}, std)
    table = (doc.get("models") or {}).get("table") if isinstance(doc.get("models"), dict) else None
    for row in table or []:
        if isinstance(row, dict) and row.get("name") == name:
            return PsfModel.create(name, dict(row["params"]), dict(row.get("std") or {}))
    defaults = PsfModel.create(name, None).params
    return PsfModel.create(name, {**defaults, "A": fallback.A, "e_mm": fallback.e_mm})


def default_focus_range(
    A: float, F_mm: float, working_distance_mm: float, sigma_max: float
) -> tuple[float, float]:
    """(near, far) focus depths (mm) between which a plane at ``working_distance_mm`` has
    sigma in [0, ``sigma_max``] on both sides (module docstring); the far end is capped at
    20 W when the far side never reaches ``sigma_max``."""
    W, F, s = working_distance_mm, F_mm, sigma_max
    if A <= 0 or s <= 0:
        return W, W
    near = W * F * (A + s) / (A * F + s * W)
    far = W * F * (A - s) / (A * F - s * W) if A * F > s * W else math.inf
    near = max(near, F * 1.001)
    return float(near), float(min(far, 20.0 * W))


def generation_config(
    psf: TrainingPsf,
    sources: Any,
    count: int,
    *,
    sigma_max: float,
    seed: int = 0,
    focus_range_mm: tuple[float, float] | None = None,
    noise_sd: float = 0.0,
    bit_depth: int = 16,
    shuffle: bool = False,
    device: str = "cpu",
) -> GenerationConfig:
    """The dataset generator's configuration for a training set (16-bit PNG samples without
    noise by default: training adds noise of random levels itself, see
    :mod:`psfbench.core.defocus.train`; no depth stored). For synthetic sources without
    ``focus_range_mm`` the range is :func:`default_focus_range` at their working distance."""
    from psfbench.core.datagen.sources import SyntheticSources

    if focus_range_mm is None and isinstance(sources, SyntheticSources):
        focus_range_mm = default_focus_range(
            psf.spec.A_effective, psf.spec.F_mm, sources.working_distance_mm, sigma_max
        )
    cfg = GenerationConfig(
        psf=psf.spec,
        sources=sources,
        count=int(count),
        shard_size=max(1, min(int(count), 256)),
        seed=int(seed),
        focus_range_mm=focus_range_mm,
        shuffle=shuffle,
        noise_sd=float(noise_sd),
        bit_depth=int(bit_depth),
        store_depth=False,
        device=device,
        psf_model=None if psf.name == "gaussian" else psf.model,
    )
    cfg.validate()
    return cfg


def render_patches(
    cfg: GenerationConfig,
    *,
    patch: int = 32,
    stride: int = 16,
    max_spread: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> PatchSet:
    """Render every sample of ``cfg`` in memory (:func:`psfbench.core.datagen.make_sample`)
    and cut its patches; ``progress(done, total)`` after each sample."""
    from psfbench.core.datagen import make_sample

    def samples() -> Any:
        for i in range(cfg.count):
            s = make_sample(cfg, i)
            yield i, s.image, s.sigma

    cb = None if progress is None else (lambda n: progress(n, cfg.count))
    return collect_patches(
        samples(), patch=patch, stride=stride, max_spread=max_spread, progress=cb
    )


def patches_from_dataset(
    folder: str | Path,
    *,
    patch: int = 32,
    stride: int = 16,
    max_spread: float = 0.5,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[PatchSet, GenerationConfig]:
    """Patches of every sample of a ``psfbench dataset generate`` folder (complete shards),
    and the dataset's configuration."""
    from psfbench.core.datagen.shards import iter_samples, load_config

    cfg = load_config(folder)

    def samples() -> Any:
        for s in iter_samples(folder):
            yield int(s["key"]), s["png"], s["sigma.npy"]

    cb = None if progress is None else (lambda n: progress(n, cfg.count))
    ps = collect_patches(samples(), patch=patch, stride=stride, max_spread=max_spread, progress=cb)
    return ps, cfg


def class_histogram(ps: PatchSet, levels: int, step: float) -> list[int]:
    """Patches per level (for the report: a level with few patches is learnt poorly)."""
    from psfbench.core.defocus.patches import level_labels

    return np.bincount(level_labels(ps.sigma, levels, step), minlength=levels).tolist()
