"""Batch throughput on Dask: 1 vs 2 local worker processes, side by side in one run.

Two workloads, each timed on a fresh ``LocalCluster`` whose workers were warmed up first
(imports, compiled kernels: a tiny fit on every worker, not timed):

* ``batch fit``: ``--sessions`` simulated sessions fitted with ``psfbench fit``'s pipeline
  (:func:`psfbench.core.batch.batch_fit`), fits per minute;
* ``dataset generate``: ``--samples`` samples of synthetic scenes rendered through a PSF and
  written as tar shards (:func:`psfbench.core.datagen.generate.generate`), samples per second.

Configurations, ``--repeats`` times, interleaved: 1 worker with one torch thread per task
(one core), N = CPUs workers with one thread each (task parallelism: the scaling from 1 to N
workers), and 1 worker whose tasks use all CPUs (intra-task threads: what one fit at a time
already gets from the extra cores). Every repeat is printed; the summary gives median, min,
max and the spread (max - min) / median, and the ratios of the medians. Timings are noisy on
a shared machine.

Run: .venv/bin/python benchmarks/batch.py [--sessions 6] [--samples 96] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _summary(values: list[float]) -> dict[str, float]:
    med = statistics.median(values)
    return {
        "median": round(med, 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
        "spread_pct": round(100 * (max(values) - min(values)) / med, 1) if med else 0.0,
    }


def _warm(session: str) -> None:
    from psfbench.core.fit.session_fit import FitSettings, run_session_fit

    run_session_fit(session, FitSettings(grid=(4, 3), frames=4, device="cpu"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=6, help="sessions per batch fit")
    ap.add_argument("--samples", type=int, default=96, help="samples per dataset run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="97x121", help="session frame size HxW")
    args = ap.parse_args()

    from psfbench.core.batch import batch_fit, open_client
    from psfbench.core.batch.cluster import cpu_count
    from psfbench.core.datagen import GenerationConfig, PsfSpec, synthetic_sources
    from psfbench.core.datagen.generate import generate
    from psfbench.core.fit.session_fit import FitSettings
    from psfbench.core.simulation import SimulationSpec, simulate_session

    h, w = (int(v) for v in args.size.split("x"))
    cpus = cpu_count()
    # (workers, torch threads per task)
    configs = [(1, 1), (max(2, cpus), 1), (1, max(2, cpus))]
    settings = FitSettings(grid=(8, 5), frames=10, device="cpu")
    root = Path(tempfile.mkdtemp(prefix="psfbench-batch-bench-"))
    sessions = []
    for i in range(args.sessions):
        spec = SimulationSpec(
            A=700.0 + 40 * i, e_mm=23.6, scene=("planes", "steps", "objects")[i % 3],
            frames=12, height=h, width=w, seed=i,
        )  # fmt: skip
        simulate_session(root / f"s{i}", spec)
        sessions.append(str(root / f"s{i}"))
    warm = root / "warm"
    simulate_session(warm, SimulationSpec(frames=4, height=33, width=41, seed=99))
    psf = PsfSpec(A=800.0, F_mm=50.0)
    fit_rate: dict[str, list[float]] = {}
    gen_rate: dict[str, list[float]] = {}
    print(f"{cpus} CPUs; {args.sessions} sessions {h}x{w}, 12 frames; {args.samples} samples")
    for rep in range(args.repeats):
        for workers, threads in configs:
            name = f"{workers}w x {threads}t"
            with open_client(
                local_workers=workers, dashboard_address=None, threads_per_task=threads
            ) as handle:
                handle.client.run(_warm, str(warm))
                t0 = time.perf_counter()
                outcomes = batch_fit(handle, sessions, settings, write=False)
                fit_s = time.perf_counter() - t0
                assert all(o.ok for o in outcomes), [o.error for o in outcomes]
                cfg = GenerationConfig(
                    psf=psf,
                    sources=synthetic_sources("objects,planes,steps", (128, 160)),
                    count=args.samples,
                    shard_size=8,
                    seed=rep,
                )
                report: Any = generate(handle, cfg, root / f"ds-{rep}-{workers}-{threads}")
            fits_per_min = 60 * len(sessions) / fit_s
            fit_rate.setdefault(name, []).append(fits_per_min)
            gen_rate.setdefault(name, []).append(report.samples_per_s)
            print(
                f"repeat {rep + 1}: {name}: batch fit {fit_s:6.2f} s ({fits_per_min:5.1f} "
                f"fits/min); dataset {report.wall_s:5.2f} s ({report.samples_per_s:5.1f} "
                "samples/s)",
                flush=True,
            )
    names = [f"{wk}w x {th}t" for wk, th in configs]
    out: dict[str, Any] = {"benchmark": "batch", "cpus": cpus, "repeats": args.repeats}
    for label, rates in (("fits_per_min", fit_rate), ("samples_per_s", gen_rate)):
        for name in names:
            s = _summary(rates[name])
            print(
                f"{label:14s} {name}: median {s['median']:.2f} (min {s['min']:.2f}, max "
                f"{s['max']:.2f}, spread {s['spread_pct']:.0f}%)"
            )
            out[f"{label}[{name}]"] = s
        med = {n: statistics.median(rates[n]) for n in names}
        scaling = med[names[1]] / med[names[0]]
        vs_threads = med[names[1]] / med[names[2]]
        print(f"{label:14s} {names[1]} / {names[0]} (workers): {scaling:.2f}x")
        print(f"{label:14s} {names[1]} / {names[2]} (vs threads in a task): {vs_threads:.2f}x")
        out[f"{label}_scaling"] = round(scaling, 3)
        out[f"{label}_workers_vs_threads"] = round(vs_threads, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
