"""Input checks, chunking and masked reductions shared by the fast and reference loss paths,
so both accept exactly the same inputs and differ only in how the terms are computed."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from psfbench.core.losses.config import LossConfig
from psfbench.core.losses.cv_filters import cv_erode
from psfbench.core.losses.filters import erode, laplacian_radius

TERM_NAMES = ("l2", "laplacian", "histogram", "ssim")


def chunks(lead: tuple[int, ...], per_item: int, budget: int) -> Iterator[tuple[Any, ...]]:
    """Index tuples into ``lead`` covering it, each selecting at most budget/per_item items."""
    n_max = max(1, budget // max(1, per_item))

    def rec(prefix: tuple[Any, ...], dims: tuple[int, ...]) -> Iterator[tuple[Any, ...]]:
        if not dims:
            yield prefix
            return
        inner = math.prod(dims[1:])
        if inner <= n_max:
            step = max(1, n_max // max(1, inner))
            for i in range(0, dims[0], step):
                yield (*prefix, slice(i, min(i + step, dims[0])))
        else:
            for i in range(dims[0]):
                yield from rec((*prefix, i), dims[1:])

    yield from rec((), lead)


def as_tensor(x: Any, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if not (t.is_floating_point()):
        raise TypeError(f"loss_terms: '{name}' must be a float image in [0, 1], got {t.dtype}")
    if t.ndim < 3:
        raise ValueError(f"loss_terms: '{name}' must be (..., C, H, W), got shape {tuple(t.shape)}")
    return t


class Reducer:
    """Masked reductions over (H, W): mean square or the reference code's ||d||_2 / N."""

    def __init__(self, weight: torch.Tensor | None, n: float, mode: str) -> None:
        self.weight, self.n, self.mode = weight, n, mode

    def __call__(self, d: torch.Tensor) -> torch.Tensor:
        sq = d * d
        if self.weight is not None:
            sq = sq * self.weight
        s = sq.sum(dim=(-2, -1))
        if self.mode == "mean_square":
            return s / self.n
        return torch.sqrt(s) / self.n


@dataclass(frozen=True)
class MaskInfo:
    """One image's checked mask and the pixel sets every term needs."""

    #: (H, W) bool valid pixels, and those whose whole Laplacian stencil is valid.
    valid: torch.Tensor
    lap_valid: torch.Tensor
    #: False when the mask is absent or all True: then no masking work is done at all.
    has_mask: bool
    #: Pixel counts of ``valid`` and ``lap_valid``.
    n_valid: float
    n_lap: float


def mask_info(
    mask: Any, h: int, w: int, device: torch.device, cfg: LossConfig, who: str = "loss_terms"
) -> MaskInfo:
    """Check an (H, W) mask (True = valid; None = all valid) and derive its pixel sets.

    Raises ValueError (messages start with ``who``) for another shape, or when no pixel is
    left after eroding by the Laplacian's radius.
    """
    if mask is None:
        valid = torch.ones(h, w, dtype=torch.bool, device=device)
        has_mask = False
    else:
        valid = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask)
        valid = valid.to(device=device, dtype=torch.bool)
        if tuple(valid.shape) != (h, w):
            raise ValueError(f"{who}: 'mask' must be {(h, w)}, got {tuple(valid.shape)}")
        has_mask = not bool(valid.all())
    eroder = cv_erode if valid.device.type == "cpu" else erode
    lap_valid = eroder(valid, laplacian_radius(cfg.laplacian_kernel)) if has_mask else valid
    n_valid = float(valid.sum()) if has_mask else float(h * w)
    n_lap = float(lap_valid.sum()) if has_mask else float(h * w)
    if n_valid == 0 or n_lap == 0:
        raise ValueError(f"{who}: 'mask' leaves no valid pixel (after the Laplacian's border)")
    return MaskInfo(valid, lap_valid, has_mask, n_valid, n_lap)


@dataclass(frozen=True)
class Inputs:
    """Checked, device-placed inputs and the masks every term needs."""

    real: torch.Tensor
    sim: torch.Tensor
    lead: tuple[int, ...]
    dtype: torch.dtype
    mask: MaskInfo

    @property
    def valid(self) -> torch.Tensor:
        return self.mask.valid

    @property
    def lap_valid(self) -> torch.Tensor:
        return self.mask.lap_valid

    @property
    def has_mask(self) -> bool:
        return self.mask.has_mask

    @property
    def n_valid(self) -> float:
        return self.mask.n_valid

    @property
    def n_lap(self) -> float:
        return self.mask.n_lap


def compute_dtype(cfg: LossConfig) -> torch.dtype:
    """float64 for ``cfg.float64`` (the refcode preset), else float32."""
    return torch.float64 if cfg.float64 else torch.float32


def check_inputs(real: Any, sim: Any, mask: Any, cfg: LossConfig) -> Inputs:
    sim_t = as_tensor(sim, "sim")
    real_t = as_tensor(real, "real").to(sim_t.device)
    h, w = sim_t.shape[-2:]
    if tuple(real_t.shape[-2:]) != (h, w):
        raise ValueError(
            f"loss_terms: 'real' is {tuple(real_t.shape[-2:])} px but 'sim' is {(h, w)} px"
        )
    if cfg.color == "channels" and real_t.shape[-3] != sim_t.shape[-3]:
        raise ValueError(
            f"loss_terms: color='channels' needs equal channel counts, got real "
            f"{real_t.shape[-3]} and sim {sim_t.shape[-3]}"
        )
    lead = tuple(torch.broadcast_shapes(real_t.shape[:-3], sim_t.shape[:-3]))
    return Inputs(
        real=real_t,
        sim=sim_t,
        lead=lead,
        dtype=compute_dtype(cfg),
        mask=mask_info(mask, h, w, sim_t.device, cfg),
    )


def weighted_total(out: dict[str, torch.Tensor], cfg: LossConfig) -> torch.Tensor:
    lead = out["l2"].shape
    zero = torch.zeros(lead, dtype=out["l2"].dtype, device=out["l2"].device)
    return cfg.total_scale * sum(
        (wt * out[name] for wt, name in zip(cfg.weights, TERM_NAMES, strict=True)), zero
    )
