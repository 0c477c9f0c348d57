"""A PSF model's parameters as text: the console's and reports' tables, the GUI's status lines.

Torch-free (the session browser and the fitting panel's status line use it without loading
torch). One convention everywhere: a value with a one-sigma uncertainty is rounded as the Particle
Data Group rounds (the sd to one or two significant digits, the value to the same place:
``A=808±4``, ``e_mm=23.6030±0.0009``, ``breathing=0.028±0.011``); an uncertainty the fit could
not determine (NaN: the loss is flat along that
parameter, docs/psf-models.md) prints as ``±?``; a value without one gets 5 significant digits.
"""

from __future__ import annotations

import math
from typing import Any

#: Parameters held fixed by the fit (not shown in the tables).
_FIXED = ("v_ref_mm",)


def format_value(value: float, sd: float | None = None) -> str:
    """``809.6±2.4``: ``value`` rounded to the decimal place of ``sd``'s last kept digit, by
    the Particle Data Group's rule (sd's three leading digits 100-354: two significant digits;
    355-949: one; 950-999: rounded up to 1000, two: ``3.7`` -> ``4``, ``0.00064`` -> ``0.0006``,
    ``0.011`` -> ``0.011``); ``±?`` for a NaN sd; 5 significant digits without an sd (None, 0
    or infinite)."""
    if sd is None or not isinstance(sd, int | float):
        return f"{value:.5g}"
    if math.isnan(sd):
        return f"{value:.5g}±?"
    if sd <= 0 or math.isinf(sd) or not math.isfinite(value):
        return f"{value:.5g}"
    exp = math.floor(math.log10(sd))
    lead = round(sd / 10.0 ** (exp - 2))  # three leading digits, 100..1000
    if lead >= 950:
        sd, exp, sig = 10.0 ** (exp + 1), exp + 1, 2
    else:
        sig = 2 if lead < 355 else 1
    decimals = sig - 1 - exp
    if decimals <= 0:
        step = 10.0 ** (-decimals)
        return f"{round(value / step) * step:.0f}±{round(sd / step) * step:.0f}"
    return f"{value:.{decimals}f}±{sd:.{decimals}f}"


def format_params(model: Any) -> str:
    """``A=803.1±2.4 e_mm=23.8640±0.0011 edge=0.86±0.03``: a model's parameters ± 1 sd
    (fixed ones left out; list entries such as the field coefficients rounded at their sds'
    places, without them). Takes a :class:`psfbench.core.psfmodels.PsfModel` or its JSON
    (``{"params": ..., "std": ...}``)."""
    if isinstance(model, dict):
        params, std = model.get("params") or {}, model.get("std") or {}
    else:
        params, std = model.params, model.std
    out = []
    for k, v in params.items():
        if k in _FIXED:
            continue
        sd = _undetermined(std[k]) if k in std else None
        if isinstance(v, list | tuple):
            sds = sd if isinstance(sd, list | tuple) and len(sd) == len(v) else [None] * len(v)
            # list entries: each rounded at its sd's place, the sds left to the JSON (a
            # three-coefficient field with sds overflowed the 1366 px Result tab)
            vals = ", ".join(
                format_value(float(x), s).split("±")[0] for x, s in zip(v, sds, strict=True)
            )
            out.append(f"{k}=[{vals}]")
        elif isinstance(v, int | float):
            out.append(f"{k}={format_value(float(v), sd)}")
    return " ".join(out)


def _undetermined(sd: Any) -> Any:
    """An sd as stored: null (JSON's stand-in for NaN, fit.json) means not determined."""
    if sd is None:
        return math.nan
    if isinstance(sd, list | tuple):
        return [math.nan if x is None else x for x in sd]
    return sd


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
