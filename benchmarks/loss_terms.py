"""The paper's Fig. 6 on the virtual bench: which loss terms make the minimum sharp and right?

For a simulated sweep with known (A, e) (1 % sensor noise, 0.1 mm depth noise) the landscape
is computed once with the scatter model (layered renderer) and every loss term kept, then
combined four ways as in Fig. 6: loss1 only; loss1+2; loss1+2+3; all four (eq. 19 weights).
For each combination we report the argmin's error and the sharpness of the minimum in A (mean
relative loss increase at A x 0.9 and A x 1.1, same e). Cases: the paper's A = 800 and a large
A (the regime where the paper says L1/L2 fail), planes and objects scenes; each with the
paper's plain comparison and with psfbench's observation model (noise matching + 2 px
pre-filter, core/fit/observation.py).

Writes benchmarks/out/loss_terms.png; the last line is JSON.
Run: .venv/bin/python benchmarks/loss_terms.py
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np
import torch

from psfbench.core.fit import evaluate_grid
from psfbench.core.fit.session_io import problem_from_session
from psfbench.core.simulation import SimulationSpec, simulate_session

WEIGHTS = {"l2": 50000.0, "laplacian": 10000.0, "histogram": 40000.0, "ssim": 5000.0}
COMBOS = {
    "loss1": ("l2",),
    "loss1+2": ("l2", "laplacian"),
    "loss1+2+3": ("l2", "laplacian", "histogram"),
    "all four": ("l2", "laplacian", "histogram", "ssim"),
}


def combine(per_image: dict[str, np.ndarray], terms: tuple[str, ...]) -> np.ndarray:
    return sum(WEIGHTS[t] * per_image[t].mean(-1) for t in terms)  # type: ignore[return-value]


def sharpness(A: np.ndarray, surf: np.ndarray, j: int, A_opt: float) -> float:
    """Mean relative rise of the loss 10 % either side of A_opt along A (same e column)."""
    col = surf[:, j]
    lo = np.interp(0.9 * A_opt, A, col)
    hi = np.interp(1.1 * A_opt, A, col)
    base = float(col.min())
    return float(((lo + hi) / 2 - base) / max(base, 1e-12))


def run_case(
    name: str,
    spec: SimulationSpec,
    A_grid: np.ndarray,
    e_grid: np.ndarray,
    dev: str,
    observe: bool,
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        simulate_session(Path(tmp) / "s", spec, device=dev)
        problem, _ = problem_from_session(Path(tmp) / "s", device=dev)
    if observe:
        problem = problem.with_observation(2.0, "auto")
    ls = evaluate_grid(problem, A_grid, e_grid, model="layered")
    name = f"{name}, {'observation model' if observe else 'plain (paper)'}"
    out = {
        "case": name,
        "A_true": spec.A,
        "e_true": spec.e_mm,
        "combos": {},
        "A_step": float(A_grid[1] - A_grid[0]),
    }
    for combo, terms in COMBOS.items():
        surf = combine(ls.per_image, terms)
        i, j = np.unravel_index(int(np.argmin(surf)), surf.shape)
        A_opt, e_opt = float(A_grid[i]), float(e_grid[j])
        out["combos"][combo] = {
            "A": A_opt,
            "e": e_opt,
            "A_error_pct": 100 * abs(A_opt - spec.A) / spec.A,
            "e_error_mm": abs(e_opt - spec.e_mm),
            "sharpness_A": sharpness(A_grid, surf, int(j), A_opt),
            "surface": surf,
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--size", default="129x161")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--out", default=str(Path(__file__).parent / "out" / "loss_terms.png"))
    args = ap.parse_args()
    h, w = (int(v) for v in args.size.split("x"))
    e_grid = np.round(np.arange(23.0, 24.8 + 1e-9, 0.2), 6)
    cases = [
        (
            "planes, A=800 (paper)",
            SimulationSpec(
                A=800, e_mm=23.6, scene="planes", frames=args.frames, height=h, width=w, seed=1
            ),
            np.arange(400.0, 1150.0 + 1e-9, 50.0),
        ),
        (
            "objects, A=800",
            SimulationSpec(
                A=800, e_mm=23.6, scene="objects", frames=args.frames, height=h, width=w, seed=2
            ),
            np.arange(400.0, 1150.0 + 1e-9, 50.0),
        ),
        (
            "planes, large A=3000",
            SimulationSpec(
                A=3000, e_mm=23.6, scene="planes", frames=args.frames, height=h, width=w, seed=3
            ),
            np.arange(1500.0, 4500.0 + 1e-9, 200.0),
        ),
    ]
    cases = [c for c in cases for _ in (0, 1)]
    results = [
        run_case(n, s, Ag, e_grid, args.device, observe=bool(k % 2))
        for k, (n, s, Ag) in enumerate(cases)
    ]

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(results), 4, figsize=(16, 3.6 * len(results)), dpi=80)
    for row, (res, (_, spec, A_grid)) in enumerate(zip(results, cases, strict=True)):
        for col, combo in enumerate(COMBOS):
            ax = axes[row, col]
            c = res["combos"][combo]
            surf = c["surface"]
            ax.imshow(
                surf / surf.min(),
                origin="lower",
                aspect="auto",
                cmap="viridis",
                extent=(e_grid[0], e_grid[-1], A_grid[0], A_grid[-1]),
            )
            ax.plot(spec.e_mm, spec.A, "o", mfc="none", mec="orange", ms=11, mew=2)
            ax.plot(c["e"], c["A"], "rx", ms=10, mew=2)
            ax.set_title(
                f"{res['case']}\n{combo}: A={c['A']:.0f} e={c['e']:.1f} "
                f"sharp={c['sharpness_A']:.2f}",
                fontsize=9,
            )
            ax.set_xlabel("e (mm)")
            ax.set_ylabel("A")
    fig.suptitle("Fig. 6 on the virtual bench: o truth, x argmin (loss / min loss)")
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out)
    print(f"figure: {args.out}")

    summary = []
    for res in results:
        print(f"\n{res['case']} (true A={res['A_true']}, e={res['e_true']})")
        print(f"  {'terms':12s}{'A':>8s}{'e':>8s}{'dA %':>8s}{'de mm':>8s}{'sharpness':>11s}")
        row = {"case": res["case"], "A_true": res["A_true"], "A_step": res["A_step"]}
        for combo, c in res["combos"].items():
            print(
                f"  {combo:12s}{c['A']:8.0f}{c['e']:8.1f}{c['A_error_pct']:8.1f}"
                f"{c['e_error_mm']:8.2f}{c['sharpness_A']:11.3f}"
            )
            row[combo] = {k: round(v, 4) for k, v in c.items() if k != "surface"}
        summary.append(row)
    hist_helps = all(r["loss1+2+3"]["sharpness_A"] > r["loss1+2"]["sharpness_A"] for r in summary)
    hist_needed = any(
        r["loss1+2"]["A_error_pct"] > 5 and r["loss1+2+3"]["A_error_pct"] <= 5 for r in summary
    )
    print(f"\nhistogram term sharpens the minimum in every case: {hist_helps}")
    print(f"histogram term needed to find the right A in some case: {hist_needed}")
    print(
        json.dumps(
            {"cases": summary, "histogram_sharpens": hist_helps, "histogram_needed": hist_needed}
        )
    )


if __name__ == "__main__":
    main()
