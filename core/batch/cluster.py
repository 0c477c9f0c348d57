"""Where batch work runs: a Dask ``LocalCluster`` by default, any Dask scheduler by address.

psfbench never schedules anything itself: :func:`open_client` hands back a
``distributed.Client`` on either a fresh ``LocalCluster`` of worker *processes* (``--local N``)
or an existing scheduler (``--scheduler tcp://host:8786``: one started by hand, by
``dask-jobqueue`` on a Slurm/PBS queue, or by ``dask-cuda``; docs/scale-out.md). Tasks are plain
functions submitted to that client; Dask moves them, retries them when a worker dies and
reports on its dashboard.

GPUs are used through Dask *worker resources*: a worker started with ``--resources GPU=1``
(or a local worker on a machine with CUDA) advertises one GPU, and GPU tasks ask for it, so a
GPU never runs two tasks at once (:func:`gpu_workers`, :func:`task_resources`).

Raises :class:`BatchSetupError` (a ValueError) with a complete message when Dask is missing or
the scheduler cannot be reached.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Resource name the workers advertise for one GPU (``dask worker --resources GPU=1``).
GPU_RESOURCE = "GPU"


class BatchSetupError(ValueError):
    """A cluster that cannot be used; the message is complete on its own."""


class _NoComputeFailedLog(logging.Filter):
    """Drops distributed's "Compute Failed" record (task key, repr and traceback at ERROR
    level): psfbench reports a failed task itself, in one line, once the client sees it."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Compute Failed")


def quiet_task_failures() -> None:
    """Install :class:`_NoComputeFailedLog` on this process's ``distributed.worker`` logger
    (once). Runs on local workers through :class:`QuietTaskFailures`."""
    log = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _NoComputeFailedLog) for f in log.filters):
        log.addFilter(_NoComputeFailedLog())


def _worker_plugin() -> Any:
    """A WorkerPlugin that quiets task failures on every worker, restarted ones included."""
    from distributed import WorkerPlugin

    class QuietTaskFailures(WorkerPlugin):
        name = "psfbench-quiet-task-failures"

        def setup(self, worker: Any) -> None:
            quiet_task_failures()

    return QuietTaskFailures()


def require_distributed() -> None:
    """Raise BatchSetupError unless ``dask.distributed`` is importable."""
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise BatchSetupError(
            "batch work needs Dask: pip install 'psfbench[batch]' (dask and distributed)"
        ) from None


def cpu_count() -> int:
    """CPUs this process may use (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass
class ClusterHandle:
    """An open client: ``client`` (distributed.Client), ``local`` True for a LocalCluster this
    process started, ``threads_per_task`` the torch threads each task should use (local: the
    machine's CPUs shared among the workers; remote: the value asked for, default 1)."""

    client: Any
    local: bool
    threads_per_task: int
    dashboard_off: bool = False

    @property
    def dashboard(self) -> str | None:
        """The dashboard URL, or None when it was turned off."""
        if self.dashboard_off:
            return None
        try:
            link = self.client.dashboard_link
        except Exception:
            return None
        return str(link) if link else None

    def n_workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1).get("workers", {}))


