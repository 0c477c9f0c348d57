"""Gather approximation for grid searches: blur the all-in-focus image once, sample per pixel.

During a fit the sigma map changes with every candidate (A, e) but the all-in-focus image
does not. ``GatherStack`` blurs it once at the sigma levels of :mod:`core.render.levels`;
``sample`` then gives each output pixel the level mixture of *its own* sigma (the layered
renderer's quadratic weights in variance, :func:`core.render.levels.node_weights`): O(pixels)
per candidate, no convolution. This is a gather model (the
receiver's sigma decides), while eq. 8 scatters with each source's sigma; the two agree
wherever sigma is locally constant and differ near depth edges. The measured difference is
in docs/rendering.md; use it for coarse passes and the scatter renderers to polish.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from core.render.inputs import Layout, RenderError, prepare, resolve_device, to_tensor
from core.render.kernels import DEFAULT_TRUNCATE
from core.render.layered import blur_uniform
from core.render.levels import DEFAULT_ACCURACY_DB, node_weights, sigma_levels

#: Pixels per NumPy call in the CPU sampler (cache-sized blocks of maps).
_GROUP_PIXELS = 1 << 16


class GatherStack:
    """A blur stack of one image; ``sample(sigma)`` renders any sigma map by interpolation.

    Levels beyond ``sigma_max`` are added (and blurred) on demand when a larger sigma is
    sampled, so a generous guess is cheaper but a low one is never wrong.
    """

    def __init__(
        self,
        aif: Any,
        sigma_max: float,
        *,
        accuracy_db: float = DEFAULT_ACCURACY_DB,
        truncate: float = DEFAULT_TRUNCATE,
        device: str | torch.device | None = None,
    ) -> None:
        dev = resolve_device(device, aif)
        img = to_tensor(aif, "aif", dev, torch.float32)
        if img.ndim not in (2, 3):
            raise RenderError(f"aif: expected (H, W) or (C, H, W), got shape {tuple(img.shape)}")
        self._mono = img.ndim == 2
        self._image = img.unsqueeze(0) if self._mono else img
        self.accuracy_db = float(accuracy_db)
        self.truncate = float(truncate)
        self.levels: list[float] = []
        self._planes: list[torch.Tensor] = []
        self._flat: torch.Tensor | None = None
        self._extend(float(sigma_max))

    @property
    def device(self) -> torch.device:
        return self._image.device

    @property
    def stack(self) -> torch.Tensor:
        """(K, C, H, W): the image blurred at each of ``levels``."""
        return torch.stack(self._planes)

    def _extend(self, sigma_max: float) -> None:
        levels = sigma_levels(sigma_max, self.accuracy_db, self.truncate)
        if len(levels) <= len(self.levels):
            return
        for s in levels[len(self.levels) :]:
            self._planes.append(blur_uniform(self._image, s, self.truncate))
        self.levels = levels
        # (C, K*H*W): one flat table per channel so sampling is a single torch.take.
        c = self._image.shape[0]
        self._flat = torch.stack(self._planes, dim=1).reshape(c, -1)

    def sample(self, sigma: Any) -> torch.Tensor:
        """sigma (H, W) -> the image's shape; (B, H, W) -> (B, C, H, W)."""
        _, sig, layout = prepare(self._image, sigma, device=self.device)
        smax = float(sig.max()) if sig.numel() else 0.0
        if smax > self.levels[-1]:
            self._extend(smax)
        assert self._flat is not None
        c, h, w = self._image.shape
        if len(self.levels) == 1:
            out = self._image.expand(sig.shape[0], c, h, w).clone()
        elif self.device.type == "cpu":
            out = self._sample_cpu(sig)
        else:
            k0, wts = node_weights(sig, self.levels)
            n = len(self.levels)
            base = torch.arange(h * w, device=self.device).view(1, h, w)
            out = torch.zeros((sig.shape[0], c, h * w), dtype=self._image.dtype, device=self.device)
            for j in range(3):
                index = ((k0 + j).clamp(max=n - 1) * (h * w) + base).reshape(sig.shape[0], -1)
                wj = wts[..., j].reshape(sig.shape[0], 1, -1)
                vals = torch.stack([torch.take(self._flat[i], index) for i in range(c)], dim=1)
                out += wj * vals
            out = out.reshape(sig.shape[0], c, h, w)
        return Layout(mono=self._mono, batched=layout.batched).restore(out)

    def _sample_cpu(self, sig: torch.Tensor) -> torch.Tensor:
        """NumPy path: the same mixture as the torch path (float32 weights from
        ``node_weights_np``). The batch is split in one contiguous block per pool thread and
        each thread works on ~64k pixels at a time (one large map, or several small ones), so
        the ~20 passes per pixel stay in cache (vectorising over the whole batch was 4x slower:
        memory-bound) and small maps do not pay NumPy's per-call overhead map by map."""
        from core.parallel import map_images
        from core.render.levels import node_weights_np

        assert self._flat is not None
        c, h, w = self._image.shape
        n = len(self.levels)
        flat = self._flat.numpy()  # (C, K*H*W) float32
        sig_np = sig.detach().to(torch.float32).numpy()
        nb = sig.shape[0]
        out = np.empty((nb, c, h * w), np.float32)
        base = np.arange(h * w, dtype=np.int64)
        parts = max(1, min(nb, torch.get_num_threads()))
        bounds = np.linspace(0, nb, parts + 1).astype(int)

        hw = h * w
        group = max(1, _GROUP_PIXELS // hw)  # small maps: several per NumPy call
        span = min(hw, _GROUP_PIXELS)  # large maps: cache-sized pixel runs of one map
        sig_flat = sig_np.reshape(nb, hw)

        def mix(g0: int, g1: int, p0: int, p1: int) -> None:
            k0, w3 = node_weights_np(sig_flat[g0:g1, p0:p1], self.levels)
            for j in range(3):
                idx = np.minimum(k0 + j, n - 1).astype(np.int64)
                idx *= hw
                idx += base[p0:p1]
                for i in range(c):
                    vals = np.take(flat[i], idx)
                    dst = out[g0:g1, i, p0:p1]
                    if j == 0:
                        np.multiply(vals, w3[j], out=dst)
                    else:
                        vals *= w3[j]
                        dst += vals

        def block(p: int) -> None:
            for g0 in range(int(bounds[p]), int(bounds[p + 1]), group):
                g1 = min(g0 + group, int(bounds[p + 1]))
                for p0 in range(0, hw, span):
                    mix(g0, g1, p0, min(p0 + span, hw))

        map_images(block, range(parts))
        return torch.from_numpy(out.reshape(nb, c, h, w)).to(self._image.dtype)
