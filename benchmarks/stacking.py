"""All-in-focus fusion and depth from focus: psfbench vs focus-stack vs enfuse, in one run.

Synthetic stacks with ground truth (scenes from psfbench.core.scenes rendered through the Gaussian
PSF with psfbench.core.render, plus layered occlusion stacks from psfbench.core.stacking.synthetic
whose blurred foregrounds spread over the background): PSNR and SSIM of each tool's fused image
against the true all-in-focus image, and |Pearson r| of depth from focus against the true depth.
Real stacks (../shared/data/focus-stack-pcb, focus-stack-depthmap): the no-reference Q^AB/F
generalised to N inputs (psfbench.core.stacking.quality, docs/stacking.md) and wall time.

Every tool reads the same 8-bit PNG files (JPEGs for the real stacks) and writes PNG/TIFF;
psfbench runs through its CLI in a subprocess, so its wall time includes Python start-up,
imports, loading and saving, like the peers'. enfuse has no aligner: it gets psfbench's
aligned frames (written losslessly) and its time covers only its fusion, in its favour.

Peers are found on PATH or through the FOCUS_STACK / ENFUSE environment variables; missing
ones are reported and left out. Build notes: docs/stacking.md.

Run: .venv/bin/python benchmarks/stacking.py [--quick] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from psfbench.core.stacking.io import from_float, read_image, to_float, write_image  # noqa: E402
from psfbench.core.stacking.pipeline import synthesize_aif  # noqa: E402
from psfbench.core.stacking.quality import psnr, qabf, ssim  # noqa: E402

SHARED = Path(os.environ.get("PSFBENCH_SHARED_DATA", REPO.parent / "shared" / "data"))
F_MM = 50.0
#: PSNR above this counts as this in means (8-bit inputs make "exact" cases ~inf dB)
PSNR_CAP_DB = 60.0


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
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
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
    "--contrast-window-size=5",
    "--compression=none",
]


def run_enfuse(exe: str, files: list[str], out: Path) -> tuple[float, bool, str]:
    t, p = timed([exe, *ENFUSE_ARGS, f"--output={out}", *files])
    return t, p.returncode == 0 and out.is_file(), p.stderr[-400:]


# ----------------------------------------------------------------------------- synthetic
def synthetic_cases(quick: bool) -> list[dict]:
    """(name, frames, aif, depth, focus depths) with several scenes and blur levels."""
    from psfbench.core.render import render
    from psfbench.core.scenes import make_scene
    from psfbench.core.stacking.synthetic import make_plane_stack

    h, w = (160, 200) if quick else (240, 320)
    n_frames = 8
    cases = []
    kinds = ("steps", "objects") if quick else ("steps", "objects", "tilted", "planes")
    levels = (300.0,) if quick else (300.0, 800.0)
    for kind in kinds:
        for A in levels:
            wd = 500.0
            # between two focus planes, so no frame is the answer by construction
            opts = {"plane_depth_mm": 517.0} if kind == "planes" else {}
            scene = make_scene(kind, h, w, working_distance_mm=wd, seed=7, **opts)
            depth = np.asarray(scene.depth_mm, np.float64)
            lo, hi = float(np.nanmin(depth)), float(np.nanmax(depth))
            if kind == "planes":
                lo, hi = 0.9 * wd, 1.1 * wd
            fd = np.linspace(lo, hi, n_frames)
            frames = render(scene.aif, depth, fd, A, F_MM, method="layered").cpu().numpy()
            cases.append(
                dict(
                    name=f"{kind}/A{A:g}",
                    frames=np.clip(frames, 0, 1),
                    aif=scene.aif,
                    depth=depth,
                    fd=fd,
                    A=A,
                    kind=kind,
                )
            )
    for A, seed in ((150.0, 1), (400.0, 2)) if not quick else ((300.0, 1),):
        st = make_plane_stack(h, w, planes=3, frames=6, A=A, seed=seed)
        cases.append(
            dict(
                name=f"occlusion/A{A:g}",
                frames=st.frames,
                aif=st.aif,
                depth=st.depth_mm.astype(np.float64),
                fd=st.focus_depths_mm,
                A=A,
                kind="occlusion",
            )
        )
    return cases


def depth_corr(est: np.ndarray | None, truth: np.ndarray) -> float | None:
    if est is None:
        return None
    ok = np.isfinite(truth) & np.isfinite(est)
    if np.std(truth[ok]) == 0 or np.std(est[ok]) == 0:
        return None
    return float(abs(np.corrcoef(est[ok].ravel(), truth[ok].ravel())[0, 1]))


def bench_synthetic(cases: list[dict], fs: str | None, ef: str | None, tmp: Path) -> dict:
    rows: dict[str, dict[str, list[float]]] = {}

    def add(tool: str, key: str, val: float | None) -> None:
        if val is not None:
            rows.setdefault(tool, {}).setdefault(key, []).append(val)

    print(f"\n== synthetic stacks with ground truth ({len(cases)}) ==")
    hdr = f"{'case':20s} {'tool':22s} {'PSNR dB':>8s} {'SSIM':>7s} {'|r| depth':>9s}"
    print(hdr)
    for case in cases:
        d = tmp / case["name"].replace("/", "_")
        d.mkdir(parents=True)
        ch = case["frames"].shape[1]
        files = []
        for i, f in enumerate(case["frames"]):
            p = d / f"f{i:02d}.png"
            write_image(p, from_float(f, np.dtype(np.uint8)))
            files.append(str(p))
        aif, truth_depth = case["aif"], case["depth"]
        frames8 = np.stack([read_float(Path(f), ch) for f in files])
        results: dict[str, tuple[np.ndarray | None, np.ndarray | None]] = {}
        # psfbench in-process (same code as the CLI) with the calibrated sweep (Df known) and
        # the PSF's A for diffusion elimination; the depth for the PSF is its own DFF map
        res = synthesize_aif(frames8, focus_depths_mm=case["fd"], F_mm=F_MM)
        res_psf = synthesize_aif(frames8, focus_depths_mm=case["fd"], F_mm=F_MM, A=case["A"])
        results["psfbench"] = (res_psf.aif, res_psf.depth_mm)
        results["psfbench (no diffusion)"] = (res.aif, res.depth_mm)
        if fs:
            out, dep = d / "fs.png", d / "fs_depth.png"
            _, ok, err = run_focus_stack(fs, files, out, dep)
            depth_fs = None
            if ok and dep.is_file():
                depth_fs = read_image(dep).astype(np.float64)
                if depth_fs.ndim == 3:
                    depth_fs = depth_fs.mean(axis=2)
            results["focus-stack"] = (read_float(out, ch), depth_fs) if ok else (None, None)
            if not ok:
                print(f"   focus-stack failed on {case['name']}: {err}")
        if ef:
            out = d / "enfuse.tif"
            _, ok, err = run_enfuse(ef, files, out)
            results["enfuse"] = (read_float(out, ch), None) if ok else (None, None)
            if not ok:
                print(f"   enfuse failed on {case['name']}: {err}")
        best_single = max(psnr(f, aif) for f in frames8)
        print(f"{case['name']:20s} {'best single frame':22s} {best_single:8.2f}")
        for tool, (img, dep) in results.items():
            if img is None:
                continue
            p_, s_ = min(psnr(img, aif), PSNR_CAP_DB), ssim(img, aif)
            r_ = depth_corr(dep, truth_depth)
            add(tool, "psnr", p_)
            add(tool, "ssim", s_)
            add(tool, "corr", r_)
            rs = "   -" if r_ is None else f"{r_:9.3f}"
            print(f"{'':20s} {tool:22s} {p_:8.2f} {s_:7.4f} {rs}")
    summary = {tool: {k: float(np.mean(v)) for k, v in vals.items()} for tool, vals in rows.items()}
    print("\nmean over synthetic cases:")
    for tool, s in summary.items():
        corr = s.get("corr")
        cs = "-" if corr is None else f"{corr:.3f}"
        print(f"  {tool:24s} PSNR {s['psnr']:6.2f} dB  SSIM {s['ssim']:.4f}  |r| depth {cs}")
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
            row[tool] = {"qabf": qabf(sources, img), "wall_s": min(times[tool])}
        h, w = frames.shape[2:]
        print(f"{name}: {len(paths)} frames {w}x{h}")
        for tool, r in row.items():
            ratio = ""
            if "focus-stack" in row:
                ratio = f"  time / focus-stack {r['wall_s'] / row['focus-stack']['wall_s']:.2f}"
            print(f"  {tool:12s} Q^AB/F {r['qabf']:.4f}  wall {r['wall_s']:6.2f} s{ratio}")
        out[name] = row
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer, smaller synthetic cases")
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per real stack (min)")
    ap.add_argument("--no-real", action="store_true")
    ap.add_argument("--no-synthetic", action="store_true")
    args = ap.parse_args()
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
    with tempfile.TemporaryDirectory() as t:
        tmp = Path(t)
        syn = (
            {}
            if args.no_synthetic
            else bench_synthetic(synthetic_cases(args.quick), fs, ef, tmp / "syn")
        )
        real = {} if args.no_real else bench_real(fs, ef, tmp, args.repeats)

    def get(tool: str, key: str) -> float | None:
        v = syn.get(tool, {}).get(key)
        return None if v is None else round(v, 3)

    result: dict[str, object] = {
        "psnr_db": get("psfbench", "psnr"),
        "focus_stack_psnr_db": get("focus-stack", "psnr"),
        "enfuse_psnr_db": get("enfuse", "psnr"),
        "psnr_db_no_diffusion": get("psfbench (no diffusion)", "psnr"),
        "ssim": get("psfbench", "ssim"),
        "focus_stack_ssim": get("focus-stack", "ssim"),
        "enfuse_ssim": get("enfuse", "ssim"),
        "dff_corr": get("psfbench", "corr"),
        "focus_stack_dff_corr": get("focus-stack", "corr"),
        "peers_missing": missing,
    }
    for name, row in real.items():
        for tool, r in row.items():
            key = {"psfbench": "", "focus-stack": "focus_stack_", "enfuse": "enfuse_"}[tool]
            result[f"{key}{name}_qabf"] = round(r["qabf"], 4)
            result[f"{key}{name}_wall_s"] = round(r["wall_s"], 2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
