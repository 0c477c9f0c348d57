"""A PSF model's parameters as text: the console's and reports' tables, the GUI's status lines.

Torch-free (the session browser and the fitting panel's status line use it without loading
torch). One convention everywhere: a value with a one-sigma uncertainty is given to the
precision of that uncertainty's two significant digits (``A=807.6±4.0``, ``breathing=0.028±
0.011``); an uncertainty the fit could not determine (NaN: the loss is flat along that
parameter, docs/psf-models.md) prints as ``±?``; a value without one gets 5 significant digits.
"""

from __future__ import annotations

import math
from typing import Any

#: Parameters held fixed by the fit (not shown in the tables).
_FIXED = ("v_ref_mm",)


def format_value(value: float, sd: float | None = None) -> str:
    """``807.6±4.0``: ``value`` to the precision of ``sd``'s 2 significant digits; ``±?`` for
    a NaN sd; 5 significant digits without an sd (None, 0 or infinite)."""
    if sd is None or not isinstance(sd, int | float):
        return f"{value:.5g}"
    if math.isnan(sd):
        return f"{value:.5g}±?"
    if sd <= 0 or math.isinf(sd) or not math.isfinite(value):
        return f"{value:.5g}"
    decimals = max(0, 1 - math.floor(math.log10(sd)))
    if decimals == 0:
        return f"{value:.0f}±{sd:.0f}"
    return f"{value:.{decimals}f}±{sd:.{decimals}f}"


def format_params(model: Any) -> str:
    """``A=803.1±2.4 e_mm=23.8640±0.0011 edge=0.86±0.03``: a model's parameters ± 1 sd
    (fixed ones left out). Takes a :class:`psfbench.core.psfmodels.PsfModel` or its JSON
    (``{"params": ..., "std": ...}``)."""
    if isinstance(model, dict):
        params, std = model.get("params") or {}, model.get("std") or {}
    else:
        params, std = model.params, model.std
    out = []
    for k, v in params.items():
        if k in _FIXED:
            continue
        sd = std.get(k)
        if isinstance(v, list | tuple):
            sds = sd if isinstance(sd, list | tuple) and len(sd) == len(v) else [None] * len(v)
            vals = ", ".join(format_value(float(x), s) for x, s in zip(v, sds, strict=True))
            out.append(f"{k}=[{vals}]")
        elif isinstance(v, int | float):
            out.append(f"{k}={format_value(float(v), sd)}")
    return " ".join(out)


def model_summary(model: dict[str, Any]) -> str:
    """``disc: A 801.4, edge 0.87``: a fit.json ``model`` entry's name and its parameters other
    than e, short (the GUI's status line and session browser)."""
    raw = model.get("params")
    params: dict[str, Any] = raw if isinstance(raw, dict) else {}
    parts = []
    for k, v in params.items():
        if k in ("e_mm", *_FIXED):
            continue
        if isinstance(v, int | float) and math.isfinite(v):
            parts.append(f"{k} {v:.4g}" if k != "A" else f"A {v:.1f}")
        elif isinstance(v, list):
            parts.append(f"{k} [{', '.join(f'{x:.3g}' for x in v if isinstance(x, int | float))}]")
    return f"{model.get('name')}: " + ", ".join(parts)
