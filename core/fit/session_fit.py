"""One fit of one session, as ``psfbench fit`` and the GUI's fitting panel both run it.

:class:`FitSettings` holds every option of ``psfbench fit`` with the CLI's defaults;
:func:`run_session_fit` does what the CLI does (load the session, choose the all-in-focus
image, the datasheet A, the loss configuration, run :func:`psfbench.core.fit.fit`) and returns a
:class:`SessionFit`. The CLI builds its settings from its arguments
(:meth:`FitSettings.from_args`) and the panel from its form, so the two share one code path
and write identical results (:func:`psfbench.core.fit.report.write_outputs`). Bad settings or a
session that cannot be fitted raise :class:`FitSetupError` (a ValueError) with a complete,
user-facing message; a cancelled fit raises :class:`psfbench.core.fit.progress.Cancelled`.

:func:`load_session_results` reads what a previous fit left in ``results/`` (no refitting),
and :func:`load_problem_for_results` rebuilds the problem exactly as that fit used it, for
inspecting points of its landscape.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from psfbench.core.fit.grid import BlockCallback, Landscape
from psfbench.core.fit.progress import CancelToken, ProgressCallback

PRESETS = ("paper", "refcode")
ZOOMS = ("newton", "pattern")


class FitSetupError(ValueError):
    """Settings or a session that cannot be fitted; the message is complete on its own."""


@dataclass(frozen=True)
class FitSettings:
    """The options of ``psfbench fit`` (same names, same defaults; docs/fitting.md)."""

    A_range: tuple[float, float] = (400.0, 1150.0)
    e_range: tuple[float, float] = (23.0, 24.8)
    #: grid points (n_A, n_e)
    grid: tuple[int, int] = (16, 10)
    #: sweep images used (evenly spaced)
    frames: int = 20
    #: losses on RGB instead of luminance
    rgb: bool = False
    #: loss preset: "paper" (the paper's text) or "refcode" (the authors' code)
    preset: str = "paper"
    coarse_to_fine: bool = True
    #: sensor noise sd added to simulations (fraction of full scale), or "auto" (estimated)
    noise_sd: float | str = "auto"
    #: Gaussian pre-filter of both sides, px
    presmooth: float = 2.0
    #: all-in-focus image: "captured", "synthesised", "auto" or an image file
    aif: str = "auto"
    #: lambda_1..4 of eq. 19 (None: the preset's)
    loss_weights: tuple[float, float, float, float] | None = None
    hole_reach_sigmas: float = 2.0
    exclude_clipped: bool = False
    zoom: str = "newton"
    #: A to compare against (None: from the session's lens and camera when known)
    datasheet_A: float | None = None
    #: torch device: "cpu", "cuda", "cuda:N" or "auto"
    device: str = "auto"
    #: PSF model (docs/psf-models.md): "gaussian" (the paper's, the grid's result only), a
    #: model name such as "disc" or "disc+breathing" (gradient fit from the grid optimum), or
    #: "auto" (selection on held-out frames)
    model: str = "gaussian"

    # ------------------------------------------------------------------ checks

    def validate(self) -> None:
        """Raise :class:`FitSetupError` for settings the fit cannot run with."""
        a0, a1 = self.A_range
        if not (math.isfinite(a0) and math.isfinite(a1)) or a0 <= 0 or a1 < a0:
            raise FitSetupError("A range (--A-range): need 0 < MIN <= MAX")
        e0, e1 = self.e_range
        if not (math.isfinite(e0) and math.isfinite(e1)) or e1 < e0:
            raise FitSetupError("e range (--e-range): need MIN <= MAX")
        if len(self.grid) != 2 or min(int(g) for g in self.grid) < 1:
            raise FitSetupError("grid (--grid): need at least 1 x 1 points")
        if int(self.frames) < 1:
            raise FitSetupError("frames (--frames): need at least 1")
        if self.preset not in PRESETS:
            raise FitSetupError(f"loss preset (--preset): {self.preset!r}, use one of {PRESETS}")
        if self.zoom not in ZOOMS:
            raise FitSetupError(f"zoom (--zoom): {self.zoom!r}, use one of {ZOOMS}")
        self.noise_value()
        if not (math.isfinite(self.presmooth) and self.presmooth >= 0):
            raise FitSetupError("pre-filter (--presmooth): need a finite value >= 0 px")
        if self.loss_weights is not None:
            w = self.loss_weights
            if len(w) != 4 or any(not math.isfinite(v) or v < 0 for v in w) or not any(w):
                raise FitSetupError("loss weights (--loss-weights): four weights >= 0, not all 0")
        if not (math.isfinite(self.hole_reach_sigmas) and self.hole_reach_sigmas >= 0):
            raise FitSetupError("hole reach (--hole-reach-sigmas): need a finite value >= 0")
        if self.datasheet_A is not None and not (
            math.isfinite(self.datasheet_A) and self.datasheet_A > 0
        ):
            raise FitSetupError("datasheet A (--datasheet-A): need a value > 0")
        if not str(self.aif).strip():
            raise FitSetupError("all-in-focus source (--aif): empty")
        if self.model != "auto":
            from psfbench.core.psfmodels import PsfModelError, components_of

            try:
                comps = components_of(self.model)
            except PsfModelError as exc:
                raise FitSetupError(f"--model: {exc}") from None
            if "chromatic" in comps and not self.rgb:
                raise FitSetupError("--model with 'chromatic' needs colour losses (--rgb)")

    def noise_value(self) -> float | str:
        """``noise_sd`` as the fit takes it: "auto" or a float (raises FitSetupError)."""
        if isinstance(self.noise_sd, str):
            if self.noise_sd == "auto":
                return "auto"
            try:
                value = float(self.noise_sd)
            except ValueError:
                raise FitSetupError(
                    f"--noise-sd: 'auto' or a number, got {self.noise_sd!r}"
                ) from None
        else:
            value = float(self.noise_sd)
        if not (math.isfinite(value) and value >= 0):
            raise FitSetupError(f"--noise-sd: need 'auto' or a number >= 0, got {value}")
        return value

    def grids(self) -> tuple[np.ndarray, np.ndarray]:
        """The landscape's A and e values (evenly spaced, ends included)."""
        return (
            np.linspace(self.A_range[0], self.A_range[1], int(self.grid[0])),
            np.linspace(self.e_range[0], self.e_range[1], int(self.grid[1])),
        )

    def loss_config(self) -> Any:
        from psfbench.core.losses import LossConfig

        cfg = LossConfig.paper() if self.preset == "paper" else LossConfig.refcode()
        if self.rgb:
            cfg = cfg.with_(color="channels")
        if self.loss_weights is not None:
            cfg = cfg.with_(weights=tuple(float(w) for w in self.loss_weights))
        return cfg

    # ------------------------------------------------------------------ conversions

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        for key in ("A_range", "e_range", "grid"):
            doc[key] = list(doc[key])
        if doc["loss_weights"] is not None:
            doc["loss_weights"] = list(doc["loss_weights"])
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> FitSettings:
        """From :meth:`to_json`'s dict; unknown keys are ignored, bad values raise
        FitSetupError."""
        names = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in doc.items() if k in names}
        try:
            for key in ("A_range", "e_range"):
                if key in kw:
                    kw[key] = (float(kw[key][0]), float(kw[key][1]))
            if "grid" in kw:
                kw["grid"] = (int(kw["grid"][0]), int(kw["grid"][1]))
            if kw.get("loss_weights") is not None:
                kw["loss_weights"] = tuple(float(v) for v in kw["loss_weights"])
            for key in ("presmooth", "hole_reach_sigmas"):
                if key in kw:
                    kw[key] = float(kw[key])
            if kw.get("datasheet_A") is not None:
                kw["datasheet_A"] = float(kw["datasheet_A"])
            if "frames" in kw:
                kw["frames"] = int(kw["frames"])
            if "noise_sd" in kw and not isinstance(kw["noise_sd"], str):
                kw["noise_sd"] = float(kw["noise_sd"])
            for key in ("rgb", "coarse_to_fine", "exclude_clipped"):
                if key in kw:
                    kw[key] = bool(kw[key])
            for key in ("preset", "zoom", "aif", "device", "model"):
                if key in kw:
                    kw[key] = str(kw[key])
        except (TypeError, ValueError, IndexError) as exc:
            raise FitSetupError(f"fit settings: {exc}") from None
        s = cls(**kw)
        s.validate()
        return s

    @classmethod
    def from_args(cls, args: Any) -> FitSettings:
        """From ``psfbench fit``'s parsed arguments (``core/cli/cmd_fit.py``)."""
        return cls(
            A_range=(float(args.A_range[0]), float(args.A_range[1])),
            e_range=(float(args.e_range[0]), float(args.e_range[1])),
            grid=(int(args.grid[0]), int(args.grid[1])),
            frames=int(args.frames),
            rgb=bool(args.rgb),
            preset=str(args.preset),
            coarse_to_fine=not args.no_coarse_to_fine,
            noise_sd=args.noise_sd,
            presmooth=float(args.presmooth),
            aif=str(args.aif),
            loss_weights=None if args.loss_weights is None else tuple(args.loss_weights),
            hole_reach_sigmas=float(args.hole_reach_sigmas),
            exclude_clipped=bool(args.exclude_clipped),
            zoom=str(args.zoom),
            datasheet_A=args.datasheet_A,
            device=str(args.device),
            model=str(getattr(args, "model", None) or "gaussian"),
        )

    def cli_args(self) -> list[str]:
        """The ``psfbench fit SESSION`` arguments that reproduce these settings (only the
        ones that differ from the defaults)."""
        d = FitSettings()
        out: list[str] = []

        def num(v: float) -> str:
            return format(float(v), "g")

        if self.A_range != d.A_range:
            out += ["--A-range", num(self.A_range[0]), num(self.A_range[1])]
        if self.e_range != d.e_range:
            out += ["--e-range", num(self.e_range[0]), num(self.e_range[1])]
        if tuple(self.grid) != d.grid:
            out += ["--grid", f"{int(self.grid[0])}x{int(self.grid[1])}"]
        if self.frames != d.frames:
            out += ["--frames", str(int(self.frames))]
        if self.rgb:
            out.append("--rgb")
        if self.preset != d.preset:
            out += ["--preset", self.preset]
        if not self.coarse_to_fine:
            out.append("--no-coarse-to-fine")
        if str(self.noise_sd) != str(d.noise_sd):
            out += ["--noise-sd", str(self.noise_sd)]
        if self.presmooth != d.presmooth:
            out += ["--presmooth", num(self.presmooth)]
        if self.aif != d.aif:
            out += ["--aif", self.aif]
        if self.loss_weights is not None:
            out += ["--loss-weights", *(num(w) for w in self.loss_weights)]
        if self.hole_reach_sigmas != d.hole_reach_sigmas:
            out += ["--hole-reach-sigmas", num(self.hole_reach_sigmas)]
        if self.exclude_clipped:
            out.append("--exclude-clipped")
        if self.zoom != d.zoom:
            out += ["--zoom", self.zoom]
        if self.datasheet_A is not None:
            out += ["--datasheet-A", num(self.datasheet_A)]
        if self.device != d.device:
            out += ["--device", self.device]
        if self.model != d.model:
            out += ["--model", self.model]
        return out

    def with_(self, **changes: Any) -> FitSettings:
        return replace(self, **changes)


