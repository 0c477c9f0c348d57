"""Locating the loss minimum with the scatter model, below the landscape's grid step.

The landscape (gather model, pyramid level) says roughly where the minimum is; the scatter
model (eq. 8, layered renderer) says exactly where, at the price of a full render per frame
and candidate. Two strategies, one interface (``evaluate(level, A_values, e_values, stage)``
returns a :class:`~psfbench.core.fit.grid.Landscape` on the "coarse" level (a pyramid level with a
short side >= 128 px, 10 frames) or the "full" one):

* :func:`newton_zoom` (default): Newton steps on a quadratic model. A 3 x 3 design around the
  current point is fitted with a quadratic in (A, e) (6 coefficients, 9 points, least squares)
  and the point moves to the model's minimum, within a trust region of 3 steps. On the
  coarse level the A steps start at half the grid step and drop to a quarter whenever the
  minimum lies within half a step of the centre, with e steps balanced against them by the
  latest curvature; at full resolution a design of A step dA/8 is accepted once its model's
  minimum lies inside it.
  Typically 3-4 coarse designs and one full-resolution design: 7 renders of the sweep at
  full resolution.
* :func:`pattern_zoom` (the previous default, kept to measure against): a pattern search of
  3 x 3 grids re-centred on their best point, steps halved when the centre is best, down to
  dA/16 and de/32, then a 5 x 5 grid for the quadratic optimum: ~12 rounds, ~100-140
  evaluations, most at full resolution.

Both return the final full-resolution design, from which the optimum and the bootstrap come.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from psfbench.core.fit.grid import Landscape
from psfbench.core.fit.refine import Optimum, quadratic_optimum

#: evaluate(level, A_values, e_values, stage, skip) -> Landscape; ``skip`` (nA, ne) bool or
#: None: design points not to evaluate (NaN in the result).
Evaluate = Callable[[str, np.ndarray, np.ndarray, str, "np.ndarray | None"], Landscape]

#: Trust region of a Newton step, in design steps.
TRUST = 3.0
#: Steps shrink when a design's model minimum is this close to its centre (in steps) ...
ACCEPT = 0.5
#: ... and a design at the final steps on the last level is accepted when its minimum lies
#: inside it (interpolated, not extrapolated).
ACCEPT_FINAL = 1.0
#: A design whose model minimum lies beyond the trust region doubles the steps of the next
#: (up to ``MAX_STEP_GRID`` grid steps), at most this many times per level: a start far down a
#: narrow valley (a landscape whose e step straddles the valley: a 96x128, 12-frame sweep
#: started at A 400 for a true 950) then walks there in a few designs instead of 75 A each.
MAX_EXPANSIONS = 4
MAX_STEP_GRID = 2.0
#: Designs that lower the best loss by more than ``PROGRESS`` (relative) do not count against
#: ``max_rounds`` (a walk down a long valley is not a failure to settle), at most this many
#: per level, expansions included.
MAX_FREE_ROUNDS = 8
PROGRESS = 0.05


@dataclass
class ZoomResult:
    design: Landscape  # the final full-resolution design: optimum and bootstrap come from it
    optimum: Optimum
    evaluations: list[Landscape] = field(default_factory=list)  # every design, in order
    warnings: list[str] = field(default_factory=list)
    #: False when the zoom stopped while its steps still hit the trust region: no minimum was
    #: located, ``optimum`` is then the best point evaluated at the last level (no curvature)
    converged: bool = True

    @property
    def n_evaluations(self) -> dict[str, int]:
        """Candidates evaluated per level ("coarse", "full")."""
        out = {"coarse": 0, "full": 0}
        for ls in self.evaluations:
            key = "full" if ls.pixel_scale == self.design.pixel_scale else "coarse"
            out[key] += int(np.isfinite(ls.total).sum())
        return out


def _design(
    c_a: float, c_e: float, h_a: float, h_e: float, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    za = c_a + h_a * offsets
    za = za[za > 0]
    ze = c_e + h_e * offsets if h_e > 0 else np.array([c_e])
    return za, ze


def _skip_across_valley(
    za: np.ndarray, ze: np.ndarray, curv: np.ndarray | None
) -> np.ndarray | None:
    """The two corners of a 3 x 3 design that lie across the loss valley, to skip.

    A quadratic has 6 coefficients; the 7 remaining points still over-determine it. The
    corners across the valley (where dA and de have the sign that raises the loss through the
    cross term) are where the loss is highest and least quadratic; the corners along it keep
    the cross term determined. Saves 2/9 of the full-resolution design's renders.
    """
    if len(za) != 3 or len(ze) != 3 or curv is None or curv[0, 1] == 0:
        return None
    skip = np.zeros((3, 3), bool)
    if curv[0, 1] > 0:  # f rises where dA * de > 0
        skip[0, 0] = skip[2, 2] = True
    else:
        skip[0, 2] = skip[2, 0] = True
    return skip


def _newton_step(
    ls: Landscape, c_a: float, c_e: float, h_a: float, h_e: float
) -> tuple[Optimum, float, float, float]:
    """Model minimum of a design, clipped to the trust region; returns (opt, A, e, move)."""
    opt = quadratic_optimum(ls.A_values, ls.e_values, ls.total, radius=2)
    n_a = float(np.clip(opt.A, c_a - TRUST * h_a, c_a + TRUST * h_a))
    n_e = float(np.clip(opt.e, c_e - TRUST * h_e, c_e + TRUST * h_e)) if h_e > 0 else c_e
    move = max(abs(n_a - c_a) / h_a, abs(n_e - c_e) / h_e if h_e > 0 else 0.0)
    return opt, n_a, n_e, move


def newton_zoom(
    evaluate: Evaluate,
    A0: float,
    e0: float,
    dA: float,
    de: float,
    *,
    hessian: np.ndarray | None = None,
    levels: tuple[str, ...] = ("coarse", "full"),
    max_rounds: int = 6,
) -> ZoomResult:
    """Newton steps on quadratic models of 3 x 3 designs (module docstring).

    ``dA``, ``de``: the landscape's grid steps (``de`` 0 when e is not fitted). ``hessian``:
    the landscape's curvature in (A, e) (physical units), if known. ``levels``: the evaluation
    levels in order; pass ("full",) when the coarse level would be the full resolution
    anyway. A steps start at dA/2 and drop by 4 (to dA/8) whenever a design's minimum lies
    within half a step of its centre; e steps are balanced against them through the latest
    curvature (the same loss rise along both axes: e is often determined 100x more sharply
    than the landscape's e step, and a design that straddles the e valley by far fits no
    quadratic). On the last level the first design at the final steps whose minimum lies
    inside it is accepted.
    """
    offsets = np.array([-1.0, 0.0, 1.0])
    evals: list[Landscape] = []
    warnings: list[str] = []
    c_a, c_e = float(A0), float(e0)
    fin_a = dA / 8.0

    def balance(h_a: float, curv: np.ndarray | None) -> float:
        if de <= 0:
            return 0.0
        if curv is not None and curv[0, 0] > 0 and curv[1, 1] > 0:
            h = h_a * float(np.sqrt(curv[0, 0] / curv[1, 1]))
        else:
            h = de * h_a / dA
        return float(np.clip(h, de / 256.0, de / 2.0))

    curv = hessian
    h_a = dA / 2.0
    h_e = balance(h_a, curv)
    final: tuple[Landscape, Optimum] | None = None
    converged = True
    for li, level in enumerate(levels):
        last = li == len(levels) - 1
        if last and li > 0:  # coming from the coarse level: start near the final steps
            h_a = min(h_a, 2.0 * fin_a)
            h_e = balance(h_a, curv)
        level_start = len(evals)
        rounds = expansions = free = 0
        hit = settled = False
        prev_best = np.inf
        while rounds < max_rounds:
            stage = "zoom" if last else "zoom-coarse"
            za, ze = _design(c_a, c_e, h_a, h_e, offsets)
            skip = _skip_across_valley(za, ze, curv) if last else None
            ls = evaluate(level, za, ze, stage, skip)
            evals.append(ls)
            opt, n_a, n_e, move = _newton_step(ls, c_a, c_e, h_a, h_e)
            final = (ls, opt)
            if opt.hessian is not None:
                curv = opt.hessian
            at_final = h_a <= fin_a * (1 + 1e-9)
            if last and at_final and move <= ACCEPT_FINAL and opt.hessian is not None:
                settled = True
                break
            c_a, c_e = n_a, n_e
            if not last and at_final and move <= ACCEPT:
                settled = True
                break
            hit = move >= TRUST * (1.0 - 1e-9)
            best_here = float(np.nanmin(ls.total))
            progress = best_here < prev_best * (1.0 - PROGRESS)
            prev_best = min(prev_best, best_here)
            if (hit or progress) and free < MAX_FREE_ROUNDS:  # still walking: a free round
                free += 1
                if hit and expansions < MAX_EXPANSIONS:  # ... with longer steps
                    expansions += 1
                    h_a = min(2.0 * h_a, MAX_STEP_GRID * dA)
            else:
                rounds += 1
            if move <= ACCEPT:
                h_a = max(h_a / 4.0, fin_a)
            h_e = balance(h_a, curv)
        if not settled and last:
            if hit:
                converged = False
                best = min(evals[level_start:], key=lambda x: float(np.nanmin(x.total)))
                i, j = best.argmin()
                warnings.append(
                    f"zoom stopped while still moving (its last step reached the trust "
                    f"region, towards A={c_a:.1f}, e={c_e:.4f}): no minimum was located, the "
                    "result is the best point evaluated and has no uncertainty. Widen "
                    "--A-range/--e-range or refine the grid (--grid) around that point"
                )
                point = Optimum(
                    float(best.A_values[i]),
                    float(best.e_values[j]),
                    float(best.total[i, j]),
                    True,
                    None,
                )
                final = (best, point)
            else:
                warnings.append(
                    f"zoom did not settle in {max_rounds} designs: the loss is flat or noisy "
                    "near the minimum at the final steps; the optimum comes from the last "
                    "design's quadratic"
                )
    assert final is not None
    return ZoomResult(final[0], final[1], evals, warnings, converged)


def pattern_zoom(
    evaluate: Evaluate,
    A0: float,
    e0: float,
    dA: float,
    de: float,
    *,
    max_iterations: int = 16,
) -> ZoomResult:
    """The pattern search used before the Newton zoom (module docstring); for comparison."""
    evals: list[Landscape] = []
    warnings: list[str] = []
    c_a, c_e = float(A0), float(e0)
    s_a, s_e = dA, de
    floor_a, floor_e = dA / 16.0, de / 32.0
    three = np.array([-1.0, 0.0, 1.0])
    for _ in range(max_iterations):
        fine = s_a <= dA / 4.0
        za, ze = _design(c_a, c_e, s_a, s_e, three)
        ls = evaluate("full" if fine else "coarse", za, ze, "zoom" if fine else "zoom-coarse", None)
        evals.append(ls)
        i, j = ls.argmin()
        if (float(za[i]), float(ze[j])) != (c_a, c_e):
            c_a, c_e = float(za[i]), float(ze[j])
            continue
        if s_a <= floor_a and s_e <= floor_e:
            break
        s_a = s_a / 2 if s_a > floor_a else s_a
        s_e = s_e / 2 if s_e > floor_e else s_e
    else:
        warnings.append("zoom did not converge within max_zoom_iterations")
    za, ze = _design(c_a, c_e, s_a, s_e, np.arange(-2.0, 3.0))
    final = evaluate("full", za, ze, "zoom-final", None)
    evals.append(final)
    opt = quadratic_optimum(final.A_values, final.e_values, final.total, radius=2)
    return ZoomResult(final, opt, evals, warnings)
