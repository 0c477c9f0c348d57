"""``psfbench simulate``: write a session of a synthetic scene through a known PSF."""

from __future__ import annotations

import argparse

from psfbench.core.cli.common import device_arg, resolve_device, size_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="write a simulated session (synthetic scene, known or hidden A and e)",
        description="Render a focus sweep of a synthetic scene with the scatter PSF model, add "
        "sensor and depth noise, and write a session. Omit --A/--e to hide them (drawn from "
        "--seed and stored only in the session's provenance).",
    )
    p.add_argument("--out", required=True, help="session directory to create")
    p.add_argument("--A", type=float, default=None, help="optical parameter (default: hidden)")
    p.add_argument("--e", type=float, default=None, help="mechanical offset, mm (default: hidden)")
    p.add_argument("--scene", default="planes", help="planes, tilted, steps, objects, ...")
    p.add_argument("--frames", type=int, default=40, help="sweep images")
    p.add_argument("--size", type=size_arg, default=(257, 307), help="HEIGHTxWIDTH")
    p.add_argument("--noise", type=float, default=0.01, help="sensor noise sd (full scale)")
    p.add_argument("--depth-noise", type=float, default=0.1, help="depth-map noise sd, mm")
    p.add_argument("--seed", type=int, default=0)
    device_arg(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from psfbench.core.cli import UserFacingError
    from psfbench.core.scenes import SCENE_KINDS
    from psfbench.core.simulation import SimulationSpec, hidden_parameters, simulate_session

    if args.scene not in SCENE_KINDS:
        raise UserFacingError(f"--scene {args.scene!r}: choose one of {', '.join(SCENE_KINDS)}")
    if args.frames < 2:
        raise UserFacingError("--frames must be at least 2")
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UserFacingError(f"--out {out}: directory exists and is not empty")
    hidden_A, hidden_e = hidden_parameters(args.seed)
    hidden = args.A is None or args.e is None
    spec = SimulationSpec(
        A=args.A if args.A is not None else hidden_A,
        e_mm=args.e if args.e is not None else hidden_e,
        scene=args.scene,
        frames=args.frames,
        height=args.size[0],
        width=args.size[1],
        noise=args.noise,
        depth_noise_mm=args.depth_noise,
        seed=args.seed,
    )
    simulate_session(out, spec, device=resolve_device(args.device))
    shown = "hidden" if hidden else f"A={spec.A:g}, e={spec.e_mm:g} mm"
    print(f"wrote {out} ({spec.frames} frames, {spec.scene}, {shown})")
    return 0
