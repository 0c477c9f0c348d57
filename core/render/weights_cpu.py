"""The layered renderer's per-pixel level nodes and weights on the CPU, in one compiled pass.

:func:`psfbench.core.render.levels.node_weights_np` was ~20 NumPy passes over a sigma map
(interval lookup, three node tables, three Lagrange products, the linear first interval):
14 ms per 613x514 map, a sixth of the layered renderer's time per frame in the fit's zoom. One
compiled pass walks the interval from the previous pixel's (sigma maps are smooth) and does the
same float32 operations in the same order, so the result is bit-identical
(tests/render/test_render_layered.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from psfbench.core.jit import kernel


@kernel
def node_weights_pass(
    sigma: Any, thr: Any, lv: Any, r0: Any, r1: Any, r2: Any, k0_out: Any, w_out: Any
) -> None:  # pragma: no cover - compiled
    # sigma (N,) f32 maps; thr (K,) f32 interval thresholds (levels^2 as the interval lookup
    # rounds them); lv (K,) f32 node variances, r0..r2 (K-2,) f32 reciprocal Lagrange
    # denominators; out: k0_out (N,) int32 first node, w_out (3, N) f32 weights. Interval k:
    # the largest k <= K-2 with thr[k] <= v (NaN: K-2, searchsorted's place for it).
    n = thr.shape[0]
    zero = np.float32(0.0)
    one = np.float32(1.0)
    k = 0
    for i in range(sigma.shape[0]):
        s = sigma[i]
        v = s * s
        if v != v:
            k = n - 2
        else:
            while k < n - 2 and thr[k + 1] <= v:
                k += 1
            while k > 0 and thr[k] > v:
                k -= 1
        if k == 0:
            t = min(max(v / lv[1], zero), one)
            k0_out[i] = 0
            w_out[0, i] = one - t
            w_out[1, i] = t
            w_out[2, i] = zero
        else:
            k0 = k - 1
            da = v - lv[k0]
            db = v - lv[k0 + 1]
            dc = v - lv[k0 + 2]
            k0_out[i] = k0
            w_out[0, i] = (db * dc) * r0[k0]
            w_out[1, i] = (da * dc) * r1[k0]
            w_out[2, i] = (da * db) * r2[k0]
