"""Batch work on Dask (``psfbench batch fit``): many fits as tasks of a ``dask.distributed``
cluster, a LocalCluster by default or any scheduler by address (docs/scale-out.md).

:mod:`~psfbench.core.batch.cluster` opens the client (local worker processes, a scheduler address,
GPU workers through the ``GPU`` resource); :mod:`~psfbench.core.batch.fit` runs one ``psfbench fit``
per session and gathers the report. Dataset generation (:mod:`psfbench.core.datagen`) runs on the
same clusters. Dask is imported inside these functions, never when this package is imported.
"""

from psfbench.core.batch.cluster import BatchSetupError, ClusterHandle, open_client
from psfbench.core.batch.fit import SessionOutcome, batch_fit, format_report

__all__ = [
    "BatchSetupError",
    "ClusterHandle",
    "SessionOutcome",
    "batch_fit",
    "format_report",
    "open_client",
]