@dataclass
class SessionFit:
    """A finished fit of a session: ``result`` (:class:`psfbench.core.fit.FitResult`), the opened
    ``session``, the simulated truth (A, e) when the session is simulated, the ``problem`` as
    loaded (before the fit's observation model; see
    :func:`psfbench.core.fit.inspect.problem_for_inspection`), the all-in-focus source and the
    settings used (device resolved)."""

    result: Any
    session: Any
    truth: tuple[float, float] | None
    problem: Any
    aif: Any
    settings: FitSettings
    messages: list[str] = field(default_factory=list)
    #: ``{"model": ..., "models": ...}`` of a fit with ``--model`` other than "gaussian"
    models: dict[str, Any] | None = None


def resolve_device(name: str) -> str:
    """``auto`` -> "cuda" when present else "cpu"; raises FitSetupError for CUDA without
    CUDA."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise FitSetupError(f"--device {name}: CUDA is not available on this machine")
    return name


def session_datasheet_A(session: Any) -> float | None:
    """A from the session's lens and camera (focal length, f-number, pixel pitch), if known."""
    from psfbench.core import optics

    lens, cam = session.meta.lens, session.meta.camera
    if not lens.f_number:
        return None
    return float(
        optics.datasheet_A(
            lens.focal_length_mm, lens.f_number, cam.pixel_size_mm, session.meta.output_scale
        )
    )


