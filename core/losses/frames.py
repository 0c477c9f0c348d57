"""Loss terms of many simulated sweeps against one fixed real sweep, a mask per frame.

A fit compares the same M real frames with simulations again and again (one ``loss_terms``
call per grid chunk), and each frame needs its own mask: the pixels near depth-map holes
reach further in blurrier frames, and clipped samples differ per frame. ``FrameLosses``
builds one :class:`psfbench.core.losses.terms.RealFeatures` per frame, with that frame's mask, once;
every call then only processes the simulations. On the CPU the frames run in parallel on the
shared pool (``psfbench.core.parallel.map_images``; OpenCV and NumPy release the GIL), one task per
frame, and the kernels' scratch buffers are per thread (``cpu_pairs._workspace``), not per
frame. Results equal ``loss_terms(real[m], sims[..., m, :, :, :], masks[m], config)`` frame by
frame: the same code computes both.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import torch

from psfbench.core.losses.common import TERM_NAMES, MaskInfo, mask_info, weighted_total
from psfbench.core.losses.config import LossConfig
from psfbench.core.losses.terms import RealFeatures
from psfbench.core.parallel import map_images


class FrameLosses:
    """Loss terms of simulated sweeps against fixed real frames, each frame with its own mask.

    ``real``: (M, C, H, W) float tensor (or array) in [0, 1], on any device; the terms are
    computed there. It is copied, so later changes to it do not matter. ``masks``: None (all
    pixels), one (H, W) mask for every frame, or (M, H, W), bool, True = pixel used; invalid
    pixels take no part in any term, even if they hold NaN. ``config``: the loss settings
    (default ``LossConfig.paper()``). ``backend``: "auto" uses the OpenCV kernel on the CPU
    and the batched torch path elsewhere; "torch" forces the torch path (what CUDA runs; on
    the CPU it is slower and exists for tests and comparisons).

    Raises TypeError for a non-float ``real``; ValueError for a wrong shape of ``real`` or
    ``masks``, an unknown ``backend``, or a frame whose mask leaves no pixel after the
    Laplacian's border erosion (the message names the frame index).
    """

    def __init__(
        self,
        real: Any,
        masks: Any = None,
        config: LossConfig | None = None,
        *,
        backend: Literal["auto", "torch"] = "auto",
    ) -> None:
        cfg = config if config is not None else LossConfig.paper()
        real_t = torch.as_tensor(real)
        if not real_t.is_floating_point():
            raise TypeError(
                f"FrameLosses: 'real' must be float images in [0, 1], got {real_t.dtype}"
            )
        if real_t.ndim != 4:
            raise ValueError(f"FrameLosses: 'real' must be (M, C, H, W), got {tuple(real_t.shape)}")
        if backend not in ("auto", "torch"):
            raise ValueError(f"FrameLosses: backend must be 'auto' or 'torch', got {backend!r}")
        m, c, h, w = real_t.shape
        self.config, self.device, self.shape = cfg, real_t.device, (m, c, h, w)
        self._cpu = backend == "auto" and real_t.device.type == "cpu"
        frame_mask = _frame_masks(masks, m, h, w, real_t.device, cfg)

        def build(i: int) -> RealFeatures:
            return RealFeatures(real_t[i].clone(), frame_mask(i), cfg, cpu_kernel=self._cpu)

        self._frames = self._map(build)
        n_valid = [f.mask.n_valid for f in self._frames]
        self._valid_fraction = np.array(n_valid, dtype=np.float64) / (h * w)

    @property
    def valid_fraction(self) -> np.ndarray:
        """(M,) float64: the fraction of each frame's pixels that its terms use."""
        return self._valid_fraction.copy()

    @property
    def per_frame(self) -> bool:
        """True when the terms run on the CPU kernel, which can score one simulated frame at
        a time in the calling thread (:meth:`frame_terms`)."""
        return self._cpu

    def frame_terms(self, sim: Any, i: int) -> list[torch.Tensor]:
        """The unweighted terms (l2, laplacian, histogram, ssim) of one simulated frame
        ``sim`` (C, H, W) float32 CPU in [0, 1] against real frame ``i``, each a 0-d tensor in
        the compute dtype, computed in the calling thread (a caller runs frames on the pool
        itself, e.g. to render and score each frame while it is in cache). The same numbers
        as the frame's entries of ``__call__``; ``weighted_total`` of them is its total.
        Raises RuntimeError where ``per_frame`` is False."""
        if not self._cpu:
            raise RuntimeError("FrameLosses.frame_terms needs the CPU kernel (backend 'auto', CPU)")
        return self._frames[i].frame_terms(torch.as_tensor(sim))

    def _map(self, fn: Any) -> list[Any]:
        frames = range(self.shape[0])
        return map_images(fn, frames) if self._cpu else [fn(i) for i in frames]

    def __call__(self, sims: Any) -> dict[str, torch.Tensor]:
        """Terms of ``sims`` (..., M, C, H, W) float in [0, 1] against the real frames.

        ``sims`` is moved to the real frames' device. Returns ``l2``, ``laplacian``,
        ``histogram``, ``ssim`` (unweighted) and ``total`` (eq. 19 times
        ``config.total_scale``), each shaped (..., M), float32 (float64 with
        ``config.float64``). Raises TypeError for non-float ``sims``, ValueError for a shape
        that does not match the real frames.
        """
        s = torch.as_tensor(sims)
        m, c, h, w = self.shape
        if not s.is_floating_point():
            raise TypeError(f"FrameLosses: 'sims' must be float images in [0, 1], got {s.dtype}")
        if s.ndim < 4 or s.shape[-4] != m or tuple(s.shape[-2:]) != (h, w):
            raise ValueError(
                f"FrameLosses: 'sims' must be (..., {m}, C, {h}, {w}), got {tuple(s.shape)}"
            )
        if self.config.color == "channels" and s.shape[-3] != c:
            raise ValueError(
                f"FrameLosses: color='channels' needs {c} channels in 'sims', got {s.shape[-3]}"
            )
        s = s.to(self.device)
        lead = tuple(s.shape[:-4])

        def frame(i: int) -> dict[str, torch.Tensor]:
            return self._frames[i].terms(s[..., i, :, :, :], lead)

        per = self._map(frame)
        out = {name: torch.stack([p[name] for p in per], dim=-1) for name in TERM_NAMES}
        out["total"] = weighted_total(out, self.config)
        return out


def _frame_masks(
    masks: Any, m: int, h: int, w: int, device: torch.device, cfg: LossConfig
) -> Callable[[int], MaskInfo]:
    """Check None, (H, W) or (M, H, W) masks; returns frame index -> its :class:`MaskInfo`
    (computed when asked, so frames can derive theirs in parallel; a shared one once)."""
    if masks is None:
        info = mask_info(None, h, w, device, cfg, who="FrameLosses")
        return lambda i: info
    t = torch.as_tensor(np.asarray(masks) if not isinstance(masks, torch.Tensor) else masks)
    if tuple(t.shape) == (h, w):
        shared = mask_info(t, h, w, device, cfg, who="FrameLosses")
        return lambda i: shared
    if tuple(t.shape) != (m, h, w):
        raise ValueError(
            f"FrameLosses: 'masks' must be {(h, w)} or {(m, h, w)}, got {tuple(t.shape)}"
        )
    return lambda i: mask_info(t[i], h, w, device, cfg, who=f"FrameLosses: frame {i}")
