"""``psfbench acquire sweep|aif|resume``: what a technician runs at the bench.

Ctrl-C is a clean abort, never a crash: the first Ctrl-C asks the engine to stop (motor
stopped, frames already taken are saved, the session stays valid) and the command tells how to
resume. Errors from profiles, devices, disk or plans come back as one clear line naming the
file or field (exit 2); an aborted run exits 130, a failed one 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from typing import Any

from psfbench.core.cli.common import saturation_arg


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("acquire", help="run a focus sweep (or AIF shot) on a bench, or resume one")
    asub = p.add_subparsers(dest="acquire_command", metavar="ACTION")
    asub.required = True

    sw = asub.add_parser(
        "sweep",
        help="focus sweep into a new session folder",
        description="Step the focus motor through a range, read d and store one frame per step.",
    )
    _bench_args(sw)
    sw.add_argument("--out", required=True, metavar="DIR", help="new session folder")
    sw.add_argument("--steps", type=int, default=40, help="number of sweep steps (default 40)")
    sw.add_argument("--start", type=float, help="first position (default: profile's range)")
    sw.add_argument("--stop", type=float, help="last position (default: profile's range)")
    sw.add_argument(
        "--unit", choices=("steps", "mm"), default="steps", help="unit of --start/--stop"
    )
    sw.add_argument("--settle", type=float, default=0.2, help="settle time per step, s")
    sw.add_argument("--average", type=int, default=1, help="frames averaged per step")
    sw.add_argument("--exposure", type=float, help="exposure time, us (default: profile)")
    sw.add_argument("--gain", type=float, help="gain, dB (default: profile)")
    sw.add_argument(
        "--trigger",
        choices=("software", "hardware"),
        default=None,
        help="software grab per step, or the controller's trigger line (default: profile)",
    )
    sw.add_argument(
        "--aif",
        choices=("capture", "skip"),
        default="capture",
        help="after the sweep, prompt for the minimum-aperture all-in-focus shot (default)",
    )
    sw.add_argument("--aif-average", type=int, default=4, help="frames averaged for the AIF")
    sw.set_defaults(func=run_sweep)

    aif = asub.add_parser("aif", help="(re)take the all-in-focus shot of an existing session")
    aif.add_argument("dir", metavar="DIR", help="session folder")
    aif.add_argument("--average", type=int, default=4)
    _ui_args(aif)
    aif.set_defaults(func=run_aif)

    fr = asub.add_parser(
        "fringe",
        help="fringe-projection scan to a depth map (3 frequencies x 4 steps by default)",
        description="Project phase-shifted fringes, store each frame as it arrives, decode "
        "(heterodyne unwrapping, triangulation) to depth.tif (float32 mm, NaN invalid) and "
        "points.ply. Take it stopped down, like the all-in-focus shot.",
    )
    _bench_args(fr)
    fr.add_argument("--out", required=True, metavar="DIR", help="output folder")
    fr.add_argument(
        "--calibration",
        help="ProcamCalibration JSON (psfbench calibrate procam); default: the bench "
        "profile's <profile>.procam.json that the GUI's calibration wizard saves beside the "
        "profile (the virtual bench: its exact geometry)",
    )
    fr.add_argument("--counts", type=float, nargs="+", help="fringe counts (default 70 64.2 59.2)")
    fr.add_argument("--phase-steps", type=int, default=4, help="phase shifts per frequency")
    fr.add_argument("--axis", choices=("x", "y"), help="fringe direction (default: x)")
    fr.add_argument("--settle", type=float, default=0.05, help="settle time per pattern, s")
    fr.add_argument("--exposure", type=float, help="exposure time, us")
    fr.add_argument("--session", help="also store the depth map into this session")
    fr.add_argument(
        "--saturation",
        type=saturation_arg,
        default="auto",
        metavar="LEVEL|auto|none",
        help="sample value at which the camera clips; pixels where a fringe image reaches it "
        "get no depth. auto (default): the camera's clip level from its pixel format (Mono8 "
        "255, Mono12 4095, Mono16 65520); none: no check",
    )
    fr.set_defaults(func=run_fringe)

    rs = asub.add_parser("resume", help="continue an interrupted sweep (no gaps, no duplicates)")
    rs.add_argument("dir", metavar="DIR", help="session folder of the interrupted sweep")
    _ui_args(rs)
    rs.set_defaults(func=run_resume)


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--profile",
        default="virtual",
        help="device profile: a name ('virtual', or <config dir>/<name>.toml) or a TOML path",
    )
    p.add_argument(
        "--virtual",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a virtual-bench setting (e.g. width=320, time_scale=0.01); repeatable",
    )
    _ui_args(p)


def _ui_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--yes", action="store_true", help="confirm operator prompts automatically")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


# ------------------------------------------------------------------------------- handlers


def _overrides(items: list[str]) -> dict[str, Any]:
    import json

    from psfbench.core.cli import UserFacingError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise UserFacingError(f"--virtual {item!r}: expected KEY=VALUE")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


def _open(profile: Any, overrides: dict[str, Any] | None = None) -> Any:
    from psfbench.core.acquisition.bench_io import open_bench_from
    from psfbench.core.cli import UserFacingError
    from psfbench.core.config.profiles import ConfigError
    from psfbench.core.devices import DeviceError

    try:
        return open_bench_from(profile, **(overrides or {}))
    except ConfigError as exc:
        raise UserFacingError(str(exc)) from None
    except DeviceError as exc:
        raise UserFacingError(f"cannot open the bench: {exc}") from None


def run_sweep(args: argparse.Namespace) -> int:
    from pathlib import Path

    from psfbench.core.acquisition import FocusSweepPlan, PlanError
    from psfbench.core.acquisition.bench_io import default_range, steps_per_mm
    from psfbench.core.acquisition.session_io import session_path_ok
    from psfbench.core.acquisition.sessions import create_sweep_session
    from psfbench.core.cli import UserFacingError
    from psfbench.core.dataset import DatasetError

    out = Path(args.out)
    try:
        session_path_ok(out)
    except PlanError as exc:
        raise UserFacingError(str(exc)) from None
    bench = _open(args.profile, _overrides(args.virtual))
    try:
        if args.start is None or args.stop is None:
            lo, hi = default_range(bench)
            spm = steps_per_mm(bench) if args.unit == "mm" else 1.0
            start = args.start if args.start is not None else lo / spm
            stop = args.stop if args.stop is not None else hi / spm
        else:
            start, stop = args.start, args.stop
        trigger = args.trigger or (
            "hardware" if bench.info.settings.camera.trigger_mode == "hardware" else "software"
        )
        try:
            plan = FocusSweepPlan.from_range(
                start,
                stop,
                args.steps,
                unit=args.unit,
                steps_per_mm=steps_per_mm(bench),
                settle_s=args.settle,
                average=args.average,
                exposure_us=args.exposure,
                gain_db=args.gain,
                trigger=trigger,
            )
        except PlanError as exc:
            raise UserFacingError(f"sweep: {exc}") from None
        try:
            writer = create_sweep_session(
                out, bench, plan, aif=args.aif, aif_average=args.aif_average
            )
        except (DatasetError, OSError, PlanError) as exc:
            raise UserFacingError(f"cannot create the session: {exc}") from None
        try:
            return _run_session(args, bench, writer, plan, steps=None, resumed=False)
        finally:
            writer.close()
    finally:
        _close(bench)


def run_resume(args: argparse.Namespace) -> int:
    from psfbench.core.acquisition import PlanError
    from psfbench.core.acquisition.sessions import pending_work
    from psfbench.core.cli import UserFacingError
    from psfbench.core.dataset import DatasetError, SessionWriter

    try:
        writer = SessionWriter.open_existing(args.dir)
    except DatasetError as exc:
        raise UserFacingError(str(exc)) from None
    try:
        try:
            work = pending_work(writer)
        except PlanError as exc:
            raise UserFacingError(str(exc)) from None
        for repair in writer.repairs:
            print(f"repaired: {repair}", file=sys.stderr)
        if work.profile is None:
            raise UserFacingError(
                f"{args.dir}/session.json: plan.parameters.device_profile: missing; "
                "cannot reopen the bench this session was taken with"
            )
        plan, missing = work.plan, work.missing_steps
        if work.complete:
            print(f"{args.dir}: nothing to resume, all {plan.total_steps()} steps are saved")
            return 0
        bench = _open(work.profile)
        try:
            from psfbench.core.acquisition.sessions import complete_ground_truth

            if complete_ground_truth(writer, bench):
                print("repaired: wrote the virtual bench's depth map", file=sys.stderr)
            if not missing:
                return _capture_aif(args, bench, writer)
            print(
                f"resuming: {len(missing)} of {plan.total_steps()} steps missing", file=sys.stderr
            )
            return _run_session(args, bench, writer, plan, steps=missing, resumed=True)
        finally:
            _close(bench)
    finally:
        writer.close()


def run_fringe(args: argparse.Namespace) -> int:
    from pathlib import Path

    from psfbench.core.acquisition.fringe_scan import run_fringe_scan, world_calibration
    from psfbench.core.cli import UserFacingError
    from psfbench.core.dataset import DatasetError

    params: dict[str, Any] = {"steps": args.phase_steps}
    if args.counts:
        params["counts"] = list(args.counts)
    if args.axis:
        params["axis"] = args.axis
    bench = _open(args.profile, _overrides(args.virtual))
    try:
        if args.calibration:
            cal = _read_procam(Path(args.calibration))
            print(f"calibration: {args.calibration}")
        elif world_calibration(bench) is not None:
            cal = None  # run_fringe_scan takes the virtual bench's exact geometry
            print("calibration: the virtual bench's exact geometry")
        else:
            cal = _profile_procam(bench)
        res = run_fringe_scan(
            bench,
            Path(args.out),
            params=params,
            calibration=cal,
            settle_s=args.settle,
            exposure_us=args.exposure,
            session=args.session,
            saturation=args.saturation,
        )
    except (ValueError, DatasetError) as exc:
        raise UserFacingError(str(exc)) from None
    finally:
        bench.close()
    if res.status != "ok":
        print(f"fringe scan {res.status}: {res.frames} frames kept in {res.out_dir / 'frames'}")
        return 1
    extra = "" if res.rmse_vs_truth_mm is None else f", RMSE vs truth {res.rmse_vs_truth_mm:.3f} mm"
    print(
        f"fringe scan: {res.frames} frames, {100 * res.valid_fraction:.1f}% valid{extra} -> "
        f"{res.out_dir / 'depth.tif'}, {res.out_dir / 'points.ply'}"
    )
    print(f"  {res.saturation_text}")
    if res.saturated_pixels > 0.01 * res.pixels:
        print(
            "  hint: lower the exposure (--exposure) until nothing clips; the GUI's fringe "
            "panel's 'Check white / black' proposes one"
        )
    return 0


def _read_procam(path: Any) -> Any:
    from psfbench.core.cli.common import read_procam_calibration

    return read_procam_calibration(path)


def _profile_procam(bench: Any) -> Any:
    """The calibration the GUI's wizard saved beside the bench profile
    (``<profile>.procam.json``), saying which file; a clear error naming where it looked."""
    from psfbench.core.cli import UserFacingError
    from psfbench.core.fringe.calibrate import profile_calibration_path

    info = bench.info
    source = getattr(info, "source", None)
    path = profile_calibration_path(str(info.profile), None if source is None else str(source))
    if not path.is_file():
        raise UserFacingError(
            f"no projector-camera calibration: pass --calibration FILE (from `psfbench "
            f"calibrate procam`) or save one for profile {info.profile!r} with the GUI's "
            f"calibration wizard (looked for {path})"
        )
    cal = _read_procam(path)
    print(f"calibration: {path} (the bench profile's, saved by the calibration wizard)")
    return cal


def run_aif(args: argparse.Namespace) -> int:
    from psfbench.core.acquisition.session_io import stored_profile
    from psfbench.core.cli import UserFacingError
    from psfbench.core.dataset import DatasetError, SessionWriter

    try:
        writer = SessionWriter.open_existing(args.dir)
    except DatasetError as exc:
        raise UserFacingError(str(exc)) from None
    try:
        profile = stored_profile(writer.meta)
        if profile is None:
            raise UserFacingError(
                f"{args.dir}/session.json: plan.parameters.device_profile: missing"
            )
        bench = _open(profile)
        try:
            return _capture_aif(args, bench, writer, average=args.average)
        finally:
            _close(bench)
    finally:
        writer.close()


# ------------------------------------------------------------------------------- running


def _run_session(
    args: argparse.Namespace,
    bench: Any,
    writer: Any,
    plan: Any,
    *,
    steps: list[int] | None,
    resumed: bool,
) -> int:
    from psfbench.core.acquisition.session_io import SessionSink

    code = _drive(
        args,
        bench,
        plan,
        SessionSink(writer),
        steps=steps,
        resumed=resumed,
        session=str(writer.path),
    )
    if code != 0:
        return code
    from psfbench.core.acquisition.sessions import wants_aif

    if wants_aif(writer):
        return _capture_aif(args, bench, writer)
    print(f"session complete: {writer.path}")
    return 0


def _capture_aif(
    args: argparse.Namespace, bench: Any, writer: Any, average: int | None = None
) -> int:
    from psfbench.core.acquisition.plans.aif_capture import AifSink
    from psfbench.core.acquisition.sessions import aif_plan_for

    plan = aif_plan_for(writer, average)
    code = _drive(
        args, bench, plan, AifSink(writer), steps=None, resumed=False, session=str(writer.path)
    )
    if code == 0:
        print(f"session complete (with all-in-focus image): {writer.path}")
        if getattr(bench.info, "world", None) is None:
            print("reminder: return the lens to its working aperture before the next sweep")
    return code


def _drive(
    args: argparse.Namespace,
    bench: Any,
    plan: Any,
    sink: Any,
    *,
    steps: list[int] | None,
    resumed: bool,
    session: str,
) -> int:
    """Run one plan with a progress bar, prompts on this thread, and Ctrl-C = clean abort."""
    import queue

    from psfbench.core.acquisition import AcquisitionEngine

    engine = AcquisitionEngine(bench)
    prompts: queue.SimpleQueue[Any] = queue.SimpleQueue()
    bar = _ProgressBar(args.quiet, plan.total_steps(), getattr(plan, "kind", "plan"))
    engine.bus.subscribe(bar, name="progress-bar")
    engine.bus.subscribe(lambda e: prompts.put(e) if e.kind == "prompt" else None, inline=True)
    auto_yes = args.yes or getattr(bench.info, "world", None) is not None
    with _terminate_as_interrupt():
        engine.start(plan, sink, steps=steps, resumed=resumed, session=session)
        result, interrupted = _wait(engine, prompts, auto_yes)
    engine.bus.flush(5)
    bar.close()
    engine.bus.close()
    where = f"psfbench acquire resume {session}"
    if result.status == "completed":
        if not interrupted:
            return 0
        # the stop arrived during the last step: everything is saved, but the operator asked
        # to stop, so the next stage (the all-in-focus prompt) must not start
        print(
            f"stopped: all {result.total} steps were saved before the stop took effect; "
            f"nothing further was started. Continue with: {where}",
            file=sys.stderr,
        )
        return 130
    missing = len(result.missing)
    if result.status == "aborted":
        print(
            f"aborted: {result.done} of {result.total} steps saved, {missing} missing; "
            f"the session is consistent. Continue with: {where}",
            file=sys.stderr,
        )
        return 130
    print(f"error: {result.message}", file=sys.stderr)
    print(
        f"{result.done} of {result.total} steps saved; the session is consistent. "
        f"After fixing the cause, continue with: {where}",
        file=sys.stderr,
    )
    return 1


def _wait(engine: Any, prompts: Any, auto_yes: bool) -> tuple[Any, bool]:
    """Wait for the run, answering prompts here; Ctrl-C (or SIGTERM) asks for a clean abort.

    Returns the run's result and whether an interrupt arrived (it may arrive during the last
    step, when the run still completes: the caller then must not start the next stage)."""
    import queue

    result = None
    interrupted = False
    while result is None:
        try:
            try:
                prompt = prompts.get(timeout=0.1)
            except queue.Empty:
                prompt = None
            if prompt is not None:
                engine.answer(prompt.prompt_id, _ask(prompt.message, auto_yes))
            result = engine.wait(0)
        except KeyboardInterrupt:
            engine.abort()  # first, so a second signal during the message cannot lose it
            if not interrupted:
                print("\nCtrl-C: stopping after the current step ...", file=sys.stderr)
            interrupted = True
    return result, interrupted


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Ctrl-C (SIGINT) and SIGTERM (a closed terminal, a service stop) both become a clean
    abort while a run is going.

    SIGINT is installed explicitly too: Python only installs its KeyboardInterrupt handler when
    SIGINT is not ignored at start-up, and a process started in the background by a
    non-interactive shell (``make test &``, a service wrapper) inherits SIGINT ignored; without
    this the run would ignore Ctrl-C / ``kill -INT`` and sweep to the end.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _ask(message: str, auto_yes: bool) -> bool:
    print(f"\n>>> {message}", file=sys.stderr)
    if auto_yes:
        print(">>> (confirmed automatically)", file=sys.stderr)
        return True
    if not sys.stdin or not sys.stdin.isatty():
        print(">>> no terminal to confirm on; use --yes", file=sys.stderr)
        return False
    answer = input(">>> press Enter to continue, or type 'n' to cancel: ")
    return answer.strip().lower() not in ("n", "no")


def _close(bench: Any) -> None:
    try:
        bench.close()
    except Exception as exc:
        print(f"warning: {exc}", file=sys.stderr)


class _ProgressBar:
    """tqdm fed from the event bus (on the bus's thread, never the acquisition thread); when
    stderr is not a terminal (a log file, a pipe), a plain line every tenth of the sweep
    instead of a bar's carriage returns."""

    def __init__(
        self, quiet: bool, total: int, label: str, interactive: bool | None = None
    ) -> None:
        self._bar: Any = None
        self._lines = False
        self._label, self._total, self._next = label, total, 0
        tty = sys.stderr.isatty() if interactive is None else interactive
        if not quiet and tty:
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit="step", file=sys.stderr)
        elif not quiet:
            self._lines = True

    def _line(self, done: int, eta_s: float | None) -> None:
        if done < self._next and done < self._total:
            return
        self._next = done + max(1, self._total // 10)
        eta = "" if eta_s is None else f", ETA {eta_s:.0f} s"
        print(f"{self._label}: {done}/{self._total} steps{eta}", file=sys.stderr, flush=True)

    def __call__(self, event: Any) -> None:
        kind = event.kind
        if kind == "started" and self._bar is not None:
            self._bar.n = event.total_steps - event.steps_to_run
            self._bar.refresh()
        elif kind == "started" and self._lines:
            self._line(event.total_steps - event.steps_to_run, None)
        elif kind == "progress" and self._bar is not None:
            self._bar.n = event.done
            eta = "?" if event.eta_s is None else f"{event.eta_s:.0f}s"
            self._bar.set_postfix_str(f"ETA {eta}", refresh=True)
        elif kind == "progress" and self._lines:
            self._line(int(event.done), event.eta_s)
        elif kind == "warning":
            self._write(f"warning: {event.message}")
        elif kind == "paused":
            self._write("paused")
        elif kind == "resumed":
            self._write("resumed")

    def _write(self, text: str) -> None:
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
