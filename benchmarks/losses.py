"""Speed of ``psfbench.core.losses.loss_terms`` against the reference implementation, fitter shapes.

The fitter calls the losses with ``real`` (M, 1, H, W) and ``sim`` (n, M, 1, H, W); this times
one such call (default n=8, M=20, 514x613, the paper's image size) with the fast path and with
``psfbench.core.losses.reference.loss_terms_reference`` in the same run, checks that their terms
agree, and prints the speed ratio. Timings on the shared 2-core machine are noisy: each path is
timed ``--repeats`` times, interleaved, and the best run of each is compared.

Run: .venv/bin/python benchmarks/losses.py [--n 8 --m 20 --preset paper --mask both]
The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
import torch

from psfbench.core.losses import LossConfig, loss_terms
from psfbench.core.losses.reference import loss_terms_reference
from psfbench.core.scenes import make_scene


def _inputs(n: int, m: int, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor]:
    aif = make_scene("planes", h, w, seed=3).aif
    grey = (0.299 * aif[0] + 0.587 * aif[1] + 0.114 * aif[2]).astype(np.float32)
    rng = np.random.default_rng(0)

    def blur(s: float) -> np.ndarray:
        img = cv2.GaussianBlur(grey, (0, 0), s)
        return np.clip(img + rng.normal(0, 0.01, img.shape).astype(np.float32), 0, 1)

    sig = np.linspace(0.8, 4.0, m)
    real = np.stack([blur(s)[None] for s in sig])
    sim = np.stack([np.stack([blur(s * (0.8 + 0.05 * g))[None] for s in sig]) for g in range(n)])
    return torch.from_numpy(real), torch.from_numpy(sim)


def _time(fn: object, *args: object) -> tuple[float, dict[str, torch.Tensor]]:
    t0 = time.perf_counter()
    out = fn(*args)  # type: ignore[operator]
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=8, help="grid points per call")
    ap.add_argument("--m", type=int, default=20, help="sweep images")
    ap.add_argument("--height", type=int, default=514)
    ap.add_argument("--width", type=int, default=613)
    ap.add_argument("--preset", choices=("paper", "refcode"), default="paper")
    ap.add_argument("--mask", choices=("none", "some", "both"), default="both")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    cfg = LossConfig.paper() if args.preset == "paper" else LossConfig.refcode()
    h, w = args.height, args.width
    real, sim = _inputs(args.n, args.m, h, w)
    masks: dict[str, torch.Tensor | None] = {}
    if args.mask in ("none", "both"):
        masks["none"] = None
    if args.mask in ("some", "both"):
        mk = torch.ones(h, w, dtype=torch.bool)
        mk[h // 4 : h // 2, w // 3 : w // 2] = False  # an invalid-depth blob
        masks["some"] = mk
    pairs = args.n * args.m
    print(f"loss_terms, {args.preset} preset, real {tuple(real.shape)}, sim {tuple(sim.shape)}")
    result: dict[str, object] = {"preset": args.preset, "shape": list(sim.shape), "cases": {}}
    ratios = []
    for name, mk in masks.items():
        t_ref, t_new = [], []
        worst: dict[str, float] = {}
        for _ in range(args.repeats):
            tr, ref = _time(loss_terms_reference, real, sim, mk, cfg)
            tn, new = _time(loss_terms, real, sim, mk, cfg)
            t_ref.append(tr)
            t_new.append(tn)
        for k in ref:
            rel = ((new[k] - ref[k]).abs() / ref[k].abs().clamp_min(1e-30)).max()
            worst[k] = float(rel)
        ratio = min(t_ref) / min(t_new)
        ratios.append(ratio)
        print(
            f"  mask={name}: reference {min(t_ref):.2f} s ({1e3 * min(t_ref) / pairs:.1f} ms/pair)"
            f", fast {min(t_new):.2f} s ({1e3 * min(t_new) / pairs:.1f} ms/pair)"
            f", speed-up {ratio:.1f}x; max relative difference per term: "
            + ", ".join(f"{k} {v:.1e}" for k, v in worst.items())
        )
        result["cases"][name] = {  # type: ignore[index]
            "reference_s": min(t_ref),
            "fast_s": min(t_new),
            "ms_per_pair_fast": 1e3 * min(t_new) / pairs,
            "speedup": ratio,
            "max_rel_diff": worst,
        }
    result["speedup_min"] = min(ratios)
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
