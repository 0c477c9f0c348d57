"""All-in-focus image by inverting the fitted PSF model over the whole sweep.

Picking the sharpest frame per pixel (fusion) cannot give the true all-in-focus image where
the paper's scatter model (eq. 8) holds: in the frame where a foreground object is sharp, the
strongly defocused background behind it scatters its light *onto* the object (eq. 8 has no
occlusion), and in the frame where the background is sharp the object's light spreads over
it. No frame holds the clean value, so fusion inherits a pedestal: on the virtual bench's
objects scene the fused image is 18 dB from the truth, 0.06 too bright on average.
Diffusion elimination (eqs. 13-15 of the focus-stacking seed) only treats the band next to
edges.

Once psfbench has fitted A and e and the session has a depth map, every frame is a known
linear function of the all-in-focus image X: ``frame_n = R_n X`` with ``R_n`` the scatter blur
at sigma_n = sigma_map(depth, Df_n, A, F). Solving ``min_X sum_n ||M_n (R_n X - frame_n)||^2``
uses every frame at once, so light a frame mixes is unmixed by the others. ``M_n`` drops
saturated samples, which the linear model cannot explain (the scatter pedestal pushes bright
objects past full scale). The solver is CGLS started from the fused image: R_n is the fast
layered scatter renderer, its adjoint the gather blur with the *source's* sigma
(:class:`psfbench.core.render.gather.GatherStack`; measured: <R x, u> and <x, R^T u> agree to 1e-7
relative on a virtual sweep).
Stopping after ~20 iterations is the regulariser: the smooth pedestal converges first, while
the frequencies every frame blurs away (pixels never in focus) would need many more
iterations and would mostly amplify noise.

Measured on 161x193 virtual-bench sweeps of 20 frames, against the captured all-in-focus
image: objects 18.0 -> 34.8 dB, steps 19.5 -> 32.6 dB, tilted 28.0 -> 37.5 dB (3 s on CPU).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

#: Samples at or above this fraction of full scale are treated as clipped by the camera.
SATURATION = 0.995


@dataclass
class DeconvolutionResult:
    image: np.ndarray  # (C, H, W) float32 in [0, 1]
    residual_rms: list[float]  # per iteration, over the unsaturated samples
    saturated_fraction: float


def _tensor(x: Any, device: torch.device) -> torch.Tensor:
    return torch.as_tensor(np.asarray(x, dtype=np.float32), device=device)


def deconvolve_sweep(
    frames: Any,
    sigma: Any,
    init: Any,
    *,
    iterations: int = 20,
    saturation: float = SATURATION,
    device: str | torch.device | None = None,
    on_iteration: Callable[[int, int, float], None] | None = None,
) -> DeconvolutionResult:
    """Least-squares all-in-focus image under the scatter model.

    ``frames`` (N, C, H, W) float [0, 1] on one pixel grid (unaligned raw frames: the model
    renders them as the camera saw them); ``sigma`` (N, H, W) the per-pixel PSF sigma of each
    frame in pixels; ``init`` (C, H, W) the starting image, normally the fused one.
    ``on_iteration(k, iterations, residual_rms)`` is called after each CGLS iteration (the
    progress of a run that takes minutes on a CPU). Raises ValueError for mismatched shapes.
    """
    from psfbench.core.render import blur_layered
    from psfbench.core.render.gather import GatherStack

    dev = torch.device(device) if device is not None else torch.device("cpu")
    obs = _tensor(frames, dev)
    if obs.ndim == 3:
        obs = obs[:, None]
    sig = _tensor(sigma, dev)
    x = _tensor(init, dev)
    if x.ndim == 2:
        x = x[None]
    n, c, h, w = obs.shape
    if sig.shape != (n, h, w) or x.shape != (c, h, w):
        raise ValueError(
            f"shapes: frames {tuple(obs.shape)}, sigma {tuple(sig.shape)} (want {(n, h, w)}), "
            f"init {tuple(x.shape)} (want {(c, h, w)})"
        )
    keep = (obs < saturation).to(obs.dtype)
    sig_max = [float(s.max()) for s in sig]

    def forward(img: torch.Tensor) -> torch.Tensor:
        return keep * blur_layered(img, sig)

    def adjoint(u: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        for k in range(n):
            out += GatherStack(keep[k] * u[k], sig_max[k]).sample(sig[k])
        return out

    # CGLS (conjugate gradients on the normal equations, without forming R^T R)
    r = keep * obs - forward(x)
    s = adjoint(r)
    p = s.clone()
    gamma = float((s * s).sum())
    count = float(keep.sum().clamp_min(1.0))
    history: list[float] = []
    for _ in range(iterations):
        if gamma <= 0.0:
            break
        q = forward(p)
        qq = float((q * q).sum())
        if qq <= 0.0:
            break
        alpha = gamma / qq
        x = x + alpha * p
        r = r - alpha * q
        history.append(float((r * r).sum() / count) ** 0.5)
        if on_iteration is not None:
            on_iteration(len(history), iterations, history[-1])
        s = adjoint(r)
        g_new = float((s * s).sum())
        p = s + (g_new / gamma) * p
        gamma = g_new
    return DeconvolutionResult(
        image=x.clamp(0.0, 1.0).cpu().numpy().astype(np.float32),
        residual_rms=history,
        saturated_fraction=float(1.0 - keep.mean()),
    )
