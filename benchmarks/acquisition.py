"""Acquisition streaming: full-size frames from the virtual camera to disk, none dropped.

Four rates measured side by side in one run, on the same frames and the same disk:

* ``camera_only``: trigger + retrieve from the virtual camera, nothing saved (source ceiling);
* ``disk_only``: ``SessionWriter.write_frame`` of one pre-grabbed frame in a loop (the
  crash-safe store's ceiling: TIFF encode, fsync'd atomic rename, fsync'd log line);
* ``serial_loop``: the naive one-thread loop (trigger, retrieve, save, repeat);
* ``engine``: the acquisition engine with a :class:`RepeatCapturePlan` (acquisition thread,
  bounded writer queue, event bus) with three subscribers attached: an inline queue (what the
  GUI's EventPump does), a responsive threaded one, and a deliberately slow one (5 ms per
  event, a sluggish GUI redraw).

Dropped frames are counted from the camera's own counter and from frame-id continuity in the
stored records. Event-dispatch latency is emit -> handler start, per subscriber. The sensor
noise model is off by default (``--noise`` turns it on): on a CPU it costs more per frame than
saving does and would hide the pipeline. Timings are noisy on a shared machine.

Run: .venv/bin/python benchmarks/acquisition.py [--frames 60] [--width 2048 --height 1536]
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _fs_type(path: Path) -> str:
    best, kind = "", "unknown"
    try:
        for line in Path("/proc/mounts").read_text().splitlines():
            parts = line.split()
            if len(parts) > 2 and str(path).startswith(parts[1]) and len(parts[1]) > len(best):
                best, kind = parts[1], parts[2]
    except OSError:
        pass
    return kind


def _writer(path: Path, bench: Any, plan: Any) -> Any:
    from psfbench.core.acquisition.bench_io import session_meta
    from psfbench.core.dataset import SessionWriter

    return SessionWriter.create(path, session_meta(bench, plan))


def _open(source: str, args: argparse.Namespace, tmp: Path) -> Any:
    from psfbench.core.devices.factory import open_bench

    overrides = {"time_scale": 0.001, "noise": bool(args.noise), "scene": "planes"}
    if source == "virtual":
        overrides |= {"width": args.width, "height": args.height}
        return open_bench("virtual", virtual_overrides=overrides)
    profile = tmp / "emulator.toml"
    profile.write_text(
        'name = "basler-emulator"\n[camera]\ndriver = "basler"\nemulated = 1\n'
        f'pixel_format = "Mono12"\nroi = [0, 0, {args.width}, {args.height}]\n'
    )
    return open_bench(profile, virtual_overrides=overrides)


def measure(source: str, args: argparse.Namespace, base: Path) -> dict[str, Any]:
    from psfbench.core.acquisition import AcquisitionEngine, EventBus
    from psfbench.core.acquisition.plans import RepeatCapturePlan
    from psfbench.core.acquisition.session_io import SessionSink
    from psfbench.core.dataset import Session

    n = args.frames
    with tempfile.TemporaryDirectory(dir=base) as tmp_s:
        tmp = Path(tmp_s)
        bench = _open(source, args, tmp)
        cam = bench.camera
        assert cam.pixel_format == "Mono12"
        bench.focus.home()
        bench.focus.move_abs(2000)
        t0 = time.perf_counter()
        cam.trigger_mode = "software"
        cam.start_streaming(strategy="one_by_one")
        cam.trigger()
        first = cam.retrieve(120.0)  # the virtual camera renders once (cached at fixed focus)
        t_first = time.perf_counter() - t0

        # 1. camera only
        t0 = time.perf_counter()
        for _ in range(n):
            cam.trigger()
            cam.retrieve(30.0)
        camera_fps = n / (time.perf_counter() - t0)
        cam.stop_streaming()

        plan = RepeatCapturePlan(count=n, position=2000)
        fields = {"d_mm": 30.0, "motor_steps": 2000}

        # 2. disk only
        w = _writer(tmp / "disk", bench, plan)
        t0 = time.perf_counter()
        for i in range(n):
            w.write_frame(i, first.image, fields)
        disk_fps = n / (time.perf_counter() - t0)
        w.close()

        # 3. serial loop
        w = _writer(tmp / "serial", bench, plan)
        cam.start_streaming(strategy="one_by_one")
        t0 = time.perf_counter()
        for i in range(n):
            cam.trigger()
            frame = cam.retrieve(30.0)
            w.write_frame(i, frame.image, fields)
        serial_fps = n / (time.perf_counter() - t0)
        cam.stop_streaming()
        w.close()

        # 4. engine with subscribers
        w = _writer(tmp / "engine", bench, plan)
        bus = EventBus()
        gui_queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        lat_fast: list[float] = []
        lat_slow: list[float] = []

        def fast(e: Any) -> None:
            lat_fast.append(time.monotonic() - e.t)

        def slow(e: Any) -> None:
            lat_slow.append(time.monotonic() - e.t)
            time.sleep(0.005)

        bus.subscribe(gui_queue.put, inline=True, name="gui-pump")
        bus.subscribe(fast, name="fast")
        bus.subscribe(slow, name="slow")
        engine = AcquisitionEngine(bench, bus=bus, writer_queue=4)
        t0 = time.perf_counter()
        result = engine.run(plan, SessionSink(w))
        engine_fps = n / (time.perf_counter() - t0)
        w.close()
        bus.flush(60)
        bus.close()
        assert result.status == "completed", result.message
        session = Session.open(tmp / "engine")
        ids = [int(r.device_state["frame_id"]) for r in session.records]
        gaps = sum(b - a - 1 for a, b in zip(ids, ids[1:], strict=False))
        dropped = int(cam.dropped_frames) + gaps + (n - len(ids))
        events = gui_queue.qsize()
        mb = first.image.nbytes / 1e6
        bench.close()
    lat_fast.sort()
    p99 = lat_fast[int(0.99 * (len(lat_fast) - 1))] if lat_fast else 0.0
    out = {
        "camera": source,
        "frame": f"{args.width}x{args.height} Mono12 (uint16, {mb:.1f} MB)",
        "first_frame_s": round(t_first, 3),
        "camera_only_fps": round(camera_fps, 2),
        "disk_only_fps": round(disk_fps, 2),
        "serial_loop_fps": round(serial_fps, 2),
        "engine_fps": round(engine_fps, 2),
        "engine_MB_per_s": round(engine_fps * mb, 1),
        "engine_vs_serial_loop": round(engine_fps / serial_fps, 3),
        "engine_vs_camera_only": round(engine_fps / camera_fps, 3),
        "dropped_frames": dropped,
        "events_emitted": events,
        "dispatch_latency_ms": {
            "fast_subscriber_max": round(1e3 * (lat_fast[-1] if lat_fast else 0.0), 3),
            "fast_subscriber_p99": round(1e3 * p99, 3),
            "fast_subscriber_median": round(1e3 * statistics.median(lat_fast or [0.0]), 3),
            "slow_subscriber_max": round(1e3 * max(lat_slow or [0.0]), 1),
        },
    }
    print(
        f"[{source}] {out['frame']}: camera {camera_fps:.1f} fps, disk {disk_fps:.1f} fps, "
        f"serial loop {serial_fps:.1f} fps, engine {engine_fps:.1f} fps "
        f"({out['engine_vs_serial_loop']}x serial), dropped {dropped}, worst dispatch latency "
        f"{out['dispatch_latency_ms']['fast_subscriber_max']} ms"
    )
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--width", type=int, default=2048)
    ap.add_argument("--height", type=int, default=1536)
    ap.add_argument("--noise", action="store_true", help="simulate shot/read noise per frame")
    ap.add_argument("--dir", default=None, help="where to write (default: system temp dir)")
    ap.add_argument(
        "--camera",
        choices=("virtual", "basler-emulator", "both"),
        default="both",
        help="frame source (the emulator needs pypylon)",
    )
    args = ap.parse_args()
    base = Path(args.dir) if args.dir else Path(tempfile.gettempdir())
    sources = ["virtual", "basler-emulator"] if args.camera == "both" else [args.camera]
    results = []
    for source in sources:
        if source == "basler-emulator":
            try:
                import pypylon  # noqa: F401
            except ImportError:
                print("[basler-emulator] skipped: pypylon not installed")
                continue
        results.append(measure(source, args, base))
    dropped = sum(r["dropped_frames"] for r in results)
    summary = {
        "benchmark": "acquisition",
        "frames_per_run": args.frames,
        "filesystem": _fs_type(base),
        "noise_model": bool(args.noise),
        "results": results,
        "best_engine_fps": max(r["engine_fps"] for r in results),
        "dropped_frames": dropped,
        "worst_dispatch_latency_ms": max(
            r["dispatch_latency_ms"]["fast_subscriber_max"] for r in results
        ),
        "note": "shared 2-core machine: timings are noisy; ratios are from the same run",
    }
    assert dropped == 0, "frames were dropped"
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
