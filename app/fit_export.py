"""Export what the fitting panel shows: the landscape figure, its numbers, a one-page report.

Everything here is plain Python + numpy + matplotlib (Agg, no pyplot, no Qt), so it runs on a
worker thread and writes the same files on any machine:

* ``<stem>_landscape.png`` / ``.svg``: the heatmap of A against e (the term, image and scale
  shown in the panel) with the grid minimum, the refined optimum and its 1-sigma ellipse, the
  datasheet A, the truth and the zoom stage's points, and the two slices through the optimum;
* ``<stem>_landscape.csv``: the grid, A down the first column, e across the first row (the
  values in linear units, empty where not evaluated); ``<stem>_slices.csv``: the slices;
* ``<stem>_landscape.npz``: the same arrays, the markers and a JSON description;
* ``<stem>_report.html``: one self-contained page (the figure embedded) with the optimum and
  its uncertainty, the datasheet comparison, the truth of a simulated session, warnings, the
  fit's settings with the equivalent ``psfbench fit`` command, and the software versions.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import platform
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.app.widgets.landscape_view import TERMS, ellipse_points

TERM_LABELS = dict(TERMS)


@dataclass
class LandscapeExport:
    """A snapshot of the landscape view (copies; safe to hand to a worker thread)."""

    A_values: np.ndarray
    e_values: np.ndarray
    surface: np.ndarray  # (nA, ne), linear units, NaN where not evaluated
    term: str = "total"
    image_label: str = "mean of images"
    log_scale: bool = False
    slices: dict[str, Any] | None = None  # {"A", "loss_A", "e", "loss_e", "at": (A, e)}
    optimum: tuple[float, float] | None = None
    std: tuple[float, float] | None = None
    hessian: Any = None
    datasheet_A: float | None = None
    truth: tuple[float, float] | None = None
    zoom_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))

    @property
    def term_label(self) -> str:
        return TERM_LABELS.get(self.term, self.term)

    def grid_minimum(self) -> tuple[float, float, float] | None:
        if not np.isfinite(self.surface).any():
            return None
        i, j = np.unravel_index(int(np.nanargmin(self.surface)), self.surface.shape)
        return float(self.A_values[i]), float(self.e_values[j]), float(self.surface[i, j])


@dataclass
class ReportInput:
    """The report's content besides the figure: ``doc`` is the session's fit.json."""

    figure: LandscapeExport
    doc: dict[str, Any]
    session: str
    cli_command: str = ""
    versions: dict[str, str] = field(default_factory=dict)


# ---------------------------------------------------------------------------- figure


def _scaled(values: np.ndarray, log: bool) -> np.ndarray:
    if not log:
        return np.asarray(values, dtype=np.float64)
    with np.errstate(all="ignore"):
        return np.asarray(np.log10(np.where(values > 0, values, np.nan)))


def draw_figure(data: LandscapeExport) -> Any:
    """A matplotlib Figure (Agg canvas attached): heatmap above, the two slices below."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec

    fig = Figure(figsize=(7.2, 7.0), dpi=100)
    FigureCanvasAgg(fig)
    gs = GridSpec(2, 2, figure=fig, height_ratios=(3, 2), hspace=0.38, wspace=0.3)
    ax = fig.add_subplot(gs[0, :])
    A, e = np.asarray(data.A_values, float), np.asarray(data.e_values, float)
    dA = (A[1] - A[0]) / 2 if len(A) > 1 else max(1.0, 0.05 * abs(A[0]))
    de = (e[1] - e[0]) / 2 if len(e) > 1 else 0.05
    shown = np.ma.masked_invalid(_scaled(data.surface, data.log_scale))
    im = ax.imshow(
        shown,
        origin="lower",
        aspect="auto",
        extent=(e[0] - de, e[-1] + de, A[0] - dA, A[-1] + dA),
        cmap="viridis",
        interpolation="nearest",
    )
    fig.colorbar(im, ax=ax, label="log10 loss" if data.log_scale else "loss")
    gm = data.grid_minimum()
    if gm is not None:
        ax.plot(gm[1], gm[0], "+", color="white", ms=13, mew=2.5, label="grid minimum")
    zp = np.asarray(data.zoom_points, float).reshape(-1, 2)
    if len(zp):
        ax.plot(zp[:, 1], zp[:, 0], "o", ms=3, mfc="white", mec="black", mew=0.5,
                label="zoom points")  # fmt: skip
    if data.optimum is not None:
        oA, oe = data.optimum
        ax.plot(oe, oA, "x", color="#ff3b3b", ms=11, mew=2.5, label="refined optimum")
        if data.std is not None:
            ell = ellipse_points(oA, oe, data.std[0], data.std[1], data.hessian)
            if ell is not None:
                ax.plot(ell[0], ell[1], "--", color="#ff3b3b", lw=1.5, label="±1σ")
    if data.datasheet_A is not None:
        ax.axhline(data.datasheet_A, color="#00a5c8", ls="--", lw=1.5,
                   label=f"datasheet A {data.datasheet_A:.0f}")  # fmt: skip
        ax.set_ylim(A[0] - dA, A[-1] + dA)
    if data.truth is not None:
        ax.plot(data.truth[1], data.truth[0], "o", mfc="none", mec="#ffa000", ms=12, mew=2,
                label="truth")  # fmt: skip
    ax.set_xlabel("mechanical offset e (mm)")
    ax.set_ylabel("optical parameter A")
    ax.set_title(f"{data.term_label} — {data.image_label}", fontsize=10)
    ax.legend(loc="upper right", fontsize=7, framealpha=0.7)
    sl = data.slices
    for k, (key, xkey, xlabel) in enumerate(
        (("loss_A", "A", "optical parameter A"), ("loss_e", "e", "offset e (mm)"))
    ):
        sax = fig.add_subplot(gs[1, k])
        if sl is not None:
            sax.plot(sl[xkey], _scaled(sl[key], data.log_scale), "o-", color="#3b82f6", ms=3)
            at = sl["at"]
            title = f"along A at e = {at[1]:.3f} mm" if k == 0 else f"along e at A = {at[0]:.1f}"
            sax.set_title(title, fontsize=9)
            if data.optimum is not None:
                sax.axvline(data.optimum[k], color="#ff3b3b", ls="--", lw=1)
            if data.truth is not None:
                sax.axvline(data.truth[k], color="#ffa000", ls="--", lw=1)
            if k == 0 and data.datasheet_A is not None:
                lo, hi = float(np.min(A)), float(np.max(A))
                if lo <= data.datasheet_A <= hi:
                    sax.axvline(data.datasheet_A, color="#00a5c8", ls="--", lw=1)
        sax.set_xlabel(xlabel, fontsize=9)
        sax.set_ylabel("log10 loss" if data.log_scale else "loss", fontsize=9)
        sax.tick_params(labelsize=8)
        sax.grid(alpha=0.3)
    return fig


