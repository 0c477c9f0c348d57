"""``psfbench stack``: all-in-focus image (and depth from focus) from any focus stack.

Works on plain image files, not only psfbench sessions, so a lab user can fuse a stack from any
camera. The output keeps the frames' size, channels and bit depth and sits on the reference
frame's pixel grid (no cropping), in the format its extension names.
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from psfbench.core.cli import UserFacingError

if TYPE_CHECKING:
    import numpy as np

    from psfbench.core.stacking.align import Alignment
    from psfbench.core.stacking.fusion import FusionParams


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "stack",
        help="fuse a focus stack into an all-in-focus image (optionally a depth map)",
        description=(
            "Align (undo focus breathing), fuse by guided focus decision, optionally remove "
            "transition-region haze with a known PSF, and estimate depth from focus. "
            "Frames may be 8/12/16-bit or float, mono or colour, PNG/TIFF/JPEG/BMP; each "
            "page of a multi-page TIFF is a frame; a folder stands for its images in numeric "
            "order."
        ),
    )
    p.add_argument(
        "files",
        nargs="*",
        metavar="FILES",
        help="the stack's frames in sweep order, or a folder of them (taken in numeric order)",
    )
    p.add_argument(
        "--as-given",
        action="store_true",
        help="keep FILES in the order given even when it is text order (frame_10 before "
        "frame_2); by default such a list is taken in numeric order",
    )
    p.add_argument(
        "--session",
        metavar="DIR",
        help="use a psfbench session's sweep instead of FILES (its d and F; add the fitted "
        "--e-mm for depth in mm and --A for diffusion removal, or --fit)",
    )
    p.add_argument(
        "--fit",
        action="store_true",
        help="with --session: take --A and --e-mm from the session's results/fit.json "
        "(psfbench fit); with a depth map the fitted PSF is then inverted over the sweep "
        "(minutes on a CPU; progress on stderr)",
    )
    p.add_argument("--out", required=True, metavar="AIF", help="output image (.tif/.png/.jpg)")
    p.add_argument(
        "--depth",
        metavar="DEPTH",
        help="depth-from-focus map: mm with --d-mm/--e-mm/--focal-length-mm, else the "
        "sub-frame index; float32 in .tif, a scaled view otherwise",
    )
    p.add_argument("--confidence", metavar="CONF", help="confidence map [0, 1] of the depth")
    p.add_argument("--no-align", action="store_true", help="frames are already registered")
    p.add_argument("--reference", type=int, help="frame index of the output grid (default middle)")
    p.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    p.add_argument(
        "--measure",
        default="modified_laplacian",
        choices=["modified_laplacian", "variance_of_laplacian", "tenengrad"],
        help="focus measure (default modified_laplacian)",
    )
    p.add_argument(
        "--scatter-edges",
        action="store_true",
        help="share pixels next to every depth edge among the frames: for stacks known to "
        "follow the paper's scatter model (renders, psfbench's virtual bench), where every "
        "frame is wrong there; by default only strongly two-depth pixels are shared, which "
        "leaves real photographs as they were",
    )
    p.add_argument("--d-mm", type=_floats, help="measured sensor reading d per frame, comma list")
    p.add_argument("--e-mm", type=float, help="fitted mechanical offset e (mm)")
    p.add_argument("--focal-length-mm", type=float, help="focal length F (mm)")
    p.add_argument(
        "--A",
        type=float,
        dest="A",
        help="fitted optical parameter A (needs d, e, F): with --session and its depth map the "
        "image is refined by inverting the fitted PSF over the whole sweep, otherwise "
        "transition-region haze is removed",
    )
    p.add_argument(
        "--no-deconvolution",
        action="store_true",
        help="with --session and --A: diffusion elimination only, even when the session has a "
        "depth map",
    )
    p.add_argument(
        "--psf-sigma",
        type=float,
        help="Gaussian sigma (px) of a defocused foreground, for diffusion elimination "
        "(without --d-mm the FILES must be ordered near to far)",
    )
    p.set_defaults(func=run)


def _sweep_order(files: list[str], as_given: bool) -> tuple[list[str], str]:
    """FILES in sweep order: a list in plain text order (what a shell glob gives) whose
    numeric order differs is taken in numeric order (frame_2 before frame_10)."""
    from psfbench.core.imageio import natural_key

    numeric = sorted(files, key=natural_key)
    if as_given or numeric == files or sorted(files) != files:
        return files, ""
    return (
        numeric,
        " (taken in numeric order, e.g. frame_2 before frame_10; --as-given keeps the text order)",
    )


def _expand_folders(files: list[str]) -> list[str]:
    """FILES with each folder replaced by its images in numeric order. Where most of a folder's
    images share one numbered name pattern (pcb_001.jpg, pcb_002.jpg, ...), the others
    (expected.jpg: another tool's result) are left out, and a note on stderr names them."""
    import re
    from collections import Counter
    from pathlib import Path

    from psfbench.core import imageio

    out: list[str] = []
    for item in files:
        if not Path(item).is_dir():
            out.append(item)
            continue
        try:
            found = imageio.list_images(item)
        except imageio.ImageFileError as exc:
            raise UserFacingError(str(exc)) from None
        patterns = [re.sub(r"\d+", "#", p.name.lower()) if re.search(r"\d", p.name) else None
                    for p in found]  # fmt: skip
        counts = Counter(p for p in patterns if p is not None)
        common, n = counts.most_common(1)[0] if counts else (None, 0)
        if n >= 2 and 2 * n > len(found) and n < len(found):
            kept = [f for f, p in zip(found, patterns, strict=True) if p == common]
            odd = [f.name for f, p in zip(found, patterns, strict=True) if p != common]
            like = re.sub(r"\d", "#", kept[0].name)
            print(
                f"note: {item}: left out {len(odd)} file(s) not named like {like}: "
                f"{', '.join(odd)} (give them by name to include them)",
                file=sys.stderr,
            )
            found = kept
        out.extend(str(f) for f in found)
    return out


def _fusion_params(args: argparse.Namespace, session: bool = False) -> FusionParams:
    """A session's all-in-focus image is made for the PSF fit, which needs the sharp frame at
    depth edges: sharing there reads as a blurrier image and biases A low (virtual bench:
    -0.46 % -> -1.07 %), so sessions fuse as with a PSF."""
    from psfbench.core.stacking.fusion import stack_params

    psf = session or args.A is not None or args.psf_sigma is not None
    return stack_params(psf=psf, scatter_edges=args.scatter_edges, measure=args.measure)


def _align_early(frames: np.ndarray, args: argparse.Namespace) -> Alignment | None:
    """Estimate the alignment (OpenCV only) while torch is still loading in the other thread;
    None where the pipeline must do it itself (NaN samples are filled first) or not at all."""
    import numpy as np

    if args.no_align or len(frames) < 2 or not np.isfinite(frames).all():
        return None
    from psfbench.core.stacking.align import MIN_ALIGN_SIDE, estimate_alignment

    if min(frames.shape[-2:]) < MIN_ALIGN_SIDE:
        return None  # the pipeline says why, as ever
    return estimate_alignment(frames, reference=args.reference)


def _import_engine() -> None:
    import psfbench.core.stacking.pipeline  # noqa: F401  (torch and the engine)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from psfbench.core.stacking.io import (
        StackIOError,
        from_float,
        read_stack,
        write_depth,
        write_image,
    )

    # Importing torch takes ~1.4 s; decoding the frames (OpenCV, GIL released) overlaps it.
    importer = threading.Thread(target=_import_engine, daemon=True)
    importer.start()
    if args.session:
        if args.files:
            raise UserFacingError("give FILES or --session DIR, not both")
        return _run_session(args, importer)
    if not args.files:
        raise UserFacingError("no input images: give FILES or --session DIR")
    files, order_note = _sweep_order(args.files, args.as_given)
    files = _expand_folders(files)
    try:
        stack = read_stack(files)
    except StackIOError as exc:
        raise UserFacingError(str(exc)) from None
    n = len(stack.frames)
    if n != len(args.files) or order_note:
        print(f"frames: {n} from {len(args.files)} input(s){order_note}", file=sys.stderr)
    for note in stack.notes:
        print(f"note: {note}", file=sys.stderr)
    if args.d_mm is not None and len(args.d_mm) != n:
        raise UserFacingError(f"--d-mm has {len(args.d_mm)} values for {n} frames")
    calibrated = args.d_mm is not None and args.e_mm is not None and args.focal_length_mm
    if args.A is not None and not calibrated:
        raise UserFacingError("--A needs --d-mm, --e-mm and --focal-length-mm")
    if args.reference is not None and not 0 <= args.reference < n:
        raise UserFacingError(f"--reference {args.reference} is outside 0..{n - 1}")
    prealigned = _align_early(stack.frames, args)
    importer.join()
    import torch

    from psfbench.core.optics import OpticsError
    from psfbench.core.stacking.pipeline import synthesize_aif

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserFacingError(f"--device {args.device}: CUDA is not available on this machine")
    try:
        result = synthesize_aif(
            stack.frames,
            align=not args.no_align,
            reference=args.reference,
            prealigned=prealigned,
            params=_fusion_params(args),
            d_mm=args.d_mm if calibrated else None,
            e_mm=args.e_mm if calibrated else None,
            F_mm=args.focal_length_mm if calibrated else None,
            A=args.A,
            psf_sigma=args.psf_sigma,
            depth=bool(args.depth or args.confidence),
            device=args.device,
        )
        warnings = list(result.warnings)
        native = from_float(result.aif, stack.dtype, stack.full_scale)
        warnings += write_image(args.out, native, stack.full_scale)
        if args.depth:
            depth = result.depth_mm if result.depth_mm is not None else result.index
            warnings += write_depth(args.depth, np.asarray(depth, np.float32))
        if args.confidence:
            warnings += write_depth(args.confidence, result.confidence)
    except (StackIOError, OpticsError, ValueError) as exc:
        raise UserFacingError(str(exc)) from None
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    t = result.timings
    print(f"wrote {args.out} ({n} frames, {t.get('total_s', 0.0):.2f} s)")
    if args.depth:
        unit = "mm" if result.depth_mm is not None else "sub-frame index"
        print(f"wrote {args.depth} (depth from focus, {unit})")
    if args.confidence:
        print(f"wrote {args.confidence} (confidence of the depth)")
    return 0


