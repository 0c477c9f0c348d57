"""Exports of a fitted PSF model: parameters (JSON) and a kernel bank (TIFF stack).

The bank holds the model's kernel (:func:`psfbench.core.psfmodels.kernel`) at a ladder of
defocus blurs sigma (px, eq. 7 with the model's base A; the relative defocus
|D - Df| / D * F / (Df - F) = sigma / A is listed too), for every colour channel where the
model is ``chromatic`` and over a grid of field positions where it has ``field``. Pages are
float32 (k, k) kernels, all the same size (the largest, zero-padded, centred), each summing to
1, ordered field position -> channel -> sigma; ``kernels.json`` (and the TIFF's
ImageDescription) lists every page's sigma, relative defocus, channel and field (x, y), so
Fiji/napari/numpy users can pick a kernel without psfbench.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.psfmodels.kernels import kernel
from psfbench.core.psfmodels.spec import PsfModel

DEFAULT_SIGMAS = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0)


def kernel_bank(
    model: PsfModel,
    sigmas: tuple[float, ...] | list[float] = DEFAULT_SIGMAS,
    *,
    field_grid: int = 3,
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(pages (N, k, k) float32, per-page records). ``field_grid`` n: an n x n grid of field
    positions over [-1, 1]^2 when the model has ``field`` (else the centre only)."""
    if any(s < 0 for s in sigmas):
        raise ValueError("kernel bank: sigmas must be >= 0")
    n = max(1, int(field_grid)) if "field" in model.params else 1
    ticks = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    fields = [(float(x), float(y)) for y in ticks for x in ticks]
    channels = [0, 1, 2] if "chroma" in model.params else [-1]
    pages: list[np.ndarray] = []
    records: list[dict[str, Any]] = []
    for fx, fy in fields:
        for ch in channels:
            for s in sigmas:
                k = kernel(model, float(s), channel=ch, field_xy=(fx, fy))
                pages.append(k)
                records.append(
                    {
                        "page": len(records),
                        "sigma_px": float(s),
                        "rel_defocus": float(s) / model.A if model.A > 0 else None,
                        "channel": None if ch < 0 else ch,
                        "field_xy": [fx, fy],
                        "sigma_effective_px": float(
                            s
                            * model.channel_factor(ch)
                            * (1.0 if "field" not in model.params else _ff(model, fx, fy))
                        ),
                    }
                )
    size = max(p.shape[0] for p in pages)
    stack = np.zeros((len(pages), size, size), np.float32)
    for i, p in enumerate(pages):
        o = (size - p.shape[0]) // 2
        stack[i, o : o + p.shape[0], o : o + p.shape[0]] = p
    return stack, records


def _ff(model: PsfModel, x: float, y: float) -> float:
    from psfbench.core.psfmodels.kernels import field_factor

    return field_factor(model, (x, y))


def export_model(
    model: PsfModel,
    out_dir: str | Path,
    *,
    sigmas: tuple[float, ...] | list[float] = DEFAULT_SIGMAS,
    field_grid: int = 3,
) -> dict[str, str]:
    """Write ``psf_model.json``, ``kernels.tif`` and ``kernels.json`` into ``out_dir``
    (atomic renames); returns name -> path."""
    import tifffile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stack, records = kernel_bank(model, sigmas, field_grid=field_grid)
    meta = {"model": model.to_json(), "pages": records, "order": "field -> channel -> sigma"}
    paths = {}
    for name, text in (
        ("psf_model.json", json.dumps(model.to_json(), indent=2) + "\n"),
        ("kernels.json", json.dumps(meta, indent=2) + "\n"),
    ):
        tmp = out / (name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out / name)
        paths[name] = str(out / name)
    tmp = out / "kernels.tif.tmp"
    tifffile.imwrite(tmp, stack, description=json.dumps(meta), metadata=None)
    os.replace(tmp, out / "kernels.tif")
    paths["kernels.tif"] = str(out / "kernels.tif")
    return paths