def save_figure(data: LandscapeExport, path: str | Path) -> Path:
    """PNG or SVG by the suffix."""
    p = Path(path)
    fig = draw_figure(data)
    fig.savefig(p, format=p.suffix.lstrip(".").lower(), dpi=120 if p.suffix != ".svg" else None)
    return p


def figure_png_bytes(data: LandscapeExport) -> bytes:
    buf = io.BytesIO()
    draw_figure(data).savefig(buf, format="png", dpi=110)
    return buf.getvalue()


# ---------------------------------------------------------------------------- numbers


def _num(v: float) -> str:
    return "" if not np.isfinite(v) else repr(float(v))


def write_landscape_csv(data: LandscapeExport, path: str | Path) -> Path:
    """The grid: first row ``A \\ e (mm)`` then the e values; each row an A value then the
    losses (linear units, empty where not evaluated)."""
    p = Path(path)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow([f"# {data.term_label}, {data.image_label}; rows A, columns e (mm)"])
        w.writerow(["A \\ e (mm)", *(_num(v) for v in data.e_values)])
        for a, row in zip(data.A_values, data.surface, strict=True):
            w.writerow([_num(a), *(_num(v) for v in row)])
    return p


def read_landscape_csv(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A, e, grid) back from :func:`write_landscape_csv` (empty cells -> NaN)."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = [r for r in csv.reader(fh) if r and not r[0].startswith("#")]
    e = np.array([float(v) for v in rows[0][1:]])
    A = np.array([float(r[0]) for r in rows[1:]])
    grid = np.array([[float(v) if v else np.nan for v in r[1:]] for r in rows[1:]])
    return A, e, grid


