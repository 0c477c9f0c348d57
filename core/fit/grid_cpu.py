"""The grid's CPU pipeline for the gather model: each frame rendered, noised and scored in one task.

The general path of :func:`psfbench.core.fit.grid.evaluate_grid` renders a block of candidates
(n A values x M frames, 25 MB per A at 613x514 x 20), adds the observation noise to the whole
block, then scores it frame by frame on the pool. Every simulated frame crosses memory three
times, and the pool waits at the end of each phase (sampling in five pixel spans on two threads
left one thread idle for a fifth of the phase). Here each (A, frame) is one pool task: sample the
frame into the thread's own buffer with the noise added in the same pass
(:func:`psfbench.core.render.gather_cpu.sample_stack`), then score it
(:meth:`psfbench.core.losses.frames.FrameLosses.frame_terms`) while it is still in cache. The
numbers are those of the general path: the same kernels do the same float32 operations
(tests/fit/test_grid_cpu.py compares the two on a whole grid).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import torch

from psfbench.core.fit.problem import FitProblem
from psfbench.core.losses.common import TERM_NAMES, weighted_total
from psfbench.core.parallel import map_images
from psfbench.core.render.gather_cpu import NOISE_CONSTANT, NOISE_SIGNAL, Noise

#: Tasks per block (A values x frames): enough to keep the pool busy to the end of a block,
#: few enough that progress, cancellation and ``on_block`` views stay lively.
TASKS_PER_BLOCK = 64


def _noise(problem: FitProblem, m: int, c: int, hw: int) -> tuple[np.ndarray | None, int]:
    """The problem's observation noise as the sampler adds it: (field (M, C, H*W) float32 or
    None, mode), or (None, -1) where FitProblem.add_noise would not take these formulas."""
    z = problem.sim_noise
    if z is None:
        return None, 0
    if (
        z.device.type != "cpu"
        or z.dtype != torch.float32
        or tuple(z.shape) != (m, c, *problem.aif.shape[-2:])
    ):
        return None, -1
    mode = NOISE_CONSTANT if problem.noise_gain == 0.0 else NOISE_SIGNAL
    return z.detach().contiguous().numpy().reshape(m, c, hw), mode


class FramePipeline:
    """Scores candidates of a problem with the gather model and CPU losses, one task per
    (A, frame). Build it with :meth:`create`, which returns None where this pipeline does not
    apply (another model, a non-CPU device, the torch loss backend, a noise field of another
    shape), so the caller keeps its general path there."""

    def __init__(
        self, problem: FitProblem, stack: Any, losses: Any, field: np.ndarray | None, mode: int
    ) -> None:
        self.problem, self.stack, self.losses = problem, stack, losses
        self.field, self.mode = field, mode
        self.c, self.h, self.w = (int(x) for x in problem.aif.shape)
        self._local = threading.local()
        self._rel: tuple[torch.Tensor, np.ndarray, float] | None = None

    @staticmethod
    def create(problem: FitProblem, model: Any, losses: Any) -> FramePipeline | None:
        from psfbench.core.fit.models import GatherModel

        if not isinstance(model, GatherModel) or not getattr(losses, "per_frame", False):
            return None
        stack = model.stack
        if stack.device.type != "cpu" or stack.dtype != torch.float32:
            return None
        if len(stack.levels) < 3:
            return None
        m = problem.n_images
        c, h, w = problem.aif.shape
        field, mode = _noise(problem, m, c, h * w)
        if mode < 0:
            return None
        return FramePipeline(problem, stack, losses, field, mode)

    def _buffer(self) -> np.ndarray:
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.empty((1, self.c, self.h * self.w), np.float32)
        return buf

    def block(self, A_values: np.ndarray, rel: torch.Tensor) -> dict[str, torch.Tensor]:
        """Terms of every A of ``A_values`` (n,) at the relative defocus ``rel`` (M, H, W) of
        one e: ``l2``, ``laplacian``, ``histogram``, ``ssim`` and ``total``, each (n, M) in the
        losses' compute dtype, as ``losses(add_noise(model.simulate(A, rel)))`` gives them."""
        p = self.problem
        m, hw = rel.shape[0], self.h * self.w
        if self._rel is None or self._rel[0] is not rel:  # once per e, not per block
            rel_np = rel.detach().to(torch.float32).contiguous().numpy().reshape(m, hw)
            self._rel = (rel, rel_np, float(np.abs(rel_np).max()))
        _, rel_np, rel_max = self._rel
        scales = torch.as_tensor(np.asarray(A_values, np.float64), dtype=torch.float32)
        # sample_scaled's extension rule, before any thread samples
        self.stack.reserve(float(scales.abs().max()) * rel_max)
        sd = np.float32(p.noise_sd)

        def task(job: tuple[int, int]) -> list[torch.Tensor]:
            i, k = job
            buf = self._buffer()
            noise = None
            if self.field is not None:
                noise = Noise(
                    self.field[k : k + 1],
                    self.mode,
                    sd=float(sd),
                    var0=float(np.float32(sd * sd)),
                    gain=float(np.float32(p.noise_gain)),
                )
            self.stack.sample_map_cpu(
                float(scales[i]), rel_np[k : k + 1], buf, clip=(0.0, 1.0), noise=noise
            )
            sim = torch.from_numpy(buf[0].reshape(self.c, self.h, self.w))
            return self.losses.frame_terms(sim, k)

        # frame-major: consecutive tasks share the frame's real features, map and noise
        jobs = [(i, k) for k in range(m) for i in range(len(scales))]
        res = map_images(task, jobs)
        out = {
            name: torch.stack([r[j] for r in res]).reshape(m, len(scales)).T.contiguous()
            for j, name in enumerate(TERM_NAMES)
        }
        out["total"] = weighted_total(out, self.losses.config)
        return out
