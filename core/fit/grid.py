"""Exhaustive (A, e) grid: eq. 20 for every grid point, with every loss term and image kept.

Memory is bounded: for each e the relative-defocus maps of the M images are computed once,
then A values are processed in blocks sized to ``memory_budget_mb``. Each finished block is
handed to ``on_block`` (values of every term, per image), so a view can fill the landscape
while it is computed; unfinished points are NaN in the landscape meanwhile.

With the gather model on the CPU each (A, frame) is rendered, noised and scored in one pool
task (:mod:`psfbench.core.fit.grid_cpu`); other models render a block, then score it.

Every frame is compared with its own loss mask (``FitProblem.loss_masks``: depth-map holes and
their reach, optionally clipped samples), and everything that depends on the real frames only
is computed once per call (:class:`psfbench.core.losses.frames.FrameLosses`), or once per fit stage
when the caller passes ``losses``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from psfbench.core.fit.grid_cpu import TASKS_PER_BLOCK, FramePipeline
from psfbench.core.fit.models import ForwardModel, make_model
from psfbench.core.fit.problem import FitProblem
from psfbench.core.fit.progress import CancelToken, ProgressCallback, StageTimer
from psfbench.core.losses import LossConfig

TERMS = ("l2", "laplacian", "histogram", "ssim", "total")


@dataclass
class Landscape:
    """Loss surfaces over an (A, e) grid: ``per_image[term]`` is (nA, ne, M)."""

    A_values: np.ndarray
    e_values: np.ndarray
    per_image: dict[str, np.ndarray]
    model: str = "gather"
    pixel_scale: float = 1.0
    frame_indices: tuple[int, ...] = ()
    meta: dict = field(default_factory=dict)

    @property
    def terms(self) -> dict[str, np.ndarray]:
        """Each term averaged over images (eq. 20): (nA, ne)."""
        return {k: v.mean(axis=-1) for k, v in self.per_image.items()}

    @property
    def total(self) -> np.ndarray:
        return self.per_image["total"].mean(axis=-1)

    def argmin(self) -> tuple[int, int]:
        """Grid indices of the smallest total (points not evaluated, NaN, are ignored)."""
        i, j = np.unravel_index(int(np.nanargmin(self.total)), self.total.shape)
        return int(i), int(j)

    def best(self) -> tuple[float, float, float]:
        i, j = self.argmin()
        return float(self.A_values[i]), float(self.e_values[j]), float(self.total[i, j])

    def save(self, path: str | Path) -> None:
        """NumPy .npz (no pickle): A, e, per-image and mean surfaces per term, JSON meta."""
        arrays: dict[str, np.ndarray] = {"A": self.A_values, "e": self.e_values}
        for k, v in self.per_image.items():
            arrays[f"per_image_{k}"] = v
            arrays[f"mean_{k}"] = v.mean(axis=-1)
        meta = dict(self.meta)
        meta.update(
            model=self.model, pixel_scale=self.pixel_scale, frame_indices=list(self.frame_indices)
        )
        arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        tmp = Path(path).with_suffix(".tmp.npz")
        np.savez_compressed(tmp, allow_pickle=False, **arrays)
        tmp.replace(path)

    @staticmethod
    def load(path: str | Path) -> Landscape:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(bytes(z["meta_json"]).decode())
            pre = "per_image_"
            per_image = {k[len(pre) :]: z[k] for k in z.files if k.startswith(pre)}
            return Landscape(
                z["A"],
                z["e"],
                per_image,
                model=meta.pop("model", "gather"),
                pixel_scale=meta.pop("pixel_scale", 1.0),
                frame_indices=tuple(meta.pop("frame_indices", ())),
                meta=meta,
            )


@dataclass(frozen=True)
class GridBlock:
    """One finished block of a landscape: A rows ``A_index`` at column ``e_index``.

    ``per_image[term]`` is (n_A_block, M); ``landscape`` is the landscape being filled (NaN
    where not yet evaluated), the same object :func:`evaluate_grid` returns.
    """

    stage: str
    A_index: slice
    e_index: int
    A_values: np.ndarray
    e_value: float
    per_image: dict[str, np.ndarray]
    landscape: Landscape


BlockCallback = Callable[[GridBlock], None]


def frame_losses(problem: FitProblem, loss_config: LossConfig | None = None) -> Any:
    """The loss evaluator of a problem's observed frames with their own masks, built once."""
    from psfbench.core.losses.frames import FrameLosses

    cfg = loss_config if loss_config is not None else LossConfig.paper()
    return FrameLosses(problem.observed(), problem.loss_masks(), cfg)