def check_fittable(session_dir: str | Path) -> None:
    """FitSetupError, naming the session, for what no fit can use: fewer than two focus
    positions (the loss compares frames at different focus) or no depth map. A session that
    cannot be opened at all is left to the loader's own report (it names the file and field)."""
    from psfbench.core.dataset import DatasetError, Session

    try:
        session = Session.open(session_dir, strict=False)
    except DatasetError:
        return
    n = len(session.indices)
    if n < 2:
        raise FitSetupError(
            f"{session_dir}: {n} frame{'' if n == 1 else 's'}; the fit needs at least 2 focus "
            "positions (a sweep of 2 or more frames at different distances)"
        )
    df = session.focus_depth_mm
    where = session.d_mm if df is None else np.where(np.isfinite(df), df, session.d_mm)
    positions = set(where[np.isfinite(where)].tolist())
    if len(positions) == 1:
        raise FitSetupError(
            f"{session_dir}: all {n} frames are at one focus position ({positions.pop():g} mm); "
            "the fit needs at least 2 focus positions"
        )
    if not session.has_depth:
        raise FitSetupError(
            f"{session_dir}: this session has no depth map (depth.tif); the fit needs one "
            "(import with --depth, or scan one with the fringe projector: psfbench acquire "
            f"fringe ... --session {session_dir})"
        )


