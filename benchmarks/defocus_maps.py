"""Defocus maps on a disc-like virtual bench: measured-PSF model vs ideal-Gaussian model.

Two patch classifiers are trained with identical options on identical scenes (the dataset
generator's synthetic scenes, same seeds), rendered through

* ``measured``: the bench lens's disc PSF as a psfbench PSF model (``disc``, edge 0,
  A = true_A / (4 omega) = 416.7 px in second-moment terms), from ``--measured FIT.json`` if
  given (a ``psfbench fit --model disc`` of a disc-bench session), else the bench's true
  parameters (labelled "true, not fitted");
* ``gaussian``: the paper's ideal Gaussian with the datasheet A (800 px: eq. 6 with omega =
  0.48, what the bench is built with).

Both are then run (sliding window, stride 8, weighted-guided-filter refinement) on held-out
virtual-bench frames of the disc lens (``psf_shape="disc"``, its own renderer
core/bench/psf.py disc_blur, camera noise, 12-bit), scenes ``steps`` and ``objects`` with
seeds the training never used, focused at six depths so the true sigma spans 0..19.5 px. The
truth is the PSF's second moment per pixel. Reported per model: per-pixel MAE of sigma (px),
20-level class accuracy, within-one-level share, bias, over all pixels and over pixels a patch
away from depth edges, for the refined and the coarse (eq. 6) map, and on the same frames
without camera noise (a model that took the noise level as its cue fails there); depth MAE
through each
model's own A on the true side of focus; training time and held-out patch accuracy.

Run: .venv/bin/python benchmarks/defocus_maps.py [--samples 300] [--epochs 30]
     [--out /tmp/defocus_maps] [--measured FIT.json] [--reuse: evaluate OUT's models again]
Writes OUT/results.json and OUT/{measured,gaussian}.safetensors/.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

FOCUS_MM = (380.0, 420.0, 460.0, 520.0, 600.0, 720.0)
SCENES = ("steps", "objects")
SEEDS = (101, 102)


def _psfs(measured: str | None) -> dict[str, Any]:
    from psfbench.core.datagen import PsfSpec
    from psfbench.core.defocus.evaluate import true_second_moment_A
    from psfbench.core.defocus.trainset import TrainingPsf, load_training_psf
    from psfbench.core.psfmodels import PsfModel

    if measured:
        m = load_training_psf(measured, focal_length_mm=50.0)
        m = TrainingPsf(m.spec, m.model, f"fitted ({measured})")
    else:
        a2 = true_second_moment_A(800.0, "disc")
        pm = PsfModel.create("disc", {"A": a2, "e_mm": 23.6, "edge": 0.0})
        m = TrainingPsf(PsfSpec(A=a2, F_mm=50.0, e_mm=23.6), pm.to_json(), "true, not fitted")
    g = PsfModel.gaussian(800.0, 23.6)
    gauss = TrainingPsf(PsfSpec(A=800.0, F_mm=50.0, e_mm=23.6), g.to_json(), "datasheet")
    out = {"measured": m, "gaussian": gauss}
    if measured:
        # the same fit's Gaussian (its top-level A): the shape's share of the difference
        gf = load_training_psf(measured, focal_length_mm=50.0, model="gaussian")
        out["gaussian_fitted"] = TrainingPsf(gf.spec, gf.model, "fitted Gaussian")
    return out


def _train(name: str, psf: Any, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    import torch

    from psfbench.core.datagen import synthetic_sources
    from psfbench.core.defocus import ModelSpec, TrainOptions, save_model, train_classifier
    from psfbench.core.defocus.patches import PatchSet
    from psfbench.core.defocus.trainset import class_histogram, generation_config, render_patches

    spec = ModelSpec()
    src = synthetic_sources(args.kinds, (args.height, args.width))
    cfg = generation_config(psf, src, args.samples, sigma_max=19.5, seed=args.seed)
    cache = out / f"patches-{name}-{args.samples}-{args.height}x{args.width}-16bit.npz"
    t0 = time.perf_counter()
    if cache.is_file():
        d = np.load(cache, allow_pickle=False)
        ps = PatchSet(d["patches"], d["sigma"], d["sample"])
        t_data = float(d["seconds"])
    else:
        ps = render_patches(cfg, stride=16, max_spread=0.5)
        t_data = time.perf_counter() - t0
        np.savez(cache, patches=ps.patches, sigma=ps.sigma, sample=ps.sample, seconds=t_data)
    print(
        f"[{name}] {len(ps)} patches from {len(np.unique(ps.sample))} samples, "
        f"{t_data:.0f} s to render; focus range {cfg.focus_range_mm}",
        flush=True,
    )
    if args.reuse and (out / f"{name}.json").is_file():
        from psfbench.core.defocus import load_model

        model = load_model(out / name)
        return {"model": model, "psf": psf, **model.info["bench_stats"]}
    torch.manual_seed(args.seed)
    opts = TrainOptions(epochs=args.epochs, patience=args.patience, seed=args.seed)
    res = train_classifier(
        ps,
        spec,
        opts,
        progress=lambda r: print(
            f"[{name}] epoch {r.epoch}: acc {r.train_accuracy:.3f} held-out acc "
            f"{r.val_accuracy:.3f} MAE {r.val_mae_px:.2f} px ({r.seconds:.1f} s)",
            flush=True,
        ),
    )
    res.model.info = {
        "psf": psf.provenance(),
        "training_set": {"generator": cfg.to_json(), "patches": len(ps)},
        "training": res.summary(),
    }
    stats = {
        "patches": len(ps),
        "patch_mb": round(ps.nbytes / 2**20, 1),
        "samples": int(len(np.unique(ps.sample))),
        "per_level": class_histogram(ps, 20, 1.0),
        "render_s": round(t_data, 1),
        "train_s": round(res.seconds, 1),
        "epochs_run": len(res.history),
        "best_epoch": res.best_epoch,
        "stopped": res.stopped,
        "val_accuracy": round(res.best.val_accuracy, 4),
        "val_mae_px": round(res.best.val_mae_px, 3),
        "val_patches": res.n_val,
        "train_patches": res.n_train,
        "epoch_s_median": round(float(np.median([h.seconds for h in res.history])), 2),
    }
    res.model.info["bench_stats"] = stats
    save_model(res.model, out / name)
    return {"model": res.model, "psf": psf, **stats}


def _evaluate(models: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from psfbench.core.defocus import estimate_defocus
    from psfbench.core.defocus.evaluate import bench_frame, depth_error, edge_free_mask, score

    kinds = ("refined", "coarse", "refined_edge_free", "refined_noise_free", "depth")
    rows: dict[str, dict[str, list[Any]]] = {n: {k: [] for k in kinds} for n in models}
    per_frame = []
    for scene in SCENES:
        for seed in SEEDS:
            for f in FOCUS_MM:
                fr = bench_frame(f, scene=scene, seed=seed)
                clean = bench_frame(f, scene=scene, seed=seed, noise=False)
                mask = edge_free_mask(fr.sigma, 16)
                line: dict[str, Any] = {
                    "scene": scene,
                    "seed": seed,
                    "focus_mm": fr.focus_mm,
                    "sigma_range": [float(fr.sigma.min()), float(fr.sigma.max())],
                }
                for n, m in models.items():
                    dm = estimate_defocus(fr.image, m["model"])
                    rows[n]["refined"].append((dm.sigma, fr.sigma))
                    rows[n]["coarse"].append((dm.coarse, fr.sigma))
                    rows[n]["refined_edge_free"].append((dm.sigma[mask], fr.sigma[mask]))
                    rows[n]["depth"].append(depth_error(dm.sigma, fr, m["psf"].spec.A))
                    line[n] = score(dm.sigma, fr.sigma)
                    dm_clean = estimate_defocus(clean.image, m["model"])
                    rows[n]["refined_noise_free"].append((dm_clean.sigma, fr.sigma))
                per_frame.append(line)
                print(
                    f"{scene} seed {seed} Df {fr.focus_mm:.0f}: "
                    + "  ".join(
                        f"{n} MAE {line[n]['mae_px']:.2f} acc {line[n]['accuracy']:.3f}"
                        for n in models
                    ),
                    flush=True,
                )
    summary: dict[str, Any] = {}
    for n in models:
        s: dict[str, Any] = {}
        for k in kinds[:-1]:
            pred = np.concatenate([p.ravel() for p, _ in rows[n][k]])
            truth = np.concatenate([t.ravel() for _, t in rows[n][k]])
            s[k] = {kk: round(v, 4) for kk, v in score(pred, truth).items()}
        d = rows[n]["depth"]
        s["depth_mae_mm"] = round(float(np.mean([x["depth_mae_mm"] for x in d])), 2)
        s["depth_median_rel"] = round(float(np.median([x["depth_median_rel"] for x in d])), 4)
        summary[n] = s
    return {"summary": summary, "frames": per_frame}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=300)
    ap.add_argument("--height", type=int, default=128)
    ap.add_argument("--width", type=int, default=160)
    ap.add_argument("--kinds", default="planes,steps")
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--measured", default=None, help="fit JSON of psfbench fit --model disc")
    ap.add_argument("--out", default="/tmp/defocus_maps")
    ap.add_argument("--reuse", action="store_true", help="evaluate the models in OUT again")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    psfs = _psfs(args.measured)
    models = {n: _train(n, p, args, out) for n, p in psfs.items()}
    t0 = time.perf_counter()
    ev = _evaluate(models)
    eval_s = time.perf_counter() - t0
    result = {
        "args": vars(args),
        "psf": {n: p.provenance() for n, p in psfs.items()},
        "training": {
            n: {k: v for k, v in m.items() if k not in ("model", "psf")} for n, m in models.items()
        },
        "evaluation": ev["summary"],
        "frames": ev["frames"],
        "eval_seconds": round(eval_s, 1),
        "threads": torch.get_num_threads(),
    }
    (out / "results.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: result[k] for k in ("training", "evaluation")}, indent=2))


if __name__ == "__main__":
    main()
