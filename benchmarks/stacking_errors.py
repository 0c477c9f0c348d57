"""Where psfbench's all-in-focus error lies on independent stacks, by region and by cause.

Stacks from ``benchmarks/stackgen.py`` (real photographs, scatter-model thin-lens Gaussian,
noise; random with a printed seed). For each stack the error against the true all-in-focus
image is split by region, from the true depth and texture:

* transition: within sigma_max px of a depth edge (a depth step > 0.4 %);
* flat: low texture (local std of the truth < 0.02), away from depth edges;
* interior: textured, away from depth edges;
* border: the outer 16 px (left out of the benchmark's scores).

and by cause, comparing psfbench as it was before issue 16 (20 % alignment gain threshold,
one frame per pixel), each fix added in turn (the alignment test, noise-aware averaging,
sharing strongly two-depth pixels: the defaults), the ``--scatter-edges`` opt-in, the
oracle that takes every pixel from the frame with the smallest true sigma (from the noisy and
from the noise-free frames), the mean of all frames, enfuse and focus-stack (when found, as in
``benchmarks/stacking.py``). ``--maps DIR`` writes error maps (psfbench - truth, enfuse -
truth, and where psfbench is worse (red) or better (green) than enfuse).

Run: .venv/bin/python benchmarks/stacking_errors.py [--seed S] [--count 10] [--maps DIR]
"""

from __future__ import annotations

import os
import sys

# this script's folder holds modules with generic names (fit, render, batch, ...): keep it
# off the import path; the benchmarks package is imported from the repository root
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.stackgen import GenStack, make_stacks, sigma_px, write_stack  # noqa: E402
from psfbench.core.stacking.align import apply_alignment, estimate_alignment  # noqa: E402
from psfbench.core.stacking.fusion import FusionParams, fuse, stack_params  # noqa: E402
from psfbench.core.stacking.io import read_image, to_float  # noqa: E402

BORDER = 16
REGIONS = ("transition", "flat", "interior", "border")


def regions(st: GenStack) -> dict[str, np.ndarray]:
    truth = st.aif
    h, w = truth.shape[1:]
    depth = st.depth_mm.astype(np.float32)
    grad = cv2.morphologyEx(depth, cv2.MORPH_GRADIENT, np.ones((3, 3), np.uint8))
    edge = (grad > 0.004 * depth).astype(np.uint8)
    if edge.any():
        dist = cv2.distanceTransform(1 - edge, cv2.DIST_L2, 3)
    else:
        dist = np.full((h, w), np.inf, np.float32)
    band = dist < max(3.0, st.sigma_max)
    border = np.zeros((h, w), bool)
    border[:BORDER] = border[-BORDER:] = True
    border[:, :BORDER] = border[:, -BORDER:] = True
    gray = truth.mean(axis=0)
    m = cv2.blur(gray, (7, 7))
    flat = np.sqrt(np.clip(cv2.blur(gray * gray, (7, 7)) - m * m, 0, None)) < 0.02
    return {
        "transition": band & ~border,
        "flat": flat & ~band & ~border,
        "interior": ~flat & ~band & ~border,
        "border": border,
    }


def fused(frames: np.ndarray, params: FusionParams, old_align: bool) -> np.ndarray:
    """psfbench's fusion after its alignment (the former or the current gain test)."""
    kw = {"min_gain": 0.2, "gain_blur": 0.0} if old_align else {}
    al = estimate_alignment(frames, **kw)
    aligned, valid = apply_alignment(frames, al)
    return fuse(aligned, valid=valid, params=params).image.numpy()