def _run_session(args: argparse.Namespace, importer: threading.Thread) -> int:
    """Synthesise all-in-focus from this sweep: frames, d and F come from the session."""
    import numpy as np

    from psfbench.core.dataset import DatasetError, Session
    from psfbench.core.stacking.io import StackIOError, from_float, write_depth, write_image

    try:
        session = Session.open(args.session)
        first = session.frame(session.indices[0])
    except DatasetError as exc:
        raise UserFacingError(str(exc)) from None
    if args.fit:
        _fit_from_results(args)
    if args.A is not None and args.e_mm is None and session.focus_depth_mm is None:
        raise UserFacingError("--A with a session needs the fitted --e-mm")
    bits = int(session.meta.camera.bit_depth)
    dtype = first.dtype
    top = float(2**bits - 1) if np.issubdtype(dtype, np.integer) else None
    importer.join()
    from psfbench.core.optics import OpticsError
    from psfbench.core.stacking.pipeline import synthesize_aif_from_session

    try:
        result = synthesize_aif_from_session(
            session,
            e_mm=args.e_mm,
            A=args.A,
            deconvolution=not args.no_deconvolution,
            align=not args.no_align,
            reference=args.reference,
            params=_fusion_params(args, session=True),
            psf_sigma=args.psf_sigma,
            device=args.device,
            on_iteration=_deconvolution_progress(),
        )
        warnings = list(result.warnings)
        warnings += write_image(args.out, from_float(result.aif, dtype, top))
        if args.depth:
            depth = result.depth_mm if result.depth_mm is not None else result.index
            warnings += write_depth(args.depth, np.asarray(depth, np.float32))
        if args.confidence:
            warnings += write_depth(args.confidence, result.confidence)
    except (DatasetError, StackIOError, OpticsError, ValueError) as exc:
        raise UserFacingError(str(exc)) from None
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    how = " (fitted PSF inverted over the sweep)" if "deconvolution_s" in result.timings else ""
    print(f"wrote {args.out} ({len(session.indices)} frames of {args.session}){how}")
    if args.depth:
        print(f"wrote {args.depth} (depth from focus)")
    if args.confidence:
        print(f"wrote {args.confidence} (confidence of the depth)")
    return 0


