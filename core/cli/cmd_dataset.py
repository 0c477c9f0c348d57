"""``psfbench dataset``: defocus training data rendered through a fitted PSF, on Dask."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from psfbench.core.cli.common import size_arg

if TYPE_CHECKING:
    from psfbench.core.datagen import GenerationConfig


def register(sub: argparse._SubParsersAction) -> None:
    from psfbench.core.cli.cluster_args import add_cluster_args

    p = sub.add_parser(
        "dataset",
        help="generate defocus training data with a fitted PSF (WebDataset tar shards)",
        description="See docs/dataset-generation.md.",
    )
    what = p.add_subparsers(dest="dataset_command", metavar="WHAT")
    what.required = True
    g = what.add_parser(
        "generate",
        help="render defocused images + sigma maps + depth + parameters, shard by shard",
        description="Renders COUNT samples from RGB-D pairs (or synthetic scenes) through the "
        "fitted PSF at focus depths drawn over a range, as WebDataset-style tar shards with a "
        "manifest, on Dask. Run the same command again to resume an interrupted run.",
    )
    g.add_argument("--psf", required=True, help="fit JSON (results/fit.json) or a fitted session")
    g.add_argument(
        "--source",
        required=True,
        help="folder of RGB-D pairs (NAME.png + NAME_depth.tif/.npy, or rgb/ + depth/), or "
        "synthetic:KIND[,KIND...] (planes, tilted, steps, objects, slanted_edges, chessboard)",
    )
    g.add_argument("--out", required=True, help="output folder (created; resumed if it exists)")
    g.add_argument("--count", type=int, required=True, help="samples to generate")
    g.add_argument("--shard-size", type=int, default=256, help="samples per shard")
    g.add_argument("--seed", type=int, default=0, help="master seed (sample i: seed, i)")
    g.add_argument(
        "--focus-range",
        nargs=2,
        type=float,
        default=None,
        metavar=("NEAR", "FAR"),
        help="focus depths Df to draw from, mm (default: each scene's own depth range)",
    )
    g.add_argument(
        "--focus-sampling",
        choices=("inverse", "linear"),
        default="inverse",
        help="uniform in 1/Df (lens travel; default) or in Df",
    )
    g.add_argument(
        "--shuffle",
        action="store_true",
        help="histogram-invariant spatial shuffle of each source image first (a sharp "
        "all-in-focus texture with the source's colours)",
    )
    g.add_argument("--method", choices=("layered", "scatter"), default="layered")
    g.add_argument("--noise-sd", type=float, default=0.0, help="Gaussian noise, full scale")
    g.add_argument("--bit-depth", type=int, choices=(8, 16), default=8, help="PNG bits")
    g.add_argument("--crop", type=size_arg, default=None, help="random HEIGHTxWIDTH window")
    g.add_argument("--no-depth", action="store_true", help="do not store depth maps")
    g.add_argument(
        "--depth-scale", type=float, default=1.0, help="depth files' unit in mm (1000: metres)"
    )
    g.add_argument(
        "--size", type=size_arg, default=(256, 320), help="synthetic scenes: HEIGHTxWIDTH"
    )
    g.add_argument(
        "--focal-length-mm", type=float, default=None, help="F when the fit JSON has no session"
    )
    g.add_argument(
        "--psf-scale",
        type=float,
        default=1.0,
        help="source pixels per fitted-frame pixel (0.5: sources at half the resolution)",
    )
    g.add_argument(
        "--device", default="auto", help="torch device: cpu, cuda, or auto (GPU workers if any)"
    )
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    add_cluster_args(g)
    g.set_defaults(func=run_generate)

    v = what.add_parser(
        "verify",
        help="check a generated dataset's shards and regenerate samples from provenance",
    )
    v.add_argument("out", help="dataset folder")
    v.add_argument(
        "--regenerate",
        type=int,
        default=4,
        metavar="N",
        help="samples to regenerate and compare byte for byte (default 4)",
    )
    v.set_defaults(func=run_verify)


def _config(args: argparse.Namespace, device: str) -> GenerationConfig:
    from psfbench.core.datagen import GenerationConfig, load_psf, scan_folder, synthetic_sources
    from psfbench.core.datagen.sample import check_crop

    psf = load_psf(
        args.psf,
        focal_length_mm=args.focal_length_mm,
        scale=args.psf_scale,
        note=lambda line: print(line, flush=True),
    )
    if str(args.source).startswith("synthetic:"):
        sources = synthetic_sources(str(args.source)[len("synthetic:") :], tuple(args.size))
    else:
        sources = scan_folder(args.source, depth_scale=args.depth_scale)  # type: ignore[assignment]
    cfg = GenerationConfig(
        psf=psf,
        sources=sources,
        count=int(args.count),
        shard_size=int(args.shard_size),
        seed=int(args.seed),
        focus_range_mm=None if args.focus_range is None else tuple(args.focus_range),
        focus_sampling=args.focus_sampling,
        shuffle=bool(args.shuffle),
        method=args.method,
        noise_sd=float(args.noise_sd),
        bit_depth=int(args.bit_depth),
        crop=None if args.crop is None else tuple(args.crop),
        store_depth=not args.no_depth,
        device=device,
    )
    cfg.validate()
    check_crop(cfg)
    return cfg


def run_generate(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from psfbench.core.batch.cluster import BatchSetupError, gpu_workers
    from psfbench.core.cli import UserFacingError
    from psfbench.core.cli.cluster_args import announce, open_cluster
    from psfbench.core.cli.progress_bar import StageBars
    from psfbench.core.datagen import DatagenError
    from psfbench.core.datagen.generate import generate
    from psfbench.core.datagen.shards import shard_pattern

    bars = StageBars(enabled=not args.quiet, unit="shard")
    try:
        # sources scanned and hashed before any worker starts: bad inputs fail at once
        cfg = _config(args, "cpu" if args.device == "auto" else args.device)
        with open_cluster(args) as handle:
            announce(handle, args)
            if args.device == "auto" and gpu_workers(handle.client):
                cfg = dataclasses.replace(cfg, device="cuda")
            report = generate(handle, cfg, Path(args.out), progress=bars)
    except (BatchSetupError, DatagenError) as exc:
        raise UserFacingError(str(exc)) from None
    finally:
        bars.close()
    n_shards = cfg.n_shards
    if report.skipped:
        print(f"resumed: {len(report.skipped)} shard(s) were complete already")
    if report.debris:
        print(f"removed {report.debris} unfinished shard file(s) of an interrupted run")
    rate = f" ({report.samples_per_s:.1f} samples/s)" if report.samples_written else ""
    print(
        f"wrote {len(report.written)} shard(s), {report.samples_written} samples in "
        f"{report.wall_s:.1f} s{rate}; {args.out}: {report.samples} of "
        f"{cfg.count} samples in {shard_pattern(n_shards)}"
    )
    return 0


def run_verify(args: argparse.Namespace) -> int:
    from psfbench.core.cli import UserFacingError
    from psfbench.core.datagen import DatagenError
    from psfbench.core.datagen.generate import verify_dataset

    try:
        rep = verify_dataset(args.out, regenerate=args.regenerate)
    except DatagenError as exc:
        raise UserFacingError(str(exc)) from None
    print(f"{rep.shards} shard(s), {rep.samples} samples checked against shards.jsonl")
    if rep.missing_shards:
        print(f"missing shards (resume the run): {rep.missing_shards}")
    for name in rep.bad_shards:
        print(f"BAD shard (checksum or sample keys): {name}")
    if rep.duplicates:
        print(f"DUPLICATE samples: {rep.duplicates[:10]}")
    print(
        f"regenerated {rep.regenerated} sample(s) from dataset.json: "
        + ("all bit-identical" if not rep.mismatched else f"DIFFERENT: {rep.mismatched}")
    )
    return 0 if rep.ok else 1
