"""The patch classifier and its files: weights in safetensors, provenance in JSON beside them.

:class:`PatchNet` classifies a grey ``patch x patch`` patch (32 x 32 in the seed paper,
``single-image-deep-defocus-estimation.md`` sec. 3.1) into ``levels`` blur levels, level k
meaning sigma = k * ``step`` px (the seed: 20 levels, sigma 0..19). It is a small VGG-style
CNN (six 3x3 convs with batch norm in four stages, global average pooling, one linear layer),
~29 k parameters with the default widths, instead of the seed's MobileNetV2 (2.3 M): it trains
in minutes on a 2-core CPU.

Inputs are normalised per patch (:func:`normalise_patches`): mean removed and divided by
``max(std, 0.02)``, so the network judges sharpness, not brightness or contrast.

Files (:func:`save_model`, :func:`load_model`): ``MODEL.safetensors`` (the state dict, float32,
plus int64 batch-norm counters; no pickle anywhere) and ``MODEL.json`` beside it (format,
architecture, levels, step, the PSF it was trained for with the fit file's SHA-256 and model
parameters, training set, training history and held-out accuracy).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

MODEL_FORMAT = "psfbench.defocus-model/1"
#: Smallest per-patch standard deviation divided by (flat patches are not amplified to noise).
MIN_PATCH_STD = 0.02


class DefocusModelError(ValueError):
    """A model file that cannot be read or used; complete message."""


@dataclass(frozen=True)
class ModelSpec:
    """What a :class:`PatchNet` is: patch size (px), number of levels, level spacing ``step``
    (sigma px per level) and the conv widths of the stages."""

    patch: int = 32
    levels: int = 20
    step: float = 1.0
    widths: tuple[int, ...] = (8, 16, 32, 64)

    def validate(self) -> None:
        if self.patch < 8 or self.patch % 8:
            raise DefocusModelError(f"patch size must be a multiple of 8 >= 8, got {self.patch}")
        if self.levels < 2:
            raise DefocusModelError(f"need at least 2 levels, got {self.levels}")
        if not (math.isfinite(self.step) and self.step > 0):
            raise DefocusModelError(f"level step must be > 0 px, got {self.step}")
        if len(self.widths) != 4 or min(self.widths) < 1:
            raise DefocusModelError(f"widths: four positive conv widths, got {self.widths}")

    def to_json(self) -> dict[str, Any]:
        return {
            "patch": self.patch,
            "levels": self.levels,
            "step": self.step,
            "widths": list(self.widths),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ModelSpec:
        try:
            spec = cls(
                int(doc["patch"]),
                int(doc["levels"]),
                float(doc["step"]),
                tuple(int(w) for w in doc["widths"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise DefocusModelError(f"model architecture: {exc!r}") from None
        spec.validate()
        return spec

    @property
    def sigma_levels(self) -> torch.Tensor:
        """(levels,) float32: the sigma (px) of each level."""
        return torch.arange(self.levels, dtype=torch.float32) * float(self.step)


def _stage(cin: int, cout: int, convs: int) -> list[nn.Module]:
    mods: list[nn.Module] = []
    for i in range(convs):
        mods += [
            nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]
    return mods


class PatchNet(nn.Module):
    """(B, 1, P, P) normalised grey patches -> (B, levels) logits."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        spec.validate()
        self.spec = spec
        w1, w2, w3, w4 = spec.widths
        self.features = nn.Sequential(
            *_stage(1, w1, 2),
            nn.MaxPool2d(2),
            *_stage(w1, w2, 2),
            nn.MaxPool2d(2),
            *_stage(w2, w3, 1),
            nn.MaxPool2d(2),
            *_stage(w3, w4, 1),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Linear(w4, spec.levels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def normalise_patches(x: torch.Tensor) -> torch.Tensor:
    """(B, 1, P, P) grey [0, 1] -> per-patch ``(x - mean) / max(std, MIN_PATCH_STD)``."""
    mean = x.mean(dim=(-2, -1), keepdim=True)
    std = x.std(dim=(-2, -1), keepdim=True).clamp_min(MIN_PATCH_STD)
    return (x - mean) / std


def expected_sigma(logits: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """(B, levels) logits -> (B,) softmax-weighted mean sigma (px): a continuous estimate."""
    probs = torch.softmax(logits.float(), dim=-1)
    return probs @ spec.sigma_levels.to(probs.device)


def argmax_sigma(logits: torch.Tensor, spec: ModelSpec) -> torch.Tensor:
    """(B, levels) logits -> (B,) sigma (px) of the most likely level (the seed's O_p)."""
    return logits.argmax(dim=-1).float() * float(spec.step)


@dataclass
class DefocusModel:
    """A trained :class:`PatchNet` with its description (``info``: the JSON beside it)."""

    net: PatchNet
    spec: ModelSpec
    info: dict[str, Any] = field(default_factory=dict)


def model_paths(path: str | Path) -> tuple[Path, Path]:
    """(weights, JSON) for a model path given with or without ``.safetensors``/``.json``."""
    p = Path(path)
    if p.suffix in (".safetensors", ".json"):
        p = p.with_suffix("")
    return p.with_name(p.name + ".safetensors"), p.with_name(p.name + ".json")


def save_model(model: DefocusModel, path: str | Path) -> tuple[Path, Path]:
    """Write ``PATH.safetensors`` and ``PATH.json`` (each written to a temporary name and
    renamed into place); returns both paths."""
    from safetensors.torch import save_file

    weights, meta = model_paths(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.net.state_dict().items()}
    info = {**model.info, "format": MODEL_FORMAT, "architecture": model.spec.to_json()}
    info["weights"] = weights.name
    tmp_w = weights.with_name(weights.name + ".tmp")
    save_file(state, str(tmp_w), metadata={"format": MODEL_FORMAT})
    tmp_w.chmod(0o644)  # safetensors writes 0600; a model is shared like any other file
    tmp_w.replace(weights)
    tmp_j = meta.with_name(meta.name + ".tmp")
    tmp_j.write_text(json.dumps(info, indent=2, sort_keys=True, allow_nan=False) + "\n")
    tmp_j.replace(meta)
    return weights, meta


def load_model(path: str | Path, device: str | torch.device = "cpu") -> DefocusModel:
    """Read a model written by :func:`save_model` (no pickle: safetensors + JSON). Raises
    :class:`DefocusModelError` for a missing file, another format or weights that do not fit
    the architecture."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, meta = model_paths(path)
    for f in (weights, meta):
        if not f.is_file():
            raise DefocusModelError(f"{f}: missing (a model is NAME.safetensors + NAME.json)")
    try:
        info = json.loads(meta.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DefocusModelError(f"{meta}: not readable JSON ({exc})") from None
    if not isinstance(info, dict) or info.get("format") != MODEL_FORMAT:
        raise DefocusModelError(f"{meta}: not a {MODEL_FORMAT} description")
    spec = ModelSpec.from_json(info.get("architecture") or {})
    net = PatchNet(spec)
    try:
        state = load_file(str(weights), device="cpu")
        net.load_state_dict(state, strict=True)
    except (SafetensorError, RuntimeError, OSError) as exc:
        raise DefocusModelError(f"{weights}: weights do not load ({exc})") from None
    net.to(torch.device(device)).eval()
    return DefocusModel(net, spec, info)