def write_slices_csv(data: LandscapeExport, path: str | Path) -> Path:
    """Long format: ``slice, A, e, loss`` for the slice along A then the one along e."""
    p = Path(path)
    with open(p, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["slice", "A", "e_mm", "loss"])
        sl = data.slices
        if sl is not None:
            at_A, at_e = sl["at"]
            for a, v in zip(sl["A"], sl["loss_A"], strict=True):
                w.writerow(["along_A", _num(a), _num(at_e), _num(v)])
            for ev, v in zip(sl["e"], sl["loss_e"], strict=True):
                w.writerow(["along_e", _num(at_A), _num(ev), _num(v)])
    return p


def write_npz(data: LandscapeExport, path: str | Path) -> Path:
    """Arrays (no pickle): A, e, loss (nA, ne), slices, zoom points, markers; ``meta_json``."""
    p = Path(path)
    nan2 = np.array([np.nan, np.nan])
    sl = data.slices
    arrays: dict[str, np.ndarray] = {
        "A": np.asarray(data.A_values, float),
        "e": np.asarray(data.e_values, float),
        "loss": np.asarray(data.surface, float),
        "zoom_points": np.asarray(data.zoom_points, float).reshape(-1, 2),
        "optimum": nan2 if data.optimum is None else np.asarray(data.optimum, float),
        "optimum_std": nan2 if data.std is None else np.asarray(data.std, float),
        "truth": nan2 if data.truth is None else np.asarray(data.truth, float),
        "datasheet_A": np.array(np.nan if data.datasheet_A is None else data.datasheet_A),
    }
    if sl is not None:
        arrays.update(
            slice_A=np.asarray(sl["A"], float),
            slice_A_loss=np.asarray(sl["loss_A"], float),
            slice_e=np.asarray(sl["e"], float),
            slice_e_loss=np.asarray(sl["loss_e"], float),
            slice_at=np.asarray(sl["at"], float),
        )
    meta = {"term": data.term, "image": data.image_label, "log_scale_shown": data.log_scale}
    arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(p, allow_pickle=False, **arrays)
    return p


# ---------------------------------------------------------------------------- report


def default_versions() -> dict[str, str]:
    import numpy

    from psfbench.core import __version__

    out = {
        "psfbench": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
    }
    try:
        import torch

        out["torch"] = torch.__version__
    except Exception:  # pragma: no cover - torch is a dependency
        pass
    return out


def _fmt(v: Any, spec: str) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    return "—" if not np.isfinite(f) else format(f, spec)


