"""Gradient-based fit of a PSF model (issue 19): torch autograd through the fast renderer.

The grid (core/fit/engine.py) finds the paper's (A, e); every model of
:mod:`psfbench.core.psfmodels` starts there, at its nesting point (the values that make it that
Gaussian; ``disc`` from the best of a few edge values), and is polished by Adam on a smooth
surrogate of the paper's loss (eq. 19), with gradients through
:func:`psfbench.core.psfmodels.render_t` (layered scatter with the model's kernel, breathing as a
differentiable resampling):

* L2 and L2 of Laplacians (the ``opencv5`` 5 x 5 kernel of the paper preset) as in eqs. 15-16;
* the defocus-histogram term (eq. 17) with *soft* binning: each |Laplacian| value is shared
  between its two nearest bins (linear weights), so the histogram moves smoothly with the
  parameters; same bins and range (the real image's) as the hard histogram;
* 1 - SSIM (eq. 18) with the 11-tap, sd 1.5 Gaussian window.

The observation model is the grid's (core/fit/observation.py): the simulation is clipped to
[0, 1], pre-filtered and gets the problem's fixed noise field; pixels outside each frame's loss
mask take no part. Parameters are optimised in a scaled, unconstrained space (log A, e in 0.5
mm units, logit edge, ...), Adam with a cosine learning-rate decay and gradient clipping,
keeping the best iterate (robust to noisy steps), then up to ``newton_steps`` damped Newton
steps on the finite-difference Hessian to land on the optimum (Adam's fixed step size leaves it
a fraction of a step away). Uncertainty: the grid's bootstrap over sweep
images, linearised: each resample of frames moves the optimum by one Newton step -H^-1 g_b,
with H the finite-difference Hessian of the mean loss and g_b the resample's gradient.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F_nn

from psfbench.core.fit.problem import FitProblem
from psfbench.core.losses import LossConfig
from psfbench.core.psfmodels import PsfModel, components_of, default_params, render_t

#: (name, transform) of every free scalar: value = fn(theta, start). Lists are split per item.
_LOG = "log"


@dataclass
class GradFit:
    """A finished gradient fit: the model (params + std), surrogate loss on the fitted frames,
    iterations, wall time and the loss history."""

    model: PsfModel
    loss: float
    iterations: int
    time_s: float
    history: list[float] = field(default_factory=list)
    per_frame: list[float] = field(default_factory=list)


# ---------------------------------------------------------------------------- parameterisation


class _Space:
    """Maps an unconstrained theta vector to model parameters (tensors) and back."""

    def __init__(self, name: str, start: dict[str, Any]) -> None:
        self.name = name
        self.start = start
        # (key, list index, transform, scale): Adam moves theta by ~lr per step, so a scale is
        # the parameter change worth one unit of theta (~20 steps' worth of movement)
        self.slots: list[tuple[str, int | None, str, float]] = [
            ("A", None, _LOG, 1.0),
            ("e_mm", None, "lin", 0.5),
        ]
        comps = components_of(name)
        if "disc" in comps:
            self.slots.append(("edge", None, "logit", 1.0))
        if "chromatic" in comps:
            self.slots += [("chroma", 0, _LOG, 1.0), ("chroma", 2, _LOG, 1.0)]
        if "field" in comps:
            self.slots += [("field", i, "lin", 0.5) for i in range(3)]
        if "tilt" in comps:
            self.slots += [("tilt_mm", i, "lin", 0.2) for i in range(2)]
        if "breathing" in comps:
            self.slots += [("breathing", None, "lin", 1.0), ("scale0", None, _LOG, 0.05)]

    @property
    def n(self) -> int:
        return len(self.slots)

    def _base(self, key: str, idx: int | None) -> float:
        v = self.start[key]
        return float(v[idx] if idx is not None else v)

    def theta0(self) -> torch.Tensor:
        out = []
        for key, idx, kind, _scale in self.slots:
            if kind == "logit":
                p = min(max(self._base(key, idx) / EDGE_MAX, 1e-3), 1 - 1e-3)
                out.append(math.log(p / (1 - p)))
            else:
                out.append(0.0)
        return torch.tensor(out, dtype=torch.float64)

    def params(self, theta: torch.Tensor) -> dict[str, Any]:
        p: dict[str, Any] = {
            k: (torch.tensor(v, dtype=torch.float64) if isinstance(v, list) else v)
            for k, v in self.start.items()
        }
        lists: dict[str, list[Any]] = {}
        for i, (key, idx, kind, scale) in enumerate(self.slots):
            t = theta[i]
            base = self._base(key, idx)
            if kind == _LOG:
                val = base * torch.exp(t * scale)
            elif kind == "logit":
                val = EDGE_MAX * torch.sigmoid(t)
            else:
                val = base + t * scale
            if idx is None:
                p[key] = val
            else:
                lists.setdefault(key, list(torch.as_tensor(self.start[key], dtype=torch.float64)))
                lists[key][idx] = val
        for key, items in lists.items():
            p[key] = torch.stack([torch.as_tensor(v, dtype=torch.float64) for v in items])
        return p

    def values(self, theta: torch.Tensor) -> dict[str, Any]:
        with torch.no_grad():
            p = self.params(theta)
        out: dict[str, Any] = {}
        for k, v in p.items():
            if isinstance(v, torch.Tensor):
                out[k] = [float(x) for x in v.reshape(-1)] if v.ndim else float(v)
            else:
                out[k] = float(v) if not isinstance(v, list) else [float(x) for x in v]
        return out


#: The disc's edge stays below this (edge 1 is the Gaussian, reached by the nested model).
EDGE_MAX = 0.999
#: Hessian eigenvalues below this fraction of the largest count as flat (the bootstrap).
FLAT_CURVATURE = 1e-6


# ---------------------------------------------------------------------------- surrogate loss


def _smooth(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Differentiable twin of observation.gaussian_smooth (whose CPU path is OpenCV): the
    same ceil(3 sigma) window and reflect-101 border, as two 1-D convolutions."""
    if sigma <= 0:
        return x
    from psfbench.core.psfmodels.kernels import _gauss_taps

    r = max(1, int(math.ceil(3 * sigma)))
    taps = _gauss_taps(torch.tensor(float(sigma), dtype=x.dtype, device=x.device), r)
    h, w = x.shape[-2:]
    rows = F_nn.pad(x.reshape(-1, 1, h, w), (r, r, r, r), mode="reflect")
    rows = F_nn.conv2d(rows, taps.view(1, 1, -1, 1))
    return F_nn.conv2d(rows, taps.view(1, 1, 1, -1)).reshape(x.shape)