@contextlib.contextmanager
def open_client(
    scheduler: str | None = None,
    local_workers: int | None = None,
    *,
    threads_per_task: int | None = None,
    processes: bool = True,
    dashboard_address: str | None = ":8787",
    gpu: bool | None = None,
    timeout_s: float = 30.0,
) -> Iterator[ClusterHandle]:
    """A Dask client for the duration of the ``with`` block, the cluster closed afterwards
    when this call started it.

    ``scheduler``: address of a running scheduler (``tcp://host:8786``); None starts a
    ``LocalCluster`` of ``local_workers`` worker processes (default: one per CPU) with one
    task slot each (``processes=False``: threads of this process, for small jobs).
    ``dashboard_address``: where a local cluster serves its dashboard (None: none; a busy
    port is replaced by a free one). ``gpu``: advertise one GPU per local worker (None: when
    torch sees CUDA). Raises BatchSetupError.
    """
    require_distributed()
    from distributed import Client, LocalCluster

    if scheduler is not None and local_workers is not None:
        raise BatchSetupError("--scheduler and --local exclude each other")
    if threads_per_task is not None and threads_per_task < 1:
        raise BatchSetupError("--threads-per-task: need at least 1")
    if scheduler is not None:
        try:
            client = Client(scheduler, timeout=timeout_s)
        except OSError as exc:
            raise BatchSetupError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
        try:
            yield ClusterHandle(client, False, threads_per_task or 1)
        finally:
            client.close()
        return

    n = cpu_count() if local_workers is None else int(local_workers)
    if n < 1:
        raise BatchSetupError("--local: need at least 1 worker")
    if gpu is None:
        import torch

        gpu = bool(torch.cuda.is_available())
    kw: dict[str, Any] = {"host": "127.0.0.1"} if processes else {}  # this machine only
    if dashboard_address is None:
        # no dashboard, but Dask's scheduler still serves its health/metrics routes: on this
        # machine and a free port (it took 0.0.0.0:8787, every interface, by default)
        kw["scheduler_kwargs"] = {"dashboard_address": "127.0.0.1:0"}
    cluster = LocalCluster(
        n_workers=n,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=dashboard_address,
        resources={GPU_RESOURCE: 1} if gpu else None,
        silence_logs=logging.ERROR,
        **kw,
    )
    try:
        client = Client(cluster)
        try:
            # failures are reported by psfbench; Dask's own worker log of each would come
            # first, a screen of traceback (a remote scheduler's workers log where they run)
            client.register_plugin(_worker_plugin())
            if threads_per_task is not None:
                threads = threads_per_task
            elif processes:
                threads = max(1, cpu_count() // n)
            else:  # tasks share this process: leave its torch threads as they are
                import torch

                threads = torch.get_num_threads()
            yield ClusterHandle(client, True, threads, dashboard_off=dashboard_address is None)
        finally:
            client.close()
    finally:
        cluster.close()


def gpu_workers(client: Any) -> list[str]:
    """Addresses of the workers that advertise a GPU resource."""
    workers = client.scheduler_info(n_workers=-1).get("workers", {})
    return [a for a, w in workers.items() if (w.get("resources") or {}).get(GPU_RESOURCE, 0) > 0]


def task_resources(client: Any, device: str) -> tuple[dict[str, float] | None, str]:
    """(resources, device) for tasks that run torch on ``device`` ("auto", "cpu", "cuda[:N]").

    When some workers advertise a GPU and the device is not "cpu", tasks ask for one GPU (so
    they run only there, one per GPU) and use CUDA; otherwise no resources and the device
    as given ("auto" then resolves on each worker)."""
    if device != "cpu" and gpu_workers(client):
        return {GPU_RESOURCE: 1}, ("cuda" if device == "auto" else device)
    return None, device


def set_task_threads(n: int) -> None:
    """Inside a task: torch (and psfbench's image pool, which follows it) and OpenCV on ``n``
    threads. Dask starts worker processes with OMP_NUM_THREADS=1, which OpenCV ignores (its
    own pool takes every core: N workers would each start one); this sets what a task uses."""
    import cv2
    import torch

    if n < 1:
        return
    if torch.get_num_threads() != n:
        torch.set_num_threads(int(n))
    if cv2.getNumThreads() != n:
        cv2.setNumThreads(int(n))


def worker_versions(client: Any) -> dict[str, str]:
    """psfbench version on every worker (address -> version), to warn about mixed installs."""
    from psfbench.core import __version__ as _  # noqa: F401

    def version() -> str:
        from psfbench.core import __version__

        return str(__version__)

    return {str(k): str(v) for k, v in client.run(version).items()}