def _fit_from_results(args: argparse.Namespace) -> None:
    """``--fit``: A and e of the session's results/fit.json into ``args`` (values given on the
    command line win). Raises UserFacingError naming the file and the missing field."""
    import json
    from pathlib import Path

    path = Path(args.session) / "results" / "fit.json"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserFacingError(f"--fit: {path} does not exist: run psfbench fit first") from None
    except (OSError, ValueError) as exc:
        raise UserFacingError(f"--fit: cannot read {path}: {exc}") from None
    if not isinstance(doc, dict):
        raise UserFacingError(f"--fit: {path} is not a fit result (a JSON object)")
    # after fit --model, the chosen model's A and e (fitted on all frames): fit_choice
    from psfbench.core.psfmodels.spec import PsfModelError, fit_choice

    try:
        choice = fit_choice(doc)
    except PsfModelError as exc:
        raise UserFacingError(f"--fit: {path} {exc}") from None
    if choice.e_mm is None:
        raise UserFacingError(f"--fit: {path} has no finite 'e'")
    name = choice.name
    if args.A is None:
        args.A = choice.A
    if args.e_mm is None:
        args.e_mm = choice.e_mm
    print(
        f"from {path} ({choice.which}): A = {args.A:.2f} px, e = {args.e_mm:.4f} mm",
        file=sys.stderr,
    )
    if name != "gaussian":
        print(
            f"note: the inversion blurs with a Gaussian of the same second moment as the "
            f"{name} PSF (its A), not with the {name} shape",
            file=sys.stderr,
        )


def _deconvolution_progress() -> Callable[[int, int, float], None]:
    """A callback printing the deconvolution's iterations on stderr: one updating line on a
    terminal, every fifth iteration (and the last) when stderr is a file or a pipe."""
    tty = sys.stderr.isatty()

    def show(k: int, n: int, rms: float) -> None:
        line = f"inverting the fitted PSF over the sweep: iteration {k}/{n}, residual rms {rms:.5f}"
        if tty:
            print("\r" + line, end="\n" if k == n else "", file=sys.stderr, flush=True)
        elif k % 5 == 0 or k == n or k == 1:
            print(line, file=sys.stderr, flush=True)

    return show
