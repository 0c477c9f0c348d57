"""``psfbench demo``: the main job end to end on a simulated session with hidden parameters."""

from __future__ import annotations

import argparse

from psfbench.core.cli.common import device_arg, size_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="simulate a session with hidden A and e, fit it, report true vs recovered",
    )
    p.add_argument("--out", default="out/demo", help="output folder (replaced if it exists)")
    p.add_argument("--scene", default="objects")
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--size", type=size_arg, default=(257, 307), help="HEIGHTxWIDTH")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--quiet", action="store_true")
    device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import shutil
    import time
    from pathlib import Path

    from psfbench.core.cli import cmd_fit, cmd_simulate
    from psfbench.core.fit.report import format_table, write_outputs

    out = Path(args.out)
    session = out / "session"
    if session.exists():
        shutil.rmtree(session)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    print(f"[1/2] simulating a {args.scene} session with hidden A and e -> {session}")
    sim_args = argparse.Namespace(
        out=str(session),
        A=None,
        e=None,
        scene=args.scene,
        frames=args.frames,
        size=args.size,
        noise=0.01,
        depth_noise=0.1,
        seed=args.seed,
        device=args.device,
    )
    cmd_simulate.run(sim_args)
    print("[2/2] fitting (A, e) on the paper's grid, coarse-to-fine, scatter-model zoom, bootstrap")
    # the fit command's own defaults (no second copy of them to drift)
    fit_parser = argparse.ArgumentParser(add_help=False)
    cmd_fit.add_fit_args(fit_parser)
    fit_args = fit_parser.parse_args(
        [str(session), "--frames", str(args.frames), "--aif", "captured", "--device", args.device]
        + (["--quiet"] if args.quiet else [])
    )
    result, _, truth = cmd_fit.run_fit(fit_args)
    paths = write_outputs(result, session / "results", truth=truth)  # type: ignore[arg-type]
    print()
    print(format_table(result, truth=truth))  # type: ignore[arg-type]
    if truth is not None:
        A_err = 100 * abs(result.A - truth[0]) / truth[0]  # type: ignore[attr-defined]
        e_err = abs(result.e - truth[1])  # type: ignore[attr-defined]
        ok = A_err <= 1.0 and e_err <= 0.05
        verdict = "RECOVERED" if ok else "NOT within tolerance"
        print(
            f"\ntrue A={truth[0]:.2f} e={truth[1]:.4f} | "
            f"fit A={result.A:.2f} e={result.e:.4f} | "  # type: ignore[attr-defined]
            f"|dA|={A_err:.2f}% |de|={e_err:.4f} mm -> {verdict} (tolerance 1%, 0.05 mm)"
        )
    print(f"plots: {paths['plot_total']}  {paths['plot_terms']}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