def _lap_kernel(name: str) -> torch.Tensor:
    if name == "cross3":
        return torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    import cv2

    delta = np.zeros((11, 11), np.float32)
    delta[5, 5] = 1.0
    k = cv2.Laplacian(delta, cv2.CV_32F, ksize=5, borderType=cv2.BORDER_CONSTANT)
    return torch.as_tensor(k[3:8, 3:8].copy())


def _luma(x: torch.Tensor, color: str) -> torch.Tensor:
    if x.shape[-3] == 3 and color == "luma":
        w = torch.tensor([0.299, 0.587, 0.114], dtype=x.dtype, device=x.device)
        return (x * w.view(3, 1, 1)).sum(dim=-3, keepdim=True)
    return x


class Surrogate:
    """Smooth per-frame loss of eq. 19 against fixed real frames (M, C, H, W) with loss masks
    (M, H, W). ``__call__(sim)`` -> (M,) float64, differentiable in ``sim``."""

    def __init__(self, real: torch.Tensor, keep: torch.Tensor, cfg: LossConfig) -> None:
        self.cfg = cfg
        self.lap_k = _lap_kernel(cfg.laplacian_kernel).to(real)
        self.r = self.lap_k.shape[-1] // 2
        self.real = _luma(real, cfg.color)
        self.keep = keep[:, None].to(real.dtype)
        # Laplacian values only where the whole window is valid
        k_lap = F_nn.max_pool2d(1.0 - self.keep, 2 * self.r + 1, stride=1, padding=self.r)
        self.keep_lap = self.keep * (1.0 - k_lap)
        self.lap_real = self._lap(self.real)
        a = self.lap_real.abs() * self.keep_lap
        self.hmax = a.flatten(1).amax(dim=1).clamp(min=1e-6)  # (M,) the real image's range
        self.hist_real = self._hist(self.lap_real.abs())

    def _lap(self, x: torch.Tensor) -> torch.Tensor:
        m, c, h, w = x.shape
        y = F_nn.pad(x.reshape(m * c, 1, h, w), (self.r,) * 4, mode="reflect")
        return F_nn.conv2d(y, self.lap_k.view(1, 1, *self.lap_k.shape)).reshape(m, c, h, w)

    def _hist(self, a: torch.Tensor) -> torch.Tensor:
        bins = int(self.cfg.hist_bins)
        m, c = a.shape[:2]
        pos = (a / self.hmax.view(-1, 1, 1, 1)).clamp(0.0, 1.0) * (bins - 1)
        lo = pos.detach().floor().clamp(max=bins - 2)
        frac = pos - lo
        wk = self.keep_lap.expand_as(a)
        lo_i = lo.long().reshape(m, c, -1)
        hist = torch.zeros(m, c, bins, dtype=a.dtype, device=a.device)
        hist = hist.scatter_add(2, lo_i, ((1.0 - frac) * wk).reshape(m, c, -1))
        hist = hist.scatter_add(2, lo_i + 1, (frac * wk).reshape(m, c, -1))
        return hist / hist.sum(dim=2, keepdim=True).clamp(min=1e-12)

    def _ssim(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        t = torch.arange(-5, 6, dtype=x.dtype, device=x.device)
        g = torch.exp(-(t * t) / (2 * 1.5**2))
        g = g / g.sum()
        m, c, h, w = x.shape

        def win(z: torch.Tensor) -> torch.Tensor:
            z = F_nn.pad(z.reshape(-1, 1, h, w), (5, 5, 5, 5), mode="reflect")
            z = F_nn.conv2d(z, g.view(1, 1, 1, -1))
            return F_nn.conv2d(z, g.view(1, 1, -1, 1)).reshape(m, c, h, w)

        c1, c2 = 0.01**2, 0.03**2
        mx, my = win(x), win(y)
        vx, vy, cxy = win(x * x) - mx * mx, win(y * y) - my * my, win(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        return 1.0 - (s * self.keep).sum(dim=(1, 2, 3)) / (self.keep.sum(dim=(1, 2, 3)) * c)

    def terms(self, sim: torch.Tensor) -> dict[str, torch.Tensor]:
        s = _luma(sim, self.cfg.color)
        c = s.shape[1]
        n = self.keep.sum(dim=(1, 2, 3)).clamp(min=1) * c
        n_lap = self.keep_lap.sum(dim=(1, 2, 3)).clamp(min=1) * c
        l2 = (((s - self.real) ** 2) * self.keep).sum(dim=(1, 2, 3)) / n
        lap_s = self._lap(s)
        lap = (((lap_s - self.lap_real) ** 2) * self.keep_lap).sum(dim=(1, 2, 3)) / n_lap
        hist = ((self._hist(lap_s.abs()) - self.hist_real) ** 2).sum(dim=2).mean(dim=1)
        ssim = self._ssim(s, self.real)
        return {"l2": l2, "laplacian": lap, "histogram": hist, "ssim": ssim}

    def __call__(self, sim: torch.Tensor) -> torch.Tensor:
        t = self.terms(sim)
        w = self.cfg.weights
        t = {k: v.to(torch.float64) for k, v in t.items()}
        total = w[0] * t["l2"] + w[1] * t["laplacian"] + w[2] * t["histogram"] + w[3] * t["ssim"]
        return total * self.cfg.total_scale


# ---------------------------------------------------------------------------- forward


def check_problem(problem: FitProblem) -> None:
    """Raise ValueError when the problem cannot be fitted with the models (no sensor
    readings: e and the focus-dependent components are not identifiable)."""
    if problem.focus_depths_mm is not None:
        raise ValueError(
            "PSF models beyond the Gaussian need the sweep's sensor readings d; this session "
            "gives focus depths directly (e is not identifiable)"
        )


def simulate(
    problem: FitProblem,
    params: dict[str, Any],
    *,
    mode: str = "gather",
    stack: tuple[list[float], torch.Tensor] | None = None,
) -> torch.Tensor:
    """(M, C, H, W) simulated observations of ``problem`` (clipped, pre-filtered, noise added)
    for model parameters (floats or tensors; A in full-resolution px). ``mode``: the
    renderer (``gather`` by default, as the grid's landscape; ``scatter``: eq. 8)."""
    p = dict(params)
    p["A"] = p["A"] / problem.pixel_scale
    depth = problem.render_depth_mm
    sim = render_t(p, problem.aif, depth, problem.d_mm, problem.F_mm, mode=mode, stack=stack).clamp(
        0.0, 1.0
    )
    sim = _smooth(sim, problem.presmooth_sigma)
    return problem.add_noise(sim.to(problem.frames.dtype))


def surrogate_for(problem: FitProblem, cfg: LossConfig) -> Surrogate:
    return Surrogate(problem.observed(), problem.loss_masks(), cfg)


# ---------------------------------------------------------------------------- fit


def sigma_top(problem: FitProblem, start: dict[str, Any], margin: float = 1.6) -> float:
    """Largest sigma (px of the problem) a fit from ``start`` can reach: the start's largest
    over all frames and channels times ``margin`` (a fixed gather stack's top level)."""
    from psfbench.core.psfmodels import sigma_maps

    p = dict(start)
    p["A"] = float(p["A"]) / problem.pixel_scale
    with torch.no_grad():
        s = sigma_maps(p, problem.render_depth_mm, problem.d_mm, problem.F_mm, 3)
    return float(s.max()) * margin + 1.0


def start_params(name: str, A: float, e_mm: float, problem: FitProblem) -> dict[str, Any]:
    """Nesting point of ``name`` at (A, e): the Gaussian's values; breathing's v_ref is the
    sweep's mean lens-sensor distance (override for a known all-in-focus position)."""
    p = default_params(name, A, e_mm)
    if "v_ref_mm" in p:
        p["v_ref_mm"] = float(np.mean(problem.d_mm) + e_mm)
    if "edge" in p:
        p["edge"] = 0.5
    return p


def fit_model(
    problem: FitProblem,
    name: str,
    start: dict[str, Any],
    *,
    loss_config: LossConfig | None = None,
    iterations: int = 60,
    lr: float = 0.05,
    mode: str = "scatter",
    uncertainty: bool = True,
    bootstrap: int = 200,
    seed: int = 0,
    newton_steps: int = 3,
    on_step: Callable[[int, float], None] | None = None,
) -> GradFit:
    """Fit model ``name`` to ``problem`` (observation model and loss masks already applied)
    from parameters ``start`` (:func:`start_params`). Returns :class:`GradFit`; the model's
    ``std`` holds the bootstrap's one-sigma uncertainties. Raises ValueError (bad problem)."""
    check_problem(problem)
    cfg = loss_config or LossConfig.paper()
    t0 = time.perf_counter()
    space = _Space(name, start)
    sur = surrogate_for(problem, cfg)

    stack = None
    if mode == "gather" and "edge" not in start:  # the shape is fixed: one stack for the fit
        from psfbench.core.psfmodels.layered import blur_stack, sigma_levels

        smax = float(sigma_top(problem, start))
        levels = sigma_levels(smax)
        stack = (levels, blur_stack(problem.aif, levels))

    def loss_vec(theta: torch.Tensor) -> torch.Tensor:
        return sur(simulate(problem, space.params(theta), mode=mode, stack=stack))

    theta = space.theta0().clone().requires_grad_(True)
    if "edge" in start:  # a coarse look along the shape before descending
        best_t, best_l = None, math.inf
        for edge in (0.15, 0.5, 0.85, EDGE_MAX - 1e-3):
            space.start = {**start, "edge": edge}
            th = space.theta0()
            with torch.no_grad():
                val = float(loss_vec(th).mean())
            if val < best_l:
                best_t, best_l = th, val
        space.start = start
        assert best_t is not None
        theta = best_t.clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    history: list[float] = []
    best = (math.inf, theta.detach().clone())
    for it in range(iterations):
        for g in opt.param_groups:
            g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * it / max(iterations, 1)))
        opt.zero_grad()
        loss = loss_vec(theta).mean()
        loss.backward()
        assert theta.grad is not None
        torch.nn.utils.clip_grad_norm_([theta], max_norm=10.0 * max(1.0, float(loss.detach())))
        val = float(loss.detach())
        history.append(val)
        if val < best[0]:
            best = (val, theta.detach().clone())
        if on_step is not None:
            on_step(it, val)
        opt.step()
    theta_best, polished, hess = _newton_polish(loss_vec, best[1], best[0], newton_steps)
    with torch.no_grad():
        per_frame = loss_vec(theta_best)
    best = (min(polished, float(per_frame.mean())), theta_best)
    values = space.values(theta_best)
    std: dict[str, Any] = {}
    if uncertainty and problem.n_images >= 3:

        def frame_grads(theta: torch.Tensor) -> np.ndarray:
            return _frame_gradients(problem, space, theta, cfg, mode, stack)

        std = _bootstrap_std(loss_vec, frame_grads, space, theta_best, bootstrap, seed, hess)
    model = PsfModel.create(name, values, std)
    return GradFit(
        model,
        best[0],
        iterations,
        time.perf_counter() - t0,
        history,
        [float(v) for v in per_frame],
    )


