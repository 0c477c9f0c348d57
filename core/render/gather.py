"""Gather approximation for grid searches: blur the all-in-focus image once, sample per pixel.

During a fit the sigma map changes with every candidate (A, e) but the all-in-focus image
does not. ``GatherStack`` blurs it once at the sigma levels of :mod:`psfbench.core.render.levels`;
``sample`` then gives each output pixel the level mixture of *its own* sigma (the layered
renderer's quadratic weights in variance, :func:`psfbench.core.render.levels.node_weights`):
O(pixels) per candidate, no convolution. This is a gather model (the
receiver's sigma decides), while eq. 8 scatters with each source's sigma; the two agree
wherever sigma is locally constant and differ near depth edges. The measured difference is
in docs/rendering.md; use it for coarse passes and the scatter renderers to polish.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from psfbench.core.render.inputs import Layout, RenderError, prepare, resolve_device, to_tensor
from psfbench.core.render.kernels import DEFAULT_TRUNCATE
from psfbench.core.render.layered import blur_uniform
from psfbench.core.render.levels import DEFAULT_ACCURACY_DB, node_weights, sigma_levels


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
    def dtype(self) -> torch.dtype:
        """The stack's dtype (that of the image it was built from)."""
        return self._image.dtype

    @property
    def stack(self) -> torch.Tensor:
        """(K, C, H, W): the image blurred at each of ``levels``."""
        return torch.stack(self._planes)

    def _extend(self, sigma_max: float) -> None:
        levels = sigma_levels(sigma_max, self.accuracy_db, self.truncate)
        if len(levels) <= len(self.levels):
            return
        from psfbench.core.parallel import map_images

        # one level per pool task: each is an independent OpenCV filter (GIL released)
        new = levels[len(self.levels) :]
        self._planes.extend(map_images(lambda s: blur_uniform(self._image, s, self.truncate), new))
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
        elif (
            self.device.type == "cpu"
            and len(self.levels) >= 3
            and self._image.dtype == torch.float32
        ):
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

    def _sample_cpu(
        self,
        rel: torch.Tensor,
        scales: torch.Tensor | None = None,
        clip: tuple[float, float] | None = None,
    ) -> torch.Tensor:
        """The same mixture as the torch path, compiled (:mod:`psfbench.core.render.gather_cpu`)."""
        from psfbench.core.render.gather_cpu import sample_stack

        assert self._flat is not None
        c, h, w = self._image.shape
        rel_np = rel.detach().to(torch.float32).numpy().reshape(-1, h * w)
        sc = None if scales is None else scales.detach().to(torch.float32).cpu().numpy()
        out = sample_stack(self._flat.numpy(), self.levels, rel_np, sc, clip)
        return torch.from_numpy(out.reshape(-1, c, h, w)).to(self._image.dtype)

    def reserve(self, sigma_max: float) -> None:
        """Extend the stack now so that sigmas up to ``sigma_max`` px need no new level (what
        sampling does on demand; call it before sampling from several threads)."""
        if sigma_max > self.levels[-1]:
            self._extend(float(sigma_max))

    def sample_map_cpu(
        self,
        scale: float,
        rel: Any,
        out: Any,
        clip: tuple[float, float] | None = None,
        noise: Any = None,
    ) -> None:
        """One sigma map ``scale * rel`` into ``out``, in the calling thread, on a CPU
        float32 stack of >= 3 levels (:func:`psfbench.core.render.gather_cpu.sample_stack`).

        ``rel`` (1, H*W) float32 NumPy, ``out`` (1, C, H*W) float32 NumPy; ``clip`` as in
        :meth:`sample_scaled`, then ``noise`` (a ``gather_cpu.Noise`` with a (1, C, H*W)
        field) added. The map must lie within the stack (:meth:`reserve`); raises ValueError
        for a stack this sampler cannot take."""
        from psfbench.core.render.gather_cpu import sample_stack

        if (
            self.device.type != "cpu"
            or self._image.dtype != torch.float32
            or len(self.levels) < 3
            or self._flat is None
        ):
            raise ValueError("sample_map_cpu needs a CPU float32 stack of at least 3 levels")
        c, h, w = self._image.shape
        if rel.shape != (1, h * w) or out.shape != (1, c, h * w):
            raise ValueError(
                f"sample_map_cpu: rel must be (1, {h * w}) and out (1, {c}, {h * w}), got "
                f"{rel.shape} and {out.shape}"
            )
        sample_stack(
            self._flat.numpy(),
            self.levels,
            rel,
            np.array([scale], np.float32),
            clip,
            noise,
            out,
            serial=True,
        )

    def sample_scaled(
        self, scales: torch.Tensor, rel: torch.Tensor, clip: tuple[float, float] | None = None
    ) -> torch.Tensor:
        """Every map of ``rel`` (M, H, W) at every factor of ``scales`` (S,): the same as
        ``sample(scales[:, None, None, None] * rel)`` reshaped to (S, M, C, H, W), clipped to
        ``clip`` when given, without forming the (S, M, H, W) sigma maps on the CPU (the fit's
        grid: sigma = A * relative defocus)."""
        s = torch.as_tensor(scales).reshape(-1)
        m, h, w = rel.shape
        smax = float(s.abs().max()) * float(rel.abs().max()) if rel.numel() else 0.0
        if smax > self.levels[-1]:
            self._extend(smax)
        c = self._image.shape[0]
        cpu = self.device.type == "cpu" and self._image.dtype == torch.float32
        if cpu and len(self.levels) >= 3 and rel.device.type == "cpu":
            out = self._sample_cpu(rel, s, clip)
        else:
            sig = (s.view(-1, 1, 1, 1).to(rel) * rel[None]).reshape(-1, h, w)
            out = self.sample(sig).reshape(-1, c, h, w)
            if clip is not None:
                out = out.clamp_(*clip)
        return out.reshape(len(s), m, c, h, w)