def peers(files: list[str], d: Path, ch: int) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    ef = os.environ.get("ENFUSE") or shutil.which("enfuse")
    fs = os.environ.get("FOCUS_STACK") or shutil.which("focus-stack")
    if ef:
        from benchmarks.stacking import ENFUSE_ARGS

        p = subprocess.run(
            [ef, *ENFUSE_ARGS, f"--output={d / 'enfuse.tif'}", *files], capture_output=True
        )
        if p.returncode == 0:
            out["enfuse"] = to_float(read_image(d / "enfuse.tif")[..., :ch])
    if fs:
        p = subprocess.run(
            [fs, "--align-keep-size", f"--output={d / 'fs.png'}", *files], capture_output=True
        )
        if p.returncode == 0:
            out["focus-stack"] = to_float(read_image(d / "fs.png"))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int)
    ap.add_argument("--count", type=int, default=10)
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    ap.add_argument("--kinds", help="comma list of layouts (default all)")
    ap.add_argument("--maps", type=Path, help="write error-map PNGs here")
    args = ap.parse_args()
    seed = int(np.random.SeedSequence().entropy % 2**31) if args.seed is None else args.seed
    print(f"seed {seed}")
    gen: dict = {"size": tuple(args.size), "keep_clean": True}
    if args.kinds:
        gen["kinds"] = tuple(args.kinds.split(","))
    before = FusionParams(denoise=0.0)  # issue 16's psfbench: one frame per pixel
    variants = {  # each fix added to the one above
        "psfbench before": (before, True),
        "+ alignment test": (before, False),
        "+ noise averaging": (FusionParams(), False),
        "psfbench now": (stack_params(), False),  # + strong depth edges shared
        "--scatter-edges": (stack_params(scatter_edges=True), False),
    }
    sse: dict[str, dict[str, list[float]]] = {}
    bias: dict[str, dict[str, float]] = {}
    per_stack: dict[str, list[float]] = {}
    npx = {r: 0 for r in REGIONS}
    warped = 0
    with tempfile.TemporaryDirectory() as t:
        for st in make_stacks(seed, args.count, **gen):
            d = Path(t) / st.name
            files = write_stack(st, d)
            top = np.float32(np.iinfo(st.frames.dtype).max)
            frames = st.frames.transpose(0, 3, 1, 2).astype(np.float32) / top
            assert st.clean is not None
            clean = st.clean.transpose(0, 3, 1, 2)
            sig = np.stack([sigma_px(st.depth_mm.astype(np.float64), f, st.A) for f in st.focus_mm])
            best = sig.argmin(axis=0)[None, None].repeat(frames.shape[1], axis=1)
            outs = {name: fused(frames, p, old) for name, (p, old) in variants.items()}
            al = estimate_alignment(frames, min_gain=0.2, gain_blur=0.0)
            warped += int(al.max_displacement(frames.shape[2:]).max() >= 0.05)
            outs["oracle frame"] = np.take_along_axis(frames, best, 0)[0]
            outs["oracle, noise-free"] = np.take_along_axis(clean, best, 0)[0]
            outs["mean of frames"] = frames.mean(axis=0)
            outs.update(peers(files, d, frames.shape[1]))
            reg = regions(st)
            inner = ~reg["border"]
            line = f"{st.name:10s}"
            for name, img in outs.items():
                err = img - st.aif
                e2 = (err**2).sum(axis=0)
                for r, m in reg.items():
                    sse.setdefault(name, {}).setdefault(r, []).append(float(e2[m].sum()))
                    b = bias.setdefault(name, {})
                    b[r] = b.get(r, 0.0) + float(err[:, m].sum())
                p = 10 * np.log10(inner.sum() * 3 / max(float(e2[inner].sum()), 1e-12))
                per_stack.setdefault(name, []).append(p)
                if name in ("psfbench before", "psfbench now", "enfuse"):
                    line += f"  {name} {p:6.2f}"
            for r, m in reg.items():
                npx[r] += int(m.sum()) * 3
            print(line, flush=True)
            if args.maps and "enfuse" in outs:
                args.maps.mkdir(parents=True, exist_ok=True)
                _maps(args.maps / f"{st.name}.png", st.aif, outs["psfbench now"], outs["enfuse"])
            shutil.rmtree(d, ignore_errors=True)
    inner_px = sum(npx[r] for r in REGIONS[:3])
    share = {r: npx[r] / inner_px for r in REGIONS[:3]}
    print(f"\n{warped} of {args.count} stacks warped by the former alignment test (nothing moved)")
    print("pixel shares: " + ", ".join(f"{r} {100 * v:.1f} %" for r, v in share.items()))
    print(f"{'':20s} {'mean PSNR':>9s} " + " ".join(f"{r:>22s}" for r in REGIONS))
    print(f"{'':20s} {'(inner)':>9s} " + " ".join(f"{'dB / SSE % / bias':>22s}" for r in REGIONS))
    result: dict[str, object] = {"seed": seed, "stacks": args.count, "warped_before": warped}
    for name, regs in sse.items():
        tot = sum(sum(regs[r]) for r in REGIONS[:3])
        cells = []
        for r in REGIONS:
            s = sum(regs[r])
            db = 10 * np.log10(npx[r] / max(s, 1e-12))
            pct = 100 * s / tot if r != "border" else float("nan")
            cells.append(f"{db:6.2f} / {pct:4.1f} / {1000 * bias[name][r] / npx[r]:+5.1f}m")
        mean = float(np.mean(per_stack[name]))
        print(f"{name:20s} {mean:9.2f} " + " ".join(f"{c:>22s}" for c in cells))
        result[name] = {
            "psnr_db": round(mean, 2),
            **{r: round(10 * np.log10(npx[r] / max(sum(regs[r]), 1e-12)), 2) for r in REGIONS},
        }
    print("(SSE %: share of the inner image's squared error; bias: mean signed error, 1e-3)")
    print(json.dumps(result))


def _maps(path: Path, truth: np.ndarray, ours: np.ndarray, enfuse: np.ndarray) -> None:
    def signed(e: np.ndarray) -> np.ndarray:  # +-0.128 of full scale -> 0..255
        g = np.clip(128 + 1000 * e.mean(axis=0), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)

    diff = np.abs(ours - truth).mean(axis=0) - np.abs(enfuse - truth).mean(axis=0)
    cmp = np.zeros((*truth.shape[1:], 3), np.uint8)
    cmp[..., 2] = np.clip(diff * 2000, 0, 255)  # red: psfbench worse than enfuse
    cmp[..., 1] = np.clip(-diff * 2000, 0, 255)  # green: psfbench better
    rgb = (np.clip(truth.transpose(1, 2, 0), 0, 1) * 255).astype(np.uint8)[..., ::-1]
    row = np.concatenate([rgb, signed(ours - truth), signed(enfuse - truth), cmp], axis=1)
    cv2.imwrite(str(path), row)


if __name__ == "__main__":
    main()
