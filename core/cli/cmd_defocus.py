"""``psfbench defocus``: single-image defocus maps trained on the lens's own PSF.

``train`` renders a training set with the dataset generator through the fitted PSF model and
trains the patch classifier; ``map`` turns one image into a per-pixel sigma map (and depth).
See docs/defocus-maps.md.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from psfbench.core.cli.common import device_arg, size_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "defocus",
        help="single-image defocus maps from a patch classifier trained on the fitted PSF",
        description="See docs/defocus-maps.md.",
    )
    what = p.add_subparsers(dest="defocus_command", metavar="WHAT")
    what.required = True

    t = what.add_parser(
        "train",
        help="render a training set through the fitted PSF and train the patch classifier",
        description="Renders samples with the dataset generator through the PSF model of a fit "
        "(psfbench fit; its 'model' entry, e.g. a disc, or the Gaussian), cuts patches whose "
        "sigma is nearly constant, and trains the 20-level patch classifier with a held-out "
        "split and early stopping. Writes MODEL.safetensors and MODEL.json (provenance).",
    )
    t.add_argument(
        "--psf",
        required=True,
        help="fit JSON (results/fit.json), fitted session, "
        "or a PSF model JSON (then --focal-length-mm)",
    )
    t.add_argument("--model", default=None, help="PSF model name instead of the fit's (its A)")
    src = t.add_mutually_exclusive_group(required=True)
    src.add_argument("--scenes", type=int, metavar="N", help="N synthetic scenes (--kinds)")
    src.add_argument("--source", help="folder of RGB-D pairs (as psfbench dataset generate)")
    src.add_argument("--dataset", help="an existing psfbench dataset generate folder (shards)")
    t.add_argument("--out", required=True, help="model path (MODEL.safetensors + MODEL.json)")
    t.add_argument(
        "--count",
        type=int,
        default=None,
        help="--source: samples to render (default 8 per RGB-D pair)",
    )
    t.add_argument("--kinds", default="planes,steps", help="synthetic scene kinds (--scenes)")
    t.add_argument("--size", type=size_arg, default=(128, 160), help="synthetic: HEIGHTxWIDTH")
    t.add_argument("--depth-scale", type=float, default=1.0, help="--source depth unit in mm")
    t.add_argument(
        "--focus-range",
        nargs=2,
        type=float,
        default=None,
        metavar=("NEAR", "FAR"),
        help="focus depths, mm (default: synthetic: sigma 0..top level at the "
        "scenes' distance; folders: each scene's depth range)",
    )
    t.add_argument(
        "--noise-sd", type=float, default=0.0, help="noise rendered into the samples, full scale"
    )
    t.add_argument(
        "--noise-range",
        nargs=2,
        type=float,
        default=(0.0, 0.015),
        metavar=("LOW", "HIGH"),
        help="training: Gaussian noise of an sd drawn per patch, full scale",
    )
    t.add_argument(
        "--contrast-range",
        nargs=2,
        type=float,
        default=(0.4, 1.0),
        metavar=("LOW", "HIGH"),
        help="training: contrast factor drawn per patch",
    )
    t.add_argument("--shuffle", action="store_true", help="spatially shuffle sources first")
    t.add_argument("--focal-length-mm", type=float, default=None, help="F if the fit has none")
    t.add_argument("--psf-scale", type=float, default=1.0, help="source px per fitted px")
    t.add_argument("--levels", type=int, default=20, help="blur levels (seed: 20)")
    t.add_argument("--step", type=float, default=1.0, help="sigma px per level (seed: 1)")
    t.add_argument("--patch", type=int, default=32, help="patch size px (seed: 32)")
    t.add_argument("--stride", type=int, default=16, help="patch grid in the samples, px")
    t.add_argument(
        "--max-spread",
        type=float,
        default=None,
        help="largest sigma range inside a patch, px (default: half a level)",
    )
    t.add_argument("--widths", default="8,16,32,64", help="conv widths of the four stages")
    t.add_argument("--epochs", type=int, default=30)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--patience", type=int, default=5, help="early stop after N worse epochs")
    t.add_argument("--val-fraction", type=float, default=0.2, help="samples held out")
    t.add_argument("--max-minutes", type=float, default=None, help="stop after this long")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    device_arg(t)
    t.add_argument("--quiet", action="store_true", help="no progress output")
    t.set_defaults(func=run_train)

    m = what.add_parser(
        "map",
        help="per-pixel sigma map of one image (sliding window + weighted guided filter)",
        description="Classifies patches on a sliding window, averages them per pixel and "
        "refines the map with the weighted guided filter on an edge-aware smoothed guide. "
        "Writes a float32 TIFF of sigma in px (the PSF model's second moment). Optionally "
        "depth through the fitted optics: one image cannot tell in front of the focus plane "
        "from behind it, so both candidates are written unless --side says which.",
    )
    m.add_argument("image", help="image file (PNG, JPEG, TIFF...; grey or RGB)")
    m.add_argument("--model", required=True, help="model path (MODEL[.safetensors])")
    m.add_argument(
        "--out",
        default=None,
        help="sigma map TIFF (default for a session frame: SESSION/results/defocus/<frame>.tif)",
    )
    m.add_argument("--stride", type=int, default=8, help="window step, px (seed: 8)")
    m.add_argument(
        "--estimate",
        choices=("expected", "argmax"),
        default="expected",
        help="patch value: softmax-weighted sigma, or the seed's most likely level",
    )
    m.add_argument("--no-refine", action="store_true", help="eq. 6's patch average only")
    m.add_argument("--radius", type=int, default=16, help="guided filter radius px (seed: 16)")
    m.add_argument("--eps", type=float, default=0.005, help="guided filter eps (seed: 0.005)")
    m.add_argument("--guide-iterations", type=int, default=7, help="guide smoothing passes")
    m.add_argument("--coarse-out", default=None, help="also write the unrefined map here")
    m.add_argument("--depth-out", default=None, help="depth TIFF (mm); needs --focus-mm")
    m.add_argument("--focus-mm", type=float, default=None, help="focus depth of the image, mm")
    m.add_argument(
        "--fit",
        default=None,
        help="fit JSON / session for A and F (default: the PSF the model was trained for)",
    )
    m.add_argument("--focal-length-mm", type=float, default=None, help="F if --fit has none")
    m.add_argument(
        "--side",
        choices=("near", "far", "both"),
        default="both",
        help="which side of the focus plane the scene is on (default: write both)",
    )
    device_arg(m)
    m.set_defaults(func=run_map)


#: Patches below which ``defocus train`` warns: the measured model of docs/defocus-maps.md
#: used 13.7 k patches from 300 scenes, and was still far from the seed paper's accuracy.
MIN_PATCHES = 5000


def training_set_warnings(n_patches: int, per_level: list[int], step: float) -> list[str]:
    """What is too small about a training set: few patches in all, and levels (sigma
    ``k * step`` px) with few or none (the classifier cannot learn them)."""
    out = []
    if n_patches < MIN_PATCHES:
        out.append(
            f"only {n_patches} training patches (docs/defocus-maps.md's model used 13.7 k from "
            f"300 scenes): expect a poor model; use more --scenes or --source pairs"
        )
    thin = [k for k, c in enumerate(per_level) if c < max(20, n_patches // (10 * len(per_level)))]
    if thin:
        levels = ", ".join(f"{k * step:g}" for k in thin)
        out.append(
            f"{len(thin)} of {len(per_level)} levels have few or no patches (sigma {levels} px): "
            "those blur sizes will be guessed, not learnt; widen --focus-range or add scenes"
        )
    return out


def _say(args: argparse.Namespace, text: str) -> None:
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


def _patch_set(args: argparse.Namespace, device: str) -> tuple[Any, dict[str, Any], Any]:
    """(patches, training-set description, TrainingPsf or None for --dataset)."""
    from psfbench.core.datagen import scan_folder, synthetic_sources
    from psfbench.core.defocus.trainset import (
        generation_config,
        load_training_psf,
        patches_from_dataset,
        render_patches,
    )

    spread = args.max_spread if args.max_spread is not None else 0.5 * args.step
    sigma_max = (args.levels - 0.5) * args.step

    def bar(done: int, total: int) -> None:
        if not args.quiet and (done == total or done % max(1, total // 20) == 0):
            _say(args, f"  rendered {done}/{total} samples")

    if args.dataset:
        ps, cfg = patches_from_dataset(
            args.dataset, patch=args.patch, stride=args.stride, max_spread=spread, progress=bar
        )
        desc = {"dataset": str(args.dataset), "config": cfg.to_json()}
        return ps, desc, None
    psf = load_training_psf(
        args.psf,
        focal_length_mm=args.focal_length_mm,
        scale=args.psf_scale,
        model=args.model,
    )
    if args.scenes is not None:
        sources: Any = synthetic_sources(args.kinds, tuple(args.size))
        count = int(args.scenes)
    else:
        sources = scan_folder(args.source, depth_scale=args.depth_scale)
        count = int(args.count) if args.count else 8 * len(sources)
    cfg = generation_config(
        psf,
        sources,
        count,
        sigma_max=sigma_max,
        seed=args.seed,
        focus_range_mm=None if args.focus_range is None else tuple(args.focus_range),
        noise_sd=args.noise_sd,
        shuffle=args.shuffle,
        device=device,
    )
    _say(args, f"rendering {count} samples through the {psf.name} PSF (A = {psf.spec.A:g} px)")
    ps = render_patches(cfg, patch=args.patch, stride=args.stride, max_spread=spread, progress=bar)
    desc = {"generator": cfg.to_json(), "patch_stride": args.stride, "max_spread_px": spread}
    return ps, desc, psf


def run_train(args: argparse.Namespace) -> int:
    import time

    import torch

    from psfbench.core.cli import UserFacingError
    from psfbench.core.cli.common import resolve_device
    from psfbench.core.datagen import DatagenError
    from psfbench.core.defocus import (
        DefocusModelError,
        ModelSpec,
        TrainError,
        TrainOptions,
        save_model,
        train_classifier,
    )
    from psfbench.core.defocus.trainset import class_histogram

    device = resolve_device(args.device)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        widths = tuple(int(w) for w in str(args.widths).split(","))
        spec = ModelSpec(args.patch, args.levels, args.step, widths)
        spec.validate()
        t0 = time.perf_counter()
        ps, desc, psf = _patch_set(args, device)
        t_data = time.perf_counter() - t0
        hist = class_histogram(ps, args.levels, args.step)
        _say(
            args,
            f"{len(ps)} patches of {args.patch}x{args.patch} from "
            f"{len(set(ps.sample.tolist()))} samples in {t_data:.0f} s; per level: {hist}",
        )
        for w in training_set_warnings(len(ps), hist, args.step):
            print(f"warning: {w}", file=sys.stderr, flush=True)
        opts = TrainOptions(
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            patience=args.patience,
            val_fraction=args.val_fraction,
            seed=args.seed,
            device=device,
            noise_sd=(float(args.noise_range[0]), float(args.noise_range[1])),
            contrast=(float(args.contrast_range[0]), float(args.contrast_range[1])),
            max_seconds=None if args.max_minutes is None else 60.0 * args.max_minutes,
        )

        def epoch_line(r: Any) -> None:
            _say(
                args,
                f"epoch {r.epoch:3d}: loss {r.train_loss:.3f} acc {r.train_accuracy:.3f}"
                f" | held-out loss {r.val_loss:.3f} acc {r.val_accuracy:.3f} "
                f"MAE {r.val_mae_px:.2f} px | {r.seconds:.1f} s",
            )

        res = train_classifier(ps, spec, opts, progress=epoch_line)
    except (DatagenError, DefocusModelError, TrainError, ValueError) as exc:
        raise UserFacingError(str(exc)) from None
    res.model.info = {
        "psf": None if psf is None else psf.provenance(),
        "training_set": {
            **desc,
            "patches": len(ps),
            "samples": len(set(ps.sample.tolist())),
            "per_level": hist,
            "seconds": t_data,
        },
        "training": {**res.summary(), "options": opts.__dict__, "threads": torch.get_num_threads()},
        "device": device,
    }
    if psf is None:
        res.model.info["psf"] = {"dataset": desc.get("config", {}).get("psf")}
    weights, meta = save_model(res.model, args.out)
    b = res.best
    print(
        f"held-out accuracy {b.val_accuracy:.3f} (20-level exact), MAE {b.val_mae_px:.2f} px on "
        f"{res.n_val} patches of {len(res.val_samples)} samples; best epoch {res.best_epoch} of "
        f"{len(res.history)} ({res.stopped}); {res.seconds:.0f} s training; wrote {weights} "
        f"and {meta}"
    )
    return 0


def _depth_params(args: argparse.Namespace, info: dict[str, Any]) -> tuple[float, float]:
    """(A px, F mm) for depth: from --fit, else the PSF the model was trained with."""
    from psfbench.core.cli import UserFacingError

    if args.fit:
        from psfbench.core.datagen import DatagenError
        from psfbench.core.defocus.trainset import load_training_psf

        name = ((info.get("psf") or {}).get("model") or {}).get("name")
        try:
            psf = load_training_psf(args.fit, focal_length_mm=args.focal_length_mm, model=name)
        except DatagenError as exc:
            raise UserFacingError(str(exc)) from None
        return psf.spec.A_effective, psf.spec.F_mm
    p = info.get("psf") or {}
    A, F = p.get("A_px"), args.focal_length_mm or p.get("F_mm")
    if not isinstance(A, int | float) or not isinstance(F, int | float):
        raise UserFacingError("--depth-out: the model names no PSF (A, F); pass --fit")
    return float(A), float(F)


def run_map(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import numpy as np

    from psfbench.core.cli import UserFacingError
    from psfbench.core.cli.common import resolve_device
    from psfbench.core.dataset import DatasetError
    from psfbench.core.defocus import DefocusModelError, estimate_defocus, load_model
    from psfbench.core.defocus.depth import depth_candidates
    from psfbench.core.defocus.infer import session_map_path, session_of_frame, write_float_tiff
    from psfbench.core.imageio import ImageFileError, read_image
    from psfbench.core.optics import OpticsError

    device = resolve_device(args.device)
    if args.depth_out and args.focus_mm is None:
        raise UserFacingError("--depth-out needs --focus-mm (the image's focus depth)")
    out = args.out
    if out is None:
        session = session_of_frame(args.image)
        if session is None:
            raise UserFacingError("--out is needed (the image is not a session's frame)")
        out = session_map_path(session, args.image)
    try:
        model = load_model(args.model, device=device)
        image = read_image(args.image)
        t0 = time.perf_counter()
        dm = estimate_defocus(
            image,
            model,
            stride=args.stride,
            estimate=args.estimate,
            refine=not args.no_refine,
            radius=args.radius,
            eps=args.eps,
            guide_iterations=args.guide_iterations,
            device=device,
        )
        seconds = time.perf_counter() - t0
    except (DefocusModelError, ImageFileError, DatasetError) as exc:
        raise UserFacingError(str(exc)) from None
    psf = model.info.get("psf") or {}
    info = {
        "what": "defocus map: per-pixel sigma of the PSF (second moment), px",
        "image": str(args.image),
        "model": str(args.model),
        "psf": psf.get("model"),
        "fit_sha256": psf.get("fit_sha256"),
        "stride": args.stride,
        "estimate": args.estimate,
        "refined": not args.no_refine,
        "radius": args.radius,
        "eps": args.eps,
        "guide_iterations": args.guide_iterations,
    }
    write_float_tiff(out, dm.sigma, info)
    if args.coarse_out:
        write_float_tiff(args.coarse_out, dm.coarse, {**info, "refined": False})
    lo, med, hi = (float(v) for v in np.percentile(dm.sigma, (0, 50, 100)))
    print(
        f"sigma map {dm.sigma.shape[0]}x{dm.sigma.shape[1]} (HxW): {lo:.2f}..{hi:.2f} px (median "
        f"{med:.2f}) from {dm.patches} patches in {seconds:.1f} s; wrote {out}"
    )
    if args.depth_out:
        A, F = _depth_params(args, model.info)
        try:
            near, far = depth_candidates(dm.sigma, A, F, float(args.focus_mm))
        except OpticsError as exc:
            raise UserFacingError(str(exc)) from None
        dinfo = {**info, "what": "depth, mm", "A_px": A, "F_mm": F, "focus_mm": args.focus_mm}
        target = Path(args.depth_out)
        written = []
        for side, arr in (("near", near), ("far", far)):
            if args.side in (side, "both"):
                path = (
                    target
                    if args.side == side
                    else target.with_name(f"{target.stem}-{side}{target.suffix or '.tif'}")
                )
                write_float_tiff(path, arr, {**dinfo, "side": side})
                written.append(str(path))
        print(
            "depth: one image cannot tell in front of the focus plane from behind it: sigma "
            f"gives D = Df/(1+k) (near) or Df/(1-k) (far, NaN where k >= 1), k = sigma(Df-F)/"
            f"(A F), A = {A:g} px, F = {F:g} mm, Df = {args.focus_mm:g} mm; wrote "
            + ", ".join(written)
        )
    return 0
