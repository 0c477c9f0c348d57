"""Options shared by the commands that run on Dask (``batch fit``, ``dataset generate``):
where to run (a local cluster of N worker processes, a scheduler address, or threads of this
process), torch threads per task, and the dashboard."""

from __future__ import annotations

import argparse
from typing import Any


def add_cluster_args(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="a running Dask scheduler (tcp://host:8786; dask-jobqueue, dask-cuda, "
        "'dask scheduler'); its workers must see the same paths",
    )
    where.add_argument(
        "--local",
        type=int,
        metavar="N",
        default=None,
        help="start a local Dask cluster of N worker processes (default: one per CPU)",
    )
    where.add_argument(
        "--in-process",
        action="store_true",
        help="workers as threads of this process (small jobs, debugging)",
    )
    p.add_argument(
        "--threads-per-task",
        type=int,
        default=None,
        metavar="T",
        help="torch threads each task uses (default: local CPUs / workers; 1 on a scheduler)",
    )
    p.add_argument(
        "--dashboard",
        default=":8787",
        metavar="ADDRESS",
        help="where a local cluster serves the Dask dashboard (default :8787, 'none': off)",
    )


def open_cluster(args: argparse.Namespace) -> Any:
    """The context manager of :func:`psfbench.core.batch.cluster.open_client` for these options."""
    from psfbench.core.batch.cluster import open_client

    dash = None if str(args.dashboard).lower() == "none" else str(args.dashboard)
    return open_client(
        args.scheduler,
        args.local,
        threads_per_task=args.threads_per_task,
        processes=not args.in_process,
        dashboard_address=dash,
    )


def describe(handle: Any, args: argparse.Namespace) -> str:
    """'cluster: ...' line: where the tasks run, how many workers, the dashboard."""
    from psfbench.core.batch.cluster import gpu_workers

    n = handle.n_workers()
    gpus = len(gpu_workers(handle.client))
    kind = (
        f"scheduler {args.scheduler}"
        if args.scheduler
        else ("local threads" if args.in_process else "local cluster")
    )
    gpu = f", {gpus} with a GPU" if gpus else ""
    dash = handle.dashboard or "none"
    return (
        f"cluster: {kind}, {n} worker(s){gpu}, {handle.threads_per_task} torch thread(s) per "
        f"task; dashboard: {dash}"
    )


def announce(handle: Any, args: argparse.Namespace) -> None:
    """Print the cluster line (:func:`describe`) and warn about workers that run another
    psfbench version."""
    from psfbench.core import __version__
    from psfbench.core.batch.cluster import worker_versions

    print(describe(handle, args), flush=True)
    other = {w: v for w, v in worker_versions(handle.client).items() if v != __version__}
    if other:
        print(f"warning: workers run another psfbench version: {other}", flush=True)
