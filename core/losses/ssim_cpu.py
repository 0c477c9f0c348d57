"""The per-pixel part of the SSIM term on the CPU, compiled into one pass.

After the three window filters (simulated mean, mean of squares, mean of the product with the
real image), SSIM is ~16 elementwise operations and a masked sum: as in-place NumPy calls
that was 16 passes over the plane (2 ms per 613x514 plane on this project's 2-core machine),
compiled it is one (0.4 ms). The float arithmetic is the same, in the same order, as
:meth:`psfbench.core.losses.cpu_pairs.CpuPairKernel._ssim` was and ``reference.py`` is (identical
images give exactly 0); only the final sum is accumulated in float64 in a different order.
"""

from __future__ import annotations

from typing import Any

from psfbench.core.jit import kernel


@kernel
def ssim_dissimilarity_sum(
    mu: Any,
    e_ss: Any,
    e_rs: Any,
    mr: Any,
    mr2: Any,
    vr: Any,
    den: Any,
    valid: Any,
    c1: Any,
    c2: Any,
    one: Any,
    two: Any,
    use_den: bool,
    use_valid: bool,
) -> float:
    """Sum over valid pixels of 1 - SSIM.

    Flattened float planes of one dtype: ``mu``, ``e_ss``, ``e_rs`` the window means of s,
    s^2 and r*s (divided by ``den``, the window's valid weight, when ``use_den``), ``mr``,
    ``mr2``, ``vr`` the real image's mean, squared mean and variance; ``valid`` uint8 (read
    when ``use_valid``); ``c1``, ``c2`` the SSIM constants and ``one``, ``two`` 1 and 2, all
    in the planes' dtype (a Python float would promote float32 arithmetic to float64)."""
    acc = 0.0
    for i in range(mu.shape[0]):
        if use_valid and valid[i] == 0:
            continue
        m = mu[i]
        ess = e_ss[i]
        ers = e_rs[i]
        if use_den:
            d = den[i]
            m = m / d
            ess = ess / d
            ers = ers / d
        mu2 = m * m
        t = mr[i] * m
        var_s = ess - mu2
        cov = ers - t
        num = (t * two + c1) * (cov * two + c2)
        dnm = (mu2 + mr2[i] + c1) * (var_s + vr[i] + c2)
        acc += one - num / dnm
    return acc