def evaluate_grid(
    problem: FitProblem,
    A_values: Sequence[float] | np.ndarray,
    e_values: Sequence[float] | np.ndarray,
    *,
    model: str | ForwardModel = "gather",
    loss_config: LossConfig | None = None,
    losses: Any = None,
    memory_budget_mb: float = 384.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    stage: str = "grid",
    on_block: BlockCallback | None = None,
    skip: np.ndarray | None = None,
    per_frame: bool = True,
) -> Landscape:
    """Every loss term of every image at every (A, e) of the grid A_values x e_values.

    ``model``: "gather" (blur stack, fast, biased at depth edges), "layered" (eq. 8, fast
    renderer), "scatter" (eq. 8, exact renderer, slow) or a :class:`ForwardModel`. ``losses``:
    a :func:`frame_losses` evaluator of this problem to reuse (else built here). Raises
    ValueError for empty grids, :class:`psfbench.core.fit.progress.Cancelled` when ``cancel`` is
    set. ``skip``: (nA, ne) bool, points not to evaluate (they stay NaN; e.g. a zoom design's
    corners). ``per_frame=False`` keeps the gather model on the blockwise path (render a
    block, then score it) instead of one task per (A, frame); the landscape is the same, this
    is for comparisons (benchmarks/fit.py).
    """
    A_arr = np.asarray(A_values, dtype=np.float64)
    e_arr = np.asarray(e_values, dtype=np.float64)
    if A_arr.ndim != 1 or e_arr.ndim != 1 or not len(A_arr) or not len(e_arr):
        raise ValueError("A and e grids must be non-empty 1-D sequences")
    m = problem.n_images
    if isinstance(model, str):
        sigma_max = problem.max_rel_defocus(e_arr) * float(A_arr.max())
        fwd = make_model(model, problem, sigma_max)
    else:
        fwd = model
    loss = losses if losses is not None else frame_losses(problem, loss_config)
    c, h, w = problem.aif.shape
    bytes_per_a = m * c * h * w * 4 * 6  # sim + loss intermediates, generous
    chunk = max(1, min(len(A_arr), int(memory_budget_mb * 2**20 // bytes_per_a)))
    pipeline = FramePipeline.create(problem, fwd, loss) if per_frame else None
    if pipeline is not None:  # one task per (A, frame): blocks no bigger than the pool needs
        chunk = min(chunk, -(-TASKS_PER_BLOCK // m))
    out = {t: np.full((len(A_arr), len(e_arr), m), np.nan, dtype=np.float64) for t in TERMS}
    landscape = Landscape(
        A_arr,
        e_arr,
        out,
        model=fwd.name,
        pixel_scale=problem.pixel_scale,
        frame_indices=problem.frame_indices,
    )
    todo = np.ones((len(A_arr), len(e_arr)), bool) if skip is None else ~np.asarray(skip, bool)
    timer = StageTimer(stage, int(todo.sum()), progress)
    A_t = torch.as_tensor(A_arr, dtype=torch.float32, device=problem.device)
    with torch.no_grad():
        for j, e in enumerate(e_arr):
            rows = np.flatnonzero(todo[:, j])
            if not rows.size:
                continue
            rel = problem.rel_defocus(float(e))
            # runs of consecutive A rows, in blocks of at most `chunk`
            runs = np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1)
            spans = [
                (int(r[k]), int(r[min(k + chunk, len(r)) - 1]) + 1)
                for r in runs
                for k in range(0, len(r), chunk)
            ]
            for start, stop in spans:
                if cancel is not None:
                    cancel.check()
                if pipeline is not None:
                    terms = pipeline.block(A_arr[start:stop], rel)
                else:
                    sims = fwd.simulate(A_t[start:stop], rel)  # (n, M, C, H, W)
                    sims = problem.add_noise(sims)
                    terms = loss(sims)
                block = {}
                for t in TERMS:
                    block[t] = terms[t].double().cpu().numpy().reshape(-1, m)
                    out[t][start:stop, j, :] = block[t]
                timer.advance(stop - start)
                if on_block is not None:
                    on_block(
                        GridBlock(
                            stage,
                            slice(start, stop),
                            j,
                            A_arr[start:stop],
                            float(e),
                            block,
                            landscape,
                        )
                    )
    return landscape
