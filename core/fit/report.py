"""What a fit leaves behind: results JSON, landscape arrays, PNG plots, a printable table.

Plots use matplotlib's Agg backend (no display, no Qt) so they are produced identically on
lab servers, in CI and from the GUI.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.fit.engine import FitResult
from psfbench.core.fit.grid import Landscape

TERM_TITLES = {
    "l2": "loss1: L2 luminance",
    "laplacian": "loss2: L2 of Laplacians",
    "histogram": "loss3: defocus histogram",
    "ssim": "loss4: SSIM",
    "total": "total (eq. 19)",
}


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def plot_landscape(
    landscape: Landscape,
    path: Path,
    *,
    term: str = "total",
    optimum: tuple[float, float] | None = None,
    truth: tuple[float, float] | None = None,
    title: str | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    _draw(ax, landscape, term, optimum, truth, title or TERM_TITLES.get(term, term))
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_terms(
    landscape: Landscape,
    path: Path,
    *,
    optimum: tuple[float, float] | None = None,
    truth: tuple[float, float] | None = None,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.5), dpi=90)
    for ax, term in zip(axes.ravel(), ("l2", "laplacian", "histogram", "ssim"), strict=True):
        _draw(ax, landscape, term, optimum, truth, TERM_TITLES[term])
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _draw(
    ax: Any,
    landscape: Landscape,
    term: str,
    optimum: tuple[float, float] | None,
    truth: tuple[float, float] | None,
    title: str,
) -> None:
    surf = landscape.terms[term]
    A, e = landscape.A_values, landscape.e_values
    dA = (A[1] - A[0]) / 2 if len(A) > 1 else 1.0
    de = (e[1] - e[0]) / 2 if len(e) > 1 else 0.01
    im = ax.imshow(
        surf,
        origin="lower",
        aspect="auto",
        extent=(e[0] - de, e[-1] + de, A[0] - dA, A[-1] + dA),
        cmap="viridis",
    )
    ax.figure.colorbar(im, ax=ax, label="loss")
    i, j = np.unravel_index(int(np.argmin(surf)), surf.shape)
    ax.plot(e[j], A[i], "w+", ms=12, mew=2, label="grid minimum")
    if optimum is not None:
        ax.plot(optimum[1], optimum[0], "rx", ms=10, mew=2, label="refined optimum")
    if truth is not None:
        ax.plot(truth[1], truth[0], "o", mfc="none", mec="orange", ms=12, mew=2, label="truth")
    ax.set_xlabel("mechanical offset e (mm)")
    ax.set_ylabel("optical parameter A")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.6)


def write_outputs(
    result: FitResult, out_dir: str | Path, *, truth: tuple[float, float] | None = None
) -> dict[str, str]:
    """Write results into ``out_dir`` (a session's ``results/``); returns name -> path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str] = {}
    doc = result_doc(result)
    if truth is not None:
        doc["truth"] = {"A": truth[0], "e": truth[1]}
    _atomic_text(out / "fit.json", json.dumps(doc, indent=2) + "\n")
    paths["json"] = str(out / "fit.json")
    result.landscape.save(out / "landscape.npz")
    paths["landscape"] = str(out / "landscape.npz")
    if result.zoom is not None:
        result.zoom.save(out / "landscape_zoom.npz")
        paths["landscape_zoom"] = str(out / "landscape_zoom.npz")
    opt = (result.A, result.e)
    plot_landscape(result.landscape, out / "landscape_total.png", optimum=opt, truth=truth)
    plot_terms(result.landscape, out / "landscape_terms.png", optimum=opt, truth=truth)
    paths["plot_total"] = str(out / "landscape_total.png")
    paths["plot_terms"] = str(out / "landscape_terms.png")
    if result.zoom is not None:
        plot_landscape(
            result.zoom,
            out / "landscape_zoom.png",
            optimum=opt,
            truth=truth,
            title="total, zoomed (full resolution)",
        )
        paths["plot_zoom"] = str(out / "landscape_zoom.png")
    _atomic_text(out / "fit.txt", format_table(result, truth=truth) + models_table(result) + "\n")
    paths["table"] = str(out / "fit.txt")
    return paths


def result_doc(result: FitResult) -> dict[str, Any]:
    """fit.json's content: the grid fit's JSON plus ``model`` (the fitted PSF model: the
    paper's Gaussian with the grid's A, e unless ``--model`` chose another; docs/psf-models.md)
    and, after ``--model``, ``models`` (the per-model table). Plain JSON: an sd that could not
    be determined is null (:func:`psfbench.core.dataset.strict_json.plain`)."""
    from psfbench.core.dataset.strict_json import plain

    return plain(_result_doc(result))


def _result_doc(result: FitResult) -> dict[str, Any]:
    doc = result.to_json()
    extra = result.psf_models
    if isinstance(extra, dict) and "model" in extra:
        doc["model"] = extra["model"]
        doc["models"] = extra.get("models")
    else:
        doc["model"] = {
            "name": "gaussian",
            "params": {"A": result.A, "e_mm": result.e},
            "std": {"A": result.A_std, "e_mm": result.e_std},
        }
    return doc


def models_table(result: FitResult) -> str:
    """The PSF model table of a fit with ``--model`` ("" without): one line per model with
    its held-out loss (``auto``), free parameters and fitted values +- 1 sd; docs/psf-models.md.
    """
    extra = result.psf_models
    if not isinstance(extra, dict) or not isinstance(extra.get("models"), dict):
        return ""
    from psfbench.core.psfmodels.text import format_params

    models = extra["models"]
    lines = ["", "", "PSF models (gradient fit from the grid optimum)"]
    lines.append(f"  {'model':<18}{'free':>5}{'held-out':>12}{'vs best':>10}  parameters")
    for row in models.get("table") or []:
        mark = "*" if row.get("name") == models.get("preferred") else " "
        held = row.get("heldout_loss")
        delta = row.get("delta_vs_best")
        lines.append(
            f"{mark} {row.get('name', '?'):<18}{row.get('n_free', 0):>5}"
            + (f"{held:>12.2f}{delta:>+10.2f}" if held is not None else f"{'-':>12}{'-':>10}")
            + "  "
            + format_params(row)
        )
    lines.append(f"model: {models.get('preferred')} ({models.get('reason', '')})")
    if models.get("warning"):
        lines.append(f"WARNING: {models['warning']}")
    final = extra.get("model")
    if isinstance(final, dict) and models.get("heldout_frames"):
        # the table's rows were fitted on half the depths; the result is the refit on all
        lines.append(f"{final.get('name')} fitted on all frames: {format_params(final)}")
    return "\n".join(lines)


def format_table(result: FitResult, *, truth: tuple[float, float] | None = None) -> str:
    lines = []
    if isinstance(result.psf_models, dict):  # --model: this table is the grid's Gaussian
        lines.append("The paper's Gaussian PSF (grid and zoom)")
    lines.append(f"{'':22s}{'value':>12s}{'± (1 sd)':>12s}")
    lines.append(f"{'A (optical)':22s}{result.A:12.2f}{result.A_std:12.2f}")
    e_fitted = bool(result.settings.get("e_fitted", True))
    if e_fitted:
        lines.append(f"{'e (mechanical, mm)':22s}{result.e:12.4f}{result.e_std:12.4f}")
    else:  # the session gives focus depths directly: e does not enter the model
        lines.append(f"{'e (mechanical, mm)':22s}{'not fitted':>12s}")
    if truth is not None:
        e_true = f"{truth[1]:12.4f}" if e_fitted else ""
        e_err = f"{result.e - truth[1]:+12.4f}" if e_fitted else ""
        lines.append(f"{'true A / e':22s}{truth[0]:12.2f}{e_true}")
        lines.append(f"{'error A / e':22s}{100 * (result.A - truth[0]) / truth[0]:11.3f}%{e_err}")
    lines.append("")
    header = f"{'':22s}" + "".join(f"{t:>12s}" for t in ("total", "l2", "lapl", "hist", "ssim"))
    lines.append(header)
    order = ("total", "l2", "laplacian", "histogram", "ssim")
    lines.append(f"{'fitted model':22s}" + "".join(f"{result.terms[t]:12.5g}" for t in order))
    if result.datasheet is not None:
        ds = result.datasheet
        lines.append(
            f"{'datasheet A=' + format(ds['A'], '.0f'):22s}"
            + "".join(f"{ds['terms'][t]:12.5g}" for t in order)
        )
        red = 100 * ds["fit_loss_reduction"]
        lines.append(
            f"datasheet/fitted loss ratio {ds['loss_ratio']:.2f} "
            f"(the fitted loss is {red:.{1 if abs(red) >= 99.5 else 0}f}% below the datasheet's; "
            f"paper Table 3: 40%)"
        )
    usage = result.frame_usage
    if usage and min(usage) < 1.0:
        hole = result.settings.get("hole_fraction", 0.0)
        lines.append(
            f"pixels used per frame: {100 * min(usage):.0f}-{100 * max(usage):.0f}% "
            f"(depth-map holes: {100 * hole:.1f}% of the image, and their blur)"
        )
    for w in result.warnings:
        lines.append(f"WARNING: {w}")
    t = result.timings_s
    lines.append("time: " + ", ".join(f"{k} {v:.1f}s" for k, v in t.items()))
    return "\n".join(lines)
