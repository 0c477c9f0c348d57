"""The console's fit table (core/fit/report.py)."""

from __future__ import annotations

import numpy as np

from psfbench.core.fit.grid import Landscape


def test_console_table_says_e_is_not_fitted_for_focus_depth_sessions() -> None:
    """All-in-3D sessions give the focus depths directly: e does not enter the model, and the
    table printed 'e 24.0000 0.0000' beside the warning saying so (newcomer)."""
    from dataclasses import replace

    from psfbench.core.fit.engine import FitResult
    from psfbench.core.fit.report import format_table

    per = {t: np.zeros((1, 1, 1)) for t in ("total", "l2", "laplacian", "histogram", "ssim")}
    ls = Landscape(np.array([800.0]), np.array([24.0]), per)
    terms = dict.fromkeys(("total", "l2", "laplacian", "histogram", "ssim"), 1.0)
    res = FitResult(801.0, 24.0, 2.0, 0.0, 1.0, terms, ls, settings={"e_fitted": False})
    text = format_table(res, truth=(800.0, 23.9))
    row = next(line for line in text.splitlines() if line.startswith("e (mechanical"))
    assert "not fitted" in row and "24.0000" not in row
    assert "+0.1000" not in text  # no e error against a truth it never fitted
    fitted = format_table(replace(res, settings={"e_fitted": True}), truth=(800.0, 23.9))
    assert "24.0000" in fitted and "+0.1000" in fitted


def test_fit_json_is_plain_json_when_an_sd_is_undetermined(tmp_path) -> None:
    """A zoom that did not converge gives NaN sds; fit.json must still be plain JSON (the
    strict session reader refuses NaN, and `defocus train --psf` failed on it)."""
    from pathlib import Path

    from psfbench.core.dataset.strict_json import loads
    from psfbench.core.fit.engine import FitResult
    from psfbench.core.fit.report import result_doc

    per = {t: np.zeros((1, 1, 1)) for t in ("total", "l2", "laplacian", "histogram", "ssim")}
    ls = Landscape(np.array([800.0]), np.array([24.0]), per)
    terms = dict.fromkeys(("total", "l2", "laplacian", "histogram", "ssim"), 1.0)
    res = FitResult(801.0, 24.0, float("nan"), float("nan"), 1.0, terms, ls)
    import json

    path = Path(tmp_path) / "fit.json"
    path.write_text(json.dumps(result_doc(res)))
    doc = loads(path.read_text(), path)
    assert doc["A_std"] is None and doc["model"]["std"] == {"A": None, "e_mm": None}