def _check_distances(
    session_dir: str | Path, d_mm: np.ndarray, F_mm: float, e_range: tuple[float, float]
) -> None:
    """FitSetupError when the sensor readings d cannot give a focus depth beyond F over the
    whole e range (eq. 12 needs d + e > F), naming the likely cause: readings in metres
    (all far below F), or an --e-range too low for these readings."""
    d = np.asarray(d_mm, dtype=np.float64)
    d = d[np.isfinite(d)]
    if not d.size:
        return
    if float(d.max()) < F_mm / 20.0:
        raise FitSetupError(
            f"{session_dir}: the sensor readings d ({float(d.min()):.4g}..{float(d.max()):.4g} "
            f"mm) are far below the focal length F = {F_mm:g} mm: distances in metres instead "
            "of mm? Re-import the session with d in mm (the values x 1000)"
        )
    e_low = min(e_range)
    if float(d.min()) + e_low <= F_mm:
        raise FitSetupError(
            f"--e-range {e_range[0]:g} {e_range[1]:g}: d + e = {float(d.min()) + e_low:.4g} mm "
            f"at the lowest reading is not beyond the focal length F = {F_mm:g} mm (no real "
            f"focus depth, eq. 12); e must exceed {F_mm - float(d.min()):.4g} mm for this "
            "session's readings"
        )