def _hessian(
    loss_vec: Callable[[torch.Tensor], torch.Tensor], theta: torch.Tensor, h: float = 1e-3
) -> np.ndarray:
    """(n, n) symmetric finite-difference Hessian of the mean loss (central differences of
    autograd gradients, step ``h`` in theta units)."""
    n = int(theta.numel())
    H = np.zeros((n, n))
    for i in range(n):
        cols = []
        for sgn in (1.0, -1.0):
            t = theta.detach().clone()
            t[i] += sgn * h
            t.requires_grad_(True)
            (g,) = torch.autograd.grad(loss_vec(t).mean(), t)
            cols.append(g.numpy())
        H[:, i] = (cols[0] - cols[1]) / (2 * h)
    return 0.5 * (H + H.T)


def _newton_polish(
    loss_vec: Callable[[torch.Tensor], torch.Tensor],
    theta: torch.Tensor,
    loss: float,
    steps: int,
) -> tuple[torch.Tensor, float, np.ndarray | None]:
    """Damped Newton steps from Adam's best iterate: Adam's fixed step leaves the optimum a
    few tenths of a step away, which on sharp sweeps was enough to reorder the models'
    held-out losses (a plain bench's Gaussian stopped 2 um off in e: held-out loss +5 %). A
    step is kept only when it lowers the mean loss (halved up to 4 times); negative curvatures
    count by their magnitude (saddle-free Newton: a candidate left at its start by Adam, e.g.
    a tilt whose first steps all made it worse, still moves); stops when no curvature is
    positive or a step changes nothing. Returns (theta, loss, the Hessian at theta when the
    last one computed was there, else None: the bootstrap reuses it, saving 2n gradients)."""
    th = theta.detach().clone()
    H_here: np.ndarray | None = None
    for _ in range(steps):
        t = th.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(loss_vec(t).mean(), t)
        H = _hessian(loss_vec, th)
        H_here = H
        try:
            # saddle-free Newton: curvatures by magnitude (a noisy surrogate's Hessian is
            # often indefinite at Adam's best iterate; the line search below keeps it safe)
            w, V = np.linalg.eigh(H)
        except np.linalg.LinAlgError:
            break
        if not np.isfinite(w).all() or w.max() <= 0.0:
            break
        w = np.maximum(np.abs(w), 1e-3 * float(w.max()))
        step = -V @ ((V.T @ g.numpy()) / w)
        improved = False
        for _half in range(5):
            cand = th + torch.as_tensor(step, dtype=th.dtype)
            with torch.no_grad():
                val = float(loss_vec(cand).mean())
            if val < loss:
                th, loss, improved = cand, val, True
                if float(np.abs(step).max()) >= 1e-5:  # theta moved away from where H was
                    H_here = None
                break
            step = step / 2.0
        if not improved or float(np.abs(step).max()) < 1e-5:
            break
    return th, loss, H_here


