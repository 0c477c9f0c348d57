"""The fitted PSF a dataset is rendered with: A (and e) from a fit, F from its session.

``psfbench fit`` writes ``SESSION/results/fit.json`` (and ``--json FILE`` the same document)
with A, e and their standard deviations but not the lens; the focal length F comes from the
session the fit belongs to (``session.json``), or is given (``focal_length_mm``).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: Largest fit document read (fit.json is a few tens of kB).
MAX_FIT_BYTES = 16 << 20


class DatagenError(ValueError):
    """Inputs or an output folder a dataset cannot be generated from; complete message."""


@dataclass(frozen=True)
class PsfSpec:
    """The Gaussian PSF model of eqs. 5-6: sigma [px] = ``A * scale`` |D - Df| / D * F/(Df - F).

    ``A`` as fitted (pixels of the fitted session's images), ``scale`` the factor to the
    source images' pixels (0.5 when the sources have half the fitted frames' resolution),
    ``F_mm`` the focal length, ``e_mm``/``A_std``/``e_std`` from the fit (provenance only:
    focus depths are sampled directly). ``source`` and ``sha256`` name the fit document.
    """

    A: float
    F_mm: float
    scale: float = 1.0
    e_mm: float | None = None
    A_std: float | None = None
    e_std: float | None = None
    source: str = ""
    sha256: str = ""

    @property
    def A_effective(self) -> float:
        """A in the source images' pixels."""
        return self.A * self.scale

    def validate(self) -> None:
        if not (math.isfinite(self.A) and self.A >= 0):
            raise DatagenError(f"PSF: A must be a finite number >= 0, got {self.A}")
        if not (math.isfinite(self.F_mm) and self.F_mm > 0):
            raise DatagenError(f"PSF: focal length must be > 0 mm, got {self.F_mm}")
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise DatagenError(f"--psf-scale: need a finite value > 0, got {self.scale}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> PsfSpec:
        names = set(cls.__dataclass_fields__)
        spec = cls(**{k: v for k, v in doc.items() if k in names})
        spec.validate()
        return spec


def _session_focal_length(folder: Path) -> float | None:
    if not (folder / "session.json").is_file():
        return None
    from psfbench.core.dataset import DatasetError, Session

    try:
        return float(Session.open(folder).meta.lens.focal_length_mm)
    except DatasetError:
        return None


def load_psf(
    path: str | Path,
    *,
    focal_length_mm: float | None = None,
    scale: float = 1.0,
    note: Callable[[str], None] | None = None,
) -> PsfSpec:
    """The PSF of a fit: ``path`` is a fit JSON (``results/fit.json`` or ``psfbench fit
    --json``'s file) or a session folder holding ``results/fit.json``.

    A and e are those of the fit's chosen model (fit.json's ``model`` entry, fitted on all
    frames, as ``psfbench stack --fit`` takes them) when it has one, else the paper's Gaussian
    fit (``A``, ``e``). A model of another shape is rendered as the Gaussian of the same
    second moment (its A). ``note`` receives one line saying which A and e were taken.
    F is ``focal_length_mm`` when given, else the lens of the session the fit belongs to
    (the folder given, or the one above ``results/``). Raises :class:`DatagenError` when the
    document holds no usable A or no focal length can be found.
    """
    from psfbench.core.dataset import DatasetError
    from psfbench.core.dataset.strict_json import loads, read_limited

    p = Path(path)
    session_dir: Path | None = None
    if p.is_dir():
        session_dir = p
        p = p / "results" / "fit.json"
    elif p.parent.name == "results":
        session_dir = p.parent.parent
    try:
        raw = read_limited(p, str(p), MAX_FIT_BYTES, "fit document")
        doc = loads(raw.decode("utf-8", errors="replace"), p)
    except DatasetError as exc:
        raise DatagenError(f"--psf: {exc}") from None
    from psfbench.core.psfmodels.spec import PsfModelError, fit_choice

    if not isinstance(doc, dict):
        raise DatagenError(f"--psf {p}: holds no fitted A (a psfbench fit JSON is expected)")
    try:
        choice = fit_choice(doc)
    except PsfModelError as exc:
        raise DatagenError(f"--psf {p}: {exc}") from None
    A, e_mm, A_std, e_std = choice.A, choice.e_mm, choice.A_std, choice.e_std

    F = focal_length_mm
    if F is None and session_dir is not None:
        F = _session_focal_length(session_dir)
    if F is None:
        raise DatagenError(
            f"--psf {p}: the focal length is not in a fit document and no session.json was "
            "found beside it; pass --focal-length-mm"
        )
    spec = PsfSpec(
        A=A,
        F_mm=float(F),
        scale=float(scale),
        e_mm=e_mm,
        A_std=A_std,
        e_std=e_std,
        source=str(p),
        sha256=hashlib.sha256(raw).hexdigest(),
    )
    spec.validate()
    if note is not None:
        e_text = "" if e_mm is None else f", e = {e_mm:.4f} mm"
        name = choice.name
        which = (
            choice.which
            if name == "gaussian"
            else f"{choice.which}'s; samples are blurred with the Gaussian of the same "
            f"second moment, not the {name} shape"
        )
        note(f"PSF from {p}: A = {A:.2f} px{e_text} ({which})")
    return spec


def _finite(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None