def run_session_fit(
    session_dir: str | Path,
    settings: FitSettings,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    on_block: BlockCallback | None = None,
    on_message: Callable[[str], None] | None = None,
) -> SessionFit:
    """Fit ``session_dir`` with ``settings`` exactly as ``psfbench fit`` does.

    ``on_message`` receives the lines the CLI prints before the fit (the all-in-focus source
    and its warnings). Nothing is written except a synthesised all-in-focus image; write the
    results with :func:`psfbench.core.fit.report.write_outputs`.
    """
    from psfbench.core import optics
    from psfbench.core.dataset import DatasetError
    from psfbench.core.fit.engine import fit
    from psfbench.core.fit.session_io import load_fit_inputs, session_truth

    settings.validate()
    check_fittable(session_dir)
    device = resolve_device(settings.device)
    settings = settings.with_(device=device)
    noise_sd = settings.noise_value()
    try:
        problem, session, aif = load_fit_inputs(
            session_dir,
            max_frames=settings.frames,
            device=device,
            gray=not settings.rgb,
            aif=settings.aif,
        )
    except (DatasetError, optics.OpticsError, ValueError) as exc:
        raise FitSetupError(str(exc)) from None
    if problem.focus_depths_mm is None:
        _check_distances(session_dir, problem.d_mm, problem.F_mm, settings.e_range)
    try:
        problem.focus_depths(settings.e_range[0])  # Df > F over the whole e range?
        problem.focus_depths(settings.e_range[1])
    except (optics.OpticsError, ValueError) as exc:
        raise FitSetupError(str(exc)) from None
    ds = settings.datasheet_A
    if ds is None:
        ds = session_datasheet_A(session)
    messages = [f"all-in-focus image: {aif.describe()}"]
    messages += [f"warning: all-in-focus: {w}" for w in aif.warnings]
    if on_message is not None:
        for m in messages:
            on_message(m)
    A_values, e_values = settings.grids()
    try:
        result = fit(
            problem,
            A_values,
            e_values,
            coarse_to_fine=settings.coarse_to_fine,
            presmooth_sigma=settings.presmooth,
            noise_sd=noise_sd,
            loss_config=settings.loss_config(),
            zoom=settings.zoom,
            hole_reach_sigmas=settings.hole_reach_sigmas,
            exclude_clipped=settings.exclude_clipped,
            datasheet_A=ds,
            progress=progress,
            cancel=cancel,
            on_block=on_block,
        )
    except ValueError as exc:  # e.g. no frame left usable by the depth map's holes
        raise FitSetupError(f"{session_dir}: {exc}") from None
    result.settings["aif"] = aif.to_json()
    result.settings["fit_settings"] = settings.to_json()
    models = None
    if settings.model != "gaussian":
        t0 = time.perf_counter()
        models = _fit_models(problem, result, settings, on_message, progress)
        result.psf_models = models  # read by report.result_doc
        result.timings_s["psf_models"] = time.perf_counter() - t0
    done = SessionFit(result, session, session_truth(session), problem, aif, settings, messages)
    done.models = models
    return done


def _fit_models(
    problem: Any,
    result: Any,
    settings: FitSettings,
    on_message: Callable[[str], None] | None,
    progress: ProgressCallback | None = None,
) -> dict[str, Any]:
    """The PSF model fit after the grid (``--model``; core/fit/selection.py), reported to
    ``progress`` as the stage "PSF models" (one step per model fit)."""
    from psfbench.core.fit.selection import model_problem, run_model_fit

    try:
        mp = model_problem(
            problem,
            result.A,
            result.e,
            presmooth_sigma=settings.presmooth,
            noise_sd=settings.noise_value(),
            hole_reach_sigmas=settings.hole_reach_sigmas,
            exclude_clipped=settings.exclude_clipped,
        )
        out = run_model_fit(
            mp,
            result.A,
            result.e,
            settings.model,
            loss_config=settings.loss_config(),
            on_message=on_message,
            progress=progress,
        )
        return out
    except ValueError as exc:
        raise FitSetupError(f"--model {settings.model}: {exc}") from None


# ---------------------------------------------------------------------------- existing results


@dataclass
class SessionResults:
    """What ``results/`` holds from a previous ``psfbench fit`` (or the fitting panel):
    ``doc`` is fit.json; ``landscape`` and ``zoom`` the arrays (``zoom`` None when absent)."""

    path: Path
    doc: dict[str, Any]
    landscape: Landscape
    zoom: Landscape | None
    truth: tuple[float, float] | None

    @property
    def A(self) -> float:
        return float(self.doc["A"])

    @property
    def e(self) -> float:
        return float(self.doc["e"])

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.doc.get("settings") or {})

    @property
    def frame_indices(self) -> list[int]:
        return [int(i) for i in self.doc.get("frame_indices") or []]

    def fit_settings(self) -> FitSettings | None:
        """The FitSettings that produced these results, when recorded (fits since issue 13)."""
        doc = self.settings.get("fit_settings")
        if not isinstance(doc, dict):
            return None
        try:
            return FitSettings.from_json(doc)
        except (FitSetupError, TypeError):
            return None

    def inferred_settings(self, base: FitSettings) -> FitSettings:
        """The recorded FitSettings, else ``base`` with what fit.json's settings tell (grid,
        ranges, pre-filter, noise, refinement, masks; fits before issue 13)."""
        fs = self.fit_settings()
        if fs is not None:
            return fs
        st = self.settings
        kw: dict[str, Any] = {}
        try:
            # one e column: the session gave focus depths (e not fitted), keep the form's e
            e_fitted = "e_grid" in st and len(self.landscape.e_values) > 1
            n_e = int(st["e_grid"][2]) if e_fitted else base.grid[1]
            if e_fitted:
                kw["e_range"] = (float(st["e_grid"][0]), float(st["e_grid"][1]))
            if "A_grid" in st:
                a0, a1, n_a = st["A_grid"]
                kw["A_range"] = (float(a0), float(a1))
                kw["grid"] = (int(n_a), n_e)
            if "presmooth_sigma" in st:
                kw["presmooth"] = float(st["presmooth_sigma"])
            if st.get("noise_sd_source") == "given" and "noise_sd" in st:
                kw["noise_sd"] = repr(float(st["noise_sd"]))
            for key in ("zoom", "coarse_to_fine", "exclude_clipped"):
                if key in st:
                    kw[key] = st[key]
            if "hole_reach_sigmas" in st:
                kw["hole_reach_sigmas"] = float(st["hole_reach_sigmas"])
            out = base.with_(**kw)
            out.validate()
            return out
        except (TypeError, ValueError, IndexError):
            return base


