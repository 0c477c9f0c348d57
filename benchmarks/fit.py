"""Fit speed: the paper's grid with psfbench's engine vs the paper's way, in one run.

The paper's grid: A 400..1150 step 50 (16), e 23.0..24.8 step 0.2 (10), 20 images at
613x514. "The paper's way" is Algorithm 1 as written: one exact scatter render (the reference
renderer, eq. 8) plus one loss evaluation per grid point and image. The reference renderer
here is psfbench's vectorised one (docs/rendering.md), itself 10-24x faster than the per-tap
loop of the paper's code, so the ratio printed is conservative. That takes hours, so it is
timed on a few (A, e, image) triples here and scaled to the 3200 evaluations of the grid; the
scaled figure is labelled as such.

Ours: the gather model (blur stack once, one interpolation per candidate) over the same grid at
full resolution, then the complete fit (coarse-to-fine landscape, scatter-model zoom,
bootstrap) for the refined optimum.

Run: .venv/bin/python benchmarks/fit.py [--device cuda] [--paper-samples 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from core import optics
from core.fit import evaluate_grid, fit
from core.fit.engine import PAPER_A, PAPER_E
from core.fit.session_io import problem_from_session
from core.losses import LossConfig, loss_terms
from core.render import render
from core.simulation import SimulationSpec, simulate_session


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--paper-samples", type=int, default=2)
    # objects: sigma varies across the image, so the exact renderer cannot take its fast
    # uniform-sigma path (a fronto-parallel plane would flatter the paper's way)
    ap.add_argument("--scene", default="objects")
    args = ap.parse_args()
    dev = args.device
    spec = SimulationSpec(
        A=800.0, e_mm=23.6, scene=args.scene, frames=20, height=514, width=613, seed=3
    )
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        simulate_session(Path(tmp) / "s", spec, device=dev)
        t_sim = time.perf_counter() - t0
        problem, _ = problem_from_session(Path(tmp) / "s", device=dev)
    print(
        f"device {dev}; simulated 20 frames at 613x514 in {t_sim:.1f} s "
        f"(true A={spec.A}, e={spec.e_mm})"
    )

    # ours: the whole paper grid at full resolution
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    observed = problem.with_observation(2.0, "auto")  # as the fit does
    ls = evaluate_grid(observed, PAPER_A, PAPER_E, model="gather")
    if dev.startswith("cuda"):
        torch.cuda.synchronize()
    grid_s = time.perf_counter() - t0
    gA, ge, _ = ls.best()
    print(
        f"ours, full grid ({len(PAPER_A)}x{len(PAPER_E)} x 20 images, full resolution): "
        f"{grid_s:.2f} s -> grid optimum A={gA:.0f}, e={ge:.1f}"
    )

    t0 = time.perf_counter()
    result = fit(problem, PAPER_A, PAPER_E)
    fit_s = time.perf_counter() - t0
    print(
        f"ours, complete fit (landscape + scatter zoom + bootstrap): {fit_s:.2f} s -> "
        f"A={result.A:.2f}±{result.A_std:.2f}, e={result.e:.4f}±{result.e_std:.4f}"
    )

    # the paper's way: reference scatter render + loss per (A, e, image), sampled and scaled
    cfg = LossConfig.paper()
    rng = np.random.default_rng(0)
    times = []
    for _ in range(args.paper_samples):
        A = float(rng.choice(PAPER_A))
        e = float(rng.choice(PAPER_E))
        i = int(rng.integers(0, problem.n_images))
        df = float(optics.focus_depth(problem.d_mm[i], e, problem.F_mm))
        t0 = time.perf_counter()
        sim = render(
            problem.aif, problem.depth_mm, df, A, problem.F_mm, method="scatter", device=dev
        )
        loss_terms(problem.frames[i], sim, mask=problem.mask, config=cfg)
        if dev.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        print(
            f"  paper's way, one render+loss (A={A:.0f}, e={e:.1f}, image {i}): {times[-1]:.2f} s"
        )
    n_eval = len(PAPER_A) * len(PAPER_E) * problem.n_images
    paper_s = float(np.mean(times)) * n_eval
    speedup = paper_s / grid_s
    print(
        f"paper's way, full grid (scaled from {len(times)} samples x {n_eval}): "
        f"{paper_s / 3600:.2f} h"
    )
    print(f"speedup (paper's way / ours, full grid): {speedup:.0f}x")
    print(
        json.dumps(
            {
                "device": dev,
                "grid_seconds": round(grid_s, 3),
                "fit_seconds": round(fit_s, 3),
                "paper_seconds_scaled": round(paper_s, 1),
                "paper_samples": len(times),
                "speedup_vs_paper": round(speedup, 1),
                "A": round(result.A, 3),
                "e": round(result.e, 4),
                "A_std": round(result.A_std, 3),
                "e_std": round(result.e_std, 4),
                "A_error_pct": round(100 * abs(result.A - spec.A) / spec.A, 3),
                "e_error_mm": round(abs(result.e - spec.e_mm), 4),
            }
        )
    )


if __name__ == "__main__":
    main()
