"""PSF models beyond the Gaussian (issue 19): held-out loss of every model on every bench variant.

For each virtual-bench variant (plain; disc PSF of the same second moment; chromatic A;
focus breathing; field-varying blur; tilted sensor) a noisy focus sweep is rendered by the
bench's own renderers (core/render's layered Gaussian, core/bench/psf.py's OpenCV disc, the
bench's breathing warp), independent of the models' renderer. Every candidate model is fitted by
gradient descent (core/fit/gradient.py) on alternate focus depths from a start 6 % off in A and
10 um in e (the grid's typical optimum), and scored with eq. 19 on the other depths
(core/fit/selection.py). Printed per variant: every model's held-out loss, its difference to the
best, the fitted parameters against the hidden truth, the time of each fit and its ratio to the
Gaussian fit's time measured in the same run; the preferred model. ``--repeats N`` repeats each
variant with new noise and gives the spread of the times and of the A errors.
The last line is one JSON object with everything.

Run: .venv/bin/python benchmarks/psf_models.py [--quick] [--width 120 --height 100 --frames 10]
     [--iterations 30] [--variants plain,disc,...] [--repeats 1]
"""

from __future__ import annotations

import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402


def _candidates(variant: str) -> list[str]:
    if variant == "chromatic":
        return ["gaussian", "disc", "chromatic"]
    return ["gaussian", "disc", "field", "tilt", "breathing"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="plain,disc,chromatic,breathing,field,tilt")
    ap.add_argument("--width", type=int, default=120)
    ap.add_argument("--height", type=int, default=100)
    ap.add_argument("--frames", type=int, default=10)
    ap.add_argument("--A", type=float, default=300.0, help="hidden A (px of this image size)")
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="80x64, 8 frames, 20 iterations")
    args = ap.parse_args()
    if args.quick:
        args.width, args.height, args.frames, args.iterations, args.A = 80, 64, 8, 20, 200.0

    import torch

    from psfbench.core.fit.problem import FitProblem
    from psfbench.core.fit.selection import select_models
    from psfbench.core.losses import LossConfig
    from psfbench.core.psfmodels.virtual import MATCHING_MODEL, virtual_sweep

    torch.manual_seed(0)
    results: dict[str, dict] = {}
    for variant in args.variants.split(","):
        runs = []
        for rep in range(args.repeats):
            vs = virtual_sweep(
                variant, frames=args.frames, width=args.width, height=args.height, A=args.A,
                seed=rep,
            )  # fmt: skip
            rgb = variant == "chromatic"
            cfg = LossConfig.paper().with_(color="channels") if rgb else LossConfig.paper()
            p = FitProblem.from_arrays(
                vs.aif, vs.depth_mm, vs.frames, vs.d_mm, vs.F_mm, gray=not rgb
            )
            p = p.with_observation(1.0, "auto").with_loss_masks(1.3 * args.A, vs.truth["e_mm"])
            t0 = time.perf_counter()
            sel = select_models(
                p, 1.06 * args.A, vs.truth["e_mm"] + 0.01, _candidates(variant),
                loss_config=cfg, iterations=args.iterations, v_ref_mm=vs.v_ref_mm,
            )  # fmt: skip
            wall = time.perf_counter() - t0
            print(f"\n== {variant} (repeat {rep + 1}/{args.repeats}) truth {vs.truth}")
            print(sel.format_table())
            t_gauss = sel.row("gaussian").time_s
            for r in sel.rows:
                ratio = r.time_s / t_gauss
                print(f"   {r.name:<10} fit+score {r.time_s:6.1f} s  ({ratio:.2f}x gaussian)")
            runs.append({
                "selection": sel.to_json(),
                "truth": vs.truth,
                "wall_s": wall,
                "times_s": {r.name: r.time_s for r in sel.rows},
                "A_error_pct": {
                    r.name: 100.0 * (r.model.A - vs.truth["A"]) / vs.truth["A"] for r in sel.rows
                },
            })  # fmt: skip
        match = MATCHING_MODEL[variant]
        prefs = [r["selection"]["preferred"] for r in runs]
        summary = {
            "matching_model": match,
            "preferred": prefs,
            "matching_wins": sum(pr == match for pr in prefs),
            "repeats": len(runs),
            "A_error_pct_matching": [r["A_error_pct"][match] for r in runs],
            "A_error_pct_gaussian": [r["A_error_pct"]["gaussian"] for r in runs],
            "time_ratio_vs_gaussian": {
                n: float(np.mean([r["times_s"][n] / r["times_s"]["gaussian"] for r in runs]))
                for n in runs[0]["times_s"]
            },
            "time_s_spread": {
                n: [min(r["times_s"][n] for r in runs), max(r["times_s"][n] for r in runs)]
                for n in runs[0]["times_s"]
            },
        }  # fmt: skip
        print(f"-- {variant}: matching model {match} chosen {summary['matching_wins']}/{len(runs)}")
        results[variant] = {"summary": summary, "runs": runs}
    doc = {
        "benchmark": "psf_models",
        "size": [args.width, args.height],
        "frames": args.frames,
        "iterations": args.iterations,
        "A": args.A,
        "results": results,
    }
    print(json.dumps(doc))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
