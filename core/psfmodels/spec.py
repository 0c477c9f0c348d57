"""PSF models beyond the paper's two scalars: names, parameters, validation, JSON.

A model is the paper's Gaussian (``A`` px, ``e_mm``; eqs. 5-8) plus any of five nested
components, each of which reduces to the Gaussian at its default values:

* ``disc``: the PSF is a pillbox blurred by a Gaussian. ``edge`` in [0, 1] is the Gaussian
  part's share of the blur width: sigma_edge = edge * s, radius = 2 s sqrt(1 - edge^2), so the
  second moment is s^2 whatever ``edge`` (1 = the Gaussian, 0 = a hard disc).
* ``chromatic``: per-channel A, ``chroma`` = [r, g, b] factors on A (g = 1, the reference).
* ``field``: A over the field, A(x, y) = A * (1 + c_x x + c_y y + c_r r^2), ``field`` =
  [c_x, c_y, c_r], with x, y in [-1, 1] across the frame and r^2 = (x^2 + y^2) / 2.
* ``tilt``: a tilted sensor / focal plane: the lens-sensor distance is d + e + t_x x + t_y y,
  ``tilt_mm`` = [t_x, t_y] (mm at the frame's edges).
* ``breathing``: magnification with focus, m(v) = ``scale0`` * (1 + ``breathing`` * (v -
  ``v_ref_mm``) / ``v_ref_mm``), v = d + e (the virtual bench's focus breathing); ``v_ref_mm``
  is fixed (not fitted), the lens-sensor distance at which the all-in-focus image was taken.

Names join components with ``+`` in the canonical order above (``disc+chromatic``); the plain
model is ``gaussian``. See docs/psf-models.md.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPONENTS = ("disc", "chromatic", "field", "tilt", "breathing")
#: The single-component models and the paper's Gaussian, simplest first.
MODEL_NAMES = ("gaussian", *COMPONENTS)

#: Parameters each component adds, with the value that makes it the Gaussian (nesting).
COMPONENT_PARAMS: dict[str, dict[str, float | list[float]]] = {
    "disc": {"edge": 1.0},
    "chromatic": {"chroma": [1.0, 1.0, 1.0]},
    "field": {"field": [0.0, 0.0, 0.0]},
    "tilt": {"tilt_mm": [0.0, 0.0]},
    "breathing": {"breathing": 0.0, "scale0": 1.0, "v_ref_mm": 0.0},
}
#: Parameters that are fixed during a fit (conditions, not unknowns).
FIXED_PARAMS = ("v_ref_mm",)


class PsfModelError(ValueError):
    """A model name or parameter set that is not valid; the message says which and why."""


def components_of(name: str) -> tuple[str, ...]:
    """Components of a model name in canonical order (() for "gaussian"); raises
    PsfModelError for unknown or repeated parts."""
    if not isinstance(name, str) or not name.strip():
        raise PsfModelError("model name: empty")
    parts = [p.strip() for p in name.split("+")]
    if parts == ["gaussian"]:
        return ()
    bad = [p for p in parts if p not in COMPONENTS]
    if bad:
        raise PsfModelError(
            f"model name {name!r}: unknown part(s) {bad}; use 'gaussian' or any of "
            f"{list(COMPONENTS)} joined by '+'"
        )
    if len(set(parts)) != len(parts):
        raise PsfModelError(f"model name {name!r}: a part is repeated")
    return tuple(c for c in COMPONENTS if c in parts)


def canonical_name(name: str) -> str:
    comps = components_of(name)
    return "+".join(comps) if comps else "gaussian"


def default_params(name: str, A: float = 800.0, e_mm: float = 23.6) -> dict[str, Any]:
    """The model's parameters at the Gaussian's values (nesting): fitting starts here."""
    params: dict[str, Any] = {"A": float(A), "e_mm": float(e_mm)}
    for comp in components_of(name):
        for key, value in COMPONENT_PARAMS[comp].items():
            params[key] = list(value) if isinstance(value, list) else float(value)
    return params


def _check_params(name: str, params: dict[str, Any]) -> dict[str, Any]:
    want = default_params(name)
    missing = [k for k in want if k not in params]
    extra = [k for k in params if k not in want]
    if missing or extra:
        raise PsfModelError(
            f"model {name!r}: parameters {sorted(params)} do not match {sorted(want)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (unexpected {extra})" if extra else "")
        )
    out: dict[str, Any] = {}
    for key, ref in want.items():
        value = params[key]
        if isinstance(ref, list):
            if not isinstance(value, (list, tuple)) or len(value) != len(ref):
                raise PsfModelError(f"model {name!r}: {key} must be a list of {len(ref)} numbers")
            vals = [float(v) for v in value]
            if not all(math.isfinite(v) for v in vals):
                raise PsfModelError(f"model {name!r}: {key} = {vals} is not finite")
            out[key] = vals
        else:
            try:
                v = float(value)
            except (TypeError, ValueError):
                raise PsfModelError(f"model {name!r}: {key} = {value!r} is not a number") from None
            if not math.isfinite(v):
                raise PsfModelError(f"model {name!r}: {key} = {v} is not finite")
            out[key] = v
    if out["A"] < 0:
        raise PsfModelError(f"model {name!r}: A = {out['A']} must be >= 0")
    if "edge" in out and not 0.0 <= out["edge"] <= 1.0:
        raise PsfModelError(f"model {name!r}: edge = {out['edge']} must lie in [0, 1]")
    if "chroma" in out and min(out["chroma"]) <= 0:
        raise PsfModelError(f"model {name!r}: chroma factors must be > 0")
    if "scale0" in out and out["scale0"] <= 0:
        raise PsfModelError(f"model {name!r}: scale0 must be > 0")
    return out


@dataclass(frozen=True)
class PsfModel:
    """A PSF model with its parameters.

    ``name``: "gaussian" or components joined by "+" (module docstring); ``params``: always
    ``A`` (px, the paper's optical parameter) and ``e_mm`` (mm), plus the components'
    parameters; ``std``: one-sigma uncertainties of (some of) the same keys, may be empty.
    Construct through :meth:`create` or :meth:`from_json` to validate.
    """

    name: str
    params: dict[str, Any]
    std: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def create(
        cls, name: str, params: dict[str, Any] | None = None, std: dict[str, Any] | None = None
    ) -> PsfModel:
        """Validated model; ``params`` missing keys take the nesting defaults only when
        ``params`` is None (then A = 800, e = 23.6)."""
        cname = canonical_name(name)
        p = default_params(cname) if params is None else dict(params)
        return cls(cname, _check_params(cname, p), dict(std or {}))

    @classmethod
    def gaussian(cls, A: float, e_mm: float) -> PsfModel:
        return cls.create("gaussian", {"A": A, "e_mm": e_mm})

    @property
    def components(self) -> tuple[str, ...]:
        return components_of(self.name)

    @property
    def A(self) -> float:
        return float(self.params["A"])

    @property
    def e_mm(self) -> float:
        return float(self.params["e_mm"])

    def n_free(self) -> int:
        """Number of fitted (free) scalars: 2 for the Gaussian; chroma's g is fixed."""
        n = 0
        for k, v in self.params.items():
            if k in FIXED_PARAMS:
                continue
            n += len(v) if isinstance(v, list) else 1
        return n - (1 if "chroma" in self.params else 0)

    def with_params(self, **changes: Any) -> PsfModel:
        p = dict(self.params)
        p.update(changes)
        return PsfModel.create(self.name, p, self.std)

    def channel_factor(self, channel: int) -> float:
        """A's factor for colour channel ``channel`` (1 without the chromatic component;
        a single-channel image uses the mean of the three factors)."""
        ch = self.params.get("chroma")
        if ch is None:
            return 1.0
        if channel < 0:
            return float(sum(ch) / 3.0)
        return float(ch[int(channel) % 3])

    def to_json(self) -> dict[str, Any]:
        from psfbench.core.dataset.strict_json import plain

        # an sd the fit could not determine (NaN) is null: plain JSON
        return {"name": self.name, "params": dict(self.params), "std": plain(dict(self.std))}

    @classmethod
    def from_json(cls, doc: Any) -> PsfModel:
        """From :meth:`to_json`'s dict; raises PsfModelError naming what is wrong."""
        if not isinstance(doc, dict):
            raise PsfModelError(f"PSF model JSON: expected an object, got {type(doc).__name__}")
        if "name" not in doc or "params" not in doc:
            raise PsfModelError("PSF model JSON: needs 'name' and 'params'")
        if not isinstance(doc["params"], dict):
            raise PsfModelError("PSF model JSON: 'params' must be an object")
        std = doc.get("std") or {}
        if not isinstance(std, dict):
            raise PsfModelError("PSF model JSON: 'std' must be an object")
        return cls.create(str(doc["name"]), dict(doc["params"]), std)


def from_fit_json(path: str | Path) -> PsfModel:
    """The model of a ``results/fit.json`` (``psfbench fit``'s output), or of a PSF model JSON
    (:meth:`PsfModel.to_json`, as ``psfbench psf export`` writes it).

    fit.json's ``model`` entry when present, else the paper's A and e as "gaussian" (with
    A_std and e_std). Accepts the results folder or the session folder too. Raises
    PsfModelError (unreadable file, no model).
    """
    p = Path(path)
    if p.is_dir():
        p = p / "fit.json" if (p / "fit.json").is_file() else p / "results" / "fit.json"
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PsfModelError(f"{p}: cannot read a fit or PSF model JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PsfModelError(f"{p}: not a JSON object")
    if "params" in doc and "name" in doc:
        return PsfModel.from_json(doc)
    model = doc.get("model")
    if isinstance(model, dict):
        try:
            return PsfModel.from_json(model)
        except PsfModelError as exc:
            raise PsfModelError(f"{p}: 'model': {exc}") from None
    if "A" not in doc or "e" not in doc:
        raise PsfModelError(f"{p}: holds neither a 'model' nor the fit's A and e")
    std = {}
    for key, skey in (("A", "A_std"), ("e_mm", "e_std")):
        v = doc.get(skey)
        if isinstance(v, (int, float)) and math.isfinite(v):
            std[key] = float(v)
    return PsfModel.create("gaussian", {"A": float(doc["A"]), "e_mm": float(doc["e"])}, std)


@dataclass(frozen=True)
class FitChoice:
    """The A and e a fit result stands for: its chosen model's (fit.json's ``model``, fitted
    on all frames) when it has one, else the paper's Gaussian grid fit (``A``, ``e``). Any
    model's A has the paper's meaning (every shape has the Gaussian's second moment), so tools
    that blur with a Gaussian (``stack --fit``, ``dataset generate --psf``) use these."""

    name: str
    A: float
    e_mm: float | None
    A_std: float | None
    e_std: float | None

    @property
    def which(self) -> str:
        """``the paper's Gaussian`` or ``the fitted disc model``."""
        return (
            "the paper's Gaussian" if self.name == "gaussian" else f"the fitted {self.name} model"
        )


def fit_choice(doc: dict[str, Any]) -> FitChoice:
    """:class:`FitChoice` of a fit result document (``results/fit.json`` or ``psfbench fit
    --json``'s file, already parsed). Raises PsfModelError naming the field: no finite A, or a
    ``model`` entry that is not a valid model."""

    def num(v: Any) -> float | None:
        return float(v) if isinstance(v, int | float) and math.isfinite(v) else None

    if isinstance(doc.get("model"), dict):
        try:
            model = PsfModel.from_json(doc["model"])
        except PsfModelError as exc:
            raise PsfModelError(f"'model': {exc}") from None
        A_std, e_std = num(model.std.get("A")), num(model.std.get("e_mm"))
        return FitChoice(model.name, model.A, model.e_mm, A_std, e_std)
    A = num(doc.get("A"))
    if A is None:
        raise PsfModelError("has no finite 'A' (a psfbench fit result is expected)")
    return FitChoice("gaussian", A, num(doc.get("e")), num(doc.get("A_std")), num(doc.get("e_std")))
