"""Numba-compiled CPU kernels, compiled on first use.

A few per-pixel loops sit on the fit's hot path (sampling the blur stack, adding the
observation noise, the SSIM map): as NumPy/torch array expressions each costs 5-20 passes over
memory, compiled it costs one. :func:`kernel` wraps a plain Python function written in the
subset Numba compiles; Numba is imported, and the function compiled, on its first call only
(so importing psfbench stays fast), with the GIL released (the kernels run on the shared pool
of :mod:`psfbench.core.parallel`) and the machine code cached on disk (beside the module, or in the
user's cache directory when the install is read-only).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` compiled by ``numba.njit(nogil=True, cache=True)`` when first called."""
    compiled: list[Callable[..., Any]] = []

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        if not compiled:
            with _lock:
                if not compiled:
                    from numba import njit

                    compiled.append(
                        njit(nogil=True, cache=True, boundscheck=False, error_model="numpy")(fn)
                    )
        return compiled[0](*args)

    call.py_func = fn  # type: ignore[attr-defined]
    return call