def has_results(session_dir: str | Path) -> bool:
    r = Path(session_dir) / "results"
    return (r / "fit.json").is_file() and (r / "landscape.npz").is_file()


def load_session_results(session_dir: str | Path) -> SessionResults:
    """Read results/fit.json and the landscapes; raises FitSetupError when absent or
    unreadable."""
    root = Path(session_dir)
    res = root / "results"
    try:
        doc = json.loads((res / "fit.json").read_text(encoding="utf-8"))
        if not isinstance(doc, dict) or "A" not in doc or "e" not in doc:
            raise ValueError("fit.json holds no A and e")
        landscape = Landscape.load(res / "landscape.npz")
        zoom = (
            Landscape.load(res / "landscape_zoom.npz")
            if (res / "landscape_zoom.npz").is_file()
            else None
        )
    except FileNotFoundError as exc:
        raise FitSetupError(f"{root}: no fit results ({Path(exc.filename).name} missing)") from None
    except (OSError, ValueError, KeyError) as exc:
        raise FitSetupError(f"{root}: fit results unreadable ({exc})") from None
    truth = None
    t = doc.get("truth")
    if isinstance(t, dict) and "A" in t and "e" in t:
        truth = (float(t["A"]), float(t["e"]))
    return SessionResults(root, doc, landscape, zoom, truth)


def load_problem_for_results(results: SessionResults, device: str = "cpu") -> Any:
    """The problem as the fit that wrote ``results`` used it in its final stage (observation
    model, loss masks, frames), ready for :func:`psfbench.core.fit.inspect.inspect_point`. Raises
    FitSetupError when the session or the fit's settings cannot be reproduced."""
    from types import SimpleNamespace

    from psfbench.core.dataset import DatasetError
    from psfbench.core.fit.inspect import problem_for_inspection
    from psfbench.core.fit.session_io import load_fit_inputs, select_frames

    st = results.settings
    fs = results.fit_settings()
    aif_doc = st.get("aif") or {}
    source = str(aif_doc.get("source", "captured"))
    # the image the fit used: the captured one, or the stored file (never re-synthesised)
    aif = "captured" if source == "captured" else str(aif_doc.get("path", "auto"))
    gray = True if fs is None else not fs.rgb
    wanted = results.frame_indices
    try:
        from psfbench.core.dataset import Session

        n_total = len(Session.open(results.path).records)
        if fs is not None:
            max_frames: int | None = fs.frames
        else:  # before issue 13: the smallest even spacing that holds the fitted frames
            max_frames = None
            indices = [r.index for r in Session.open(results.path).records]
            for n in range(max(1, len(wanted)), n_total + 1):
                chosen = {indices[i] for i in select_frames(n_total, n)}
                if set(wanted) <= chosen:
                    max_frames = n
                    break
        problem, _, _ = load_fit_inputs(
            results.path, max_frames=max_frames, device=device, gray=gray, aif=aif
        )
        return problem_for_inspection(problem, SimpleNamespace(settings=st, frame_indices=wanted))
    except (DatasetError, ValueError, KeyError) as exc:
        raise FitSetupError(f"{results.path}: cannot rebuild the fit's problem ({exc})") from None
