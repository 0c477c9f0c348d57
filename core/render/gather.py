"""Gather approximation for grid searches: blur the all-in-focus image once, sample per pixel.

During a fit the sigma map changes with every candidate (A, e) but the all-in-focus image
does not. ``GatherStack`` blurs it once at the sigma levels of :mod:`core.render.levels`;
``sample`` then gives each output pixel the variance-weighted mix of the two levels around
*its own* sigma: O(pixels) per candidate, no convolution. This is a gather model (the
receiver's sigma decides), while eq. 8 scatters with each source's sigma; the two agree
wherever sigma is locally constant and differ near depth edges. The measured difference is
in docs/rendering.md; use it for coarse passes and the scatter renderers to polish.
"""

from __future__ import annotations

from typing import Any

import torch

from core.render.inputs import Layout, RenderError, prepare, resolve_device, to_tensor
from core.render.kernels import DEFAULT_TRUNCATE
from core.render.layered import blur_uniform
from core.render.levels import DEFAULT_ACCURACY_DB, sigma_levels, split_weights


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
        else:
            k, t = split_weights(sig, self.levels)
            index = (k * (h * w) + torch.arange(h * w, device=self.device).view(1, h, w)).reshape(
                sig.shape[0], -1
            )
            lo = torch.stack([torch.take(self._flat[i], index) for i in range(c)], dim=1)
            hi = torch.stack([torch.take(self._flat[i], index + h * w) for i in range(c)], dim=1)
            tt = t.reshape(sig.shape[0], 1, -1)
            out = (lo + tt * (hi - lo)).reshape(sig.shape[0], c, h, w)
        return Layout(mono=self._mono, batched=layout.batched).restore(out)
