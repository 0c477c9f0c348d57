"""Fit speed and accuracy: the whole fit with the Newton zoom vs the previous pattern-search
zoom, and the paper's full-resolution grid, all in one run on one simulated session.

The session: the "objects" scene (sigma varies across the image and across depth edges), 20
frames at 613x514, true A = 800, e = 23.6, 1 % sensor noise, rendered by the layered renderer.

* ``fit_seconds``: the complete fit (coarse landscape on the paper's grid, scatter-model zoom,
  bootstrap), default settings (Newton zoom); repeated ``--repeats`` times, min and median.
* ``fit_seconds_pattern``: the same fit with ``zoom="pattern"``, the zoom before issue 11
  (pattern search of 3x3 grids, then a 5x5), measured in the same run.
* ``grid_seconds``: the paper's grid (16 x 10 x 20 images) with the gather model at full
  resolution (the landscape the paper computes, without our pyramid): each (A, frame)
  rendered, noised and scored in one task. ``grid_seconds_blockwise``: the same grid rendered
  a block of candidates at a time and then scored (the grid's structure before that; same
  kernels), in the same run; medians of ``--grid-repeats`` interleaved runs of each.
* ``paper_seconds_scaled``: Algorithm 1 as written, one exact scatter render plus loss per grid
  point and image, timed on a few triples and scaled to the 3200 evaluations.
* ``inspect_seconds``: one (A, e) examined (20 simulated frames, residuals, every term) at
  512 x 512, as the fitting panel's explorer does on a click.

CPU times are printed next to wall times: this machine is shared, and the CPU time does not
count waiting for a core.

Run: .venv/bin/python benchmarks/fit.py [--device cuda] [--repeats 3] [--grid-repeats 2]
[--paper-samples 2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from psfbench.core import optics
from psfbench.core.fit import evaluate_grid, fit
from psfbench.core.fit.engine import PAPER_A, PAPER_E
from psfbench.core.fit.grid import TERMS
from psfbench.core.fit.inspect import inspect_point
from psfbench.core.fit.session_io import problem_from_session
from psfbench.core.losses import LossConfig, loss_terms
from psfbench.core.render import render
from psfbench.core.simulation import SimulationSpec, simulate_session


def _sync(dev: str) -> None:
    if dev.startswith("cuda"):
        torch.cuda.synchronize()


def _timed(fn, dev: str):  # type: ignore[no-untyped-def]
    _sync(dev)
    c0, t0 = time.process_time(), time.perf_counter()
    out = fn()
    _sync(dev)
    return out, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--paper-samples", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--grid-repeats", type=int, default=2)
    ap.add_argument("--scene", default="objects")
    args = ap.parse_args()
    if args.grid_repeats < 1 or args.repeats < 1:
        ap.error("--repeats and --grid-repeats must be at least 1")
    dev = args.device
    spec = SimulationSpec(
        A=800.0, e_mm=23.6, scene=args.scene, frames=20, height=514, width=613, seed=3
    )
    with tempfile.TemporaryDirectory() as tmp:
        _, t_sim, _ = _timed(lambda: simulate_session(Path(tmp) / "s", spec, device=dev), dev)
        problem, _ = problem_from_session(Path(tmp) / "s", device=dev)
    print(
        f"device {dev}, {torch.get_num_threads()} threads; simulated 20 frames at 613x514 in "
        f"{t_sim:.1f} s (true A={spec.A}, e={spec.e_mm})"
    )

    runs: dict[str, list[tuple[float, float, float, float]]] = {"newton": [], "pattern": []}
    for rep in range(args.repeats):
        for zoom in ("newton", "pattern"):  # interleaved: both see the same machine load
            res, wall, cpu = _timed(lambda z=zoom: fit(problem, PAPER_A, PAPER_E, zoom=z), dev)
            runs[zoom].append((wall, cpu, res.A, res.e))
            print(
                f"  [{rep + 1}/{args.repeats}] fit, {zoom} zoom: {wall:.2f} s wall, {cpu:.2f} s "
                f"CPU -> A={res.A:.2f}±{res.A_std:.2f} ({100 * (res.A / spec.A - 1):+.2f} %), "
                f"e={res.e:.4f} ({res.e - spec.e_mm:+.4f} mm); zoom evaluations "
                f"{res.settings['zoom_evaluations']}"
            )

    observed = problem.with_observation(2.0, "auto").with_loss_masks(float(PAPER_A.max()), 23.6)
    # The paper's grid, one task per (A, frame), and the same grid on the blockwise path
    # (render a block of candidates, then score it: the grid's structure before the per-frame
    # pipeline, same kernels), interleaved so that both see the same machine states.
    grid_runs: dict[bool, list[tuple[float, float]]] = {True: [], False: []}
    landscapes = {}
    for rep in range(args.grid_repeats):
        for per_frame in (True, False) if rep % 2 == 0 else (False, True):
            ls_, wall, cpu = _timed(
                lambda pf=per_frame: evaluate_grid(
                    observed, PAPER_A, PAPER_E, model="gather", per_frame=pf
                ),
                dev,
            )
            landscapes[per_frame] = ls_
            grid_runs[per_frame].append((wall, cpu))
    ls = landscapes[True]
    same = all(np.array_equal(ls.per_image[t], landscapes[False].per_image[t]) for t in TERMS)
    grid_s = statistics.median(w for w, _ in grid_runs[True])
    grid_cpu = statistics.median(c for _, c in grid_runs[True])
    grid_block_s = statistics.median(w for w, _ in grid_runs[False])
    grid_block_cpu = statistics.median(c for _, c in grid_runs[False])
    gA, ge, _ = ls.best()
    for pf, label in ((True, "one task per (A, frame)"), (False, "block by block")):
        walls = ", ".join(f"{w:.2f}" for w, _ in grid_runs[pf])
        cpus = ", ".join(f"{c:.1f}" for _, c in grid_runs[pf])
        print(
            f"paper grid ({len(PAPER_A)}x{len(PAPER_E)} x 20 images, gather model, full "
            f"resolution), {label}: {walls} s wall ({cpus} s CPU)"
        )
    print(
        f"  grid optimum A={gA:.0f}, e={ge:.1f}; landscapes identical: {same}; per-frame / "
        f"blockwise median wall {grid_s / grid_block_s:.2f}"
    )

    # the explorer's click: one (A, e), 20 frames, at 512 x 512
    crop = problem.subset(list(range(problem.n_images)))
    crop = (
        type(crop)
        .from_arrays(
            crop.aif[:, :512, :512].cpu().numpy(),
            crop.depth_mm[:512, :512].cpu().numpy(),
            crop.frames[:, :, :512, :512].cpu().numpy(),
            crop.d_mm,
            crop.F_mm,
            device=dev,
        )
        .with_observation(2.0, "auto")
        .with_loss_masks(1000.0, 23.6)
    )
    from psfbench.core.fit.grid import frame_losses

    losses = frame_losses(crop)
    inspect_point(crop, 800.0, 23.6, losses=losses)  # warm-up (level ladder, kernels)
    inspect_times = [
        _timed(lambda: inspect_point(crop, 800.0, 23.6, losses=losses), dev)[1] for _ in range(3)
    ]
    print(f"inspect one (A, e), 20 frames at 512x512: {min(inspect_times):.3f} s (min of 3)")

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
        _sync(dev)
        times.append(time.perf_counter() - t0)
    n_eval = len(PAPER_A) * len(PAPER_E) * problem.n_images
    paper_s = float(np.mean(times)) * n_eval
    print(f"paper's way, full grid (scaled from {len(times)} samples): {paper_s / 3600:.2f} h")

    def summary(zoom: str) -> dict[str, float]:
        wall = [r[0] for r in runs[zoom]]
        cpu = [r[1] for r in runs[zoom]]
        a_err = [100 * abs(r[2] - spec.A) / spec.A for r in runs[zoom]]
        e_err = [abs(r[3] - spec.e_mm) for r in runs[zoom]]
        return {
            "min": round(min(wall), 3),
            "median": round(statistics.median(wall), 3),
            "max": round(max(wall), 3),
            "cpu_median": round(statistics.median(cpu), 3),
            "A_error_pct": round(max(a_err), 3),
            "e_error_mm": round(max(e_err), 4),
        }

    new, old = summary("newton"), summary("pattern")
    print(
        f"whole fit: Newton zoom {new['median']:.2f} s (min {new['min']:.2f}, max "
        f"{new['max']:.2f}) vs pattern zoom {old['median']:.2f} s: "
        f"{old['median'] / new['median']:.1f}x faster (median of {args.repeats})"
    )
    print(
        json.dumps(
            {
                "device": dev,
                "repeats": args.repeats,
                "fit_seconds": new["median"],
                "fit_seconds_min": new["min"],
                "fit_seconds_max": new["max"],
                "fit_cpu_seconds": new["cpu_median"],
                "A_error_pct": new["A_error_pct"],
                "e_error_mm": new["e_error_mm"],
                "fit_seconds_pattern": old["median"],
                "fit_seconds_pattern_min": old["min"],
                "fit_seconds_pattern_max": old["max"],
                "A_error_pct_pattern": old["A_error_pct"],
                "e_error_mm_pattern": old["e_error_mm"],
                "zoom_speedup": round(old["median"] / new["median"], 2),
                "grid_seconds": round(grid_s, 3),
                "grid_seconds_min": round(min(w for w, _ in grid_runs[True]), 3),
                "grid_seconds_max": round(max(w for w, _ in grid_runs[True]), 3),
                "grid_cpu_seconds": round(grid_cpu, 3),
                "grid_seconds_blockwise": round(grid_block_s, 3),
                "grid_cpu_seconds_blockwise": round(grid_block_cpu, 3),
                "inspect_seconds": round(min(inspect_times), 3),
                "paper_seconds_scaled": round(paper_s, 1),
                "speedup_vs_paper": round(paper_s / grid_s, 1),
            }
        )
    )


if __name__ == "__main__":
    main()
