"""Speed of ``FrameLosses`` (real side once, frames in parallel) against ``loss_terms`` per call.

The fitter's grid calls the losses once per chunk of grid points with the same real sweep.
This times, on a seeded synthetic 514x613 mono sweep of 20 frames (a textured scene blurred by
Gaussians of 0.8-4 px, 1 % noise), ``--calls`` such calls with sims (2, 20, 1, H, W):

- (a) the current way: ``loss_terms(real, sims, mask)`` per call, one (H, W) mask (the AND of
  the per-frame masks, since it takes only one);
- (b) ``FrameLosses(real, masks)`` with per-frame (20, H, W) masks, built once (its time is
  included), then the same calls;
- (c) as (b) on one thread (``torch.set_num_threads(1)``), separating the gain of computing
  the real side once from that of running frames in parallel.

(a), (b) and (c) are interleaved in each of ``--repeats`` rounds; min and median are printed.
Before timing it checks that ``FrameLosses`` with the shared mask equals ``loss_terms``.
Run: .venv/bin/python benchmarks/loss_frames.py [--calls 8 --repeats 5]
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import cv2
import numpy as np
import torch

from psfbench.core.losses import FrameLosses, LossConfig, loss_terms
from psfbench.core.scenes import make_scene

H, W, M, G = 514, 613, 20, 2


def _sweeps(calls: int) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """real (M, 1, H, W), ``calls`` sims (G, M, 1, H, W), per-frame masks (M, H, W)."""
    aif = make_scene("objects", H, W, seed=7).aif
    grey = (0.299 * aif[0] + 0.587 * aif[1] + 0.114 * aif[2]).astype(np.float32)
    rng = np.random.default_rng(7)

    def blur(s: float) -> np.ndarray:
        img = cv2.GaussianBlur(grey, (0, 0), s)
        return np.clip(img + rng.normal(0, 0.01, img.shape).astype(np.float32), 0, 1)[None]

    sig = np.linspace(0.8, 4.0, M)
    real = torch.from_numpy(np.stack([blur(s) for s in sig]))
    sims = [
        torch.from_numpy(
            np.stack(
                [np.stack([blur(s * (0.85 + 0.02 * (G * c + g))) for s in sig]) for g in range(G)]
            )
        )
        for c in range(calls)
    ]
    # Per frame: a depth hole whose margin grows with the frame's blur, and clipped pixels.
    masks = np.ones((M, H, W), dtype=bool)
    yy, xx = np.mgrid[0:H, 0:W]
    for m, s in enumerate(sig):
        r = 40 + 3 * s
        masks[m] &= (yy - 200) ** 2 + (xx - 300) ** 2 > r * r
        masks[m] &= real[m, 0].numpy() < 0.98
    return real, sims, torch.from_numpy(masks)


def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=8, help="loss calls per fit (grid chunks)")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    cfg = LossConfig.paper()
    real, sims, masks = _sweeps(args.calls)
    shared = masks.all(dim=0)
    pairs = args.calls * G * M
    threads = torch.get_num_threads()

    check = FrameLosses(real, shared, cfg)(sims[0])
    ref = loss_terms(real, sims[0], shared, cfg)
    max_rel = max(
        float(((check[k].double() - ref[k].double()).abs() / ref[k].double().abs()).max())
        for k in ref
    )
    print(f"FrameLosses vs loss_terms, shared mask: max relative difference {max_rel:.1e}")

    def old() -> None:
        for s in sims:
            loss_terms(real, s, shared, cfg)

    def new() -> None:
        fl = FrameLosses(real, masks, cfg)
        for s in sims:
            fl(s)

    def new_one_thread() -> None:
        torch.set_num_threads(1)
        try:
            new()
        finally:
            torch.set_num_threads(threads)

    build: list[float] = []
    times: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    for _ in range(args.repeats):
        times["a"].append(_timed(old))
        times["b"].append(_timed(new))
        times["c"].append(_timed(new_one_thread))
        build.append(_timed(lambda: FrameLosses(real, masks, cfg)))

    labels = {
        "a": "loss_terms per call",
        "b": f"FrameLosses, {threads} threads",
        "c": "FrameLosses, 1 thread",
    }
    print(f"{args.calls} calls x sims ({G}, {M}, 1, {H}, {W}) = {pairs} pairs, paper preset")
    summary: dict[str, object] = {"pairs": pairs, "calls": args.calls, "threads": threads}
    for key, label in labels.items():
        t = times[key]
        mn, md = min(t), statistics.median(t)
        runs = " ".join(f"{v:.2f}" for v in t)
        print(
            f"({key}) {label:26s} min {mn:6.2f} s  median {md:6.2f} s  "
            f"({1e3 * mn / pairs:5.2f} / {1e3 * md / pairs:5.2f} ms/pair)  runs: {runs}"
        )
        summary[key] = {"min_s": round(mn, 3), "median_s": round(md, 3), "runs_s": t}
    print(
        f"FrameLosses construction: min {min(build):.3f} s, median {statistics.median(build):.3f} s"
    )
    ratio_min = min(times["a"]) / min(times["b"])
    ratio_med = statistics.median(times["a"]) / statistics.median(times["b"])
    ratio_c = min(times["a"]) / min(times["c"])
    print(
        f"speed-up (a)/(b): {ratio_min:.2f}x (min), {ratio_med:.2f}x (median); "
        f"(a)/(c) one thread: {ratio_c:.2f}x (min)"
    )
    summary.update(
        build_s={"min": round(min(build), 3), "median": round(statistics.median(build), 3)},
        speedup_min=round(ratio_min, 3),
        speedup_median=round(ratio_med, 3),
        speedup_one_thread_min=round(ratio_c, 3),
        shared_mask_max_rel_diff=max_rel,
    )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
