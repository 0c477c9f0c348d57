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
        help="where a local cluster serves the Dask dashboard (default :8787, on 127.0.0.1; "
        "0.0.0.0:8787 for other machines too; 'none': off)",
    )


def open_cluster(args: argparse.Namespace) -> Any:
    """The context manager of :func:`psfbench.core.batch.cluster.open_client` for these options."""
    from psfbench.core.batch.cluster import open_client

    dash = None if str(args.dashboard).lower() == "none" else str(args.dashboard)
    if dash is not None and args.scheduler is None and dash.startswith(":"):
        dash = "127.0.0.1" + dash  # a cluster of this machine serves its dashboard to it alone
    return open_client(
        args.scheduler,
        args.local,
        threads_per_task=args.threads_per_task,
        processes=not args.in_process,
        dashboard_address=dash,
    )


def local_dashboard(handle: Any) -> str | None:
    """The URL of the dashboard a cluster started here really serves, None when it serves
    none (turned off, or bokeh missing: Dask then answers /status with a hint page only).

    Dask's own link names the machine's network address for an in-process cluster, whatever
    interface the dashboard listens on; this one names the interface (127.0.0.1 for one
    that listens on all or on the loopback) and the port it got (another when 8787 was busy)."""
    try:
        scheduler = handle.client.cluster.scheduler
        server = scheduler.services.get("dashboard")
        bokeh_apps = scheduler.http_application.applications
    except AttributeError:
        return None
    if handle.dashboard_off or server is None or not bokeh_apps:
        return None
    host = "127.0.0.1"
    for sock in getattr(server, "_sockets", {}).values():
        ip = sock.getsockname()[0]
        if ip not in ("0.0.0.0", "::", "127.0.0.1", "::1"):
            host = f"[{ip}]" if ":" in ip else ip
    return f"http://{host}:{server.port}/status"


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
    dash = (local_dashboard(handle) if handle.local else handle.dashboard) or "none"
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
