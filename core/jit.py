"""Numba-compiled CPU kernels, compiled on first use.

A few per-pixel loops sit on the fit's hot path (sampling the blur stack, adding the
observation noise, the SSIM map): as NumPy/torch array expressions each costs 5-20 passes over
memory, compiled it costs one. :func:`kernel` wraps a plain Python function written in the
subset Numba compiles; Numba is imported, and the function compiled, on its first call only
(so importing psfbench stays fast), with the GIL released (the kernels run on the shared pool
of :mod:`psfbench.core.parallel`) and the machine code cached on disk (beside the module, or in the
user's cache directory when the install is read-only).

``error_model="numpy"``: a float division gives inf or NaN instead of raising
ZeroDivisionError. Numba's default tests every division for zero, and that branch keeps LLVM
from vectorising the loop (a test loop: 1.0 -> 0.24 ns per element). Numba's disk cache is
keyed on the kernel's source file, not on these flags, so the flags are part of each cache
entry's name (:data:`_FLAGS_TAG`): changing them recompiles instead of loading code built with
the old ones.
"""

from __future__ import annotations

import functools
import threading
import types
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
#: Compile flags of every kernel, and their tag in the disk cache's file names.
_FLAGS: dict[str, Any] = dict(nogil=True, cache=True, boundscheck=False, error_model="numpy")
_FLAGS_TAG = "__nogil_nobounds_npdiv"


def kernel(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` compiled by ``numba.njit(**_FLAGS)`` when first called."""
    compiled: list[Callable[..., Any]] = []

    @functools.wraps(fn)
    def call(*args: Any) -> Any:
        if not compiled:
            with _lock:
                if not compiled:
                    from numba import njit

                    # a copy named for the flags (the cache's file names come from __qualname__)
                    tagged = types.FunctionType(
                        fn.__code__, fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__
                    )
                    tagged.__qualname__ = fn.__qualname__ + _FLAGS_TAG
                    tagged.__module__ = fn.__module__
                    compiled.append(njit(**_FLAGS)(tagged))
        return compiled[0](*args)

    call.py_func = fn  # type: ignore[attr-defined]
    return call