def report_html(report: ReportInput, png: bytes) -> str:
    """The one-page report (self-contained: the figure is embedded)."""
    doc = report.doc
    esc = html.escape
    A, e = doc.get("A"), doc.get("e")
    rows = [
        ("A (optical parameter)", _fmt(A, ".2f"), _fmt(doc.get("A_std"), ".2f")),
        ("e (mechanical offset, mm)", _fmt(e, ".4f"), _fmt(doc.get("e_std"), ".4f")),
        ("loss at the optimum (eq. 20)", _fmt(doc.get("loss"), ".6g"), ""),
    ]
    go = doc.get("grid_optimum") or {}
    if go:
        rows.append(
            ("grid minimum (A, e)", f"{_fmt(go.get('A'), '.1f')}, {_fmt(go.get('e'), '.3f')}", "")
        )
    opt_rows = "".join(f"<tr><th>{esc(k)}</th><td>{v}</td><td>{s}</td></tr>" for k, v, s in rows)
    terms = doc.get("terms") or {}
    order = ("total", "l2", "laplacian", "histogram", "ssim")
    term_head = "".join(f"<th>{esc(TERM_LABELS.get(t, t))}</th>" for t in order)
    term_rows = (
        "<tr><th>fitted (A, e)</th>"
        + "".join(f"<td>{_fmt(terms.get(t), '.5g')}</td>" for t in order)
        + "</tr>"
    )
    ds = doc.get("datasheet")
    ds_html = "<p>No datasheet A (the session's lens has no f-number; set one in the panel).</p>"
    if isinstance(ds, dict):
        dst = ds.get("terms") or {}
        reduction = 100 * float(ds.get("fit_loss_reduction", 0.0))
        term_rows += (
            f"<tr><th>datasheet A = {_fmt(ds.get('A'), '.1f')}</th>"
            + "".join(f"<td>{_fmt(dst.get(t), '.5g')}</td>" for t in order)
            + "</tr>"
        )
        ds_html = (
            f"<p>Datasheet A = {_fmt(ds.get('A'), '.1f')} at e = {_fmt(ds.get('e'), '.4f')} mm: "
            f"loss {_fmt(ds.get('loss'), '.5g')}, {_fmt(ds.get('loss_ratio'), '.2f')} times the "
            f"fitted model's: the fitted loss is "
            f"{_fmt(reduction, '.1f' if abs(reduction) >= 99.5 else '.0f')}% below the "
            "datasheet's (the paper's Table 3: "
            "40%).</p>"
        )
    truth = doc.get("truth")
    truth_html = ""
    if isinstance(truth, dict) and A is not None and e is not None:
        tA, te = float(truth["A"]), float(truth["e"])
        truth_html = (
            f"<p>Simulated session: true A = {tA:.2f}, e = {te:.4f} mm; error "
            f"{100 * (float(A) - tA) / tA:+.3f}% in A, {float(e) - te:+.4f} mm in e.</p>"
        )
    warnings = doc.get("warnings") or []
    warn_html = (
        "<ul>" + "".join(f"<li>{esc(str(w))}</li>" for w in warnings) + "</ul>"
        if warnings
        else "<p>None.</p>"
    )
    st = dict(doc.get("settings") or {})
    settings_rows = "".join(
        f"<tr><th>{esc(str(k))}</th><td><code>{esc(json.dumps(v))}</code></td></tr>"
        for k, v in st.items()
    )
    versions = report.versions or default_versions()
    version_rows = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>" for k, v in versions.items()
    )
    img = base64.b64encode(png).decode("ascii")
    fig = report.figure
    frames = doc.get("frame_indices") or []
    when = datetime.now().isoformat(timespec="seconds")
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:1.5em auto;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0}th,td{border:1px solid #ccc;"
        "padding:2px 8px;text-align:left;font-size:90%}th{background:#f3f3f3}"
        "code{font-size:85%}img{max-width:100%}"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>psfbench fit report: {esc(Path(report.session).name)}</title>
<style>{style}</style></head><body>
<h1>Fit report: {esc(Path(report.session).name)}</h1>
<p>Session <code>{esc(report.session)}</code>; report written {when} by psfbench
{esc(versions.get("psfbench", "?"))}.</p>
<h2>Optimum and uncertainty</h2>
<table><tr><th></th><th>value</th><th>uncertainty (1 sd, bootstrap)</th></tr>{opt_rows}</table>
<p>Fitted on {len(frames)} sweep images (frames {esc(", ".join(str(f) for f in frames))}).
{"The minimum lies at the grid's edge: widen the ranges." if doc.get("at_boundary") else ""}</p>
{truth_html}
<h2>Loss landscape</h2>
<p>{esc(fig.term_label)}, {esc(fig.image_label)}{", log10 scale" if fig.log_scale else ""}.</p>
<img alt="loss landscape of A against e with slices through the optimum"
 src="data:image/png;base64,{img}">
<h2>Datasheet comparison</h2>
{ds_html}
<table><tr><th></th>{term_head}</tr>{term_rows}</table>
<h2>Warnings</h2>
{warn_html}
<h2>Settings</h2>
<p>Equivalent command: <code>{esc(report.cli_command)}</code></p>
<table>{settings_rows}</table>
<h2>Software version</h2>
<table>{version_rows}</table>
</body></html>
"""


def export_all(folder: str | Path, report: ReportInput, stem: str = "fit") -> dict[str, Path]:
    """Write the PNG, SVG, CSVs, NPZ and HTML report into ``folder``; returns kind -> path."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    fig = report.figure
    paths = {
        "png": save_figure(fig, out / f"{stem}_landscape.png"),
        "svg": save_figure(fig, out / f"{stem}_landscape.svg"),
        "csv": write_landscape_csv(fig, out / f"{stem}_landscape.csv"),
        "slices_csv": write_slices_csv(fig, out / f"{stem}_slices.csv"),
        "npz": write_npz(fig, out / f"{stem}_landscape.npz"),
    }
    png = paths["png"].read_bytes()
    html_path = out / f"{stem}_report.html"
    tmp = html_path.with_name(html_path.name + ".tmp")
    tmp.write_text(report_html(report, png), encoding="utf-8")
    os.replace(tmp, html_path)
    paths["html"] = html_path
    return paths