def _frame_gradients(
    problem: FitProblem,
    space: _Space,
    theta: torch.Tensor,
    cfg: LossConfig,
    mode: str,
    stack: tuple[list[float], torch.Tensor] | None,
) -> np.ndarray:
    """(M, n) gradient of each frame's loss at ``theta``, one frame at a time.

    Frames are rendered and scored independently (the surrogate's terms, the noise and the
    sigma maps are all per frame), so frame j's gradient is that of the one-frame problem.
    Rendering each frame alone costs about one batched forward and backward in all, where a
    backward pass per frame through the batched graph cost M of them (20 frames of a 96 x 128
    disc fit at sigma 27 px: 11 s). Equal to the batched per-frame gradients up to float
    rounding (tests/fit/test_gradient.py)."""
    rows = []
    for j in range(problem.n_images):
        sub = problem.subset([j])
        sur = surrogate_for(sub, cfg)
        t = theta.detach().clone().requires_grad_(True)
        loss = sur(simulate(sub, space.params(t), mode=mode, stack=stack)).sum()
        (g,) = torch.autograd.grad(loss, t)
        rows.append(g.detach().numpy())
    return np.stack(rows)


def _bootstrap_std(
    loss_vec: Callable[[torch.Tensor], torch.Tensor],
    frame_grads: Callable[[torch.Tensor], np.ndarray],
    space: _Space,
    theta: torch.Tensor,
    n_boot: int,
    seed: int,
    hessian: np.ndarray | None = None,
) -> dict[str, Any]:
    """Linearised bootstrap over frames (module docstring), std per parameter (model units).
    ``frame_grads(theta)``: (M, n) per-frame loss gradients (:func:`_frame_gradients`);
    ``hessian``: the loss Hessian at ``theta`` when already known (else computed).

    Directions in which the loss is flat or curves down at ``theta`` (Hessian eigenvalues
    below ``FLAT_CURVATURE`` of the largest; e.g. a disc whose edge sits at the Gaussian end,
    where the edge does not change the PSF) determine nothing: they are left out of the
    inverse, and a parameter lying mostly along them gets NaN (not determined) instead of a
    number that swung from 4e-4 to 0.4 between runs on float rounding alone."""
    G = frame_grads(theta)  # (M, n)
    m = G.shape[0]
    H = _hessian(loss_vec, theta) if hessian is None else hessian
    try:
        w, V = np.linalg.eigh(H)
    except np.linalg.LinAlgError:
        return {}
    if not np.isfinite(w).all() or w.max() <= 0.0:
        return {}
    ok = w > FLAT_CURVATURE * w.max()
    Hinv = (V[:, ok] / w[ok]) @ V[:, ok].T
    flat_slots = np.flatnonzero((V[:, ~ok] ** 2).sum(axis=1) > 0.5)
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(m, np.full(m, 1.0 / m), size=n_boot) / m  # (B, M)
    deltas = -(counts @ G) @ Hinv.T  # (B, n)
    samples = []
    for d in deltas:
        v = space.values(theta.detach() + torch.as_tensor(d))
        samples.append(v)
    std: dict[str, Any] = {}
    for key in samples[0]:
        arr = np.asarray([s[key] for s in samples], dtype=np.float64)
        sd = arr.std(axis=0)
        std[key] = [float(x) for x in sd] if arr.ndim > 1 else float(sd)
    for i in flat_slots:
        key, idx, _kind, _scale = space.slots[int(i)]
        if idx is None:
            std[key] = math.nan
        else:
            std[key][idx] = math.nan
    std.pop("v_ref_mm", None)
    return std
