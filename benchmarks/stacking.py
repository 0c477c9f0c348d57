"""All-in-focus fusion and depth from focus: psfbench vs focus-stack vs enfuse, in one run.

Synthetic stacks with ground truth come from ``benchmarks/stackgen.py``, a generator written
for this benchmark that shares no code with psfbench (issue 16): real photographs from
scikit-image as texture, five random depth layouts, the paper's thin-lens Gaussian in scatter
form, sigma up to 12 px, 8-16 frames, shot and read noise, 8-bit (or 16-bit) PNG; random per
run, with the seed printed (``--seed`` repeats a run). Each tool's fused image is scored
against the true all-in-focus image by PSNR and SSIM with a 16 px border left out (the issue's
protocol), and |Pearson r| of depth from focus against the true depth; the summary gives the
mean and the spread (standard deviation, min..max) over the stacks.
Real stacks (../shared/data/focus-stack-pcb, focus-stack-depthmap): the no-reference Q^AB/F
generalised to N inputs (psfbench.core.stacking.quality, docs/stacking.md) and wall time, the tools
interleaved in each repeat, with the spread of the times.

Every tool reads the same PNG files (JPEGs for the real stacks) and writes PNG/TIFF; psfbench
runs through its CLI with its defaults (``psfbench stack FRAMES --out AIF``, as a new user
would), so its wall time includes Python start-up, imports, loading and saving, like the
peers'. enfuse has no aligner: on the real stacks it gets psfbench's aligned frames (written
losslessly) and its time covers only its fusion, in its favour.

Peers are found on PATH or through the FOCUS_STACK / ENFUSE environment variables; missing
ones are reported and left out. Build notes: docs/stacking.md.

Run: .venv/bin/python benchmarks/stacking.py [--seed S] [--count 10] [--quick] [--repeats 3]
     [--frames N] [--sigma-max PX] [--full-well E] [--bits 16] [--kinds steps,discs]
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
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from functools import partial  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.stackgen import KINDS, make_stacks, write_stack  # noqa: E402
from psfbench.core.stacking.io import from_float, read_image, to_float, write_image  # noqa: E402
from psfbench.core.stacking.pipeline import synthesize_aif  # noqa: E402
from psfbench.core.stacking.quality import psnr, qabf, ssim  # noqa: E402

SHARED = Path(os.environ.get("PSFBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
#: pixels left out at each side when scoring against the truth (issue 16's protocol)
BORDER = 16
TOOLS = ("psfbench", "focus-stack", "enfuse")


def find_peer(env: str, names: Sequence[str]) -> str | None:
    path = os.environ.get(env)
    if path:
        return path if Path(path).is_file() and os.access(path, os.X_OK) else None
    for n in names:
        found = shutil.which(n)
        if found:
            return found
    return None


def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=REPO)
    return time.perf_counter() - t0, proc


def read_float(path: Path, channels: int) -> np.ndarray:
    img = read_image(path)
    if img.ndim == 3 and img.shape[2] == 4:  # enfuse writes an alpha channel
        img = img[..., :3]
    f = to_float(img)
    if f.shape[0] != channels:
        f = f[:channels] if f.shape[0] > channels else np.repeat(f, channels, axis=0)
    return f


# ----------------------------------------------------------------------------- tools
def run_ours(files: list[str], out: Path, extra: Sequence[str] = ()) -> tuple[float, bool, str]:
    cmd = [sys.executable, "-m", "psfbench.core.cli", "stack", *files, "--out", str(out), *extra]
    t, p = timed(cmd)
    return t, p.returncode == 0, p.stderr[-400:]


def run_focus_stack(
    exe: str, files: list[str], out: Path, depth: Path | None = None
) -> tuple[float, bool, str]:
    cmd = [exe, "--align-keep-size", f"--output={out}", *files]
    if depth is not None:
        cmd.insert(1, f"--depthmap={depth}")
    t, p = timed(cmd)
    return t, p.returncode == 0 and out.is_file(), (p.stderr or p.stdout)[-400:]


ENFUSE_ARGS = [
    "--exposure-weight=0",
    "--saturation-weight=0",
    "--contrast-weight=1",
    "--hard-mask",
    "--contrast-window-size=9",  # issue 16's setting; better than 5 on these stacks
    "--compression=none",
]


def run_enfuse(exe: str, files: list[str], out: Path) -> tuple[float, bool, str]:
    t, p = timed([exe, *ENFUSE_ARGS, f"--output={out}", *files])
    return t, p.returncode == 0 and out.is_file(), p.stderr[-400:]


# ----------------------------------------------------------------------------- synthetic
def depth_corr(est: np.ndarray | None, truth: np.ndarray) -> float | None:
    if est is None:
        return None
    ok = np.isfinite(truth) & np.isfinite(est)
    if np.std(truth[ok]) == 0 or np.std(est[ok]) == 0:
        return None
    return float(abs(np.corrcoef(est[ok].ravel(), truth[ok].ravel())[0, 1]))


def spread(vals: Sequence[float]) -> dict[str, float]:
    v = np.asarray(vals, float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std()),
        "min": float(v.min()),
        "max": float(v.max()),
    }


SCATTER = "psfbench --scatter-edges"


def bench_synthetic(
    seed: int,
    count: int,
    gen: dict,
    fs: str | None,
    ef: str | None,
    tmp: Path,
    scatter_edges: bool = True,
) -> dict:
    rows: dict[str, dict[str, list[float]]] = {}

    def add(tool: str, key: str, val: float | None) -> None:
        if val is not None:
            rows.setdefault(tool, {}).setdefault(key, []).append(val)

    print(f"\n== {count} independent synthetic stacks (benchmarks/stackgen.py, seed {seed}) ==")
    print(f"   PSNR/SSIM against the true all-in-focus image, {BORDER} px border left out")
    hdr = f"{'stack':10s} {'frames':>6s} {'sigma':>5s} {'tool':24s} {'PSNR dB':>8s} {'SSIM':>7s}"
    print(hdr + f" {'|r| depth':>9s} {'wall s':>7s}")
    b = BORDER
    for st in make_stacks(seed, count, **gen):
        d = tmp / st.name
        files = write_stack(st, d)
        ch = st.aif.shape[0]
        truth = st.aif[:, b:-b, b:-b]
        results: dict[str, tuple[np.ndarray | None, np.ndarray | None, float]] = {}
        t, ok, err = run_ours(files, d / "ours.png", ["--depth", str(d / "ours_depth.tif")])
        depth = read_image(d / "ours_depth.tif").astype(np.float64) if ok else None
        results["psfbench"] = (read_float(d / "ours.png", ch), depth, t) if ok else (None, None, t)
        if not ok:
            print(f"   psfbench failed on {st.name}: {err}")
        if scatter_edges:  # the opt-in for stacks known to follow the scatter model
            out = d / "ours_scatter.png"
            t, ok, err = run_ours(files, out, ["--scatter-edges"])
            results[SCATTER] = (read_float(out, ch), None, t) if ok else (None, None, t)
        if fs:
            out, dep = d / "fs.png", d / "fs_depth.png"
            t, ok, err = run_focus_stack(fs, files, out, dep)
            depth_fs = None
            if ok and dep.is_file():
                depth_fs = read_image(dep).astype(np.float64)
                if depth_fs.ndim == 3:
                    depth_fs = depth_fs.mean(axis=2)
            results["focus-stack"] = (read_float(out, ch), depth_fs, t) if ok else (None, None, t)
            if not ok:
                print(f"   focus-stack failed on {st.name}: {err}")
        if ef:
            out = d / "enfuse.tif"
            t, ok, err = run_enfuse(ef, files, out)
            results["enfuse"] = (read_float(out, ch), None, t) if ok else (None, None, t)
            if not ok:
                print(f"   enfuse failed on {st.name}: {err}")
        frames = st.frames.transpose(0, 3, 1, 2).astype(np.float32)
        frames /= np.float32(np.iinfo(st.frames.dtype).max)
        best_single = max(psnr(f[:, b:-b, b:-b], truth) for f in frames)
        add("best single frame", "psnr", best_single)
        n, smax = len(frames), st.sigma_max
        print(f"{st.name:10s} {n:6d} {smax:5.1f} {'best frame':24s} {best_single:8.2f}")
        for tool, (img, dep, t) in results.items():
            if img is None:
                continue
            p_, s_ = psnr(img[:, b:-b, b:-b], truth), ssim(img[:, b:-b, b:-b], truth)
            r_ = depth_corr(dep, st.depth_mm)
            add(tool, "psnr", p_)
            add(tool, "ssim", s_)
            add(tool, "corr", r_)
            add(tool, "wall_s", t)
            rs = "        -" if r_ is None else f"{r_:9.3f}"
            print(f"{'':23s}{tool:24s} {p_:8.2f} {s_:7.4f} {rs} {t:7.2f}")
        shutil.rmtree(d, ignore_errors=True)
    summary = {tool: {k: spread(v) for k, v in vals.items()} for tool, vals in rows.items()}
    print(f"\nover {count} stacks (mean +- std, min..max):")
    for tool, s in summary.items():
        line = f"  {tool:24s} PSNR {s['psnr']['mean']:6.2f} +- {s['psnr']['std']:.2f} dB"
        line += f" ({s['psnr']['min']:.2f}..{s['psnr']['max']:.2f})"
        if "ssim" in s:
            line += f"  SSIM {s['ssim']['mean']:.4f} +- {s['ssim']['std']:.4f}"
            line += f" ({s['ssim']['min']:.3f}..{s['ssim']['max']:.3f})"
        if "corr" in s:
            line += f"  |r| depth {s['corr']['mean']:.3f}"
        if "wall_s" in s:
            line += f"  {s['wall_s']['mean']:.2f} s"
        print(line)
    wins = {
        tool: sum(p > q for p, q in zip(rows["psfbench"]["psnr"], rows[tool]["psnr"], strict=True))
        for tool in ("focus-stack", "enfuse")
        if tool in rows and "psfbench" in rows and len(rows[tool]["psnr"]) == count
    }
    for tool, k in wins.items():
        print(f"  psfbench's PSNR above {tool}'s on {k} of {count} stacks")
    return summary


# ----------------------------------------------------------------------------- real
def bench_real(fs: str | None, ef: str | None, tmp: Path, repeats: int) -> dict:
    stacks = {
        "pcb": sorted((SHARED / "focus-stack-pcb").glob("pcb_*.jpg")),
        "depthmap": sorted((SHARED / "focus-stack-depthmap").glob("pcb_*.JPG")),
    }
    out: dict[str, dict] = {}
    print("\n== real stacks (no ground truth): Q^AB/F vs psfbench-aligned frames, wall time ==")
    for name, paths in stacks.items():
        if not paths:
            print(f"{name}: not found under {SHARED}, skipped")
            continue
        files = [str(p) for p in paths]
        frames = np.stack([to_float(read_image(p)) for p in paths])
        ref = synthesize_aif(frames)  # in-process, for the aligned sources of the metric
        sources = list(ref.aligned)
        aligned_files = []
        for i, f in enumerate(ref.aligned):
            p = tmp / f"{name}_aligned_{i:02d}.tif"
            write_image(p, from_float(f, np.dtype(np.uint16)))
            aligned_files.append(str(p))
        row: dict[str, dict] = {}
        runs = {
            "psfbench": (partial(run_ours, files), tmp / f"{name}_ours.png"),
        }
        if fs:
            runs["focus-stack"] = (partial(run_focus_stack, fs, files), tmp / f"{name}_fs.png")
        if ef:
            runs["enfuse"] = (partial(run_enfuse, ef, aligned_files), tmp / f"{name}_ef.tif")
        times: dict[str, list[float]] = {tool: [] for tool in runs}
        failed: dict[str, str] = {}
        for _ in range(repeats):  # interleaved, so a burst of load hits every tool alike
            for tool, (run, out_path) in runs.items():
                t, ok, err = run(out_path)
                times[tool].append(t)
                if not ok:
                    failed[tool] = err
        for tool, (_, out_path) in runs.items():
            if tool in failed:
                print(f"{tool} failed on {name}: {failed[tool]}")
                continue
            img = read_float(out_path, 3)
            ts = sorted(times[tool])
            row[tool] = {
                "qabf": qabf(sources, img),
                "wall_s": ts[0],
                "wall_median_s": float(np.median(ts)),
                "wall_max_s": ts[-1],
                "times": times[tool],
            }
        h, w = frames.shape[2:]
        print(f"{name}: {len(paths)} frames {w}x{h} (wall: best, median and worst of {repeats})")
        for tool, r in row.items():
            ratio = ""
            if "focus-stack" in row and tool != "focus-stack":
                pairs = zip(r["times"], row["focus-stack"]["times"], strict=True)
                per = sorted(a / b_ for a, b_ in pairs)  # same repeat: same load
                ratio = (
                    f"  / focus-stack: best {r['wall_s'] / row['focus-stack']['wall_s']:.2f}, "
                    f"per repeat {per[0]:.2f}..{per[-1]:.2f}"
                )
            print(
                f"  {tool:12s} Q^AB/F {r['qabf']:.4f}  wall {r['wall_s']:6.2f} "
                f"/ {r['wall_median_s']:6.2f} / {r['wall_max_s']:6.2f} s{ratio}"
            )
        out[name] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, help="generator seed (default: drawn, and printed)")
    ap.add_argument("--count", type=int, default=10, help="synthetic stacks (default 10)")
    ap.add_argument("--size", type=int, nargs=2, default=(512, 512), metavar=("H", "W"))
    ap.add_argument("--quick", action="store_true", help="5 stacks of 256x256, 1 real repeat")
    ap.add_argument("--frames", type=int, help="frames per stack (default: 8..16 drawn)")
    ap.add_argument("--sigma-max", type=float, help="largest blur, px (default: 4..12 drawn)")
    ap.add_argument("--full-well", type=float, help="electrons (default: 2000..30000 drawn)")
    ap.add_argument("--read-noise", type=float, help="electrons (default: 1..8 drawn)")
    ap.add_argument("--bits", type=int, choices=(8, 16), default=8, help="PNG bit depth")
    ap.add_argument("--tone", choices=("linear", "srgb"), help="default: drawn per stack")
    ap.add_argument("--kinds", help=f"comma list of layouts (default all: {','.join(KINDS)})")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per real stack")
    ap.add_argument(
        "--no-scatter-edges",
        action="store_true",
        help="leave out the extra row of psfbench with its --scatter-edges opt-in",
    )
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true")
    args = ap.parse_args()
    seed = int(np.random.SeedSequence().entropy % 2**31) if args.seed is None else args.seed
    count, size, repeats = args.count, tuple(args.size), args.repeats
    if args.quick:
        count, size, repeats = min(count, 5), (256, 256), 1
    gen: dict = {"size": size, "bits": args.bits}
    for key, val in (
        ("n_frames", args.frames),
        ("sigma_max", args.sigma_max),
        ("full_well", args.full_well),
        ("read_noise", args.read_noise),
        ("tone", args.tone),
    ):
        if val is not None:
            gen[key] = val
    if args.kinds:
        gen["kinds"] = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    fs = find_peer("FOCUS_STACK", ["focus-stack"])
    ef = find_peer("ENFUSE", ["enfuse"])
    missing = []
    if fs is None:
        missing.append("focus-stack")
        print("focus-stack NOT FOUND (PATH or FOCUS_STACK): its columns are left out")
    if ef is None:
        missing.append("enfuse")
        print("enfuse NOT FOUND (PATH or ENFUSE): its columns are left out")
    print(f"peers: focus-stack={fs or '-'}  enfuse={ef or '-'}  (timings noisy: shared CPU)")
    print(f"seed {seed}  (repeat this run with --seed {seed})")
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        syn = (
            {}
            if args.no_synthetic
            else bench_synthetic(seed, count, gen, fs, ef, tmp / "syn", not args.no_scatter_edges)
        )
        real = {} if args.no_real else bench_real(fs, ef, tmp, repeats)

    def get(tool: str, key: str, stat: str = "mean") -> float | None:
        v = syn.get(tool, {}).get(key, {}).get(stat)
        return None if v is None else round(v, 4 if key == "ssim" else 3)

    result: dict[str, object] = {
        "psnr_db": get("psfbench", "psnr"),
        "focus_stack_psnr_db": get("focus-stack", "psnr"),
        "enfuse_psnr_db": get("enfuse", "psnr"),
        "ssim": get("psfbench", "ssim"),
        "focus_stack_ssim": get("focus-stack", "ssim"),
        "enfuse_ssim": get("enfuse", "ssim"),
        "psnr_db_std": get("psfbench", "psnr", "std"),
        "focus_stack_psnr_db_std": get("focus-stack", "psnr", "std"),
        "enfuse_psnr_db_std": get("enfuse", "psnr", "std"),
        "ssim_std": get("psfbench", "ssim", "std"),
        "focus_stack_ssim_std": get("focus-stack", "ssim", "std"),
        "enfuse_ssim_std": get("enfuse", "ssim", "std"),
        "best_single_frame_psnr_db": get("best single frame", "psnr"),
        "scatter_edges_psnr_db": get(SCATTER, "psnr"),
        "scatter_edges_ssim": get(SCATTER, "ssim"),
        "dff_corr": get("psfbench", "corr"),
        "focus_stack_dff_corr": get("focus-stack", "corr"),
        "stacks": 0 if args.no_synthetic else count,
        "seed": seed,
        "generator": {k: v for k, v in gen.items() if k != "kinds"}
        | {"kinds": list(gen.get("kinds", KINDS))},
        "peers_missing": missing,
    }
    for name, row in real.items():
        for tool, r in row.items():
            key = {"psfbench": "", "focus-stack": "focus_stack_", "enfuse": "enfuse_"}[tool]
            result[f"{key}{name}_qabf"] = round(r["qabf"], 4)
            result[f"{key}{name}_wall_s"] = round(r["wall_s"], 2)
            result[f"{key}{name}_wall_median_s"] = round(r["wall_median_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
