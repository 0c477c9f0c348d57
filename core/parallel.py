"""A shared thread pool for per-image CPU work (OpenCV and NumPy release the GIL).

Rendering a focus sweep or scoring its frames is independent per image; on a 2-core machine
running two images at once measured 1.5-2x faster than one after the other (docs/rendering.md).
The pool size follows ``torch.get_num_threads()`` so one setting governs all CPU parallelism.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")
R = TypeVar("R")

_lock = threading.Lock()
#: One pool per size ever asked for (sizes change only when torch's thread count does); a pool
#: is never shut down while a caller may hold it (shutting the old one down raced with threads
#: that had just fetched it: "cannot schedule new futures after shutdown").
_pools: dict[int, ThreadPoolExecutor] = {}
_local = threading.local()


def _forget_pools() -> None:
    """In a forked child the parent's pool threads do not exist: start afresh."""
    global _lock
    _lock = threading.Lock()
    _pools.clear()


os.register_at_fork(after_in_child=_forget_pools)


def _executor(size: int) -> ThreadPoolExecutor:
    with _lock:
        pool = _pools.get(size)
        if pool is None:
            pool = _pools[size] = ThreadPoolExecutor(size, thread_name_prefix="psfbench-cpu")
        return pool


def map_images(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]``, run on up to ``torch.get_num_threads()`` threads.

    Serial when there is one item, one thread, or when called from a pool thread (nested
    calls would deadlock a bounded pool). Exceptions propagate as in the serial loop.
    """
    seq = list(items)
    n = min(torch.get_num_threads(), len(seq))
    if n <= 1 or getattr(_local, "inside", False):
        return [fn(x) for x in seq]

    def run(x: T) -> R:
        _local.inside = True
        try:
            return fn(x)
        finally:
            _local.inside = False

    return list(_executor(torch.get_num_threads()).map(run, seq))
